# METADATA
# title: Purpose code-review
# description: |
#   A code-review session may read the TypeScript sources of the filesystem
#   server's src/ folder and use a few harmless demo tools. It never writes,
#   never reads secrets, and needs a user behind the token who belongs to an
#   engineering group or holds the code-review app role.
# scope: package
# schemas:
#   - input: schema.input
package mcp.purposes.code_review

import data.mcp.lib.paths
import data.mcp.lib.text
import data.mcp.lib.tools

purpose := "code-review"

# --- Configuration: what a security team edits ------------------------------

# Who may work under code-review: any one of these groups (Okta group names or
# Entra group object ids) or app roles (Entra app roles, Okta roles claim).
# Values are compared exactly, so write Entra object ids in lower case, as
# Entra sends them.
code_review_groups := {
	"engineering", # Okta group name
	"4956b001-92a3-865a-85b5-f84124cda311", # Entra group "engineering" (object id `mcpgate dev-idp` issues)
}

code_review_roles := {"CodeReview.Run"}

# How refusals name the two tables to a user, who cannot read object ids. Keep
# them in step with the tables; a unit test checks that every role is named.
code_review_groups_text := "an engineering group"

code_review_roles_text := "the CodeReview.Run app role"

# The tools this purpose may call, by server and name, each with the check its
# arguments must pass:
#   source_file   argument "path" is a TypeScript source under src/
#   source_files  argument "paths" is a non-empty array of such paths
#   source_dir    argument "path" is src or a directory below it
#   none          arguments are not inspected
allowed_tools := {
	"filesystem": {
		"read_file": "source_file",
		"read_text_file": "source_file",
		"read_media_file": "source_file",
		"get_file_info": "source_file",
		"read_multiple_files": "source_files",
		"list_directory": "source_dir",
		"list_directory_with_sizes": "source_dir",
		"directory_tree": "source_dir",
		"search_files": "source_dir",
		"list_allowed_directories": "none",
	},
	"everything": {
		"echo": "none",
		"get-sum": "none",
		"get-tiny-image": "none",
		"get-annotated-message": "none",
		"trigger-long-running-operation": "none",
	},
}

# Tools refused with a specific reason, so the user learns why rather than
# only that they are missing from the allow-list.
refused_tools := {
	"filesystem": {
		"write_file": "is a write tool; purpose code-review is read-only",
		"edit_file": "is a write tool; purpose code-review is read-only",
		"create_directory": "is a write tool; purpose code-review is read-only",
		"move_file": "is a write tool; purpose code-review is read-only",
	},
	"everything": {"get-env": "exposes the server's environment variables; purpose code-review refuses it"},
}

# Files a source_file check accepts. Both globs are needed: with "/" as the
# delimiter, "src/**/*.ts" requires at least one directory below src.
source_globs := ["src/*.{ts,tsx}", "src/**/*.{ts,tsx}"]

source_globs_text := "src/**/*.{ts,tsx}"

# The one directory tree source_dir checks accept.
source_dir := "src"

# Never read or listed, even inside src. The globs are the declared rule; the
# segment prefixes extend it to directories (src/secrets/x.ts) and to a first
# segment, which "**/" does not match.
secret_globs := ["**/.env*", "**/secrets*"]

secret_segment_prefixes := [".env", "secrets"]

# Resources readable, by server: globs over the upstream URI.
allowed_resources := {"everything": ["demo://resource/static/document/*"]}

# The table above as reasons name it: "server:glob, ...".
_allowed_resources_text := concat(", ", sort([concat(":", [server, g]) |
	some server, globs in allowed_resources
	some g in globs
]))

# Prompts obtainable, by server.
allowed_prompts := {"everything": {"simple-prompt"}}

# --- Grants -----------------------------------------------------------------

# Grants prove the request good on their own; deny below explains every way
# it is not. The core allows only with a grant and no denial, so a check that
# errors or is left out of one side fails closed instead of open.
allow if {
	_eligible_user
	tools.read_only(input.tool.annotations)
	_args_ok(_tool_check)
}

