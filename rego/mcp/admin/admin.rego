# METADATA
# title: Gateway admin API
# description: |
#   Who may use the gateway's admin API: admin/sessions/list,
#   admin/sessions/show and admin/sessions/kill (`mcpgate sessions ...`), and
#   the approvals queue: admin/approvals/list, admin/approvals/show and
#   admin/approvals/decide (approvals.rego decides who may approve a call),
#   the console's recent decisions (admin/decisions/list), and the live
#   catalog's tool trust: pin states and scan findings (admin/tools/list).
#   These actions have no MCP session and no purpose: mcp.authz sends every
#   action under admin/ here and consults no purpose policy for it, so no
#   profile or purpose package can grant or refuse one. The input carries
#   action, identity, admin ({session_id} for show and kill), request and
#   findings.
#
#   By default an admin action needs a user token whose identity holds one of
#   admin_roles (Entra app roles, Okta roles claim) or belongs to one of
#   admin_groups. App-only tokens are refused, whatever roles they carry.
# scope: package
# schemas:
#   - input: schema.input
package mcp.admin

import data.mcp.lib.identity
import data.mcp.lib.tools

# --- Configuration: what a security team edits ------------------------------

# Roles that make a user a sessions admin: Entra app roles or values of an
# Okta roles claim, compared exactly with identity.roles.
admin_roles := {"mcpgate.admin"}

# Groups whose members are sessions admins: Okta group names or Entra group
# object ids (lower case, as Entra sends them), compared exactly with
# identity.groups. Empty: only a role admits.
admin_groups := set()

# Roles and groups that may see the approvals queue (admin/approvals/list and
# show). Who may approve one call is the call's own require_approval (its
# approvers), checked in approvals.rego.
approver_roles := {"mcpgate.approver", "mcpgate.admin"}

approver_groups := set()

# Roles and groups that may see the live catalog's tool trust (admin/tools/list:
# every item's pin state and scan findings, the console's tools page). Seeing is
# all they can do: pinning stays a reviewed change to the signed policy. The
# approvers see it too, since they judge calls of these tools.
tool_reviewer_roles := {"mcpgate.admin", "mcpgate.approver"}

tool_reviewer_groups := set()

# Who may perform each admin action: any one role or group listed admits a
# user. All three share the lists above; to make one operation stricter,
# give it its own lists, for example
#   "admin/sessions/kill": {"roles": {"mcpgate.admin.kill"}, "groups": set()},
# An operation with neither roles nor groups admits nobody, and an admin
# action missing from this table is refused.
operations := {
	"admin/sessions/list": {"roles": admin_roles, "groups": admin_groups},
	"admin/sessions/show": {"roles": admin_roles, "groups": admin_groups},
	"admin/sessions/kill": {"roles": admin_roles, "groups": admin_groups},
	"admin/approvals/list": {"roles": approver_roles, "groups": approver_groups},
	"admin/approvals/show": {"roles": approver_roles, "groups": approver_groups},
	"admin/decisions/list": {"roles": admin_roles, "groups": admin_groups},
	"admin/tools/list": {"roles": tool_reviewer_roles, "groups": tool_reviewer_groups},
}

# --- The request ---------------------------------------------------------------

# The admin actions that act on one session and so need admin.session_id.
targeted := {"admin/sessions/show", "admin/sessions/kill"}

# What refusals call the area an action belongs to.
_area := "approvals" if {
	startswith(input.action, "admin/approvals/")
} else := "tool trust" if {
	startswith(input.action, "admin/tools/")
} else := "sessions admin"

_operation := operations[input.action]

# The roles and groups that admit a caller to this action, as sets; empty
# when the action has no entry (or an entry without them).
roles := {r | some r in _operation.roles}

groups := {g | some g in _operation.groups}

default _target_ok := false

_target_ok if not input.action in targeted

_target_ok if tools.non_empty_string(input.admin.session_id)

# --- Grant ----------------------------------------------------------------------

# mcp.authz allows an admin action only with this grant and no reason below.
default allow := false

allow if {
	identity.is_user
	identity.member(groups, roles)
	_target_ok
	_approval_ok
}

# --- Refusals ---------------------------------------------------------------------

# Operating the gateway is a person's act: a service token carries no one to
# hold to account, even when an app role was assigned to it.
deny contains reason if {
	not identity.is_user
	reason := concat("", [_area, " needs a user; app-only tokens are refused"])
}

deny contains reason if {
	identity.is_user
	_operation
	count(roles | groups) > 0
	not identity.member(groups, roles)
	not _overage_applies
	not requester_may_show
	reason := concat("", [_area, " needs ", _members_text])
}

# Entra left the groups out of the token and the gateway could not resolve
# them: membership by group is unknown (see mcp.lib.identity).
deny contains reason if {
	identity.is_user
	not identity.member(groups, roles)
	_overage_applies
	reason := identity.overage_reason(_roles_text)
}

deny contains reason if {
	_operation
	count(roles | groups) == 0
	reason := concat("", ["nobody may perform ", input.action, ": it has no admin roles or groups configured"])
}

deny contains reason if {
	not _operation
	not input.action == "admin/approvals/decide"
	reason := concat("", ["no admin rule for ", input.action])
}

deny contains reason if {
	not _target_ok
	reason := concat("", ["malformed request: ", input.action, " without admin.session_id"])
}

default _overage_applies := false

_overage_applies if {
	count(groups) > 0
	identity.groups_unknown
}

# How a refusal names who is admitted: "the mcpgate.admin role", and
# "membership in the group <g>" when groups are configured.
_members_text := concat(" or ", [t | some t in [_roles_text, _groups_text]; t != ""])

_roles_text := concat("", ["the ", r, " role"]) if {
	count(roles) == 1
	some r in roles
} else := concat("", ["one of the roles (", concat(", ", sort(roles)), ")"]) if {
	count(roles) > 1
} else := ""

_groups_text := concat("", ["membership in the group ", g]) if {
	count(groups) == 1
	some g in groups
} else := concat("", ["membership in one of the groups (", concat(", ", sort(groups)), ")"]) if {
	count(groups) > 1
} else := ""
