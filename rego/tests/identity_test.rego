package mcp.lib.identity_test

import data.mcp.lib.identity
import data.mcp.testing.fixtures as fx

as_identity(id) := fx.with_identity(fx.base("tools/list"), id)

test_token_types if {
	identity.is_user with input as as_identity(fx.okta_user([], []))
	not identity.is_app with input as as_identity(fx.okta_user([], []))
	identity.is_app with input as as_identity(fx.okta([], [], "app"))
	not identity.is_user with input as as_identity(fx.okta([], [], "app"))
}

test_membership_is_exact_and_per_claim if {
	inp := as_identity(fx.okta_user(["eng", "ops"], ["R.Run"]))
	identity.in_any_group({"ops"}) with input as inp
	not identity.in_any_group({"Eng", "R.Run"}) with input as inp
	identity.has_any_role(["R.Run"]) with input as inp
	not identity.has_any_role(["eng"]) with input as inp
	identity.member(["x", "eng"], []) with input as inp
	identity.member([], ["R.Run"]) with input as inp
	not identity.member(["R.Run"], ["eng"]) with input as inp
}

test_groups_unknown_only_when_unresolved if {
	identity.groups_unknown with input as as_identity(fx.entra_user([], [], true))
	not identity.groups_unknown with input as as_identity(fx.entra_user([fx.entra_other_group], [], true))
	not identity.groups_unknown with input as as_identity(fx.entra_user([], [], false))
}
