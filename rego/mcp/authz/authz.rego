# METADATA
# title: mcpgate authorization
# description: |
#   The two entrypoints the gateway evaluates: decision (one request) and
#   visible (one list). This package only assembles. A session purpose is
#   governed by exactly one policy, either a purpose profile (data under
#   rego/profiles, read by data.mcp.profiles) or a Rego package under
#   data.mcp.purposes that sets `purpose`. Rego packages that set `extends`
#   to the purpose add rules to whichever policy governs it. See
#   rego/README.md; a new purpose never changes this file.
#
#   A policy (and an extension) provides:
#     allow               true when some rule grants this request
#     deny                set of reasons (strings) to refuse it
#     visible             set of catalog ids a list (or, at session/open,
#                         the instructions) may show
#     hidden              set of catalog ids a list must not show
#   and optionally the obligation sets require_approval, rate_limit,
#   credential, redact, terminate_session, label_session (result actions),
#   throttle, alert, step_up and, for session/open, session_ttl_s.
#
#   Actions of the gateway's admin API (admin/...) have no session and no
#   purpose: data.mcp.admin alone decides them, and no purpose policy or
#   extension is consulted.
# scope: package
# schemas:
#   - input: schema.input
package mcp.authz

import data.mcp.admin
import data.mcp.lib.behaviour
import data.mcp.lib.findings
import data.mcp.lib.flow
import data.mcp.lib.text
import data.mcp.lib.tools
import data.mcp.lib.trust
import data.mcp.profiles
import data.mcp.purposes

# Returned as is when no stronger rule applies. Never reached in practice,
# because decision below is built from parts that are always defined; kept so
# that a future edit that makes a part undefined fails closed.
default decision := {
	"allow": false,
	"reasons": ["policy error: no decision could be assembled"],
	"obligations": {
		"require_approval": null,
		"rate_limit": null,
		"credential": null,
		"redact": [],
		"terminate_session": false,
	},
}

# METADATA
# title: decision
# description: |
#   The verdict on one request, its reasons and its obligations: from
#   mcp.admin for an admin action, else from the policies of the session
#   purpose.
# entrypoint: true
decision := {
	"allow": _admin_allowed,
	"reasons": _admin_reasons,
	"obligations": no_obligations,
} if {
	admin_action
} else := {
	"allow": allow,
	"reasons": reasons,
	"obligations": obligations,
}

# METADATA
# title: visible
# description: |
#   Ids of input.catalog items this session may see in a list: items of the
#   listed kind that the governing policy or an extension shows and none
#   hides. At session/open, the same over the upstreams' instructions (kind
#   instruction, id the server's name): which servers' instructions the new
#   session is shown. Empty whenever the request itself is refused, and for
#   every admin action (none is a list of an MCP session).
# entrypoint: true
visible := {item.id |
	allow
	kind := tools.visible_kinds[input.action]
	some item in input.catalog
	item.kind == kind
	item.id in _shown
	not item.id in _hidden
}

# METADATA
# title: prepare
# description: |
#   Evaluated once by the gateway when it loads the bundle, with no input
#   (optional for a bundle; mcpgate policy build compiles it). problems:
#   reasons to refuse the whole bundle (every problem of every profile), so a
#   malformed profile fails the build and the load loudly, not only the
#   requests of its purpose. data: put at data.mcpgate.prepared for every
#   evaluation; the profile engine reads what depends on the profiles alone
#   from there instead of working it out per request (see
#   mcp.profiles.prepared).
# entrypoint: true
prepare := {
	"problems": sort(profiles.all_problems),
	"data": {
		"profiles": profiles.prepared,
		"claims": profiles.prepared_claims,
		"purposes": prepared_purposes,
	},
}

# The obligations of a decision no part adds to.
no_obligations := {
	"require_approval": null,
	"rate_limit": null,
	"credential": null,
	"redact": [],
	"terminate_session": false,
}

# --- Admin actions -----------------------------------------------------------

# The gateway's admin API (admin/sessions/list, show, kill) is decided by
# mcp.admin only. Every action under admin/ goes there, so an admin action
# that mcp.admin does not know is refused rather than left to a purpose.
default admin_action := false

