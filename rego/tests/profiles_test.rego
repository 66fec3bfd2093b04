# The profile engine, on profiles written for each test. Shipped profiles have
# their own tests.
package mcp.profiles_test

import data.mcp.authz
import data.mcp.profiles
import data.mcp.testing.fixtures as fx

# --- helpers -------------------------------------------------------------------

# A profile "t" for purpose "p" with the given tools, and nothing else: no
# membership rule, no ttl, no Rego package extending it.
profile(tools) := {"t": {"session": {"purpose": "p"}, "tools": tools}}

with_session(extra, tools) := {"t": {"session": object.union({"purpose": "p"}, extra), "tools": tools}}

call(server, name, args) := fx.with_purpose(fx.call(server, name, args), "p")

decide(ps, inp) := d if {
	d := authz.decision with input as inp with data.profiles as ps with data.mcp.purposes as {}
}

allowed(ps, inp) if decide(ps, inp).allow

# refused(ps, inp, reason) holds if inp is denied and reason is one of the reasons.
refused(ps, inp, reason) if {
	d := decide(ps, inp)
	d.allow == false
	reason in d.reasons
}

reasons(ps, inp) := decide(ps, inp).reasons

fs := {"filesystem.read_file": {"allowed": true, "scope": "src/**/*.ts", "exclude": ["**/.env*"]}}

# --- the mission's profile, verbatim -------------------------------------------------

mission := {"mission": data.tests.mission}

mission_call(server, name, args) := fx.call(server, name, args)

pr(repo, n) := {"owner": "org", "repo": repo, "pull_number": n}

test_mission_profile_works_as_written if {
	count(profiles.problems("mission")) == 0 with data.profiles as mission
	allowed(mission, mission_call("github", "get_pull_request", pr("repo", 7)))
	refused(
		mission, mission_call("github", "get_pull_request", pr("other", 7)),
		`github.get_pull_request: argument repo "org/other#7" is outside scope org/repo#*`,
	)
	refused(
		mission, mission_call("github", "create_comment", pr("repo", 7)),
		"github.create_comment requires github.get_pull_request earlier in this session",
	)
	allowed(mission, fx.with_history(
		mission_call("github", "create_comment", pr("repo", 7)),
		[fx.called("github.get_pull_request", true)],
	))
	refused(mission, mission_call("github", "merge_pull_request", pr("repo", 7)), "github.merge_pull_request is not allowed for purpose code-review")
	allowed(mission, mission_call("filesystem", "read_file", {"path": "src/app.ts"}))
	allowed(mission, mission_call("filesystem", "read_file", {"path": "src/ui/Button.tsx"}))
	refused(mission, mission_call("filesystem", "read_file", {"path": "src/.env.ts"}), `filesystem.read_file: argument path "src/.env.ts" matches exclude **/.env*`)
	refused(mission, mission_call("filesystem", "read_file", {"path": "lib/a.ts"}), `filesystem.read_file: argument path "lib/a.ts" is outside scope src/**/*.{ts,tsx}`)
	refused(mission, mission_call("filesystem", "write_file", {"path": "src/a.ts"}), "filesystem.write_file is not allowed for purpose code-review")
	refused(mission, mission_call("database", "query", {"query": "SELECT 1"}), "database.query is not allowed for purpose code-review")
	refused(mission, mission_call("everything", "echo", {}), "everything.echo is not in the code-review allow-list")
}

# --- tools: listed, allowed, refused -----------------------------------------------

test_unlisted_and_refused_tools if {
	ps := profile({
		"a.open": {"allowed": true},
		"a.closed": {"allowed": false},
		"a.explained": {"allowed": false, "reason": "is retired; use a.open"},
	})
	allowed(ps, call("a", "open", {}))
	reasons(ps, call("a", "closed", {})) == ["a.closed is not allowed for purpose p"]
	reasons(ps, call("a", "explained", {})) == ["a.explained is retired; use a.open"]
	reasons(ps, call("a", "other", {})) == ["a.other is not in the p allow-list"]
	reasons(ps, call("b", "open", {})) == ["b.open is not in the p allow-list"]
}

# --- scope ----------------------------------------------------------------------------

test_scope_on_a_path if {
	allowed(profile(fs), call("filesystem", "read_file", {"path": "src/a.ts"}))
	allowed(profile(fs), call("filesystem", "read_file", {"path": "src/a/b/c.ts"}))
	reasons(profile(fs), call("filesystem", "read_file", {"path": "lib/a.ts"})) == [`filesystem.read_file: argument path "lib/a.ts" is outside scope src/**/*.ts`]
	allowed(profile(fs), call("filesystem", "read_file", {"path": "src/a.ts/"}))
	reasons(profile(fs), call("filesystem", "read_file", {"path": "./lib/a.ts"})) == [`filesystem.read_file: argument path "./lib/a.ts" (read as "lib/a.ts") is outside scope src/**/*.ts`]
}

