# Tool trust (mcp/lib/trust.rego, applied by mcp.authz): quarantine of changed
# definitions and of unacknowledged high-severity findings for every purpose,
# and of unpinned items where the purpose requires pins.
package mcp.trust_test

import data.mcp.authz
import data.mcp.lib.trust
import data.mcp.profiles
import data.mcp.testing.fixtures as fx

decide(inp) := d if {
	d := authz.decision with input as inp
}

# A code-review call whose tool has these trust facts.
review_call(pin, findings) := object.union(fx.call("filesystem", "read_file", {"path": "src/a.ts"}), {"tool": {"pin": pin, "findings": findings}})

# The same for incident-response, which requires pinned tools.
incident_call(pin) := object.union(
	fx.call_as("incident-response", ["oncall"], "filesystem", "read_text_file", {"path": "logs/a.log"}),
	{"tool": {"pin": pin}},
)

high(detector, field) := {"detector": detector, "severity": "high", "field": field}

test_a_pinned_tool_is_decided_by_the_purpose_alone if {
	decide(review_call({"state": "pinned"}, [])).allow
	decide(incident_call({"state": "pinned"})).allow
}

test_a_changed_tool_is_quarantined_naming_the_fields if {
	d := decide(review_call({"state": "changed", "changed": ["description", "inputSchema"], "since": "pin"}, []))
	not d.allow
	d.reasons == ["tool filesystem.read_file is quarantined: its definition changed since it was pinned (description, inputSchema); review the change and pin it again (mcpgate tools pin filesystem.read_file)"]
}

test_a_rug_pull_without_a_pin_is_quarantined if {
	d := decide(review_call({"state": "changed", "changed": ["description"], "since": "first_seen"}, []))
	d.reasons == ["tool filesystem.read_file is quarantined: its definition changed since the gateway first saw it, and it has no pin (description); review the change and pin it again (mcpgate tools pin filesystem.read_file)"]

	# Facts without the changed fields still say so.
	d2 := decide(review_call({"state": "changed"}, []))
	d2.reasons == ["tool filesystem.read_file is quarantined: its definition changed since the gateway first saw it, and it has no pin (fields not named); review the change and pin it again (mcpgate tools pin filesystem.read_file)"]
}

test_high_findings_quarantine_until_acknowledged_on_a_pin if {
	findings := [high("instruction.tag", "description"), high("unicode.tag", "inputSchema.properties.path.description")]
	d := decide(review_call({"state": "pending"}, findings))
	d.reasons == ["tool filesystem.read_file is quarantined: its text reads like an attack on the model (instruction.tag in description, unicode.tag in inputSchema.properties.path.description); review it, and if it is harmless pin it with the findings acknowledged (mcpgate tools pin filesystem.read_file --acknowledge)"]

	# Acknowledged by the pin of this very definition: decided as usual.
	decide(review_call({"state": "pinned", "acknowledged": ["instruction.tag", "unicode.tag"]}, findings)).allow

	# One acknowledged, one not: the other still quarantines.
	d3 := decide(review_call({"state": "pinned", "acknowledged": ["instruction.tag"]}, findings))
	d3.reasons == ["tool filesystem.read_file is quarantined: its text reads like an attack on the model (unicode.tag in inputSchema.properties.path.description); review it, and if it is harmless pin it with the findings acknowledged (mcpgate tools pin filesystem.read_file --acknowledge)"]

	# An acknowledgement counts only on the pinned definition, never on a changed one.
	d4 := decide(review_call({"state": "changed", "changed": ["description"], "since": "pin", "acknowledged": ["instruction.tag", "unicode.tag"]}, findings))
	count(d4.reasons) == 2
}

test_medium_and_low_findings_are_facts_not_quarantine if {
	findings := [
		{"detector": "instruction.precondition", "severity": "medium", "field": "description"},
		{"detector": "url.http", "severity": "low", "field": "description"},
	]
	decide(review_call({"state": "pending"}, findings)).allow
}

