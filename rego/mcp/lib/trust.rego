# METADATA
# title: Tool trust
# description: |
#   What the gateway's trust facts mean for a request, for every purpose
#   (docs/tool-trust.md). The gateway compares each tool, prompt and
#   resource with its pin in this bundle (data.pins, written by
#   `mcpgate tools pin`) and scans its text when it loads the catalog; it
#   puts the result on the item as pin {state, changed, since,
#   acknowledged} and findings [{detector, severity, field}]. These rules
#   quarantine an item (hidden from lists, calls refused) when
#     - its definition changed since it was pinned, or, with no pin, since
#       the gateway first saw it (a rug pull);
#     - the scan found something of high severity that no pin of this very
#       definition acknowledges;
#     - it is not pinned and the purpose requires pinned items
#       (require_pinned: true in a profile's session, or
#       `require_pinned := true` in a Rego purpose or extension).
#   mcp.authz applies them; purposes never need to.
# scope: package
# schemas:
#   - input: schema.input
package mcp.lib.trust

import data.mcp.lib.text

# The kinds of catalog items that carry trust facts (an upstream's
# instructions carry none).
trusted_kinds := {"tool", "prompt", "resource", "resource_template"}

_kind_names := {
	"tool": "tool",
	"prompt": "prompt",
	"resource": "resource",
	"resource_template": "resource template",
}

# The item a decided call is about, with its kind: the tool of a
# tools/call, the prompt of a prompts/get, the resource of a resources/read
# when it is a listed one (a URI made from a template has no facts).
call_item := {"kind": "tool", "item": input.tool} if {
	input.action == "tools/call"
	input.tool
} else := {"kind": "prompt", "item": input.prompt} if {
	input.action == "prompts/get"
	input.prompt
} else := {"kind": "resource", "item": input.resource} if {
	input.action == "resources/read"
	input.resource.pin
}

# Reasons to refuse the call's item: empty when it is not quarantined.
call_denials(require_pinned, purpose) := problems(call_item.kind, call_item.item, require_pinned, purpose) if {
	call_item
} else := set()

# Ids of list items that are quarantined, so lists do not show them.
hidden_ids(require_pinned, purpose) := {item.id |
	some item in input.catalog
	item.kind in trusted_kinds
	count(problems(item.kind, item, require_pinned, purpose)) > 0
}

# Every reason the item is quarantined.
problems(kind, item, require_pinned, purpose) := (changed(kind, item) | unacknowledged(kind, item)) | pending(kind, item, require_pinned, purpose)

# How reasons name an item: "tool filesystem.read_file".
_named(kind, item) := concat(" ", [_kind_names[kind], item.id])

changed(kind, item) := {reason |
	item.pin.state == "changed"
	reason := concat("", [
		_named(kind, item), " is quarantined: its definition changed since ",
		_since(item.pin), " (", concat(", ", _changed_fields(item.pin)), "); ",
		"review the change and pin it again (mcpgate tools pin ", item.id, ")",
	])
}

_since(pin) := "it was pinned" if pin.since == "pin"

else := "the gateway first saw it, and it has no pin"

_changed_fields(pin) := pin.changed if {
	is_array(pin.changed)
	count(pin.changed) > 0
} else := ["fields not named"]

# High-severity findings that no pin of this definition acknowledges:
# "instruction.tag in description".
_open_findings(item) := {concat(" in ", [f.detector, f.field]) |
	some f in item.findings
	f.severity == "high"
	not _acknowledged(item, f.detector)
}

_acknowledged(item, detector) if {
	item.pin.state == "pinned"
	detector in item.pin.acknowledged
}

unacknowledged(kind, item) := {reason |
	found := _open_findings(item)
	count(found) > 0
	reason := concat("", [
		_named(kind, item), " is quarantined: its text reads like an attack on the model (",
		concat(", ", sort(found)), "); review it, and if it is harmless pin it with the ",
		"findings acknowledged (mcpgate tools pin ", item.id, " --acknowledge)",
	])
}

# An item's pin state; "none" for an item without pin facts, which is never
# taken for pinned.
_state(item) := s if {
	s := item.pin.state
} else := "none"

pending(kind, item, require_pinned, purpose) := {reason |
	require_pinned == true
	not _state(item) in {"pinned", "changed"}
	reason := concat("", [
		_named(kind, item), " is not pinned: purpose ", text.show(purpose),
		" uses only reviewed definitions; review it and pin it (mcpgate tools pin ",
		item.id, ")",
	])
}