# Glob matching is lexical: every path trick is refused even when the glob matches.
test_path_tricks_refused_inside_scope if {
	ps := profile({"filesystem.read_file": {"allowed": true, "scope": "src/**"}})
	reasons(ps, call("filesystem", "read_file", {"path": "src/../.env"})) == [`filesystem.read_file: argument path "src/../.env" has a ".." segment`]
	refused(ps, call("filesystem", "read_file", {"path": "src/%2e%2e/.env"}), `filesystem.read_file: argument path "src/%2e%2e/.env" contains percent-encoding %2E, which a server that decodes it reads as other characters`)
	refused(ps, call("filesystem", "read_file", {"path": "src/\uff0e\uff0e/.env"}), "filesystem.read_file: argument path \"src/\uff0e\uff0e/.env\" contains U+FF0E FULLWIDTH FULL STOP, which looks like .")
	refused(ps, call("filesystem", "read_file", {"path": "/src/a"}), `filesystem.read_file: argument path "/src/a" is absolute`)
	refused(ps, call("filesystem", "read_file", {"path": `src\a`}), `filesystem.read_file: argument path "src\\a" contains a backslash`)
	refused(ps, call("filesystem", "read_file", {"path": "src/a\u0000"}), `filesystem.read_file: argument path "src/a\0" contains a NUL or other control character`)
	not allowed(ps, call("filesystem", "read_file", {"path": "src/../.env"})) with data.mcp.profiles.deny as set()
}

test_scope_as_a_list if {
	ps := profile({"filesystem.list_directory": {"allowed": true, "scope": ["src", "src/**"]}})
	allowed(ps, call("filesystem", "list_directory", {"path": "src"}))
	allowed(ps, call("filesystem", "list_directory", {"path": "src/a"}))
	refused(ps, call("filesystem", "list_directory", {"path": "srcx"}), `filesystem.list_directory: argument path "srcx" is outside scope src, src/**`)
}

test_exclude_alone if {
	ps := profile({"filesystem.read_file": {"allowed": true, "exclude": ["**/secrets*"]}})
	allowed(ps, call("filesystem", "read_file", {"path": "anything/at/all"}))
	refused(ps, call("filesystem", "read_file", {"path": "a/secrets/b"}), `filesystem.read_file: argument path "a/secrets/b" matches exclude **/secrets*`)
	refused(ps, call("filesystem", "read_file", {"path": "../a"}), `filesystem.read_file: argument path "../a" has a ".." segment`)
	refused(ps, call("filesystem", "read_file", {}), "filesystem.read_file: argument path must be a non-empty string")
}

# An exclude matches the path or a directory above it, at any depth, in any case.
test_exclude_matches_directories_and_case if {
	ps := profile({"filesystem.read_file": {"allowed": true, "scope": "**", "exclude": ["**/.env*", "**/secrets*"]}})
	refused(ps, call("filesystem", "read_file", {"path": ".env"}), `filesystem.read_file: argument path ".env" matches exclude **/.env*`)
	refused(ps, call("filesystem", "read_file", {"path": "src/secrets/a.ts"}), `filesystem.read_file: argument path "src/secrets/a.ts" matches exclude **/secrets*`)
	refused(ps, call("filesystem", "read_file", {"path": "src/SECRETS.ts"}), `filesystem.read_file: argument path "src/SECRETS.ts" matches exclude **/secrets*`)
	refused(ps, call("filesystem", "read_file", {"path": ".env/secrets"}), `filesystem.read_file: argument path ".env/secrets" matches exclude **/.env*, **/secrets*`)
	allowed(ps, call("filesystem", "read_file", {"path": "src/env.ts"}))
}

# --- which argument a scope applies to ---------------------------------------------------

test_default_scope_arguments if {
	ps := profile({
		"filesystem.read_multiple_files": {"allowed": true, "scope": "src/**"},
		"filesystem.move_file": {"allowed": true, "scope": "src/**"},
		"github.get_pull_request": {"allowed": true, "scope": "org/*#*"},
		"database.query": {"allowed": true, "scope": "SELECT **"},
	})
	allowed(ps, call("filesystem", "read_multiple_files", {"paths": ["src/a", "src/b/c"]}))
	reasons(ps, call("filesystem", "read_multiple_files", {"paths": ["src/a", "lib/b", 3]})) == [
		`filesystem.read_multiple_files: argument paths[1] "lib/b" is outside scope src/**`,
		"filesystem.read_multiple_files: argument paths[2] must be a non-empty string",
	]
	reasons(ps, call("filesystem", "read_multiple_files", {"paths": "src/a"})) == ["filesystem.read_multiple_files: argument paths must be a non-empty list of strings"]
	allowed(ps, call("filesystem", "move_file", {"source": "src/a", "destination": "src/b"}))
	reasons(ps, call("filesystem", "move_file", {"source": "src/a", "destination": "etc/b"})) == [`filesystem.move_file: argument destination "etc/b" is outside scope src/**`]
	reasons(ps, call("filesystem", "move_file", {"destination": "src/b"})) == ["filesystem.move_file: argument source must be a non-empty string"]
	allowed(ps, call("github", "get_pull_request", pr("api", 3)))
	allowed(ps, call("database", "query", {"query": "SELECT a/b FROM t"}))
	reasons(ps, call("database", "query", {"query": "DELETE FROM t"})) == [`database.query: argument query "DELETE FROM t" is outside scope SELECT **`]
}

