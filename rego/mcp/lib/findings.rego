# METADATA
# title: Guardrail findings
# description: |
#   The second decision of a call, on what came back (tools/result,
#   resources/result, prompts/result), and the findings the gateway's
#   inspection reports: in the result (input.result.findings) and in the
#   arguments (input.findings). A finding is {id, type, detector, severity,
#   pointer, excerpt}; the redact obligation names findings by id.
# scope: package
# schemas:
#   - input: schema.input
package mcp.lib.findings

# Each result action, with the call it is the result of.
result_actions := {
	"tools/result": "tools/call",
	"resources/result": "resources/read",
	"prompts/result": "prompts/get",
}

# One clause per action of result_actions, which builds nothing per
# evaluation (see tools.is_list_action); findings_test checks they agree.
default is_result_action := false

is_result_action if input.action == "tools/result"

is_result_action if input.action == "resources/result"

is_result_action if input.action == "prompts/result"

# The findings in the result; none outside a result action.
in_result := fs if {
	fs := input.result.findings
	is_array(fs)
} else := []

# The findings in the arguments.
in_arguments := fs if {
	fs := input.findings
	is_array(fs)
} else := []

# Ids of the result's findings of a type (secret, pii, injection, ...).
result_ids_of_type(t) := {f.id | some f in in_result; f.type == t}

# The result's findings a detector reported (secret.private_key, pii.card, ...).
result_of_detector(d) := [f | some f in in_result; f.detector == d]

# Every finding type of the request, result and arguments: what labels the
# session.
types := {f.type | some f in in_result} | {f.type | some f in in_arguments}