test_pending_is_refused_only_where_the_purpose_requires_pins if {
	decide(review_call({"state": "pending"}, [])).allow
	d := decide(incident_call({"state": "pending"}))
	d.reasons == ["tool filesystem.read_text_file is not pinned: purpose incident-response uses only reviewed definitions; review it and pin it (mcpgate tools pin filesystem.read_text_file)"]

	# Without pin facts at all, a purpose that requires pins refuses too (fail closed).
	no_facts := json.remove(incident_call({"state": "pending"}), ["tool/pin"])
	decide(no_facts).reasons == d.reasons

	# A changed tool gets the changed reason only.
	decide(incident_call({"state": "changed", "changed": ["title"], "since": "pin"})).reasons == ["tool filesystem.read_text_file is quarantined: its definition changed since it was pinned (title); review the change and pin it again (mcpgate tools pin filesystem.read_text_file)"]
}

test_a_rego_purpose_can_require_pins if {
	d := decide(review_call({"state": "pending"}, [])) with data.mcp.purposes.code_review.require_pinned as true
	d.reasons == ["tool filesystem.read_file is not pinned: purpose code-review uses only reviewed definitions; review it and pin it (mcpgate tools pin filesystem.read_file)"]
}

test_require_pinned_must_be_a_boolean if {
	bad := {"session": {"purpose": "p", "require_pinned": "yes"}, "tools": {}}
	profiles.problems("bad") == {"profile bad is malformed: session.require_pinned must be true or false"} with data.profiles as {"bad": bad}
	profiles.problems("good") == set() with data.profiles as {"good": {"session": {"purpose": "p", "require_pinned": true}, "tools": {}}}
}

test_prompts_and_listed_resources_are_quarantined_too if {
	changed := {"state": "changed", "changed": ["description"], "since": "pin"}
	prompt := object.union(fx.prompt("everything", "simple-prompt"), {"prompt": {"pin": changed}})
	decide(prompt).reasons == ["prompt everything.simple-prompt is quarantined: its definition changed since it was pinned (description); review the change and pin it again (mcpgate tools pin everything.simple-prompt)"]

	uri := "demo://resource/static/document/features.md"
	read := fx.read("everything", uri)
	decide(read).allow
	listed := object.union(read, {"resource": {"pin": {"state": "pending"}, "findings": [high("instruction.override", "description")]}})
	decide(listed).reasons == [concat("", ["resource everything:", uri, " is quarantined: its text reads like an attack on the model (instruction.override in description); review it, and if it is harmless pin it with the findings acknowledged (mcpgate tools pin everything:", uri, " --acknowledge)"])]
}

item(id, pin, findings) := {
	"kind": "tool",
	"id": concat(".", ["filesystem", id]),
	"server": "filesystem",
	"name": id,
	"annotations": fx.read_only,
	"pin": pin,
	"findings": findings,
}

catalog := [
	item("read_file", {"state": "pinned"}, []),
	item("read_text_file", {"state": "pending"}, []),
	item("get_file_info", {"state": "changed", "changed": ["description"], "since": "pin"}, []),
	item("list_directory", {"state": "pinned"}, [high("instruction.tag", "description")]),
	item("search_files", {"state": "pinned", "acknowledged": ["instruction.tag"]}, [high("instruction.tag", "description")]),
]

test_lists_hide_quarantined_items if {
	authz.visible == {"filesystem.read_file", "filesystem.read_text_file", "filesystem.search_files"} with input as fx.list("tools/list", catalog)

	# Where pins are required, the pending one is hidden too.
	incident := fx.with_identity(fx.with_purpose(fx.list("tools/list", catalog), "incident-response"), fx.okta_user(["oncall"], []))

	# (read_text_file is allowed by the purpose, read_file is not in it.)
	authz.visible == {"filesystem.search_files"} with input as incident

	# Instructions carry no trust facts and are never hidden by them.
	trust.hidden_ids(true, "p") == set() with input as fx.session_open_with_instructions("code-review", ["filesystem"])
}