test_scope_arg_overrides_the_default if {
	ps := profile({
		"filesystem.read_file": {"allowed": true, "scope": "src/**", "scope_arg": "file"},
		"x.copy": {"allowed": true, "scope": "data/**", "scope_arg": ["from", "to"]},
		"x.bulk": {"allowed": true, "scope": "data/**", "scope_arg": "files[]"},
	})
	allowed(ps, call("filesystem", "read_file", {"file": "src/a", "path": "/etc/passwd"}))
	reasons(ps, call("filesystem", "read_file", {"path": "src/a"})) == ["filesystem.read_file: argument file must be a non-empty string"]
	allowed(ps, call("x", "copy", {"from": "data/a", "to": "data/b"}))
	refused(ps, call("x", "copy", {"from": "data/a", "to": "/data/b"}), `x.copy: argument to "/data/b" is absolute`)
	allowed(ps, call("x", "bulk", {"files": ["data/a", "data/b"]}))
	reasons(ps, call("x", "bulk", {"files": []})) == ["x.bulk: argument files must be a non-empty list of strings"]
	reasons(ps, call("x", "bulk", {"files": ["data/a", "data/.."]})) == [`x.bulk: argument files[1] "data/.." has a ".." segment`]
}

# A scope with no argument to check refuses every call: fail closed.
test_scope_without_an_argument if {
	ps := profile({
		"filesystem.list_allowed_directories": {"allowed": true, "scope": "src/**"},
		"x.y": {"allowed": true, "scope": "src/**"},
	})
	reasons(ps, call("filesystem", "list_allowed_directories", {})) == ["filesystem.list_allowed_directories has a scope in profile t but no argument to apply it to; set scope_arg"]
	reasons(ps, call("x", "y", {"path": "src/a"})) == ["x.y has a scope in profile t but no argument to apply it to; set scope_arg"]
	z := profile({"x.z": {"allowed": true, "scope": "src/**", "scope_arg": []}})
	not allowed(z, call("x", "z", {"path": "src/a"})) with data.mcp.profiles.deny as set()
}

# --- repositories ----------------------------------------------------------------------

gh := profile({
	"github.get_pull_request": {"allowed": true, "scope": "org/repo#*"},
	"github.add_issue_comment": {"allowed": true, "scope": "org/repo#*"},
	"github.list_commits": {"allowed": true, "scope": "org/repo"},
	"github.search": {"allowed": true, "scope": "org/*", "exclude": ["org/private-*"]},
	"github.bulk": {"allowed": true, "scope": "org/*", "scope_arg": "repo[]"},
})

test_repository_scopes if {
	allowed(gh, call("github", "get_pull_request", pr("repo", 12)))
	allowed(gh, call("github", "get_pull_request", pr("repo", "12")))
	allowed(gh, call("github", "add_issue_comment", {"owner": "org", "repo": "repo", "issue_number": 4}))
	allowed(gh, call("github", "list_commits", {"owner": "org", "repo": "repo"}))
	reasons(gh, call("github", "get_pull_request", {"owner": "org", "repo": "repo"})) == [`github.get_pull_request: argument repo "org/repo" is outside scope org/repo#*`]
	reasons(gh, call("github", "list_commits", pr("repo", 1))) == [`github.list_commits: argument repo "org/repo#1" is outside scope org/repo`]
	reasons(gh, call("github", "get_pull_request", pr("repo-2", 1))) == [`github.get_pull_request: argument repo "org/repo-2#1" is outside scope org/repo#*`]
	reasons(gh, call("github", "get_pull_request", {"owner": "ORG", "repo": "repo", "pull_number": 1})) == [`github.get_pull_request: argument repo "ORG/repo#1" is outside scope org/repo#*`]
}

test_repository_exclude_matches_owner_repo_and_number if {
	allowed(gh, call("github", "search", {"owner": "org", "repo": "api"}))
	refused(gh, call("github", "search", {"owner": "org", "repo": "private-x"}), `github.search: argument repo "org/private-x" matches exclude org/private-*`)
	refused(gh, call("github", "search", pr("Private-x", 2)), `github.search: argument repo "org/Private-x#2" matches exclude org/private-*`)
}