admin_action if startswith(action, "admin/")

default _admin_allowed := false

_admin_allowed if {
	admin.allow == true
	count(admin_denials) == 0
}

admin_denials := admin.deny | {reason |
	count(admin.deny) == 0
	not admin.allow == true
	reason := concat("", ["no admin rule allows ", action])
}

_admin_reasons := sort(admin_denials) if not _admin_allowed

_admin_reasons := [concat("", ["allowed by the admin policy for ", action])] if _admin_allowed

# --- Purpose actions --------------------------------------------------------

default allow := false

# Allow needs a grant from the governing policy or an extension, and no
# reason to refuse from any of them. The purpose side never allows an admin
# action, whatever a purpose says.
allow if {
	not admin_action
	_granted
	count(denials) == 0
}

# Deny reasons sorted, so that equal inputs give equal decisions; on allow, a
# short note naming the purpose that granted it.
reasons := sort(denials) if not allow

reasons := [concat("", ["allowed by purpose ", session_purpose])] if allow

# --- Which policy governs --------------------------------------------------

# The schema requires both; read defensively so that even a malformed input
# gets a reason rather than an empty list. Every rule reads the input by
# fixed paths (input.session.purpose, not object.get(input, ...) or
# input[key]): that is how `mcpgate policy build` proves which parts of the
# input no rule reads, so the gateway can leave them out (rego/README.md).
session_purpose := p if {
	p := input.session.purpose
	is_string(p)
} else := ""

action := a if {
	a := input.action
	is_string(a)
} else := ""

# Rego packages that claim this session's purpose.
rego_claimants contains name if some name in _purpose_packages.claim

# Every policy that claims it, by where it lives: a Rego package
# (mcp.purposes.<name>) or a profile (profiles/<name>).
claimants := {concat("", ["mcp.purposes.", name]) | some name in rego_claimants} | {concat("", ["profiles/", name]) |
	some name in profiles.claiming
}

# How many policies claim it, without naming them (the names are for the
# reason when there are several).
_claims := _purpose_packages.claims

# The single policy that governs; both undefined if none or several claim.
governing_rego := name if {
	_claims == 1
	some name in _purpose_packages.claim
}

governing_profile := name if {
	_claims == 1
	some name in profiles.claiming
}

# Rego packages that extend the governing policy: `extends` names the
# purpose, and the package claims none itself.
extensions contains name if {
	_claims == 1
	some name in _purpose_packages.extend
}

# Who claims and extends the session purpose: the Rego packages that claim
# it, those that extend it, and how many policies (packages and profiles)
# claim it. Prepared by the gateway at load for every purpose that a package
# or a profile names (a package's `purpose` and `extends` are constants,
# which the rules need no input to work out), or worked out now, with the
# same function, by looking through every package and profile.
_purpose_packages := p if {
	p := data.mcpgate.prepared.purposes[session_purpose]
} else := _packages_of(session_purpose)

_packages_of(purpose) := {
	"claim": claim,
	"extend": sort({name |
		some name
		purposes[name].extends == purpose
		not purposes[name].purpose
	}),
	"claims": count(claim) + count(profiles.claiming_of(purpose)),
} if {
	claim := sort({name | some name; purposes[name].purpose == purpose})
}

# The packages of every purpose that some package or profile names, for
# prepare.
prepared_purposes[purpose] := _packages_of(purpose) if {
	some purpose in _named_purposes
	is_string(purpose)
}

_named_purposes contains purpose if {
	some name
	purpose := purposes[name].purpose
}

_named_purposes contains purpose if {
	some name
	purpose := purposes[name].extends
}

_named_purposes contains purpose if some purpose, _ in profiles.prepared_claims

# The Rego packages whose rules decide this request.
_rego_parts contains governing_rego

_rego_parts contains name if some name in extensions

default _granted := false

_granted if {
	some name in _rego_parts
	purposes[name].allow == true
}

_granted if {
	governing_profile
	profiles.allow == true
}

_shown contains id if {
	some name in _rego_parts
	some id in purposes[name].visible
}

