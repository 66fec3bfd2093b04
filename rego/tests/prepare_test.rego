# The values the gateway prepares once per bundle (data.mcp.authz.prepare)
# and installs at data.mcpgate.prepared. With them, every decision and list
# must be exactly what it is without them: `mcpgate policy test` checks that
# on the whole case corpus (the wasm build prepares, OPA's Go evaluator does
# not); these tests run both ways here, on shipped and malformed profiles.
package mcp.prepare_test

import data.mcp.authz
import data.mcp.testing.fixtures as fx

# Both ways agree for inp under the profiles ps and Rego purposes purposes,
# prepared being what authz.prepare.data is for them.
agree(ps, purposes, prepared, inp) if {
	d := authz.decision with input as inp with data.profiles as ps with data.mcp.purposes as purposes
	v := authz.visible with input as inp with data.profiles as ps with data.mcp.purposes as purposes
	d == authz.decision with input as inp
		with data.profiles as ps
		with data.mcp.purposes as purposes
		with data.mcpgate.prepared as prepared
	v == authz.visible with input as inp
		with data.profiles as ps
		with data.mcp.purposes as purposes
		with data.mcpgate.prepared as prepared
}

prepared_for(ps) := p if {
	p := authz.prepare.data with data.profiles as ps with data.mcp.purposes as {}
}

shipped_agree(inputs) if {
	prepared := authz.prepare.data
	every inp in inputs {
		agree(data.profiles, data.mcp.purposes, prepared, inp)
	}
}

catalog := [
	{"kind": "tool", "id": "filesystem.read_file", "server": "filesystem", "name": "read_file", "annotations": fx.read_only},
	{"kind": "tool", "id": "filesystem.write_file", "server": "filesystem", "name": "write_file", "annotations": fx.read_only},
	{"kind": "tool", "id": "everything.echo", "server": "everything", "name": "echo", "annotations": fx.read_only},
	{"kind": "tool", "id": "a.b", "server": "a", "name": "b", "annotations": fx.read_only},
	{"kind": "tool", "id": "a.c", "server": "a", "name": "c", "annotations": fx.read_only},
	{"kind": "tool", "id": "a.d", "server": "a", "name": "d", "annotations": fx.read_only},
]

# In chunks: opa test -v and --coverage trace every step, and each test must
# end within opa test's timeout.
test_shipped_profiles_decide_alike_prepared_or_not_1 if shipped_agree([
	fx.call("filesystem", "read_file", {"path": "src/a/b.ts"}),
	fx.call("filesystem", "read_file", {"path": "src/.env.ts"}),
	fx.call("filesystem", "read_file", {"path": "lib/a.ts"}),
])

test_shipped_profiles_decide_alike_prepared_or_not_4 if shipped_agree([
	fx.call("filesystem", "read_file", {"path": "src/../a.ts"}),
	fx.call("filesystem", "read_file", {}),
	fx.call("filesystem", "read_multiple_files", {"paths": ["src/a.ts", "src/SECRETS/b.ts"]}),
])

test_shipped_profiles_decide_alike_prepared_or_not_2 if shipped_agree([
	fx.call("filesystem", "list_directory", {"path": "src"}),
	fx.call("filesystem", "write_file", {"path": "src/a.ts"}),
	fx.call("filesystem", "delete_file", {"path": "src/a.ts"}),
	fx.call("github", "get_pull_request", {"owner": "org", "repo": "repo", "pull_number": 7}),
	fx.call("github", "get_pull_request", {"owner": "org", "repo": "other", "pull_number": 7}),
	fx.call("github", "create_comment", {"owner": "org", "repo": "repo", "pull_number": 7}),
])

test_shipped_profiles_decide_alike_prepared_or_not_3 if shipped_agree([
	fx.call("everything", "echo", {"message": "hi"}),
	fx.with_purpose(fx.call("database", "query", {"query": "SELECT 1"}), "incident-response"),
	fx.with_purpose(fx.call("filesystem", "write_file", {"path": "docs/a.md"}), "documentation"),
	fx.read("everything", "demo://resource/static/document/a"),
	fx.list("tools/list", catalog),
	fx.session_open("code-review"),
])