name_reason(arg) := concat("", [
	"github.get_pull_request: argument ", arg,
	` must be a GitHub name (letters, digits, ".", "-", "_"; not "." or "..")`,
])

test_repository_arguments_must_be_names_and_numbers if {
	reasons(gh, call("github", "get_pull_request", {"repo": "repo", "pull_number": 1})) == [name_reason("owner")]
	reasons(gh, call("github", "get_pull_request", {"owner": "org", "repo": "..", "pull_number": 1})) == [name_reason("repo")]
	reasons(gh, call("github", "get_pull_request", {"owner": "org", "repo": "a/b", "pull_number": 1})) == [name_reason("repo")]
	reasons(gh, call("github", "get_pull_request", {"owner": "org", "repo": "a#1", "pull_number": 1})) == [name_reason("repo")]
	reasons(gh, call("github", "get_pull_request", pr("repo", 0))) == ["github.get_pull_request: argument pull_number must be a positive integer"]
	reasons(gh, call("github", "get_pull_request", pr("repo", 1.5))) == ["github.get_pull_request: argument pull_number must be a positive integer"]
	reasons(gh, call("github", "get_pull_request", pr("repo", "01"))) == ["github.get_pull_request: argument pull_number must be a positive integer"]
	reasons(gh, call("github", "get_pull_request", pr("repo", "1*"))) == ["github.get_pull_request: argument pull_number must be a positive integer"]
	reasons(gh, call("github", "get_pull_request", object.union(pr("repo", 1), {"issue_number": 1}))) == ["github.get_pull_request: arguments pull_number and issue_number are both given; a scope checks one number"]
	reasons(gh, call("github", "bulk", {"owner": "org", "repo": ["a"]})) == ["github.bulk: argument repo[] is a repository and cannot be a list"]
}

# --- text arguments --------------------------------------------------------------------------

test_text_arguments_are_not_paths if {
	ps := profile({"database.query": {"allowed": true, "scope": "SELECT **", "exclude": ["**;**"]}})
	allowed(ps, call("database", "query", {"query": "SELECT '../x' // y\n FROM t"}))
	refused(ps, call("database", "query", {"query": "SELECT 1; DROP TABLE t"}), `database.query: argument query "SELECT 1; DROP TABLE t" matches exclude **;**`)
	reasons(ps, call("database", "query", {"query": ["SELECT 1"]})) == ["database.query: argument query must be a non-empty string"]
}

# --- requires --------------------------------------------------------------------------------

chain := profile({
	"a.read": {"allowed": true},
	"a.note": {"allowed": true},
	"a.write": {"allowed": true, "requires": ["a.read", "a.note"]},
})

test_requires_earlier_allowed_calls if {
	write := call("a", "write", {})
	reasons(chain, write) == [
		"a.write requires a.note earlier in this session",
		"a.write requires a.read earlier in this session",
	]
	reasons(chain, fx.with_history(write, [fx.called("a.read", true)])) == ["a.write requires a.note earlier in this session"]
	allowed(chain, fx.with_history(write, [fx.called("a.read", true), fx.called("a.note", true)]))

	# A refused call does not count, nor a call of another tool, nor any other action.
	refused(chain, fx.with_history(write, [fx.called("a.read", false), fx.called("a.note", true)]), "a.write requires a.read earlier in this session")
	refused(chain, fx.with_history(write, [fx.called("b.read", true), fx.called("a.note", true)]), "a.write requires a.read earlier in this session")
	prompt := object.union(fx.called("a.read", true), {"action": "prompts/get"})
	refused(chain, fx.with_history(write, [prompt, fx.called("a.note", true)]), "a.write requires a.read earlier in this session")
}

# --- who may work under a profile --------------------------------------------------------------

open := {"a.b": {"allowed": true}}

inp(groups, roles) := fx.with_identity(call("a", "b", {}), fx.okta_user(groups, roles))

entra_inp(groups, roles) := fx.with_identity(call("a", "b", {}), fx.entra_user(groups, roles, true))

outsider(inp) := fx.with_identity(inp, fx.okta_user(["ops"], []))

test_membership_reasons_name_groups_and_roles if {
	allowed(profile(open), inp([], []))

	g1 := with_session({"allowed_groups": ["eng"]}, open)
	allowed(g1, inp(["eng"], []))
	reasons(g1, inp(["ops"], [])) == ["p needs membership in the group eng"]
	g2 := with_session({"allowed_groups": ["ops", "eng"], "allowed_roles": ["R.Run", "Q.Run"]}, open)
	allowed(g2, inp([], ["Q.Run"]))
	reasons(g2, inp(["x"], ["eng"])) == ["p needs membership in one of the groups (eng, ops) or one of the app roles (Q.Run, R.Run)"]
	r1 := with_session({"allowed_roles": ["R.Run"]}, open)
	reasons(r1, inp(["eng"], [])) == ["p needs membership in the R.Run app role"]
	t := with_session({"allowed_groups": ["00aa"], "members_text": "the p team"}, open)
	reasons(t, inp([], [])) == ["p needs membership in the p team"]
}

