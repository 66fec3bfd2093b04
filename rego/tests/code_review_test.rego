package mcp.code_review_test

import data.mcp.authz
import data.mcp.lib.paths
import data.mcp.purposes.code_review
import data.mcp.testing.fixtures as fx

# --- helpers -------------------------------------------------------------------

allowed(inp) if authz.decision.allow with input as inp

# refused(inp, fragment) holds if the call is denied with a reason containing
# fragment.
refused(inp, fragment) if {
	d := authz.decision with input as inp
	d.allow == false
	some reason in d.reasons
	contains(reason, fragment)
}

read_file(path) := fx.call("filesystem", "read_file", {"path": path})

list_dir(path) := fx.call("filesystem", "list_directory", {"path": path})

# --- rule 1: read tools ----------------------------------------------------------

test_read_tools_allow_typescript_under_src if {
	allowed(read_file("src/a/b.ts"))
	allowed(read_file("src/x.tsx"))
	allowed(read_file("src/x.ts"))
	allowed(fx.call("filesystem", "read_text_file", {"path": "src/a.ts", "head": 5}))
	allowed(fx.call("filesystem", "read_media_file", {"path": "src/a.ts"}))
	allowed(fx.call("filesystem", "get_file_info", {"path": "src/deep/er/x.tsx"}))
}

test_read_outside_sources_denied if {
	refused(read_file("lib/x.ts"), `argument path "lib/x.ts" is outside scope src/**/*.{ts,tsx}`)
	refused(read_file("src/x.js"), "is outside scope src/**/*.{ts,tsx}")
	refused(read_file("src"), "is outside scope src/**/*.{ts,tsx}")
	refused(read_file("src/x.ts.bak"), "is outside scope src/**/*.{ts,tsx}")
}

test_read_secrets_denied if {
	refused(read_file("src/.env.ts"), "looks like a secret")
	refused(read_file("src/config/secrets.ts"), "looks like a secret")
	refused(read_file("src/secrets/x.ts"), "looks like a secret")
	refused(read_file("src/a/.env.local.tsx"), "looks like a secret")
	refused(read_file("src/Secrets.tsx"), "looks like a secret")
}

test_read_path_tricks_denied if {
	refused(read_file("src/../secrets/x.ts"), `has a ".." segment`)
	refused(read_file("src/a/../../etc/passwd.ts"), `has a ".." segment`)
	refused(read_file("/etc/passwd"), "is absolute")
	refused(read_file("/src/a.ts"), "is absolute")
	refused(read_file("~/src/a.ts"), "starts with ~")
	refused(read_file("C:/src/a.ts"), "starts with a drive letter")
	refused(read_file(`src\a.ts`), "contains a backslash")
	refused(read_file("src/a.ts\u0000.png"), "contains a NUL")
	refused(read_file("src%2F..%2Fsecrets%2Fx.ts"), "contains percent-encoding %2F, which a server that decodes it reads as other characters")
	refused(read_file("src\u2215..\u2215x.ts"), "contains U+2215 DIVISION SLASH, which looks like /")
	refused(read_file("src/\u2025/x.ts"), "contains U+2025 TWO DOT LEADER, which looks like ..")
}

# A secret's name spelled so that only a server that decodes or normalises it,
# or Windows, sees the name: refused as a trick, as the plain name is refused.
test_read_secret_spellings_denied if {
	refused(read_file("src/secrets.ts"), "looks like a secret")
	refused(read_file("src/%73ecrets.ts"), "contains percent-encoding %73, which a server that decodes it reads as other characters")
	refused(read_file("src/\uff53ecrets.ts"), `contains U+FF53, which reads as "s" in Unicode compatibility form (NFKC)`)
	refused(read_file("src/\ud835\udc2cecrets.ts"), `contains U+1D42C, which reads as "s" in Unicode compatibility form (NFKC)`)
	refused(read_file("src/SECRET~1.ts"), "looks like a Windows short name (~ and a digit, as in SECRET~1.TS), which may name another file")
	refused(read_file("src/\uff0eenv.ts"), "contains U+FF0E FULLWIDTH FULL STOP, which looks like .")
}