allow if {
	_eligible_user
	input.action == "resources/read"
	_resource_allowed(input.resource.server, input.resource.uri)
}

allow if {
	_eligible_user
	input.action == "prompts/get"
	_prompt_allowed(input.prompt.server, input.prompt.name)
}

# Lists are allowed; visible decides what they show.
allow if {
	_eligible_user
	tools.is_list_action
}

_user_token if input.identity.token_type == "user"

_app_token if input.identity.token_type == "app"

# A user behind the token, and one the membership tables admit.
_eligible_user if {
	_user_token
	_member
}

# The argument check for the called tool; undefined unless it is allowed.
_tool_check := allowed_tools[input.tool.server][input.tool.name] if input.action == "tools/call"

# --- Refusals ---------------------------------------------------------------

# A code-review reads someone's code on their behalf: a service acting alone
# has no one to act for.
deny contains "code-review sessions need a user; app-only tokens are refused" if _app_token

# Membership is checked for every action, lists included. An app token
# already has its own reason, and joining a group would not change it.
deny contains reason if {
	not _app_token
	not _member
	not _groups_unknown
	reason := concat("", [
		"code-review needs membership in ", code_review_groups_text,
		" or ", code_review_roles_text,
	])
}

# Entra leaves groups out of a token when a user has too many (overage). If
# the gateway could not resolve them, membership is unknown: say so, since
# the fix is configuration, not joining a group. A role still qualifies.
deny contains reason if {
	not _app_token
	not _member
	_groups_unknown
	reason := concat("", [
		"your IdP sent too many groups to check membership (groups overage); ",
		"ask an administrator to configure groups_overage resolution or assign ",
		code_review_roles_text,
	])
}

deny contains reason if {
	input.action == "tools/call"
	msg := refused_tools[input.tool.server][input.tool.name]
	reason := concat(" ", [input.tool.id, msg])
}

deny contains reason if {
	input.action == "tools/call"
	not _tool_check
	not refused_tools[input.tool.server][input.tool.name]
	reason := concat("", [input.tool.id, " is not in the code-review allow-list"])
}

# Annotations can only tighten: whatever a table says, a tool that does not
# declare itself read-only is treated as a write tool. Tools already refused
# keep their own reason.
deny contains reason if {
	input.action == "tools/call"
	not tools.read_only(input.tool.annotations)
	not refused_tools[input.tool.server][input.tool.name]
	reason := concat("", [
		input.tool.id,
		" is not annotated readOnlyHint: true, so it counts as a write tool; purpose code-review is read-only",
	])
}

deny contains reason if {
	_tool_check == "source_file"
	some reason in _source_file_problems(tools.argument("path"), "path")
}

deny contains reason if {
	_tool_check == "source_files"
	not _non_empty_array(tools.argument("paths"))
	reason := concat("", [input.tool.id, ": argument \"paths\" must be a non-empty array of paths"])
}

deny contains reason if {
	_tool_check == "source_files"
	some i, p in tools.argument("paths")
	some reason in _source_file_problems(p, concat("", ["paths[", format_int(i, 10), "]"]))
}

deny contains reason if {
	_tool_check == "source_dir"
	some reason in _source_dir_problems(tools.argument("path"))
}

deny contains reason if {
	input.action == "resources/read"
	not _resource_allowed(input.resource.server, input.resource.uri)
	reason := concat("", [
		"resource ", input.resource.id,
		" is not allowed; purpose code-review reads only ", _allowed_resources_text,
	])
}

deny contains reason if {
	input.action == "prompts/get"
	not _prompt_allowed(input.prompt.server, input.prompt.name)
	reason := concat("", ["prompt ", input.prompt.id, " is not in the code-review allow-list"])
}

# --- Membership ----------------------------------------------------------------