overage_prefix := "your IdP sent too many groups to check membership (groups overage); ask an administrator to configure groups_overage resolution"

test_groups_overage if {
	g := with_session({"allowed_groups": [fx.entra_engineering]}, open)
	reasons(g, entra_inp([], [])) == [overage_prefix]
	allowed(g, entra_inp([fx.entra_engineering], []))
	gr := with_session({"allowed_groups": [fx.entra_engineering], "allowed_roles": ["R.Run"]}, open)
	reasons(gr, entra_inp([], [])) == [concat("", [overage_prefix, " or assign the R.Run app role"])]
	allowed(gr, entra_inp([], ["R.Run"]))

	# Only groups are unknown; with roles alone, the usual reason.
	r := with_session({"allowed_roles": ["R.Run"]}, open)
	reasons(r, entra_inp([], [])) == ["p needs membership in the R.Run app role"]
}

# Membership applies to every action, lists and session/open included.
test_membership_applies_to_every_action if {
	ps := with_session({"allowed_groups": ["eng"]}, {"a.b": {"allowed": true}})
	every request in [
		fx.session_open("p"),
		fx.with_purpose(fx.list("tools/list", []), "p"),
		fx.with_purpose(fx.read("s", "u://x"), "p"),
	] {
		refused(ps, outsider(request), "p needs membership in the group eng")
	}
	catalog := [{"kind": "tool", "id": "a.b", "server": "a", "name": "b"}]
	profiles.visible == set() with input as outsider(fx.with_purpose(fx.list("tools/list", catalog), "p")) with data.profiles as ps
	profiles.visible == {"a.b"} with input as fx.with_purpose(fx.list("tools/list", catalog), "p") with data.profiles as with_session({"allowed_groups": ["engineering"]}, {"a.b": {"allowed": true}})
}

# --- session/open and the ttl ------------------------------------------------------------------

test_session_open_returns_the_ttl if {
	ps := with_session({"ttl": 900}, {})
	d := decide(ps, fx.session_open("p"))
	d.allow
	d.reasons == ["allowed by purpose p"]
	d.obligations.session_ttl_s == 900

	# Without a ttl the gateway's own limit applies.
	d2 := decide(profile({}), fx.session_open("p"))
	d2.obligations.session_ttl_s == null

	# Denied session/open decisions carry it too, so their shape is one.
	d3 := decide(ps, fx.with_purpose(fx.session_open("x"), "nobody"))
	d3.allow == false
	d3.obligations.session_ttl_s == null

	# Other actions never carry it.
	not "session_ttl_s" in object.keys(decide(ps, call("a", "b", {})).obligations)
	not "session_ttl_s" in object.keys(decide(ps, fx.with_purpose(fx.list("tools/list", []), "p")).obligations)
}

# Ending a subscription: any session the profile admits, while it lasts.
test_unsubscribe_granted_to_admitted_sessions if {
	ps := with_session({"ttl": 60, "allowed_groups": ["engineering"]}, {})
	unsubscribe := fx.with_purpose(fx.about_resource("resources/unsubscribe", "s", "u://x"), "p")
	allowed(ps, unsubscribe)
	refused(ps, outsider(unsubscribe), "p needs membership in the group engineering")
	refused(ps, fx.with_age(unsubscribe, 61), "this session is older than 60 s, the ttl of purpose p; open a new session")

	# Subscribing is about reading: a profile alone does not grant it.
	subscribe := fx.with_purpose(fx.about_resource("resources/subscribe", "s", "u://x"), "p")
	not allowed(ps, subscribe)
}

test_sessions_older_than_the_ttl_are_refused if {
	ps := with_session({"ttl": 60}, {"a.b": {"allowed": true}})
	allowed(ps, fx.with_age(call("a", "b", {}), 60))
	expired := "this session is older than 60 s, the ttl of purpose p; open a new session"
	reasons(ps, fx.with_age(call("a", "b", {}), 61)) == [expired]
	refused(ps, fx.with_age(fx.with_purpose(fx.list("tools/list", []), "p"), 61), expired)
	allowed(ps, fx.with_age(fx.session_open("p"), 61))
}

# The shortest ttl any part asks for wins.
test_extension_ttl if {
	ps := with_session({"ttl": 900}, {})
	ext := {"e": {"extends": "p", "session_ttl_s": {600, "x"}}}
	d := authz.decision with input as fx.session_open("p") with data.profiles as ps with data.mcp.purposes as ext
	d.obligations.session_ttl_s == 600
}