# What only resembles those tricks is a plain name.
test_read_plain_names_near_the_tricks_allowed if {
	allowed(read_file("src/100%.ts"))
	allowed(read_file("src/a%zz.ts"))
	allowed(read_file("src/a~b.ts"))
	allowed(read_file("src/caf\u00e9.ts"))
	allowed(read_file("src/cafe\u0301.ts"))
}

# Paths as agents write them: the same file, so the same decision as the plain path.
test_read_harmless_spellings_allowed if {
	allowed(read_file("./src/a.ts"))
	allowed(read_file("././src/a.ts"))
	allowed(read_file("src/./a.ts"))
	allowed(read_file("src//a.ts"))
	allowed(read_file("src/a.ts/"))
}

# ... and a secret or a path outside the scope stays refused however it is spelled, named
# as written and as read.
test_read_harmless_spellings_still_checked if {
	refused(read_file("./src/config/secrets.ts"), `argument path "./src/config/secrets.ts" (read as "src/config/secrets.ts") looks like a secret`)
	refused(read_file("./.env"), `argument path "./.env" (read as ".env") matches exclude **/.env*`)
	refused(read_file("./lib/x.ts"), `argument path "./lib/x.ts" (read as "lib/x.ts") is outside scope src/**/*.{ts,tsx}`)
	refused(read_file("./src/../.env"), `argument path "./src/../.env" has a ".." segment`)
}

test_read_needs_a_path if {
	refused(fx.call("filesystem", "read_file", {}), "filesystem.read_file: argument path must be a non-empty string")
	refused(read_file(""), "argument path must be a non-empty string")
	refused(read_file(7), "argument path must be a non-empty string")
	refused(read_file(["src/a.ts"]), "argument path must be a non-empty string")
}

# Arguments that are not an object count as none: refused, never skipped.
test_non_object_arguments_refused if {
	inp := object.union(read_file("src/a.ts"), {"arguments": ["src/a.ts"]})
	refused(inp, "filesystem.read_file: argument path must be a non-empty string")
}

test_read_multiple_files if {
	allowed(fx.call("filesystem", "read_multiple_files", {"paths": ["src/a.ts", "src/b/c.tsx"]}))
	refused(
		fx.call("filesystem", "read_multiple_files", {"paths": ["src/a.ts", "src/.env"]}),
		`argument paths[1] "src/.env" looks like a secret`,
	)
	refused(fx.call("filesystem", "read_multiple_files", {"paths": ["src/a.ts", 1]}), "argument paths[1] must be a non-empty string")
	refused(fx.call("filesystem", "read_multiple_files", {"paths": []}), "argument paths must be a non-empty list of strings")
	refused(fx.call("filesystem", "read_multiple_files", {"paths": "src/a.ts"}), "argument paths must be a non-empty list of strings")
	refused(fx.call("filesystem", "read_multiple_files", {}), "argument paths must be a non-empty list of strings")
}

test_every_reason_is_listed if {
	d := authz.decision with input as read_file("/etc/passwd")
	d.reasons == [
		`filesystem.read_file: argument path "/etc/passwd" is absolute`,
		`filesystem.read_file: argument path "/etc/passwd" is outside scope src/**/*.{ts,tsx}`,
	]
}

# --- rule 2: directory tools --------------------------------------------------------

test_directory_tools_allow_src_and_below if {
	allowed(list_dir("src"))
	allowed(list_dir("src/components"))
	allowed(fx.call("filesystem", "list_directory_with_sizes", {"path": "src/a/b"}))
	allowed(fx.call("filesystem", "directory_tree", {"path": "src"}))
	allowed(fx.call("filesystem", "search_files", {"path": "src", "pattern": "*.ts"}))
	allowed(fx.call("filesystem", "list_allowed_directories", {}))
}

