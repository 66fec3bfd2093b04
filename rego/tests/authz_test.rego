package mcp.authz_test

import data.mcp.authz
import data.mcp.testing.fixtures as fx

default_obligations := {
	"require_approval": null,
	"rate_limit": null,
	"credential": null,
	"redact": [],
	"terminate_session": false,
}

ok_read := fx.call("filesystem", "read_file", {"path": "src/a.ts"})

# --- shape ---------------------------------------------------------------------

test_allow_has_contract_shape if {
	d := authz.decision with input as ok_read
	d == {"allow": true, "reasons": ["allowed by purpose code-review"], "obligations": default_obligations}
}

test_deny_has_contract_shape if {
	d := authz.decision with input as fx.call("filesystem", "write_file", {"path": "src/a.ts"})
	d.allow == false
	count(d.reasons) > 0
	d.obligations == default_obligations
}

# Whatever the input, decision and visible stay defined.
test_defined_for_empty_input if {
	d := authz.decision with input as {}
	d.allow == false
	d.reasons == ["no policy for purpose (empty)"] with input as {"session": {"purpose": ""}}
	authz.visible == set() with input as {}
}

test_defined_for_garbage_arguments if {
	d := authz.decision with input as fx.call("filesystem", "read_multiple_files", {"paths": [{"a": 1}, null, true, ["src/a.ts"]]})
	d.allow == false
	count(d.reasons) == 4
}

# --- purposes ------------------------------------------------------------------

test_unknown_purpose_denied if {
	d := authz.decision with input as fx.with_purpose(ok_read, "marketing")
	d == {"allow": false, "reasons": ["no policy for purpose marketing"], "obligations": default_obligations}
}

test_unknown_purpose_sees_nothing if {
	catalog := [{"kind": "tool", "id": "filesystem.read_file", "server": "filesystem", "name": "read_file", "annotations": fx.read_only}]
	authz.visible == set() with input as fx.with_purpose(fx.list("tools/list", catalog), "marketing")
}

# One purpose, one policy: two Rego packages, two profiles, or a package and
# a profile claiming the same purpose refuse every request of it.
test_two_claimants_denied if {
	d1 := authz.decision with input as ok_read
		with data.mcp.purposes.copy as {"purpose": "code-review", "allow": true}
	d1.allow == false
	d1.reasons == ["more than one policy claims purpose code-review: mcp.purposes.copy, profiles/code-review"]

	d2 := authz.decision with input as ok_read
		with data.profiles.copy as data.profiles["code-review"]
	d2.reasons == ["more than one policy claims purpose code-review: profiles/code-review, profiles/copy"]

	mock := {"a": {"purpose": "code-review", "allow": true}, "b": {"purpose": "code-review", "allow": true}}
	d3 := authz.decision with input as ok_read with data.mcp.purposes as mock with data.profiles as {}
	d3.reasons == ["more than one policy claims purpose code-review: mcp.purposes.a, mcp.purposes.b"]

	# Extensions and lists see nothing of a disputed purpose.
	catalog := [{"kind": "tool", "id": "everything.echo", "server": "everything", "name": "echo", "annotations": fx.read_only}]
	authz.visible == set() with input as fx.list("tools/list", catalog)
		with data.mcp.purposes.copy as {"purpose": "code-review", "allow": true, "visible": {"everything.echo"}}
	count(authz.extensions) == 0 with input as ok_read
		with data.mcp.purposes.copy as {"purpose": "code-review", "allow": true}
}

# An extension adds rules to the policy that governs its purpose, a Rego
# package as well as a profile; alone, it governs nothing.
test_extensions if {
	catalog := [
		{"kind": "tool", "id": "a.b", "server": "a", "name": "b"},
		{"kind": "tool", "id": "a.c", "server": "a", "name": "c"},
	]
	base := {"p": {"purpose": "x", "allow": true, "visible": {"a.b"}}}
	extended := object.union(base, {"e": {"extends": "x", "deny": {"e says no"}, "visible": {"a.c"}, "hidden": {"a.b"}}})
	inp := fx.with_purpose(fx.list("tools/list", catalog), "x")

	authz.decision.allow with input as inp with data.mcp.purposes as base
	authz.visible == {"a.b"} with input as inp with data.mcp.purposes as base

	d := authz.decision with input as inp with data.mcp.purposes as extended
	d.reasons == ["e says no"]

	granting := object.union(base, {"e": {"extends": "x", "visible": {"a.c"}, "hidden": {"a.b"}}})
	authz.visible == {"a.c"} with input as inp with data.mcp.purposes as granting

	# An extension's grant counts where the governing policy is silent.
	silent := {"p": {"purpose": "x"}, "e": {"extends": "x", "allow": true}}
	authz.decision.allow with input as inp with data.mcp.purposes as silent

	# Without a claimant there is nothing to extend.
	alone := {"e": {"extends": "x", "allow": true}}
	d2 := authz.decision with input as inp with data.mcp.purposes as alone
	d2.reasons == ["no policy for purpose x"]

	# A package that claims a purpose is no extension, even with `extends`.
	both := {"p": {"purpose": "x", "allow": true}, "q": {"purpose": "y", "extends": "x", "deny": {"q says no"}}}
	authz.decision.allow with input as inp with data.mcp.purposes as both
}

