# METADATA
# title: Flow labels
# description: |
#   Data flow across the calls of a session (docs/continuous-verification.md).
#   Results label the session: with the type of every guardrail finding
#   (secret, pii, injection; mcp.authz), and with what the tool is: the
#   labels data.flow.sources gives its id (e.g. private for a tool that
#   reads internal data) and untrusted for open-world content
#   (annotation openWorldHint: true). Sinks are tools that send data out:
#   annotated openWorldHint: true, or listed in data.flow.sinks. Destructive
#   tools are mcp.lib.approval's (annotated destructiveHint: true, or in its
#   destructive_tools), and who approves is its approvers. Annotations only
#   ever tighten, so an upstream cannot talk its way out of being a sink. mcp.authz applies these rules
#   to every purpose:
#     - once secret data entered the session, sinks are refused;
#     - arguments that carry text from a secret or private result
#       (input.behaviour.args_from_results) are refused on a sink;
#     - once private data entered the session, a sink needs approval;
#     - once injected instructions were seen, a destructive tool needs
#       approval.
# scope: package
# schemas:
#   - input: schema.input
package mcp.lib.flow

import data.mcp.lib.approval
import data.mcp.lib.text

# The share of an argument that must come from a labelled result for the
# argument to count as carrying it, and the labels that may not leave.
provenance_threshold := 0.5

confined_labels := {"secret", "private"}

# The id of the tool, resource or prompt a call (or its result) is about.
_item_id := input.tool.id if {
	_item_kind == "tool"
} else := input.resource.id if {
	_item_kind == "resource"
} else := input.prompt.id if {
	_item_kind == "prompt"
}

# What a call (or its result) is about, one comparison per action (a set
# literal would be built on every evaluation in wasm).
_item_kind := "tool" if input.action == "tools/call"

_item_kind := "tool" if input.action == "tools/result"

_item_kind := "resource" if input.action == "resources/read"

_item_kind := "resource" if input.action == "resources/result"

_item_kind := "prompt" if input.action == "prompts/get"

_item_kind := "prompt" if input.action == "prompts/result"

# The labels what the call returns gives the session.
source_labels contains label if {
	some label in data.flow.sources[_item_id]
	is_string(label)
}

source_labels contains "untrusted" if {
	input.action == "tools/call"
	input.tool.annotations.openWorldHint == true
}

default is_sink := false

is_sink if {
	input.action == "tools/call"
	input.tool.annotations.openWorldHint == true
}

is_sink if {
	input.action == "tools/call"
	input.tool.id in data.flow.sinks
}

default is_destructive := false

is_destructive if {
	input.action == "tools/call"
	approval.destructive
}

_labelled(label) if label in input.session.labels

# Labels of earlier results that the arguments carry.
carried contains label if {
	some label in input.behaviour.args_from_results.labels
	input.behaviour.args_from_results.by_label[label] >= provenance_threshold
}

denials contains reason if {
	is_sink
	_labelled("secret")
	reason := concat("", [
		"tool ", input.tool.id, " sends data out (open-world), and secret data entered this session; ",
		"no tool that sends data out may be used for the rest of the session (open a new one)",
	])
}

denials contains reason if {
	is_sink
	some label in (carried & confined_labels)
	reason := concat("", [
		"the arguments of ", input.tool.id, " carry text from a result labelled ", label,
		" (argument ", text.show(input.behaviour.args_from_results.argument), ", ",
		format_int(input.behaviour.args_from_results.by_label[label] * 100, 10),
		"% of it); it may not be sent out",
	])
}

approvals contains {
	"reason": concat("", [
		"private data entered this session and ", input.tool.id,
		" sends data out (open-world); a person must approve this call",
	]),
	"approvers": approval.approvers,
	"self": false,
	"timeout_s": approval.timeout_s,
} if {
	is_sink
	_labelled("private")
	not _labelled("secret")
}

approvals contains {
	"reason": concat("", [
		"injected instructions were seen in this session and ", input.tool.id,
		" is destructive; a person must approve this call",
	]),
	"approvers": approval.approvers,
	"self": false,
	"timeout_s": approval.timeout_s,
} if {
	is_destructive
	_labelled("injection")
}
