# METADATA
# title: Purpose code-review, the Rego part
# description: |
#   The profile rego/profiles/code-review/data.yaml says which tools a
#   code-review session may call, on which arguments, and who may open one.
#   This package extends it with what a profile cannot say: the session needs
#   a user behind the token, a tool must declare itself read-only, secrets are
#   never read whatever the profile's exclude lists, which resources and
#   prompts the session may use, and what a result may show: secrets are
#   redacted, a private key refuses the result. A destructive tool the
#   profile allows (mcp.lib.approval) runs only once a second person
#   approves it.
# scope: package
# schemas:
#   - input: schema.input
package mcp.purposes.code_review

import data.mcp.lib.approval
import data.mcp.lib.findings
import data.mcp.lib.identity
import data.mcp.lib.paths
import data.mcp.lib.scopes
import data.mcp.lib.tools
import data.mcp.profiles

extends := "code-review"

# --- Configuration: what a security team edits ------------------------------

# Never read or listed, even if the profile's exclude lists are edited: a
# path is a secret if any of its segments starts with one of these, compared
# case-insensitively (".env", ".env.local", "secrets", "Secrets.ts").
secret_segment_prefixes := [".env", "secrets"]

# Resources readable, by server: globs over the upstream URI, in the syntax of
# profile scopes (rego/README.md, "Globs").
allowed_resources := {"everything": ["demo://resource/static/document/*"]}

# The table above as reasons name it: "server:glob, ...".
_allowed_resources_text := concat(", ", sort([concat(":", [server, g]) |
	some server, globs in allowed_resources
	some g in globs
]))

# Prompts obtainable, by server. Their arguments may also be completed
# (completion/complete).
allowed_prompts := {"everything": {"simple-prompt"}}

# Resource templates whose arguments may be completed, by server: the upstream
# template, exactly. None by default: completion suggests values a session could
# not read anyway (code-review reads only the static documents above).
allowed_templates := {"everything": set()}

# --- Grants -----------------------------------------------------------------

# The profile grants tool calls, lists and session/open. These grants cover
# what a profile does not: each checks the whole request on its own.
default allow := false

# Reading a resource, subscribing to it, and being told of its updates (each
# delivery is decided again).
# Each grant checks the action first, the cheapest test, so that a tool call
# goes no further.
allow if {
	tools.reads_resource
	_eligible_user
	_resource_allowed(input.resource.server, input.resource.uri)
}

allow if {
	input.action == "prompts/get"
	_eligible_user
	_prompt_allowed(input.prompt.server, input.prompt.name)
}

# Completing an argument of a prompt the session may get, or of an allowed
# template: what the user types goes to that upstream.
allow if {
	input.action == "completion/complete"
	_eligible_user
	_completion_allowed
}

# A user behind the token whom the profile's membership rule admits.
default _eligible_user := false

_eligible_user if {
	identity.is_user
	profiles.admits
}

# --- Refusals ---------------------------------------------------------------

# A code-review reads someone's code on their behalf: a service acting alone
# has no one to act for. Applies to every action, session/open included.
deny contains "code-review sessions need a user; app-only tokens are refused" if identity.is_app

# Annotations can only tighten: a tool the profile allows must also declare
# itself read-only, or it counts as a write tool. A tool the profile refuses
# keeps the profile's reason alone. A destructive one (annotated so, or listed
# in mcp.lib.approval) is not refused here: it needs approval instead.
deny contains reason if {
	input.action == "tools/call"
	profiles.entry.allowed == true
	not tools.read_only(object.get(input.tool, "annotations", {}))
	not approval.destructive
	reason := concat("", [
		input.tool.id,
		" is not annotated readOnlyHint: true, so it counts as a write tool; purpose code-review is read-only",
	])
}

# Every path a scope checks, whatever the profile excludes.
deny contains reason if {
	some v in profiles.scope_values
	v.kind == "path"
	_secret(v.value)
	reason := concat("", [
		input.tool.id, ": argument ", v.where, " ", profiles.shown(v),
		" looks like a secret (.env* or secrets*); purpose code-review never reads secrets",
	])
}

deny contains reason if {
	tools.reads_resource
	not _resource_allowed(input.resource.server, input.resource.uri)
	reason := concat("", [
		"resource ", input.resource.id,
		" is not allowed; purpose code-review reads only ", _allowed_resources_text,
	])
}