_shown contains id if {
	governing_profile
	some id in profiles.visible
}

_hidden contains id if {
	some name in _rego_parts
	some id in purposes[name].hidden
}

# Quarantined items (changed since pinned, unacknowledged high findings, not
# pinned where the purpose requires it) are hidden whatever a purpose shows.
_hidden contains id if {
	some id in trust.hidden_ids(_require_pinned, session_purpose)
}

# Whether the governing policy or an extension uses only pinned items:
# require_pinned: true in a profile's session, require_pinned := true in a
# Rego purpose or extension.
default _require_pinned := false

_require_pinned if {
	governing_profile
	profiles.require_pinned == true
}

_require_pinned if {
	some name in _rego_parts
	purposes[name].require_pinned == true
}

# --- Reasons --------------------------------------------------------------

# All reasons to refuse, from this package and from the governing purpose.
denials := (input_denials | purpose_denials) | fallback_denials

purpose_denials contains reason if {
	some name in _rego_parts
	some reason in purposes[name].deny
}

purpose_denials contains reason if {
	governing_profile
	some reason in profiles.deny
}

input_denials contains reason if {
	_claims == 0
	reason := concat("", ["no policy for purpose ", text.show(session_purpose)])
}

# A quarantined tool, prompt or resource is refused for every purpose, with
# the reason naming what changed or what the scan found (mcp.lib.trust).
input_denials contains reason if {
	some reason in trust.call_denials(_require_pinned, session_purpose)
}

# Data flow across the session's calls (mcp.lib.flow) and its behaviour
# (mcp.lib.behaviour), for every purpose.
input_denials contains reason if {
	some reason in flow.denials
}

input_denials contains reason if {
	some reason in behaviour.denials
}

# Two policies claiming one purpose (two packages, two profiles, or a package
# and a profile) is a packaging mistake; refusing beats guessing which one
# the security team meant. To add Rego rules to a profile, use `extends`.
input_denials contains reason if {
	_claims > 1
	reason := concat("", [
		"more than one policy claims purpose ", session_purpose,
		": ", concat(", ", sort(claimants)),
	])
}

# The gateway fills the object that describes the target; without it no
# purpose rule could match, and the user deserves to know why. The input key
# of that object, by action: a function of constant cases rather than a table
# (an object literal), which the wasm evaluator would build, key by key, on
# every evaluation.
_target_key("tools/call") := "tool"

_target_key("resources/read") := "resource"

_target_key("resources/subscribe") := "resource"

_target_key("resources/unsubscribe") := "resource"

_target_key("notifications/resources/updated") := "resource"

_target_key("prompts/get") := "prompt"

_target_key("completion/complete") := "completion"

_target_key("tools/result") := "tool"

_target_key("resources/result") := "resource"

_target_key("prompts/result") := "prompt"

_target_key("sampling/createMessage") := "upstream"

_target_key("elicitation/create") := "upstream"

_target_key("roots/list") := "upstream"

# This request's target key; undefined for an action without a target.
_target := _target_key(input.action)

input_denials contains reason if {
	key := _target
	not _target_given(key)
	reason := concat("", ["malformed request: ", input.action, " without ", key])
}

_target_given("tool") if input.tool

_target_given("resource") if input.resource

_target_given("prompt") if input.prompt

_target_given("completion") if input.completion

_target_given("upstream") if input.upstream

# Ids are derived from server and name by the gateway; a mismatch means the
# input was built wrongly, and rules keyed on either could disagree.
input_denials contains "malformed request: tool.id is not server.name" if {
	input.action == "tools/call"
	input.tool.id != concat(".", [input.tool.server, input.tool.name])
}

input_denials contains "malformed request: prompt.id is not server.name" if {
	input.action == "prompts/get"
	input.prompt.id != concat(".", [input.prompt.server, input.prompt.name])
}

input_denials contains "malformed request: resource.id is not server:uri" if {
	input.action in tools.resource_actions
	input.resource.id != concat(":", [input.resource.server, input.resource.uri])
}

input_denials contains "malformed request: completion.ref.id is not server.name or server:uri" if {
	input.action == "completion/complete"
	input.completion.ref.id != _completion_ref_id(input.completion.ref)
}