# --- instructions at session/open ----------------------------------------------------------

# A session is shown the instructions of the servers it may use (some tool of
# the server allowed), and only at session/open.
test_instructions_of_the_servers_the_profile_uses if {
	ps := with_session({"allowed_groups": ["engineering"]}, {
		"a.read": {"allowed": true},
		"a.write": {"allowed": false},
		"b.drop": {"allowed": false},
		"c.x": {"allowed": true, "scope": "src/**"},
	})
	open := fx.session_open_with_instructions("p", ["a", "b", "c", "d"])
	authz.visible == {"a", "c"} with input as open with data.profiles as ps with data.mcp.purposes as {}

	# Not for a caller the profile does not admit (session/open is refused).
	authz.visible == set() with input as outsider(open) with data.profiles as ps with data.mcp.purposes as {}

	# Not in a list: instruction items are shown at session/open only.
	listed := fx.with_purpose(fx.list("tools/list", open.catalog), "p")
	authz.visible == set() with input as listed with data.profiles as ps with data.mcp.purposes as {}

	# Not for a profile without tools.
	authz.visible == set() with input as open with data.profiles as profile({}) with data.mcp.purposes as {}
}

# A malformed profile shows no instructions (its session/open is refused).
test_instructions_of_a_malformed_profile if {
	ps := {"t": {"session": {"purpose": "p"}, "tools": {"a.b": {"allowed": true}}, "typo": 1}}
	open := fx.session_open_with_instructions("p", ["a"])
	authz.visible == set() with input as open with data.profiles as ps with data.mcp.purposes as {}
}

# --- lists ----------------------------------------------------------------------------------------

test_lists_show_allowed_tools if {
	ps := profile({"a.b": {"allowed": true, "requires": ["a.c"]}, "a.c": {"allowed": true}, "a.d": {"allowed": false}})
	catalog := [
		{"kind": "tool", "id": "a.b", "server": "a", "name": "b"},
		{"kind": "tool", "id": "a.d", "server": "a", "name": "d"},
		{"kind": "tool", "id": "a.e", "server": "a", "name": "e"},
		{"kind": "prompt", "id": "a.c", "server": "a", "name": "c"},
	]
	authz.visible == {"a.b"} with input as fx.with_purpose(fx.list("tools/list", catalog), "p") with data.profiles as ps with data.mcp.purposes as {}
	authz.visible == set() with input as fx.with_purpose(fx.list("prompts/list", catalog), "p") with data.profiles as ps with data.mcp.purposes as {}
	allowed(ps, fx.with_purpose(fx.list("resources/templates/list", []), "p"))
}

# Resources and prompts are not part of a profile: the core's default deny
# explains, unless a Rego extension decides them.
test_resources_and_prompts_need_rego if {
	reasons(profile({}), fx.with_purpose(fx.read("s", "u://x"), "p")) == ["purpose p has no rule that allows resources/read s:u://x"]
	reasons(profile({}), fx.with_purpose(fx.prompt("s", "n"), "p")) == ["purpose p has no rule that allows prompts/get s.n"]
}

# --- malformed profiles --------------------------------------------------------------------------

malformed(p) := problems if {
	problems := profiles.problems("t") with data.profiles as {"t": p}
}

test_good_profiles_have_no_problems if {
	every name, _ in data.profiles {
		count(profiles.problems(name)) == 0
	}
	count(malformed({"session": {"purpose": "p", "ttl": 1, "allowed_groups": ["a"], "allowed_roles": ["b"], "members_text": "c"}, "tools": {
		"a.b": {
			"allowed": true, "scope": ["x", "y/**"], "exclude": "**/z", "scope_arg": ["a", "b[]"],
			"requires": ["a.c"], "reason": "r",
		},
		"a.c": {"allowed": true},
	}})) == 0
}

test_profile_shape_problems if {
	malformed("x") == {"profile t is malformed: it must be an object with session and tools"}
	malformed({"tools": {}, "extra": 1}) == {
		"profile t is malformed: session must be an object with purpose",
		"profile t is malformed: unknown field extra",
	}
	malformed({"session": {"purpose": "p"}, "tools": []}) == {"profile t is malformed: tools must be an object of tool ids"}
	malformed({"session": {}}) == {"profile t is malformed: session.purpose must be a non-empty string"}
	malformed({"session": {
		"purpose": "", "ttl": 1.5, "allowed_groups": "eng", "allowed_roles": [""],
		"members_text": 3, "purpos": "p",
	}}) == {
		"profile t is malformed: session.purpose must be a non-empty string",
		"profile t is malformed: session.ttl must be a positive whole number of seconds",
		"profile t is malformed: session.allowed_groups must be a list of non-empty strings",
		"profile t is malformed: session.allowed_roles must be a list of non-empty strings",
		"profile t is malformed: session.members_text must be a non-empty string",
		"profile t is malformed: unknown field session.purpos",
	}
}

