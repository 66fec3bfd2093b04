# The documentation profile, rego/profiles/documentation/data.yaml.
package mcp.documentation_test

import data.mcp.authz
import data.mcp.testing.fixtures as fx

writer := ["technical-writers"]

call(server, name, args) := fx.call_as("documentation", writer, server, name, args)

decide(inp) := d if {
	d := authz.decision with input as inp
}

allowed(inp) if decide(inp).allow

reasons(inp) := decide(inp).reasons

after(inp, tool_ids) := fx.with_history(inp, [fx.called(id, true) | some id in tool_ids])

pr(repo, n) := {"owner": "org", "repo": repo, "pull_number": n}

test_who_may_open if {
	d := decide(fx.with_identity(fx.session_open("documentation"), fx.okta_user(writer, [])))
	d.allow
	d.obligations.session_ttl_s == 7200
	allowed(fx.with_identity(fx.session_open("documentation"), fx.okta_user(["engineering"], [])))
	allowed(fx.with_identity(fx.session_open("documentation"), fx.entra_user([], ["Docs.Write"], false)))
	d2 := decide(fx.with_identity(fx.session_open("documentation"), fx.okta_user(["marketing"], [])))
	d2.reasons == ["documentation needs membership in one of the groups (engineering, technical-writers) or the Docs.Write app role"]
	d2.obligations.session_ttl_s == 7200
}

test_reads_docs_and_sources if {
	allowed(call("filesystem", "read_text_file", {"path": "docs/guide/intro.md"}))
	allowed(call("filesystem", "read_text_file", {"path": "README.md"}))
	allowed(call("filesystem", "read_text_file", {"path": "src/app.ts"}))
	allowed(call("filesystem", "read_multiple_files", {"paths": ["docs/a.md", "src/b.tsx"]}))
	allowed(call("filesystem", "read_media_file", {"path": "docs/img/flow.svg"}))
	allowed(call("filesystem", "list_directory", {"path": "docs"}))
	reasons(call("filesystem", "read_text_file", {"path": "docs/.env.md"})) == [`filesystem.read_text_file: argument path "docs/.env.md" matches exclude **/.env*`]
	reasons(call("filesystem", "read_text_file", {"path": "lib/x.md"})) == [`filesystem.read_text_file: argument path "lib/x.md" is outside scope docs/**/*.{md,mdx}, src/**/*.{ts,tsx}, README.md`]
	reasons(call("filesystem", "read_file", {"path": "docs/a.md"})) == ["filesystem.read_file is deprecated; use filesystem.read_text_file"]
}

test_writes_markdown_under_docs_only if {
	allowed(call("filesystem", "write_file", {"path": "docs/new.md", "content": "x"}))
	allowed(call("filesystem", "create_directory", {"path": "docs/guides"}))
	reasons(call("filesystem", "write_file", {"path": "src/app.ts", "content": "x"})) == [`filesystem.write_file: argument path "src/app.ts" is outside scope docs/**/*.{md,mdx}`]
	reasons(call("filesystem", "write_file", {"path": "docs/../src/a.md", "content": "x"})) == [`filesystem.write_file: argument path "docs/../src/a.md" has a ".." segment`]
	allowed(call("filesystem", "move_file", {"source": "docs/a.md", "destination": "docs/old/a.md"}))
	reasons(call("filesystem", "move_file", {"source": "docs/a.md", "destination": "README.md"})) == [`filesystem.move_file: argument destination "README.md" is outside scope docs/**/*.{md,mdx}`]
}

test_edit_requires_a_read if {
	edit := call("filesystem", "edit_file", {"path": "docs/a.md", "edits": []})
	reasons(edit) == ["filesystem.edit_file requires filesystem.read_text_file earlier in this session"]
	allowed(after(edit, ["filesystem.read_text_file"]))
	reasons(fx.with_history(edit, [fx.called("filesystem.read_text_file", false)])) == ["filesystem.edit_file requires filesystem.read_text_file earlier in this session"]
}

test_docs_repository if {
	allowed(call("github", "get_pull_request", pr("docs", 3)))
	reasons(call("github", "get_pull_request", pr("api", 3))) == [`github.get_pull_request: argument repo "org/api#3" is outside scope org/docs#*`]
	reasons(call("github", "create_comment", pr("docs", 3))) == ["github.create_comment requires github.get_pull_request earlier in this session"]
	allowed(after(call("github", "create_comment", pr("docs", 3)), ["github.get_pull_request"]))
	open_pr := call("github", "create_pull_request", {"owner": "org", "repo": "docs", "title": "t"})
	reasons(open_pr) == ["github.create_pull_request requires filesystem.write_file earlier in this session"]
	allowed(after(open_pr, ["filesystem.write_file"]))
	reasons(call("github", "merge_pull_request", pr("docs", 3))) == ["github.merge_pull_request is not allowed for purpose documentation"]
	reasons(call("database", "query", {"query": "SELECT 1"})) == ["database.query is not allowed for purpose documentation"]
	reasons(call("everything", "get-env", {})) == ["everything.get-env is not in the documentation allow-list"]
}

# Annotations and app tokens are code-review's own rules, not this profile's.
test_no_code_review_rules if {
	allowed(fx.with_identity(
		fx.with_purpose(fx.call_annotated("filesystem", "write_file", {"path": "docs/a.md"}, {"readOnlyHint": false}), "documentation"),
		fx.okta_user(writer, []),
	))
}

test_lists if {
	catalog := [
		{"kind": "tool", "id": "filesystem.write_file", "server": "filesystem", "name": "write_file"},
		{"kind": "tool", "id": "filesystem.read_file", "server": "filesystem", "name": "read_file"},
		{"kind": "tool", "id": "everything.echo", "server": "everything", "name": "echo"},
		{"kind": "tool", "id": "everything.get-env", "server": "everything", "name": "get-env"},
	]
	inp := fx.with_identity(fx.with_purpose(fx.list("tools/list", catalog), "documentation"), fx.okta_user(writer, []))
	authz.visible == {"filesystem.write_file", "everything.echo"} with input as inp
}