test_directory_tools_deny_elsewhere if {
	refused(list_dir("."), "is outside scope src, src/**")
	refused(list_dir("lib"), "is outside scope src, src/**")
	refused(list_dir("srcx"), "is outside scope src, src/**")
	allowed(list_dir("src/"))
	allowed(list_dir("./src"))
	refused(list_dir("src/.."), `has a ".." segment`)
	refused(list_dir("/"), "is absolute")
	refused(list_dir("src/secrets"), "looks like a secret")
	refused(list_dir("src/.env.d"), "looks like a secret")
	refused(fx.call("filesystem", "directory_tree", {}), "filesystem.directory_tree: argument path must be a non-empty string")
}

# --- rule 3: writes ---------------------------------------------------------------

write_annotations := {"readOnlyHint": false, "destructiveHint": true}

test_write_tools_denied if {
	refused(
		fx.call_annotated("filesystem", "write_file", {"path": "src/a.ts", "content": "x"}, write_annotations),
		"filesystem.write_file is a write tool; purpose code-review is read-only",
	)
	refused(fx.call("filesystem", "edit_file", {"path": "src/a.ts"}), "filesystem.edit_file is a write tool")
	refused(fx.call("filesystem", "create_directory", {"path": "src/n"}), "filesystem.create_directory is a write tool")
	refused(fx.call("filesystem", "move_file", {"source": "src/a.ts", "destination": "src/b.ts"}), "filesystem.move_file is a write tool")
}

test_write_tools_get_one_reason if {
	d := authz.decision with input as fx.call_annotated("filesystem", "write_file", {"path": "src/a.ts"}, write_annotations)
	d.reasons == ["filesystem.write_file is a write tool; purpose code-review is read-only"]
}

test_annotations_only_tighten if {
	refused(fx.call_annotated("filesystem", "read_file", {"path": "src/a.ts"}, {}), "is not annotated readOnlyHint: true")
	refused(
		fx.call_annotated("filesystem", "read_file", {"path": "src/a.ts"}, {"readOnlyHint": false}),
		"filesystem.read_file is not annotated readOnlyHint: true, so it counts as a write tool",
	)
	refused(fx.call_annotated("everything", "echo", {"message": "hi"}, {"title": "Echo"}), "everything.echo is not annotated")
}

# --- rules 4 and 5: allow-lists -----------------------------------------------------

test_everything_allow_list if {
	allowed(fx.call("everything", "echo", {"message": "hi"}))
	allowed(fx.call("everything", "get-sum", {"a": 1, "b": 2}))
	allowed(fx.call("everything", "get-tiny-image", {}))
	allowed(fx.call("everything", "get-annotated-message", {"messageType": "success"}))
	allowed(fx.call("everything", "trigger-long-running-operation", {"duration": 2, "steps": 2}))
}

test_get_env_has_its_own_reason if {
	d := authz.decision with input as fx.call("everything", "get-env", {})
	d.reasons == ["everything.get-env exposes the server's environment variables; purpose code-review refuses it"]
}

test_other_tools_not_in_allow_list if {
	refused(fx.call("everything", "toggle-simulated-logging", {}), "everything.toggle-simulated-logging is not in the code-review allow-list")
	refused(fx.call("everything", "gzip-file-as-resource", {}), "not in the code-review allow-list")
	refused(fx.call("memory", "read_graph", {}), "memory.read_graph is not in the code-review allow-list")
	refused(fx.call("filesystem", "delete_file", {"path": "src/a.ts"}), "filesystem.delete_file is not in the code-review allow-list")
}

# A tool the profile refuses gets the profile's reason alone, whatever its
# annotations say.
test_unlisted_tool_gets_one_reason if {
	d := authz.decision with input as fx.call_annotated("memory", "create_entities", {}, {})
	d.reasons == ["memory.create_entities is not in the code-review allow-list"]
}