tool_problems(tools) := malformed({"session": {"purpose": "p"}, "tools": tools})

test_tool_entry_problems if {
	tool_problems({"a.b": true}) == {"profile t is malformed: tools.a.b must be an object such as {allowed: true}"}
	tool_problems({"a.b": {}}) == {"profile t is malformed: tools.a.b.allowed must be true or false"}
	tool_problems({"ab": {"allowed": false}}) == {"profile t is malformed: tool id ab must be server.name"}
	tool_problems({"a.b": {"allowed": "yes", "exlude": []}}) == {
		"profile t is malformed: tools.a.b.allowed must be true or false",
		"profile t is malformed: unknown field tools.a.b.exlude",
	}
	tool_problems({"a.b": {
		"allowed": true, "scope": "src/{a", "exclude": [], "scope_arg": 1,
		"requires": ["ab"], "reason": "",
	}}) == {
		"profile t is malformed: tools.a.b.scope must be a glob or a non-empty list of globs (no backslashes, nested braces, parentheses or dollar signs)",
		"profile t is malformed: tools.a.b.exclude must be a glob or a non-empty list of globs (no backslashes, nested braces, parentheses or dollar signs)",
		"profile t is malformed: tools.a.b.scope_arg must be an argument name or a non-empty list of them",
		"profile t is malformed: tools.a.b.requires must be a list of tool ids (server.name)",
		"profile t is malformed: tools.a.b.requires names ab, which the profile does not allow",
		"profile t is malformed: tools.a.b.reason must be a non-empty string",
	}
	tool_problems({"a.b": {"allowed": true, "requires": ["a.c", "a.d"]}, "a.c": {"allowed": false}}) == {
		"profile t is malformed: tools.a.b.requires names a.c, which the profile does not allow",
		"profile t is malformed: tools.a.b.requires names a.d, which the profile does not allow",
	}

	# A refused tool's requires are not checked against the profile.
	tool_problems({"a.b": {"allowed": false, "requires": ["a.c"]}}) == set()

	# "(", ")" and "$" are regular-expression syntax to the wasm glob.match
	# and literal to Go's: refused, so the gateway and opa test agree.
	tool_problems({"a.b": {"allowed": true, "scope": "src/(x)/**", "exclude": ["a$"]}}) == {
		"profile t is malformed: tools.a.b.scope must be a glob or a non-empty list of globs (no backslashes, nested braces, parentheses or dollar signs)",
		"profile t is malformed: tools.a.b.exclude must be a glob or a non-empty list of globs (no backslashes, nested braces, parentheses or dollar signs)",
	}
}

# A mistake in the profile as a whole refuses every request of its purpose;
# a mistake in one tool's entry refuses that tool and hides it.
test_malformed_profiles_fail_closed if {
	bad_session := {"t": {"session": {"purpose": "p", "ttl": "1h"}, "tools": {"a.b": {"allowed": true}}}}
	ttl_reason := "profile t is malformed: session.ttl must be a positive whole number of seconds"
	reasons(bad_session, call("a", "b", {})) == [ttl_reason]
	reasons(bad_session, fx.session_open("p")) == [ttl_reason]
	refused(bad_session, fx.with_purpose(fx.list("tools/list", []), "p"), ttl_reason)
	not allowed(bad_session, call("a", "b", {})) with data.mcp.profiles.deny as set()

	bad_tool := {"t": {"session": {"purpose": "p"}, "tools": {"a.b": {"allowed": true}, "a.c": {"allowed": true, "scope": "x\\y"}}}}
	scope_reason := "profile t is malformed: tools.a.c.scope must be a glob or a non-empty list of globs (no backslashes, nested braces, parentheses or dollar signs)"
	refused(bad_tool, call("a", "c", {"path": "x"}), scope_reason)
	not allowed(bad_tool, call("a", "c", {"path": "x"})) with data.mcp.profiles.deny as set()
	allowed(bad_tool, call("a", "b", {}))
	allowed(bad_tool, fx.session_open("p"))
	catalog := [
		{"kind": "tool", "id": "a.b", "server": "a", "name": "b"},
		{"kind": "tool", "id": "a.c", "server": "a", "name": "c"},
	]
	authz.visible == {"a.b"} with input as fx.with_purpose(fx.list("tools/list", catalog), "p") with data.profiles as bad_tool with data.mcp.purposes as {}
	profiles.problems("t") == {scope_reason} with data.profiles as bad_tool

	# A tools field that is no object is the profile's mistake.
	no_tools := {"t": {"session": {"purpose": "p"}, "tools": ["a.b"]}}
	reasons(no_tools, fx.session_open("p")) == ["profile t is malformed: tools must be an object of tool ids"]
	reasons(no_tools, call("a", "b", {})) == [
		"a.b is not in the p allow-list",
		"profile t is malformed: tools must be an object of tool ids",
	]

	# Malformed membership lists admit no one by accident: the profile is refused.
	loose := with_session({"allowed_groups": "eng"}, {"a.b": {"allowed": true}})
	reasons(loose, call("a", "b", {})) == ["profile t is malformed: session.allowed_groups must be a list of non-empty strings"]
}