# Malformed profiles: prepared values are left out where they would be
# undefined (a glob that is not valid, the fields of an entry that is no
# object), and still decide as the per-request rules do.
malformed := {"t": {"session": {"purpose": "p"}, "tools": {
	"a.b": {"allowed": true, "scope": "x\\y", "exclude": ["{"]},
	"a.c": {"allowed": true, "scope": ["src/**"], "exlude": []},
	"a.d": true,
	"filesystem.read_file": {"allowed": true, "scope": "src/**"},
}}}

bad_session := {"t": {"session": {"purpose": "p", "ttl": "1h"}, "tools": {"a.b": {"allowed": true}}}}

p_call(server, name, args) := fx.with_purpose(fx.call(server, name, args), "p")

test_malformed_profiles_decide_alike_prepared_or_not if {
	every ps in [malformed, bad_session] {
		prepared := prepared_for(ps)
		every inp in [
			p_call("a", "b", {"path": "x"}),
			p_call("a", "c", {"path": "src/a"}),
			p_call("a", "d", {}),
			p_call("a", "e", {}),
			p_call("filesystem", "read_file", {"path": "src/a.ts"}),
			fx.with_purpose(fx.list("tools/list", catalog), "p"),
			fx.session_open("p"),
		] {
			agree(ps, {}, prepared, inp)
		}
	}
}

test_prepare_reports_every_problem_sorted if {
	authz.prepare.problems == []
	problems := authz.prepare.problems with data.profiles as object.union(malformed, {"u": bad_session.t})
	problems == [
		"profile t is malformed: tools.a.b.exclude must be a glob or a non-empty list of globs (no backslashes, nested braces, parentheses or dollar signs)",
		"profile t is malformed: tools.a.b.scope must be a glob or a non-empty list of globs (no backslashes, nested braces, parentheses or dollar signs)",
		"profile t is malformed: tools.a.d must be an object such as {allowed: true}",
		"profile t is malformed: unknown field tools.a.c.exlude",
		"profile u is malformed: session.ttl must be a positive whole number of seconds",
	]
}

test_prepared_values if {
	tools := authz.prepare.data.profiles["code-review"].tools
	tools["filesystem.read_file"].scope_text == "src/**/*.{ts,tsx}"
	tools["filesystem.read_file"].fields == {"allowed", "scope", "exclude"}
	count(tools["filesystem.read_file"].exclude_plans) == 2
	tools["everything.echo"].exclude_plans == []
	not tools["everything.echo"].scope_plans

	bad := authz.prepare.data.profiles.t.tools with data.profiles as malformed
	bad["a.b"].fields == {"allowed", "scope", "exclude"}
	not bad["a.b"].scope_plans
	not bad["a.b"].scope_text
	not bad["a.b"].exclude_plans
	count(bad["a.b"].problems) == 2
	bad["a.c"].scope_text == "src/**"
	not bad["a.d"].fields
	count(bad["a.d"].problems) == 1
}

# Who claims and extends each purpose a package or profile names, prepared;
# with Rego purposes too, both ways decide alike.
test_prepared_purposes if {
	shipped := authz.prepare.data.purposes
	shipped["code-review"] == {"claim": [], "extend": ["code_review"], "claims": 1}
	shipped["incident-response"].extend == ["incident_response"]

	purposes := {
		"p": {"purpose": "x", "allow": true, "visible": {"a.b"}},
		"e": {"extends": "x", "deny": {"e says no"}},
		"f": {"extends": "y", "allow": true},
	}
	prepared := authz.prepare.data with data.mcp.purposes as purposes
	prepared.purposes.x == {"claim": ["p"], "extend": ["e"], "claims": 1}
	prepared.purposes.y == {"claim": [], "extend": ["f"], "claims": 0}
	inp := fx.with_purpose(fx.list("tools/list", catalog), "x")
	agree(data.profiles, purposes, prepared, inp)
	agree(data.profiles, purposes, prepared, fx.with_purpose(inp, "y"))
	agree(data.profiles, purposes, prepared, fx.with_purpose(inp, "code-review"))
}