# --- rule 6: resources and prompts -------------------------------------------------

test_static_documents_readable if {
	allowed(fx.read("everything", "demo://resource/static/document/architecture.md"))
}

# Resource globs are matched with scope plans instead of glob.match; on these
# URIs both give the same answer (the globs have no "**", where the two
# differ on purpose).
test_resource_globs_match_as_glob_match_does if {
	every uri in [
		"demo://resource/static/document/architecture.md", "demo://resource/static/document/",
		"demo://resource/static/document/..", "demo://resource/static/document/a/b.md",
		"demo://resource/static/document://x", "demo://resource/static/documents/a",
		"demo://resource/static/document", "demo://resource/dynamic/text/1", "DEMO://resource/static/document/a",
		"demo:/resource/static/document/a", "x/demo://resource/static/document/a", "demo://resource/static/document/é",
		"demo://resource/static/document/a b", "",
	] {
		_plan_allows(uri) == _glob_allows(uri)
	}
}

_plan_allows(uri) if code_review._resource_allowed("everything", uri)

_plan_allows(uri) := false if not code_review._resource_allowed("everything", uri)

_glob_allows(uri) if _glob_allows_true(uri)

_glob_allows(uri) := false if not _glob_allows_true(uri)

# The rule as it was, with glob.match.
_glob_allows_true(uri) if {
	paths.matches_any(uri, code_review.allowed_resources.everything)
	code_review._uri_clean(uri)
}

test_other_resources_denied if {
	refused(fx.read("everything", "demo://resource/dynamic/text/1"), "resource everything:demo://resource/dynamic/text/1 is not allowed")
	refused(fx.read("everything", "demo://resource/static/document/"), "is not allowed")
	refused(fx.read("everything", "demo://resource/static/document/.."), "is not allowed")
	refused(fx.read("everything", "demo://resource/static/document/a/b.md"), "is not allowed")
	refused(fx.read("everything", "demo://resource/static/document://x"), "is not allowed")
	refused(fx.read("filesystem", "demo://resource/static/document/architecture.md"), "is not allowed")
	refused(fx.read("filesystem", "file:///etc/passwd"), "is not allowed")
}

test_prompts if {
	allowed(fx.prompt("everything", "simple-prompt"))
	refused(fx.prompt("everything", "args-prompt"), "prompt everything.args-prompt is not in the code-review allow-list")
	refused(fx.prompt("other", "simple-prompt"), "prompt other.simple-prompt is not in the code-review allow-list")
}

# --- rule 8: app-only tokens -----------------------------------------------------------

app_reason := "code-review sessions need a user; app-only tokens are refused"

test_app_tokens_refused_everywhere if {
	refused(fx.as_app(read_file("src/a.ts")), app_reason)
	refused(fx.as_app(fx.read("everything", "demo://resource/static/document/architecture.md")), app_reason)
	refused(fx.as_app(fx.prompt("everything", "simple-prompt")), app_reason)
	refused(fx.as_app(fx.list("tools/list", [])), app_reason)
}

# --- rule 9: visible -----------------------------------------------------------------

tool_item(server, name, annotations) := {
	"kind": "tool",
	"id": concat(".", [server, name]),
	"server": server,
	"name": name,
	"annotations": annotations,
}

test_visible_tools if {
	catalog := [
		tool_item("filesystem", "read_file", fx.read_only),
		tool_item("filesystem", "list_allowed_directories", fx.read_only),
		tool_item("filesystem", "write_file", {"readOnlyHint": false}),
		tool_item("everything", "echo", fx.read_only),
		tool_item("everything", "get-env", fx.read_only),
		tool_item("everything", "get-sum", {}), # not declared read-only
		{"kind": "tool", "id": "everything.get-tiny-image", "server": "everything"}, # no name, no annotations
		tool_item("memory", "read_graph", fx.read_only),
	]
	v := authz.visible with input as fx.list("tools/list", catalog)
	v == {"filesystem.read_file", "filesystem.list_allowed_directories", "everything.echo"}
}

