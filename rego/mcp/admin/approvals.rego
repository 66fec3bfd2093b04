# Who may approve a held call (part of package mcp.admin; see admin.rego).
#
#   admin/approvals/decide: a person asks to approve (or deny) a call the
#   policy's require_approval obligation holds. The input's admin.approval is
#   the approval as the gateway stored it: its requester, tool, reason and the
#   approvers the obligation named. Four eyes by default: the requester may
#   approve only when the obligation said self: true; anyone else needs one of
#   its approver roles or groups. Denying is allowed to everyone who may
#   approve, and to the requester (withdrawing their own call).
#   admin/approvals/show is also allowed to the requester of a self-approval
#   (the console shows them the call they may approve).
package mcp.admin

import data.mcp.lib.identity

_approval := input.admin.approval

_approver_roles := {r | some r in _approval.approvers.roles}

_approver_groups := {g | some g in _approval.approvers.groups}

default requester := false

# The person acting is the one whose call waits.
requester if {
	input.identity.issuer == _approval.requester.issuer
	input.identity.subject == _approval.requester.subject
}

default _approval_ok := true

_approval_ok := false if {
	input.action in {"admin/approvals/show", "admin/approvals/decide"}
	not _approval.id
}

default requester_may_show := false

requester_may_show if {
	input.action == "admin/approvals/show"
	requester
	_approval.self == true
}

allow if {
	requester_may_show
	identity.is_user
}

default _may_approve := false

_may_approve if {
	not requester
	identity.member(_approver_groups, _approver_roles)
}

_may_approve if {
	requester
	_approval.self == true
}

allow if {
	input.action == "admin/approvals/decide"
	identity.is_user
	_approval.verdict == "approve"
	_may_approve
}

allow if {
	input.action == "admin/approvals/decide"
	identity.is_user
	_approval.verdict == "deny"
	_may_deny
}

default _may_deny := false

_may_deny if _may_approve

_may_deny if requester

deny contains reason if {
	input.action == "admin/approvals/decide"
	identity.is_user
	_approval.verdict == "approve"
	requester
	not _approval.self == true
	reason := concat("", [
		"four eyes: ", input.identity.subject, " asked for this call and may not approve it; ",
		_approvers_text, " must",
	])
}

deny contains reason if {
	input.action == "admin/approvals/decide"
	identity.is_user
	_approval.verdict in {"approve", "deny"}
	not requester
	not identity.member(_approver_groups, _approver_roles)
	reason := concat("", ["approving ", _approval.tool, " needs ", _approvers_text])
}

deny contains reason if {
	input.action == "admin/approvals/decide"
	not _approval.verdict in {"approve", "deny"}
	reason := "malformed request: admin/approvals/decide needs the verdict approve or deny"
}

deny contains reason if {
	not _approval_ok
	reason := concat("", ["malformed request: ", input.action, " without admin.approval"])
}

# "someone with the mcpgate.approver role", "... or membership in the group g".
_approvers_text := concat("", ["someone with ", concat(" or ", [t |
	some t in [_role_names, _group_names]
	t != ""
])]) if {
	count(_approver_roles | _approver_groups) > 0
} else := "the requester (self-approval)" if {
	_approval.self == true
} else := "nobody (require_approval named no approvers)"

_role_names := concat("", ["the ", r, " role"]) if {
	count(_approver_roles) == 1
	some r in _approver_roles
} else := concat("", ["one of the roles (", concat(", ", sort(_approver_roles)), ")"]) if {
	count(_approver_roles) > 1
} else := ""

_group_names := concat("", ["membership in the group ", g]) if {
	count(_approver_groups) == 1
	some g in _approver_groups
} else := concat("", ["membership in one of the groups (", concat(", ", sort(_approver_groups)), ")"]) if {
	count(_approver_groups) > 1
} else := ""
