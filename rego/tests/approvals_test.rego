package mcp.approvals_test

import data.mcp.authz
import data.mcp.lib.approval
import data.mcp.testing.fixtures as fx

requester := fx.okta_user(["oncall"], [])

approver := object.union(fx.okta_user([], ["mcpgate.approver"]), {"subject": "00ucarol"})

stranger := object.union(fx.okta_user(["oncall"], []), {"subject": "00umallory"})

approval_facts(verdict, self) := {
	"id": "aAbC",
	"verdict": verdict,
	"requester": {"issuer": fx.okta_issuer, "subject": requester.subject},
	"session_id": "sess-1",
	"purpose": "incident-response",
	"tool": "filesystem.write_file",
	"reason": "filesystem.write_file is listed as destructive; a second person must approve this call",
	"approvers": {"roles": ["mcpgate.approver"], "groups": []},
	"self": self,
}

decide(id, verdict, self) := {
	"action": "admin/approvals/decide",
	"identity": id,
	"admin": {"approval": approval_facts(verdict, self)},
	"request": fx.request,
	"findings": [],
}

show(id, self) := object.union(decide(id, "none", self), {"action": "admin/approvals/show"})

list_input(id) := {
	"action": "admin/approvals/list",
	"identity": id,
	"admin": {},
	"request": fx.request,
	"findings": [],
}

# --- Who may approve ------------------------------------------------------------

test_approver_may_approve_and_deny if {
	d := authz.decision with input as decide(approver, "approve", false)
	d.allow == true
	d.reasons == ["allowed by the admin policy for admin/approvals/decide"]
	authz.decision.allow with input as decide(approver, "deny", false)
}

test_four_eyes_refuses_the_requester if {
	both := object.union(requester, {"roles": ["mcpgate.approver"]})
	d := authz.decision with input as decide(both, "approve", false)
	d.allow == false
	d.reasons == ["four eyes: 00u1a2b3c4d5e6f7g8h9 asked for this call and may not approve it; someone with the mcpgate.approver role must"]
}

test_requester_may_withdraw if {
	authz.decision.allow with input as decide(requester, "deny", false)
}

test_self_approval_when_the_obligation_allows if {
	authz.decision.allow with input as decide(requester, "approve", true)
	authz.decision.allow with input as show(requester, true)
	not authz.decision.allow with input as show(requester, false)
}

test_stranger_refused_with_who_may if {
	d := authz.decision with input as decide(stranger, "approve", false)
	d.allow == false
	d.reasons == ["approving filesystem.write_file needs someone with the mcpgate.approver role"]
}

test_groups_and_several_roles_named if {
	inp := json.patch(decide(stranger, "approve", false), [{
		"op": "replace", "path": "/admin/approval/approvers",
		"value": {"roles": ["a", "b"], "groups": ["ic"]},
	}])
	authz.decision.reasons == ["approving filesystem.write_file needs someone with one of the roles (a, b) or membership in the group ic"] with input as inp
	member := object.union(stranger, {"groups": ["ic"]})
	authz.decision.allow with input as json.patch(inp, [{"op": "replace", "path": "/identity", "value": member}])
	many := json.patch(inp, [{"op": "replace", "path": "/admin/approval/approvers/groups", "value": ["x", "y"]}])
	authz.decision.reasons == ["approving filesystem.write_file needs someone with one of the roles (a, b) or membership in one of the groups (x, y)"] with input as many
}

test_nobody_named if {
	inp := json.patch(decide(stranger, "approve", true), [{
		"op": "replace", "path": "/admin/approval/approvers",
		"value": {"roles": [], "groups": []},
	}])
	authz.decision.reasons == ["approving filesystem.write_file needs the requester (self-approval)"] with input as inp
	none := json.patch(inp, [{"op": "replace", "path": "/admin/approval/self", "value": false}])
	authz.decision.reasons == ["approving filesystem.write_file needs nobody (require_approval named no approvers)"] with input as none
}

test_app_tokens_refused if {
	app := object.union(approver, {"token_type": "app"})
	d := authz.decision with input as decide(app, "approve", false)
	d.allow == false
	"approvals needs a user; app-only tokens are refused" in d.reasons
}

