package mcp.findings_test

import data.mcp.authz
import data.mcp.lib.findings
import data.mcp.testing.fixtures as fx

# --- helpers -------------------------------------------------------------------

finding(id, type, detector, pointer) := {
	"id": id,
	"type": type,
	"detector": detector,
	"severity": "high",
	"pointer": pointer,
	"excerpt": "ghp_********… (40 chars)",
}

result_facts(found) := {
	"findings": found,
	"findings_dropped": 0,
	"bytes": 120,
	"is_error": false,
	"inspectors": {},
}

# The result decision of an allowed call: the call's input, the result action,
# and what came back.
result_of(call, action, found) := object.union(object.remove(call, ["action"]), {
	"action": action,
	"result": result_facts(found),
})

read_src := fx.call("filesystem", "read_text_file", {"path": "src/link.ts"})

tool_result(found) := result_of(read_src, "tools/result", found)

github := finding("f1", "secret", "secret.github", "/content/0/text")

env := finding("f2", "secret", "secret.env_assignment", "/content/0/text")

email := finding("f3", "pii", "pii.email", "/structuredContent/owner")

private_key := finding("f4", "secret", "secret.private_key", "/content/1/resource/text")

injection := finding("f5", "injection", "injection.instruction.override", "/content/0/text")

# --- the library ----------------------------------------------------------------

test_result_actions if {
	findings.is_result_action with input as tool_result([])
	not findings.is_result_action with input as read_src
	findings.types == {"secret", "pii"} with input as object.union(tool_result([github]), {"findings": [email]})
	findings.in_result == [] with input as read_src

	# One clause per action of the table, which must agree with it.
	every action, _ in findings.result_actions {
		findings.is_result_action with input as {"action": action}
	}
	every action, _ in {"tools/call": 1, "tools/list": 1, "result": 1} {
		not findings.is_result_action with input as {"action": action}
	}
}

# --- code-review: secrets redacted, private keys refused -------------------------

test_code_review_clean_result_allowed if {
	d := authz.decision with input as tool_result([])
	d.allow
	d.reasons == ["allowed by purpose code-review"]
	d.obligations.redact == []
	d.obligations.label_session == []
}

test_code_review_redacts_secrets_and_labels_the_session if {
	d := authz.decision with input as tool_result([github, env, email])
	d.allow
	d.obligations.redact == ["f1", "f2"]
	d.obligations.label_session == ["pii", "secret"]
	d.obligations.terminate_session == false
}

test_code_review_refuses_private_keys if {
	d := authz.decision with input as tool_result([github, private_key])
	not d.allow
	d.reasons == ["the result carries a private key (at /content/1/resource/text); purpose code-review never shows private keys"]
	d.obligations.label_session == ["secret"]
}

test_code_review_labels_injection_without_refusing if {
	d := authz.decision with input as tool_result([injection])
	d.allow
	d.obligations.redact == []
	d.obligations.label_session == ["injection"]
}

test_code_review_resource_and_prompt_results if {
	read := result_of(fx.read("everything", "demo://resource/static/document/a.md"), "resources/result", [github])
	d := authz.decision with input as read
	d.allow
	d.obligations.redact == ["f1"]
	prompt := result_of(fx.prompt("everything", "simple-prompt"), "prompts/result", [])
	authz.decision.allow with input as prompt
}

test_argument_findings_label_too if {
	d := authz.decision with input as object.union(tool_result([]), {"findings": [finding("f1", "pii", "pii.email", "/arguments/path")]})
	d.allow
	d.obligations.label_session == ["pii"]
}

test_result_needs_its_target if {
	inp := object.remove(tool_result([]), ["tool"])
	d := authz.decision with input as inp
	not d.allow
	"malformed request: tools/result without tool" in d.reasons
}

test_result_refused_to_a_user_the_purpose_refuses if {
	d := authz.decision with input as fx.as_app(tool_result([]))
	not d.allow
	"code-review sessions need a user; app-only tokens are refused" in d.reasons
}

test_call_decisions_carry_no_label_session if {
	d := authz.decision with input as read_src
	not "label_session" in object.keys(d.obligations)
}

# --- documentation: personal data (and secrets) redacted ---------------------------

docs_read := fx.with_purpose(
	fx.call("filesystem", "read_text_file", {"path": "docs/guide.md"}),
	"documentation",
)

test_documentation_redacts_personal_data if {
	d := authz.decision with input as result_of(docs_read, "tools/result", [email, github, injection])
	d.allow
	d.obligations.redact == ["f1", "f3"]
	d.obligations.label_session == ["injection", "pii", "secret"]
}

test_incident_response_shows_findings_and_labels_them if {
	inp := fx.with_identity(
		fx.with_purpose(result_of(read_src, "tools/result", [email]), "incident-response"),
		fx.okta_user(["oncall"], []),
	)
	d := authz.decision with input as inp
	d.allow
	d.obligations.redact == []
	d.obligations.label_session == ["pii"]
}

# --- a purpose without a profile grants no result ------------------------------

test_unknown_purpose_refuses_results if {
	d := authz.decision with input as fx.with_purpose(tool_result([]), "nobody")
	not d.allow
	d.reasons == ["no policy for purpose nobody"]
}