test_code_review_is_a_profile_with_an_extension if {
	authz.claimants == {"profiles/code-review"} with input as ok_read
	authz.governing_profile == "code-review" with input as ok_read
	authz.extensions == {"code_review"} with input as ok_read
}

# A purpose that neither grants nor refuses still yields a reason.
test_silent_purpose_explains_default_deny if {
	silent := {"quiet": {"purpose": "quiet"}}
	d1 := authz.decision with input as fx.with_purpose(ok_read, "quiet") with data.mcp.purposes as silent
	d1.reasons == ["purpose quiet has no rule that allows tools/call filesystem.read_file"]
	d2 := authz.decision with input as fx.with_purpose(fx.read("s", "u://x"), "quiet") with data.mcp.purposes as silent
	d2.reasons == ["purpose quiet has no rule that allows resources/read s:u://x"]
	d3 := authz.decision with input as fx.with_purpose(fx.prompt("s", "p"), "quiet") with data.mcp.purposes as silent
	d3.reasons == ["purpose quiet has no rule that allows prompts/get s.p"]
	d4 := authz.decision with input as fx.with_purpose(fx.list("tools/list", []), "quiet") with data.mcp.purposes as silent
	d4.reasons == ["purpose quiet has no rule that allows tools/list"]
	d5 := authz.decision with input as {"action": 7, "session": {"purpose": "quiet"}} with data.mcp.purposes as silent
	d5.reasons == ["purpose quiet has no rule that allows (empty)"]
	d6 := authz.decision with input as fx.with_purpose(fx.about_resource("resources/subscribe", "s", "u://x"), "quiet") with data.mcp.purposes as silent
	d6.reasons == ["purpose quiet has no rule that allows resources/subscribe s:u://x"]
	d7 := authz.decision with input as fx.with_purpose(fx.about_resource("notifications/resources/updated", "s", "u://x"), "quiet") with data.mcp.purposes as silent
	d7.reasons == ["purpose quiet has no rule that allows notifications/resources/updated s:u://x"]
	d8 := authz.decision with input as fx.with_purpose(fx.complete_prompt("s", "p", "a", ""), "quiet") with data.mcp.purposes as silent
	d8.reasons == ["purpose quiet has no rule that allows completion/complete s.p"]
	d9 := authz.decision with input as fx.with_purpose(fx.complete_template("s", "t://{x}", "x", ""), "quiet") with data.mcp.purposes as silent
	d9.reasons == ["purpose quiet has no rule that allows completion/complete s:t://{x}"]
}

# A grant counts only as the boolean true, never as a truthy-looking value.
test_grant_must_be_true if {
	d := authz.decision with input as fx.with_purpose(ok_read, "loose")
		with data.mcp.purposes as {"loose": {"purpose": "loose", "allow": "yes"}}
	d.allow == false
}

test_purpose_obligations if {
	mock := {"strict": {
		"purpose": "strict",
		"allow": true,
		"require_approval": {{"approvers": ["b"]}, {"approvers": ["a"]}},
		"rate_limit": {{"per_minute": 10}},
		"credential": {"token-exchange"},
		"redact": {"$.b", "$.a"},
		"terminate_session": {"too many denials"},
	}}
	d := authz.decision with input as fx.with_purpose(ok_read, "strict") with data.mcp.purposes as mock
	d.allow == true
	d.reasons == ["allowed by purpose strict"]
	d.obligations == {
		"require_approval": {"approvers": ["a"]},
		"rate_limit": {"per_minute": 10},
		"credential": "token-exchange",
		"redact": ["$.a", "$.b"],
		"terminate_session": true,
	}
}

# --- malformed input ------------------------------------------------------------