test_malformed_requests_refused if {
	bad := json.patch(decide(approver, "approve", false), [{"op": "replace", "path": "/admin/approval/verdict", "value": "none"}])
	authz.decision.reasons == ["malformed request: admin/approvals/decide needs the verdict approve or deny"] with input as bad
	missing := json.patch(decide(approver, "approve", false), [{"op": "replace", "path": "/admin", "value": {}}])
	"malformed request: admin/approvals/decide without admin.approval" in authz.decision.reasons with input as missing
}

# --- The queue ---------------------------------------------------------------------

test_queue_for_approvers_only if {
	authz.decision.allow with input as list_input(approver)
	authz.decision.allow with input as show(approver, false)
	d := authz.decision with input as list_input(stranger)
	d.reasons == ["approvals needs one of the roles (mcpgate.admin, mcpgate.approver)"]
}

# --- Which calls need approval ---------------------------------------------------------

ir_write := fx.with_identity(
	fx.with_purpose(fx.call_annotated("filesystem", "write_file", {"path": "incidents/a.md", "content": "x"}, {"destructiveHint": true}), "incident-response"),
	requester,
)

test_incident_response_destructive_needs_approval if {
	d := authz.decision with input as ir_write
	d.allow == true
	d.obligations.require_approval == {
		"reason": "filesystem.write_file is listed as destructive; a second person must approve this call",
		"approvers": {"roles": ["mcpgate.approver"], "groups": []},
		"self": false,
		"timeout_s": 600,
	}
}

test_annotation_alone_makes_destructive if {
	inp := fx.with_identity(fx.with_purpose(fx.call_annotated("everything", "echo", {"message": "x"}, {"destructiveHint": true}), "incident-response"), requester)
	d := authz.decision with input as inp
	d.obligations.require_approval.reason == "everything.echo is annotated destructiveHint: true; a second person must approve this call"
	plain := fx.with_identity(fx.with_purpose(fx.call("everything", "echo", {"message": "x"}), "incident-response"), requester)
	authz.decision.obligations.require_approval == null with input as plain
}

test_refused_call_carries_no_obligation if {
	outside := json.patch(ir_write, [{"op": "replace", "path": "/arguments/path", "value": "src/a.ts"}])
	d := authz.decision with input as outside
	d.allow == false
	d.obligations.require_approval == null
}

test_code_review_destructive_tool_needs_approval_not_refusal if {
	comment := fx.with_history(
		fx.call_annotated("github", "create_comment", {"owner": "org", "repo": "repo", "pull_number": 5, "body": "x"}, {"destructiveHint": true}),
		[fx.called("github.get_pull_request", true)],
	)
	d := authz.decision with input as comment
	d.allow == true
	d.obligations.require_approval.approvers == {"roles": ["mcpgate.approver"], "groups": []}

	# Not read-only and not destructive: still refused as a write tool.
	plain := fx.with_history(
		fx.call_annotated("github", "create_comment", {"owner": "org", "repo": "repo", "pull_number": 5, "body": "x"}, {}),
		[fx.called("github.get_pull_request", true)],
	)
	not authz.decision.allow with input as plain
}

test_destructive_items_listed_in_code_review if {
	catalog := [
		{"kind": "tool", "id": "github.create_comment", "server": "github", "name": "create_comment", "annotations": {"destructiveHint": true}},
		{"kind": "tool", "id": "github.get_pull_request", "server": "github", "name": "get_pull_request", "annotations": {}},
	]
	v := authz.visible with input as fx.list("tools/list", catalog)
	v == {"github.create_comment"}
}

test_destructive_by_data if {
	approval.destructive with input as {"tool": {"id": "github.merge_pull_request", "annotations": {}}}
	not approval.destructive with input as {"tool": {"id": "github.get_pull_request", "annotations": {"destructiveHint": false}}}
	approval.destructive_item({"id": "filesystem.move_file", "annotations": {}})
}

test_recent_decisions_for_admins if {
	inp := json.patch(list_input(approver), [{"op": "replace", "path": "/action", "value": "admin/decisions/list"}])
	authz.decision.reasons == ["sessions admin needs the mcpgate.admin role"] with input as inp
	admin := json.patch(inp, [{"op": "replace", "path": "/identity/roles", "value": ["mcpgate.admin"]}])
	authz.decision.allow with input as admin
}