test_visible_resources_and_prompts if {
	resources := [
		{"kind": "resource", "id": "everything:demo://resource/static/document/features.md", "server": "everything", "uri": "demo://resource/static/document/features.md"},
		{"kind": "resource", "id": "everything:demo://resource/dynamic/text/1", "server": "everything", "uri": "demo://resource/dynamic/text/1"},
	]
	authz.visible == {"everything:demo://resource/static/document/features.md"} with input as fx.list("resources/list", resources)

	templates := [{"kind": "resource_template", "id": "everything:demo://resource/dynamic/text/{resourceId}", "server": "everything", "uri": "demo://resource/dynamic/text/{resourceId}"}]
	authz.visible == set() with input as fx.list("resources/templates/list", templates)

	prompts := [
		{"kind": "prompt", "id": "everything.simple-prompt", "server": "everything", "name": "simple-prompt"},
		{"kind": "prompt", "id": "everything.args-prompt", "server": "everything", "name": "args-prompt"},
	]
	authz.visible == {"everything.simple-prompt"} with input as fx.list("prompts/list", prompts)
}

# At session/open: the instructions of the servers the purpose uses, its
# tools' servers (the profile) and the servers it reads resources or prompts
# from (this extension); never a server it does not use.
test_visible_instructions if {
	open := fx.session_open_with_instructions("code-review", ["filesystem", "everything", "memory", "github"])
	authz.visible == {"filesystem", "everything", "github"} with input as open

	# A server the purpose only reads resources or prompts from.
	docs_only := {"docs": ["docs://guide/*"]}
	authz.visible == {"docs"} with input as fx.session_open_with_instructions("code-review", ["docs", "memory"])
		with data.mcp.purposes.code_review.allowed_resources as docs_only
	authz.visible == {"notes"} with input as fx.session_open_with_instructions("code-review", ["notes"])
		with data.mcp.purposes.code_review.allowed_prompts as {"notes": {"p"}}

	# Nothing for a caller who may not open the session.
	authz.visible == set() with input as fx.as_app(open)
	authz.visible == set() with input as as_okta(open, ["marketing"], [])
}

test_app_tokens_see_nothing if {
	catalog := [tool_item("everything", "echo", fx.read_only)]
	authz.visible == set() with input as fx.as_app(fx.list("tools/list", catalog))
}

# Even with every refusal switched off, a bad path gets no grant. (The
# annotation rule only refuses: an extension tightens a profile by deny.)
test_grants_need_positive_proof if {
	not allowed(read_file("lib/x.ts")) with data.mcp.purposes.code_review.deny as set() with data.mcp.profiles.deny as set()
	not allowed(list_dir("lib")) with data.mcp.purposes.code_review.deny as set() with data.mcp.profiles.deny as set()
	not allowed(fx.call("filesystem", "read_multiple_files", {"paths": ["src/a.ts", "src/.env"]})) with data.mcp.purposes.code_review.deny as set() with data.mcp.profiles.deny as set()
	allowed(read_file("src/a.ts")) with data.mcp.purposes.code_review.deny as set() with data.mcp.profiles.deny as set()
}

# A tool is either allowed or refused with its own reason, never both.
test_tables_do_not_overlap if {
	both := [[server, name] |
		some server, names in code_review.refused_tools
		some name, _ in names
		code_review.allowed_tools[server][name]
	]
	count(both) == 0
}

# --- rule 10: who may work under code-review -------------------------------------------

member_reason := "code-review needs membership in an engineering group or the CodeReview.Run app role"

overage_reason := concat("", [
	"your IdP sent too many groups to check membership (groups overage); ",
	"ask an administrator to configure groups_overage resolution or assign the CodeReview.Run app role",
])

as_okta(inp, groups, roles) := fx.with_identity(inp, fx.okta_user(groups, roles))

as_entra(inp, groups, roles, overage) := fx.with_identity(inp, fx.entra_user(groups, roles, overage))