test_target_objects_required if {
	d1 := authz.decision with input as fx.base("tools/call")
	"malformed request: tools/call without tool" in d1.reasons
	d2 := authz.decision with input as fx.base("resources/read")
	"malformed request: resources/read without resource" in d2.reasons
	d3 := authz.decision with input as fx.base("prompts/get")
	"malformed request: prompts/get without prompt" in d3.reasons
	every action in ["resources/subscribe", "resources/unsubscribe", "notifications/resources/updated"] {
		d := authz.decision with input as fx.base(action)
		concat("", ["malformed request: ", action, " without resource"]) in d.reasons
	}
	d4 := authz.decision with input as fx.base("completion/complete")
	"malformed request: completion/complete without completion" in d4.reasons
}

test_ids_must_match if {
	bad_tool := object.union(ok_read, {"tool": {"id": "filesystem.write_file"}})
	d1 := authz.decision with input as bad_tool
	"malformed request: tool.id is not server.name" in d1.reasons

	bad_prompt := object.union(fx.prompt("everything", "simple-prompt"), {"prompt": {"id": "x"}})
	d2 := authz.decision with input as bad_prompt
	"malformed request: prompt.id is not server.name" in d2.reasons

	bad_resource := object.union(fx.read("everything", "demo://resource/static/document/a.md"), {"resource": {"id": "x"}})
	d3 := authz.decision with input as bad_resource
	"malformed request: resource.id is not server:uri" in d3.reasons

	bad_update := object.union(bad_resource, {"action": "notifications/resources/updated"})
	d4 := authz.decision with input as bad_update
	"malformed request: resource.id is not server:uri" in d4.reasons

	bad_completion := "malformed request: completion.ref.id is not server.name or server:uri"
	prompt_ref := fx.complete_prompt("everything", "simple-prompt", "a", "")
	d5 := authz.decision with input as object.union(prompt_ref, {"completion": {"ref": {"id": "everything:simple-prompt"}}})
	bad_completion in d5.reasons
	template_ref := fx.complete_template("everything", "t://{x}", "x", "")
	d6 := authz.decision with input as object.union(template_ref, {"completion": {"ref": {"id": "everything.t://{x}"}}})
	bad_completion in d6.reasons
	d7 := authz.decision with input as prompt_ref
	not bad_completion in d7.reasons
	d8 := authz.decision with input as template_ref
	not bad_completion in d8.reasons
}

# --- visible --------------------------------------------------------------------

# Only items of the listed kind, and only ids the catalog really holds.
test_visible_filters_kind_and_catalog if {
	catalog := [
		{"kind": "prompt", "id": "everything.simple-prompt", "server": "everything", "name": "simple-prompt"},
		{"kind": "tool", "id": "everything.echo", "server": "everything", "name": "echo", "annotations": fx.read_only},
	]
	authz.visible == {"everything.echo"} with input as fx.list("tools/list", catalog)
	authz.visible == set() with input as object.union(fx.call("everything", "echo", {}), {"catalog": catalog})
}

# At session/open the visible decision is over the upstreams' instructions;
# an instruction item in any other request is not shown.
test_visible_instructions_at_session_open_only if {
	items := [fx.instruction("a"), {"kind": "tool", "id": "a.b", "server": "a", "name": "b"}]
	mock := {"m": {"purpose": "code-review", "allow": true, "visible": {"a", "a.b"}}}
	open := object.union(fx.session_open("code-review"), {"catalog": items})
	authz.visible == {"a"} with input as open with data.mcp.purposes as mock with data.profiles as {}
	authz.visible == {"a.b"} with input as fx.list("tools/list", items) with data.mcp.purposes as mock with data.profiles as {}

	# A refused session/open shows none.
	refusing := {"m": object.union(mock.m, {"deny": {"no"}})}
	authz.visible == set() with input as open with data.mcp.purposes as refusing with data.profiles as {}
}

test_visible_needs_list_allowed if {
	catalog := [{"kind": "tool", "id": "a.b", "server": "a", "name": "b"}]
	mock := {"m": {"purpose": "code-review", "visible": {"a.b"}}}
	authz.visible == set() with input as fx.list("tools/list", catalog) with data.mcp.purposes as mock with data.profiles as {}
	authz.visible == {"a.b"} with input as fx.list("tools/list", catalog)
		with data.mcp.purposes as {"m": object.union(mock.m, {"allow": true})}
		with data.profiles as {}
}

test_defined_for_wrongly_typed_purpose if {
	d := authz.decision with input as {"action": 7, "session": {"purpose": 7}}
	d.reasons == ["no policy for purpose (empty)"]
}

# If an edit ever left a part of the decision undefined, the default denies.
never(_) := x if {
	x := 1
	x == 2
}

test_undefined_part_fails_closed if {
	d := authz.decision with input as ok_read with authz._first as never
	d.allow == false
	d.reasons == ["policy error: no decision could be assembled"]
}