_completion_ref_id(ref) := concat(".", [ref.server, ref.name]) if ref.kind == "prompt"

_completion_ref_id(ref) := concat(":", [ref.server, ref.uri]) if ref.kind == "resource_template"

# Default deny still explains itself: a purpose that neither grants nor
# refuses yields one reason naming the request.
fallback_denials contains reason if {
	count(input_denials | purpose_denials) == 0
	not _granted
	reason := concat("", [
		"purpose ", text.show(session_purpose), " has no rule that allows ",
		text.show(action), _target_suffix,
	])
}

_target_suffix := concat("", [" ", input.tool.id]) if {
	_target == "tool"
} else := concat("", [" ", input.resource.id]) if {
	_target == "resource"
} else := concat("", [" ", input.prompt.id]) if {
	_target == "prompt"
} else := concat("", [" ", input.completion.ref.id]) if {
	_target == "completion"
} else := concat("", [" by upstream ", input.upstream.server]) if {
	tools.is_ask_action
} else := ""

# --- Obligations -----------------------------------------------------------

# Policies contribute obligations as sets; one value is picked by sort order
# so that two rules asking for different values never cause a conflict error.
# session/open decisions also carry session_ttl_s: the shortest ttl any part
# asks for, or null when none does (the gateway's own limit applies). Result
# decisions also carry label_session: the session's new DLP labels, the type
# of every finding of the request and whatever a part adds.
obligations := object.union(_obligations, {"session_ttl_s": _least(_ttl_values)}) if {
	input.action == "session/open"
} else := object.union(_obligations, {"label_session": sort(_labels)}) if {
	findings.is_result_action
} else := object.union(_obligations, _continuous) if {
	count(_continuous) > 0
} else := _obligations

# What continuous verification adds to a call's decision, each only when
# some rule asks for it (so that other decisions keep their shape): the
# labels of what the call returns (once it is allowed), a throttle, an
# alert, a step-up.
_continuous := object.union_n([
	{"label_session": v | allow; v := sort(flow.source_labels); count(v) > 0},
	{"throttle": v | v := _first(_throttle); v != null},
	{"alert": v | v := sort(_alert); count(v) > 0},
	{"step_up": v | v := _first(_step_up); v != null},
])

# The behaviour rules' throttle, alerts and step-up, and any a purpose adds.
_throttle := behaviour.throttle | {v |
	some name in _rego_parts
	some v in purposes[name].throttle
}

_alert := behaviour.alerts | {v |
	some name in _rego_parts
	some v in purposes[name].alert
	is_string(v)
}

_step_up := behaviour.step_up | {v |
	some name in _rego_parts
	some v in purposes[name].step_up
}

_obligations := {
	"require_approval": _first(_require_approval),
	"rate_limit": _first(_rate_limit),
	"credential": _first(_credential),
	"redact": sort(_redact),
	"terminate_session": count(_terminate_session) > 0,
}

# Each obligation's values from every part, written out one by one: with the
# obligation a variable (purposes[name][key]), the wasm evaluator would build
# every whole purpose package to look the key up, once per obligation.
_require_approval := {v |
	some name in _rego_parts
	some v in purposes[name].require_approval
} | flow.approvals

_rate_limit := {v |
	some name in _rego_parts
	some v in purposes[name].rate_limit
}

_credential := {v |
	some name in _rego_parts
	some v in purposes[name].credential
}

_redact := {v |
	some name in _rego_parts
	some v in purposes[name].redact
}

_terminate_session := {v |
	some name in _rego_parts
	some v in purposes[name].terminate_session
} | behaviour.terminate

_labels := findings.types | {v |
	some name in _rego_parts
	some v in purposes[name].label_session
	is_string(v)
}

_ttl_values := {v |
	some name in _rego_parts
	some v in purposes[name].session_ttl_s
	is_number(v)
} | {v |
	governing_profile
	some v in profiles.session_ttl_s
}

_first(values) := sort(values)[0] if {
	count(values) > 0
} else := null

_least(values) := min(values) if {
	count(values) > 0
} else := null
