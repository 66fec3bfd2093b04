package mcp.admin_test

import data.mcp.admin
import data.mcp.authz
import data.mcp.testing.fixtures as fx

no_obligations := {
	"require_approval": null,
	"rate_limit": null,
	"credential": null,
	"redact": [],
	"terminate_session": false,
}

operations := ["admin/sessions/list", "admin/sessions/show", "admin/sessions/kill"]

role_reason := "sessions admin needs the mcpgate.admin role"

app_reason := "sessions admin needs a user; app-only tokens are refused"

# An admin request for action by id; show and kill name a session.
req(action, id) := fx.admin(action, id, _target(action))

_target("admin/sessions/list") := ""

_target(action) := "sess-0042" if action != "admin/sessions/list"

okta_admin := fx.okta_user(["engineering"], [fx.admin_role])

entra_admin := fx.entra_user([fx.entra_engineering], [fx.admin_role], false)

engineer := fx.okta_user(["engineering"], [])

reasons(inp) := r if {
	r := authz.decision.reasons with input as inp
}

# --- The default: the mcpgate.admin role --------------------------------------

test_admin_role_allows_each_operation if {
	every action in operations {
		every id in [okta_admin, entra_admin] {
			d := authz.decision with input as req(action, id)
			d == {
				"allow": true,
				"reasons": [concat("", ["allowed by the admin policy for ", action])],
				"obligations": no_obligations,
			}
		}
	}
}

test_no_role_denied_with_reason if {
	every action in operations {
		d := authz.decision with input as req(action, engineer)
		d == {"allow": false, "reasons": [role_reason], "obligations": no_obligations}
		reasons(req(action, fx.entra_user([], [], false))) == [role_reason]
	}
}

# Roles compare exactly, and a group never counts as a role.
test_role_is_exact if {
	reasons(req("admin/sessions/list", fx.okta_user([], ["MCPGate.Admin"]))) == [role_reason]
	reasons(req("admin/sessions/list", fx.okta_user([fx.admin_role], []))) == [role_reason]
}

# An app-only token is refused even when an app role was assigned to it.
test_app_token_denied if {
	every action in operations {
		app := fx.okta(["engineering"], [fx.admin_role], "app")
		d := authz.decision with input as req(action, app)
		d == {"allow": false, "reasons": [app_reason], "obligations": no_obligations}

		# mcp.admin's grant does not hold either: grant and refusal agree.
		not admin.allow with input as req(action, app)
	}
}

# show and kill act on one session and must name it; list needs no target.
test_show_and_kill_need_a_session_id if {
	reasons(fx.admin("admin/sessions/show", okta_admin, "")) == ["malformed request: admin/sessions/show without admin.session_id"]
	reasons(fx.admin("admin/sessions/kill", okta_admin, "")) == ["malformed request: admin/sessions/kill without admin.session_id"]
	authz.decision.allow with input as fx.admin("admin/sessions/list", okta_admin, "")
	authz.decision.allow with input as fx.admin("admin/sessions/list", okta_admin, "sess-0042")
}

# visible answers lists of an MCP session; an admin action never shows
# anything, even with a catalog and a purpose that would show it.
test_visible_empty_for_admin_actions if {
	catalog := [{"kind": "tool", "id": "everything.echo", "server": "everything", "name": "echo", "annotations": fx.read_only}]
	every action in operations {
		inp := object.union(req(action, okta_admin), {"catalog": catalog, "session": fx.session("code-review")})
		authz.visible == set() with input as inp
		authz.visible == set() with input as inp
			with data.mcp.purposes.open as {"purpose": "code-review", "allow": true, "visible": {"everything.echo"}}
	}
}

# --- Groups and per-operation rules: data a team edits ------------------------

