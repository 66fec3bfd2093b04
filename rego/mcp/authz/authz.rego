# METADATA
# title: mcpgate authorization
# description: |
#   The two entrypoints the gateway evaluates: decision (one call) and visible
#   (one list). This package only assembles: the rules for a session purpose
#   live in a package under data.mcp.purposes (see rego/README.md), so a new
#   purpose is a new file, and this file never changes for it.
#
#   A purpose package provides:
#     purpose             string: the session purpose it governs
#     allow               true when some rule grants this request
#     deny                set of reasons (strings) to refuse it
#     visible             set of catalog ids a list may show
#   and optionally the obligation sets require_approval, rate_limit,
#   credential, redact and terminate_session.
# scope: package
# schemas:
#   - input: schema.input
package mcp.authz

import data.mcp.lib.text
import data.mcp.lib.tools
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
# description: The verdict on one request, its reasons and its obligations.
# entrypoint: true
decision := {
	"allow": allow,
	"reasons": reasons,
	"obligations": obligations,
}

# METADATA
# title: visible
# description: |
#   Ids of input.catalog items this session may see in a list: items of the
#   listed kind that the governing purpose could allow for some arguments.
#   Empty whenever the list request itself is refused.
# entrypoint: true
visible := {item.id |
	allow
	kind := tools.list_kinds[input.action]
	some item in input.catalog
	item.kind == kind
	item.id in purposes[governing].visible
}

default allow := false

# Allow needs a grant from the governing purpose and no reason to refuse.
allow if {
	purposes[governing].allow == true
	count(denials) == 0
}

# Deny reasons sorted, so that equal inputs give equal decisions; on allow, a
# short note naming the purpose that granted it.
reasons := sort(denials) if not allow

reasons := [concat("", ["allowed by purpose ", session_purpose])] if allow

# --- Which purpose governs -----------------------------------------------

# The schema requires both; read defensively so that even a malformed input
# gets a reason rather than an empty list.
session_purpose := p if {
	p := object.get(input, ["session", "purpose"], "")
	is_string(p)
} else := ""

action := a if {
	a := object.get(input, "action", "")
	is_string(a)
} else := ""

# Every purpose package that claims this session's purpose.
claimants contains name if {
	some name
	purposes[name].purpose == session_purpose
}

# The single package that governs; undefined if none or several claim it.
governing := name if {
	count(claimants) == 1
	some name in claimants
}

# --- Reasons --------------------------------------------------------------

# All reasons to refuse, from this package and from the governing purpose.
denials := (input_denials | purpose_denials) | fallback_denials

purpose_denials contains reason if {
	some reason in purposes[governing].deny
}

input_denials contains reason if {
	count(claimants) == 0
	reason := concat("", ["no policy for purpose ", text.show(session_purpose)])
}

# Two packages claiming one purpose is a packaging mistake; refusing beats
# guessing which one the security team meant.
input_denials contains reason if {
	count(claimants) > 1
	reason := concat("", [
		"more than one policy claims purpose ", session_purpose,
		": ", concat(", ", sort(claimants)),
	])
}

# The gateway fills the object that describes the target; without it no
# purpose rule could match, and the user deserves to know why.
_target_key := {"tools/call": "tool", "resources/read": "resource", "prompts/get": "prompt"}

input_denials contains reason if {
	key := _target_key[input.action]
	not input[key]
	reason := concat("", ["malformed request: ", input.action, " without ", key])
}

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
	input.action == "resources/read"
	input.resource.id != concat(":", [input.resource.server, input.resource.uri])
}

# Default deny still explains itself: a purpose that neither grants nor
# refuses yields one reason naming the request.
fallback_denials contains reason if {
	count(input_denials | purpose_denials) == 0
	not purposes[governing].allow == true
	reason := concat("", [
		"purpose ", text.show(session_purpose), " has no rule that allows ",
		text.show(action), _target_suffix,
	])
}

_target_suffix := concat("", [" ", input.tool.id]) if {
	input.action == "tools/call"
} else := concat("", [" ", input.resource.id]) if {
	input.action == "resources/read"
} else := concat("", [" ", input.prompt.id]) if {
	input.action == "prompts/get"
} else := ""

# --- Obligations -----------------------------------------------------------

# Purposes contribute obligations as sets; one value is picked by sort order
# so that two rules asking for different values never cause a conflict error.
obligations := {
	"require_approval": _first(_obligation_values("require_approval")),
	"rate_limit": _first(_obligation_values("rate_limit")),
	"credential": _first(_obligation_values("credential")),
	"redact": sort(_obligation_values("redact")),
	"terminate_session": count(_obligation_values("terminate_session")) > 0,
}

_obligation_values(key) := {v | some v in purposes[governing][key]}

_first(values) := sort(values)[0] if {
	count(values) > 0
} else := null