# Any one app role or group from the tables admits the user.
_member if {
	some role in input.identity.roles
	role in code_review_roles
}

_member if {
	some group in input.identity.groups
	group in code_review_groups
}

# The IdP reported an overage and the gateway did not resolve the groups.
_groups_unknown if {
	input.identity.groups_overage == true
	count(input.identity.groups) == 0
}

# --- Argument checks ----------------------------------------------------------

_args_ok("none")

_args_ok("source_file") if _source_file_ok(tools.argument("path"))

_args_ok("source_files") if {
	ps := tools.argument("paths")
	_non_empty_array(ps)
	count([p | some p in ps; not _source_file_ok(p)]) == 0
}

_args_ok("source_dir") if {
	p := tools.argument("path")
	paths.clean(p)
	paths.within(p, source_dir)
	not _secret(p)
}

_source_file_ok(p) if {
	paths.clean(p)
	paths.matches_any(p, source_globs)
	not _secret(p)
}

# Reasons a value fails as a readable source file; empty when it passes.
# `where` names the argument ("path", "paths[2]") in the reasons.
_source_file_problems(p, where) := {_not_a_string(where)} if {
	not tools.non_empty_string(p)
} else := (_path_tricks(p, where) | _outside_sources(p, where)) | _secret_problems(p, where)

# Reasons a value fails as a listable directory; empty when it passes.
_source_dir_problems(p) := {_not_a_string("path")} if {
	not tools.non_empty_string(p)
} else := (_path_tricks(p, "path") | _outside_source_dir(p)) | _secret_problems(p, "path")

_not_a_string(where) := concat("", [input.tool.id, ": ", where, " must be a non-empty string"])

_outside_sources(p, where) := {reason |
	not paths.matches_any(p, source_globs)
	reason := concat("", [
		input.tool.id, ": ", where, " ", text.quote(p), " is not a TypeScript source under src/ (",
		source_globs_text, "); purpose code-review reads only those",
	])
}

_outside_source_dir(p) := {reason |
	not paths.within(p, source_dir)
	reason := concat("", [
		input.tool.id, ": path ", text.quote(p),
		" is outside src; purpose code-review lists only src and the directories below it",
	])
}

_path_tricks(p, where) := {reason |
	some msg in paths.tricks(p)
	reason := concat("", [input.tool.id, ": ", where, " ", text.quote(p), " ", msg])
}

_secret_problems(p, where) := {reason |
	_secret(p)
	reason := concat("", [
		input.tool.id, ": ", where, " ", text.quote(p),
		" looks like a secret (.env* or secrets*); purpose code-review never reads secrets",
	])
}

_secret(p) if paths.matches_any(lower(p), secret_globs)

_secret(p) if paths.has_segment_prefix(p, secret_segment_prefixes)

# A helper rather than an inline `not name in allowed_prompts[server]`: OPA
# evaluates that collection before the `not`, so for an unknown server the
# whole body would fail instead of the negation succeeding.
_prompt_allowed(server, name) if name in allowed_prompts[server]

_non_empty_array(x) if {
	is_array(x)
	count(x) > 0
}

_resource_allowed(server, uri) if {
	paths.matches_any(uri, allowed_resources[server])
	_uri_clean(uri)
}

# The glob's final "*" also matches "", "." and "..", and other tricks after
# the scheme; require a clean path part so lookups stay literal.
_uri_clean(uri) if {
	parts := split(uri, "://")
	count(parts) == 2
	paths.clean(parts[1])
}

# --- Lists --------------------------------------------------------------------

# Nothing is shown to a caller no call could pass for: an app token, or a user
# the membership tables do not admit. A tool is shown when a call to it could
# pass for some arguments: allowed by the table, and declared read-only in the
# catalog (see the annotations rule).
visible contains item.id if {
	_eligible_user
	some item in input.catalog
	item.kind == "tool"
	allowed_tools[item.server][item.name]
	tools.read_only(item.annotations)
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