source := read_file("src/a.ts")

profile := data.profiles["code-review"]

test_tests_use_the_configured_groups if {
	"engineering" in profile.session.allowed_groups
	fx.entra_engineering in profile.session.allowed_groups
	"CodeReview.Run" in profile.session.allowed_roles
}

# The reasons name the roles in words a security team keeps in step.
test_reasons_name_every_role if {
	every role in profile.session.allowed_roles {
		contains(profile.session.members_text, role)
	}
}

test_okta_membership if {
	allowed(as_okta(source, ["engineering"], []))
	allowed(as_okta(source, ["everyone", "engineering"], []))
	allowed(as_okta(source, [], ["CodeReview.Run"]))
	d := authz.decision with input as as_okta(source, ["everyone", "marketing"], [])
	d.reasons == [member_reason]
	refused(as_okta(source, [], []), member_reason)
}

# Names match exactly, and each table only for its own claim.
test_membership_is_exact if {
	refused(as_okta(source, ["Engineering"], []), member_reason)
	refused(as_okta(source, ["engineering-contractors"], []), member_reason)
	refused(as_okta(source, ["CodeReview.Run"], []), member_reason)
	refused(as_okta(source, [], ["engineering"]), member_reason)
	refused(as_entra(source, [upper(fx.entra_engineering)], [], false), member_reason)
	refused(as_entra(source, [], ["CodeReview.Read"], false), member_reason)
}

test_entra_membership if {
	allowed(as_entra(source, [fx.entra_other_group, fx.entra_engineering], [], false))
	allowed(as_entra(source, [], ["CodeReview.Run"], false))
	allowed(as_entra(source, [fx.entra_other_group], ["CodeReview.Run"], false))
	d := authz.decision with input as as_entra(source, [fx.entra_other_group], [], false)
	d.reasons == [member_reason]
}

test_entra_groups_overage if {
	# Not resolved: membership is unknown, and the reason says what fixes it.
	d1 := authz.decision with input as as_entra(source, [], [], true)
	d1.reasons == [overage_reason]

	# A role needs no groups.
	allowed(as_entra(source, [], ["CodeReview.Run"], true))

	# Resolved by the gateway: the groups decide as usual.
	allowed(as_entra(source, [fx.entra_other_group, fx.entra_engineering], [], true))
	d2 := authz.decision with input as as_entra(source, [fx.entra_other_group], [], true)
	d2.reasons == [member_reason]
}

test_membership_checked_for_every_action if {
	outsider := ["everyone"]
	refused(as_okta(fx.read("everything", "demo://resource/static/document/architecture.md"), outsider, []), member_reason)
	refused(as_okta(fx.prompt("everything", "simple-prompt"), outsider, []), member_reason)
	refused(as_okta(fx.call("everything", "echo", {"message": "hi"}), outsider, []), member_reason)
	every action in ["tools/list", "resources/list", "resources/templates/list", "prompts/list"] {
		refused(as_okta(fx.list(action, []), outsider, []), member_reason)
		refused(as_entra(fx.list(action, []), [], [], true), overage_reason)
	}
}

# The membership reason joins the others, so the user learns everything at once.
test_membership_reason_joins_other_reasons if {
	d := authz.decision with input as as_okta(read_file("src/.env.ts"), ["everyone"], [])
	d.reasons == [
		member_reason,
		`filesystem.read_file: argument path "src/.env.ts" looks like a secret (.env* or secrets*); purpose code-review never reads secrets`,
		`filesystem.read_file: argument path "src/.env.ts" matches exclude **/.env*`,
	]
}

# An app token is refused for being one; a role that admits it to the profile
# does not change that.
test_app_tokens_refused_for_being_apps if {
	d1 := authz.decision with input as fx.with_identity(source, fx.okta([], [], "app"))
	d1.reasons == [member_reason, app_reason]
	entra_app := object.union(fx.entra_user([], ["CodeReview.Run"], true), {"token_type": "app"})
	d2 := authz.decision with input as fx.with_identity(source, entra_app)
	d2.reasons == [app_reason]
}