# A profile without a usable purpose claims nothing.
test_profiles_without_a_purpose_claim_nothing if {
	ps := {"a": {"session": {"purpose": 7}}, "b": "x", "c": {"tools": {}}}
	count(profiles.claiming) == 0 with input as call("a", "b", {}) with data.profiles as ps
	reasons(ps, call("a", "b", {})) == ["no policy for purpose p"]
	reasons({"t": {"session": {"purpose": ""}}}, fx.with_purpose(call("a", "b", {}), "")) == ["no policy for purpose (empty)"]
	count(profiles.claiming) == 0 with input as fx.with_purpose(call("a", "b", {}), "") with data.profiles as {"t": {"session": {"purpose": ""}}}
	count(profiles.claiming_of("")) == 0 with data.profiles as {"t": {"session": {"purpose": ""}}}
	count(profiles.claiming) == 0 with input as call("a", "b", {}) with data.profiles as "not an object"
}

# _github_name and _number_text check with trim; they must accept exactly
# what the regular expressions they replace accept.
test_name_and_number_checks_agree_with_their_regexes if {
	samples := {
		"a", "A", "z", "Z", "0", "9", "1", "10", "01", "007", "-", "_", ".", "..", "...", "a.b", "a-b_c",
		"my-repo.js", "a b", "a/b", "é", "aé", "a#1", "#", "1a", "a1", "-1", "+1", "1.5", "1e3", " 1", "1 ",
		"\n", "a\n", "ab~", "Aa0._-",
	}
	every s in samples {
		_name(s) == _name_regex(s)
		_number(s) == regex.match(`^[1-9][0-9]*$`, s)
	}
	not profiles._github_name("")
	not profiles._number_text("")
}

_name(s) if profiles._github_name(s)

_name(s) := false if not profiles._github_name(s)

_name_regex(s) if _name_regex_ok(s)

_name_regex(s) := false if not _name_regex_ok(s)

_name_regex_ok(s) if {
	regex.match(`^[A-Za-z0-9._-]+$`, s)
	not s in {".", ".."}
}

_number(s) if profiles._number_text(s)

_number(s) := false if not profiles._number_text(s)

# A scope or exclude with an invalid glob leaves nothing to match, so a
# value is never found free of it, independently of entry_problems refusing
# the call too.
test_invalid_globs_never_let_a_value_through if {
	bad_exclude := profile({"filesystem.read_file": {"allowed": true, "exclude": ["{a"]}})
	inp := call("filesystem", "read_file", {"path": "src/a.ts"})
	not profiles._value_ok("src/a.ts", "path") with input as inp with data.profiles as bad_exclude
	not profiles._exclude_plans with input as inp with data.profiles as bad_exclude
	bad_scope := profile({"filesystem.read_file": {"allowed": true, "scope": ["src/**", "[a"]}})
	not profiles._value_ok("src/a.ts", "path") with input as inp with data.profiles as bad_scope
	not profiles._scope_plans with input as inp with data.profiles as bad_scope
	good := profile({"filesystem.read_file": {"allowed": true, "scope": "src/**", "exclude": ["**/x"]}})
	profiles._value_ok("src/a.ts", "path") with input as inp with data.profiles as good
}

# With the filesystem server's root known, an absolute path below it is read as
# the relative path it names; others stay refused.
test_served_root_makes_absolute_paths_relative if {
	ps := profile({"filesystem.read_file": {"allowed": true, "scope": "src/**/*.ts"}})
	roots := {"filesystem": ["/srv/repo"]}
	allowed(ps, call("filesystem", "read_file", {"path": "/srv/repo/src/a.ts"})) with data.mcp.lib.paths.served_roots as roots
	reasons(ps, call("filesystem", "read_file", {"path": "/srv/repo/lib/a.ts"})) == [`filesystem.read_file: argument path "/srv/repo/lib/a.ts" (read as "lib/a.ts") is outside scope src/**/*.ts`] with data.mcp.lib.paths.served_roots as roots
	refused(ps, call("filesystem", "read_file", {"path": "/etc/a.ts"}), `filesystem.read_file: argument path "/etc/a.ts" is absolute`) with data.mcp.lib.paths.served_roots as roots
	refused(ps, call("filesystem", "read_file", {"path": "/srv/repo/src/a.ts"}), `filesystem.read_file: argument path "/srv/repo/src/a.ts" is absolute`)
}