test_admin_group_allows_when_configured if {
	ops := fx.okta_user(["ops-admins"], [])
	reasons(req("admin/sessions/kill", ops)) == [role_reason]
	every action in operations {
		authz.decision.allow with input as req(action, ops)
			with data.mcp.admin.admin_groups as {"ops-admins"}
	}

	# Entra group object ids, compared exactly.
	entra_ops := fx.entra_user([fx.entra_other_group], [], false)
	authz.decision.allow with input as req("admin/sessions/show", entra_ops)
		with data.mcp.admin.admin_groups as {fx.entra_other_group}
	not authz.decision.allow with input as req("admin/sessions/show", entra_ops)
		with data.mcp.admin.admin_groups as {fx.entra_engineering}
}

test_reason_names_roles_and_groups if {
	reasons(req("admin/sessions/list", engineer)) == ["sessions admin needs the mcpgate.admin role or membership in the group ops-admins"] with data.mcp.admin.admin_groups as {"ops-admins"}
	reasons(req("admin/sessions/list", engineer)) == ["sessions admin needs one of the roles (a, b) or membership in one of the groups (g, h)"] with data.mcp.admin.admin_roles as {"b", "a"}
		with data.mcp.admin.admin_groups as {"h", "g"}
	reasons(req("admin/sessions/list", engineer)) == ["sessions admin needs membership in the group g"] with data.mcp.admin.admin_roles as set()
		with data.mcp.admin.admin_groups as {"g"}
}

# With admin groups configured and an unresolved Entra groups overage,
# membership is unknown: the reason says so, and the role still admits.
test_groups_overage if {
	overage := fx.entra_user([], [], true)
	reasons(req("admin/sessions/kill", overage)) == ["your IdP sent too many groups to check membership (groups overage); ask an administrator to configure groups_overage resolution or assign the mcpgate.admin role"] with data.mcp.admin.admin_groups as {fx.entra_other_group}
	reasons(req("admin/sessions/kill", overage)) == ["your IdP sent too many groups to check membership (groups overage); ask an administrator to configure groups_overage resolution"] with data.mcp.admin.admin_groups as {fx.entra_other_group}
		with data.mcp.admin.admin_roles as set()

	# Without admin groups an overage changes nothing.
	reasons(req("admin/sessions/kill", overage)) == [role_reason]
	authz.decision.allow with input as req("admin/sessions/kill", fx.entra_user([], [fx.admin_role], true))
		with data.mcp.admin.admin_groups as {fx.entra_other_group}
}

# One rule for all three by default; a team can make kill stricter.
test_operations_can_differ if {
	strict := {
		"admin/sessions/list": {"roles": {fx.admin_role}, "groups": set()},
		"admin/sessions/show": {"roles": {fx.admin_role}, "groups": set()},
		"admin/sessions/kill": {"roles": ["mcpgate.admin.kill"], "groups": []},
	}
	authz.decision.allow with input as req("admin/sessions/list", okta_admin) with data.mcp.admin.operations as strict
	reasons(req("admin/sessions/kill", okta_admin)) == ["sessions admin needs the mcpgate.admin.kill role"] with data.mcp.admin.operations as strict
	killer := fx.okta_user([], ["mcpgate.admin.kill"])
	authz.decision.allow with input as req("admin/sessions/kill", killer) with data.mcp.admin.operations as strict
	not authz.decision.allow with input as req("admin/sessions/show", killer) with data.mcp.admin.operations as strict
}

# Fail closed: an operation that lists nobody, and an admin action the table
# does not know, are refused for everyone.
test_unconfigured_operations_refused if {
	nobody := {
		"admin/sessions/list": {"roles": set(), "groups": set()},
		"admin/sessions/show": {"roles": {fx.admin_role}},
	}
	reasons(req("admin/sessions/list", okta_admin)) == ["nobody may perform admin/sessions/list: it has no admin roles or groups configured"] with data.mcp.admin.operations as nobody
	authz.decision.allow with input as req("admin/sessions/show", okta_admin) with data.mcp.admin.operations as nobody
	reasons(req("admin/sessions/kill", okta_admin)) == ["no admin rule for admin/sessions/kill"] with data.mcp.admin.operations as nobody
	reasons(req("admin/sessions/zap", okta_admin)) == ["no admin rule for admin/sessions/zap"]
}

# --- Independent of every purpose ---------------------------------------------