test_outsiders_see_nothing if {
	catalog := [
		tool_item("everything", "echo", fx.read_only),
		{"kind": "resource", "id": "everything:demo://resource/static/document/features.md", "server": "everything", "uri": "demo://resource/static/document/features.md"},
		{"kind": "prompt", "id": "everything.simple-prompt", "server": "everything", "name": "simple-prompt"},
	]
	every action in ["tools/list", "resources/list", "prompts/list"] {
		authz.visible == set() with input as as_okta(fx.list(action, catalog), ["everyone"], [])
		authz.visible == set() with input as as_entra(fx.list(action, catalog), [], [], true)
	}

	# The purpose hides them on its own, not only through the core's check of allow.
	code_review.visible == set() with input as as_okta(fx.list("tools/list", catalog), ["everyone"], [])
	code_review.visible == set() with input as as_entra(fx.list("resources/list", catalog), [], [], true)
	code_review.visible == set() with input as as_okta(fx.list("prompts/list", catalog), ["everyone"], [])

	authz.visible == {"everything.echo"} with input as as_entra(fx.list("tools/list", catalog), [], ["CodeReview.Run"], true)
}

# Even with every refusal switched off, an outsider gets no grant.
test_grants_need_membership if {
	not allowed(as_okta(source, ["everyone"], [])) with data.mcp.purposes.code_review.deny as set() with data.mcp.profiles.deny as set()
	not allowed(as_entra(source, [], [], true)) with data.mcp.purposes.code_review.deny as set() with data.mcp.profiles.deny as set()
	not allowed(as_okta(fx.list("tools/list", []), [], [])) with data.mcp.purposes.code_review.deny as set() with data.mcp.profiles.deny as set()
	allowed(as_entra(source, [fx.entra_engineering], [], false)) with data.mcp.purposes.code_review.deny as set() with data.mcp.profiles.deny as set()
}

# --- rule 11: the profile's other tools and session/open ------------------------------

pr(repo, n) := {"owner": "org", "repo": repo, "pull_number": n}

test_pull_requests_of_org_repo if {
	allowed(fx.call("github", "get_pull_request", pr("repo", 5)))
	refused(fx.call("github", "get_pull_request", pr("other", 5)), `github.get_pull_request: argument repo "org/other#5" is outside scope org/repo#*`)
	refused(fx.call("github", "create_comment", pr("repo", 5)), "github.create_comment requires github.get_pull_request earlier in this session")
	allowed(fx.with_history(fx.call("github", "create_comment", pr("repo", 5)), [fx.called("github.get_pull_request", true)]))
	refused(fx.call("github", "merge_pull_request", pr("repo", 5)), "github.merge_pull_request is not allowed for purpose code-review")
	refused(fx.call("database", "query", {"query": "SELECT 1"}), "database.query is not allowed for purpose code-review")
}

test_session_open if {
	d := authz.decision with input as fx.session_open("code-review")
	d == {"allow": true, "reasons": ["allowed by purpose code-review"], "obligations": object.union(
		{"require_approval": null, "rate_limit": null, "credential": null, "redact": [], "terminate_session": false},
		{"session_ttl_s": 3600},
	)}
	allowed(as_entra(fx.session_open("code-review"), [fx.entra_engineering], [], false))
	allowed(as_entra(fx.session_open("code-review"), [], ["CodeReview.Run"], true))
	d2 := authz.decision with input as as_okta(fx.session_open("code-review"), ["marketing"], [])
	d2.reasons == [member_reason]
	d2.obligations.session_ttl_s == 3600
	refused(as_entra(fx.session_open("code-review"), [], [], true), overage_reason)
	refused(fx.as_app(fx.session_open("code-review")), app_reason)
}