deny contains reason if {
	input.action == "completion/complete"
	not _completion_allowed
	reason := concat("", [
		"completion for ", input.completion.ref.id,
		" is not allowed; purpose code-review completes the arguments of the prompts it may get",
		" and of the resource templates in allowed_templates",
	])
}

deny contains reason if {
	input.action == "prompts/get"
	not _prompt_allowed(input.prompt.server, input.prompt.name)
	reason := concat("", ["prompt ", input.prompt.id, " is not in the code-review allow-list"])
}

# --- Results: what a call brought back ---------------------------------------

# A private key in a result is refused whole: there is no code review that
# needs one, and a key with a few lines masked is still most of a key.
deny contains reason if {
	findings.is_result_action
	keys := findings.result_of_detector("secret.private_key")
	count(keys) > 0
	reason := concat("", [
		"the result carries a private key (at ", concat(", ", sort({f.pointer | some f in keys})),
		"); purpose code-review never shows private keys",
	])
}

# Every other secret in a result is redacted: the agent sees the rest of the
# file with [REDACTED:secret] where the secret was.
redact contains id if {
	findings.is_result_action
	some id in findings.result_ids_of_type("secret")
}

_secret(p) if paths.has_segment_prefix(p, secret_segment_prefixes)

default _completion_allowed := false

_completion_allowed if {
	input.completion.ref.kind == "prompt"
	_prompt_allowed(input.completion.ref.server, input.completion.ref.name)
}

_completion_allowed if {
	input.completion.ref.kind == "resource_template"
	input.completion.ref.uri in allowed_templates[input.completion.ref.server]
}

# A helper rather than an inline `not name in allowed_prompts[server]`: OPA
# evaluates that collection before the `not`, so for an unknown server the
# whole body would fail instead of the negation succeeding.
_prompt_allowed(server, name) if name in allowed_prompts[server]

# Globs over a URI are matched as profile scopes are (lib/scopes, "/" the
# only delimiter), from plans worked out once per evaluation: glob.match
# would compile each glob again on every evaluation (about 15 µs).
_resource_allowed(server, uri) if {
	scopes.matches_any_plan(_resource_plans[server], uri)
	_uri_clean(uri)
}

_resource_plans[server] := [scopes.plan(g) | some g in globs] if some server, globs in allowed_resources

# The glob's final "*" also matches "", "." and "..", and other tricks after
# the scheme; require a clean path part so lookups stay literal.
_uri_clean(uri) if {
	parts := split(uri, "://")
	count(parts) == 2
	paths.clean(parts[1])
}

# --- Obligations --------------------------------------------------------------

# A destructive call the rules above allow waits for a second person (a refused
# one carries no obligation).
require_approval contains approval.obligation if {
	profiles.entry.allowed == true
	count(profiles.deny) == 0
	count(deny) == 0
}

# --- Lists --------------------------------------------------------------------

# The profile shows the tools it allows; a tool that does not declare itself
# read-only could never be called, so it is hidden (unless it is destructive:
# then it can be called with approval).
hidden contains item.id if {
	some item in input.catalog
	item.kind == "tool"
	not tools.read_only(object.get(item, "annotations", {}))
	not approval.destructive_item(item)
}

visible contains item.id if {
	_eligible_user
	some item in input.catalog
	item.kind == "resource"
	_resource_allowed(item.server, item.uri)
}

visible contains item.id if {
	_eligible_user
	some item in input.catalog
	item.kind == "prompt"
	_prompt_allowed(item.server, item.name)
}

# Completion values the upstream suggests: shown unless they look like a
# secret, as a path would (a template over files could suggest .env).
visible contains item.id if {
	input.action == "completion/complete"
	some item in input.catalog
	item.kind == "completion_value"
	not _secret(item.id)
}

# At session/open, also the instructions of the servers whose resources or
# prompts the purpose reads (the profile shows those of its tools' servers).
visible contains item.id if {
	input.action == "session/open"
	_eligible_user
	some item in input.catalog
	item.kind == "instruction"
	_reads_from(item.server)
}

_reads_from(server) if allowed_resources[server]

_reads_from(server) if allowed_prompts[server]
