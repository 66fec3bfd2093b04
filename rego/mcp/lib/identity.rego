# METADATA
# title: Identity helpers
# description: |
#   Who is behind the request, from input.identity, which the gateway builds
#   the same way for Okta and Entra: group names (Okta) or group object ids
#   (Entra) in groups, app roles or an Okta roles claim in roles. Values are
#   compared exactly; a group never counts as a role, nor the reverse.
# scope: package
# schemas:
#   - input: schema.input
package mcp.lib.identity

# A user is behind the token.
is_user if input.identity.token_type == "user"

# A service acting on its own behalf (client credentials).
is_app if input.identity.token_type == "app"

# in_any_group(groups) holds if the caller is in one of groups.
in_any_group(groups) if {
	some group in input.identity.groups
	group in groups
}

# has_any_role(roles) holds if the caller holds one of roles.
has_any_role(roles) if {
	some role in input.identity.roles
	role in roles
}

# member(groups, roles) holds if any one group or role admits the caller.
member(groups, _) if in_any_group(groups)

member(_, roles) if has_any_role(roles)

# The IdP reported a groups overage (Entra leaves groups out of a token when a
# user has too many) and the gateway could not resolve them: membership by
# group is unknown, and joining a group would not help.
groups_unknown if {
	input.identity.groups_overage == true
	count(input.identity.groups) == 0
}

# overage_reason(roles_text) explains a refusal when groups_unknown holds: the
# fix is configuration, not joining a group. roles_text names the roles that
# would still admit the caller ("the R.Run app role"); "" when none do.
overage_reason(roles_text) := concat("", [
	"your IdP sent too many groups to check membership (groups overage); ",
	"ask an administrator to configure groups_overage resolution",
	_role_hint(roles_text),
])

_role_hint("") := ""

_role_hint(roles_text) := concat("", [" or assign ", roles_text]) if roles_text != ""