test_sessions_expire if {
	refused(fx.with_age(source, 3601), "this session is older than 3600 s, the ttl of purpose code-review; open a new session")
	allowed(fx.with_age(source, 3600))
}

# The extension's secret rule holds even where the profile excludes nothing.
test_secrets_refused_whatever_the_profile_excludes if {
	shipped := data.profiles["code-review"]
	no_excludes := object.union(object.remove(shipped, ["tools"]), {"tools": object.union(
		object.remove(shipped.tools, ["filesystem.read_file"]),
		{"filesystem.read_file": {"allowed": true, "scope": "src/**"}},
	)})
	count(object.get(no_excludes.tools["filesystem.read_file"], "exclude", [])) == 0
	d := authz.decision with input as read_file("src/secrets/a.ts") with data.profiles as {"code-review": no_excludes}
	d.reasons == [`filesystem.read_file: argument path "src/secrets/a.ts" looks like a secret (.env* or secrets*); purpose code-review never reads secrets`]
	allowed(read_file("src/a.ts")) with data.profiles as {"code-review": no_excludes}
}

# --- completion, subscriptions and updates ------------------------------------------

test_completion_of_allowed_prompts_only if {
	allowed(fx.complete_prompt("everything", "simple-prompt", "topic", "a"))
	refused(
		fx.complete_prompt("everything", "args-prompt", "city", "Par"),
		"completion for everything.args-prompt is not allowed; purpose code-review completes the arguments of the prompts it may get",
	)
	refused(fx.as_app(fx.complete_prompt("everything", "simple-prompt", "topic", "a")), "app-only tokens are refused")
}

test_completion_of_templates_only_when_listed if {
	inp := fx.complete_template("everything", "demo://resource/dynamic/text/{resourceId}", "resourceId", "1")
	refused(inp, "completion for everything:demo://resource/dynamic/text/{resourceId} is not allowed")
	allowed(inp) with data.mcp.purposes.code_review.allowed_templates as {"everything": {"demo://resource/dynamic/text/{resourceId}"}}
}

test_completion_values_shown_unless_secret if {
	inp := fx.with_completion_values(
		fx.complete_prompt("everything", "simple-prompt", "path", ""),
		"everything",
		["src/a.ts", ".env", "config/secrets.json", "Engineering"],
	)
	authz.visible == {"src/a.ts", "Engineering"} with input as inp
}

test_completion_values_hidden_when_completion_refused if {
	inp := fx.with_completion_values(fx.complete_prompt("everything", "args-prompt", "city", ""), "everything", ["Paris"])
	authz.visible == set() with input as inp
}

test_subscriptions_and_updates_follow_reads if {
	doc := "demo://resource/static/document/architecture.md"
	allowed(fx.about_resource("resources/subscribe", "everything", doc))
	allowed(fx.about_resource("notifications/resources/updated", "everything", doc))
	dynamic := "demo://resource/dynamic/text/1"
	refused(fx.about_resource("resources/subscribe", "everything", dynamic), "resource everything:demo://resource/dynamic/text/1 is not allowed")
	refused(fx.about_resource("notifications/resources/updated", "everything", dynamic), "is not allowed")
}

test_update_not_delivered_once_the_session_may_not_read if {
	doc := "demo://resource/static/document/architecture.md"
	update := fx.about_resource("notifications/resources/updated", "everything", doc)
	refused(update, "is not allowed") with data.mcp.purposes.code_review.allowed_resources as {"everything": ["demo://resource/static/other/*"]}
	refused(fx.with_age(update, 7200), "this session is older than 3600 s")
	refused(fx.as_app(update), "app-only tokens are refused")
}

test_unsubscribe_allowed_for_any_admitted_session if {
	allowed(fx.about_resource("resources/unsubscribe", "everything", "demo://resource/dynamic/text/1"))
	refused(fx.with_identity(fx.about_resource("resources/unsubscribe", "everything", "x"), fx.okta_user(["sales"], [])), "code-review needs membership")
}