# A Rego purpose that grants everything cannot grant an admin action: not
# for the empty purpose an admin request (which has no session) would read,
# not for the purpose of a session the input should not carry.
test_purpose_cannot_grant_admin if {
	grant_all := {
		"empty": {"purpose": "", "allow": true},
		"open": {"purpose": "code-review", "allow": true, "require_approval": {"yes"}, "terminate_session": {"x"}},
	}
	every action in operations {
		d1 := authz.decision with input as req(action, engineer) with data.mcp.purposes as grant_all
		d1 == {"allow": false, "reasons": [role_reason], "obligations": no_obligations}

		inp := object.union(req(action, engineer), {"session": fx.session("code-review")})
		d2 := authz.decision with input as inp with data.mcp.purposes as grant_all
		d2 == {"allow": false, "reasons": [role_reason], "obligations": no_obligations}

		# Nor does the purpose side's own allow hold for an admin action.
		not authz.allow with input as req(action, engineer) with data.mcp.purposes as grant_all
	}
	reasons(req("admin/sessions/zap", okta_admin)) == ["no admin rule for admin/sessions/zap"] with data.mcp.purposes as grant_all
}

# Nor can a purpose refuse one or add obligations to it: the code-review
# extension's app-token rule and the profile's ttl play no part.
test_purpose_cannot_refuse_admin if {
	deny_all := {"empty": {"purpose": "", "deny": {"no"}, "rate_limit": {{"per_minute": 1}}}}
	authz.decision == {
		"allow": true,
		"reasons": ["allowed by the admin policy for admin/sessions/kill"],
		"obligations": no_obligations,
	} with input as req("admin/sessions/kill", okta_admin)
		with data.mcp.purposes as deny_all

	app := fx.okta([], [], "app")
	inp := object.union(req("admin/sessions/list", app), {"session": fx.session("code-review")})
	reasons(inp) == [app_reason]
}

# The core needs the grant of mcp.admin and no reason from it; when
# mcp.admin says neither, it still explains the refusal.
test_core_needs_grant_and_no_denial if {
	not authz.decision.allow with input as req("admin/sessions/list", engineer)
		with data.mcp.admin.allow as true
	reasons(req("admin/sessions/list", engineer)) == ["no admin rule allows admin/sessions/list"] with data.mcp.admin.allow as false
		with data.mcp.admin.deny as set()
}

# --- Tool trust: the live catalog's pin states and findings --------------------

tools_reason := "tool trust needs one of the roles (mcpgate.admin, mcpgate.approver)"

test_tool_trust_for_admins_and_approvers if {
	approver := fx.okta_user([], ["mcpgate.approver"])
	every id in [okta_admin, entra_admin, approver] {
		d := authz.decision with input as req("admin/tools/list", id)
		d == {
			"allow": true,
			"reasons": ["allowed by the admin policy for admin/tools/list"],
			"obligations": no_obligations,
		}
	}
	reasons(req("admin/tools/list", engineer)) == [tools_reason]
	reasons(req("admin/tools/list", fx.okta(["engineering"], [fx.admin_role], "app"))) == ["tool trust needs a user; app-only tokens are refused"]
}

# Its own lists: a team can admit a group, or narrow it to the admins.
test_tool_trust_lists_are_data if {
	reviewers := fx.okta_user(["tool-reviewers"], [])
	authz.decision.allow with input as req("admin/tools/list", reviewers)
		with data.mcp.admin.tool_reviewer_groups as {"tool-reviewers"}
	not authz.decision.allow with input as req("admin/tools/list", reviewers)
	reasons(req("admin/tools/list", fx.okta_user([], ["mcpgate.approver"]))) == ["tool trust needs the mcpgate.admin role"] with data.mcp.admin.tool_reviewer_roles as {fx.admin_role}

	# The sessions admin lists do not admit to it, nor its lists to sessions.
	reasons(req("admin/sessions/list", reviewers)) == [role_reason] with data.mcp.admin.tool_reviewer_groups as {"tool-reviewers"}
}
