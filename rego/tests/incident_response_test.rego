# The incident-response profile, rego/profiles/incident-response/data.yaml.
package mcp.incident_response_test

import data.mcp.authz
import data.mcp.testing.fixtures as fx

call(server, name, args) := fx.call_as("incident-response", ["oncall"], server, name, args)

decide(inp) := d if {
	d := authz.decision with input as inp
}

allowed(inp) if decide(inp).allow

reasons(inp) := decide(inp).reasons

after(inp, tool_ids) := fx.with_history(inp, [fx.called(id, true) | some id in tool_ids])

pr(repo, n) := {"owner": "org", "repo": repo, "pull_number": n}

query(sql) := call("database", "query", {"query": sql})

test_who_may_open if {
	d := decide(fx.with_identity(fx.session_open("incident-response"), fx.okta_user(["sre"], [])))
	d.allow
	d.obligations.session_ttl_s == 1800

	# A service holding the role may open one too: this profile does not refuse app tokens.
	allowed(fx.with_identity(fx.session_open("incident-response"), object.union(fx.entra_user([], ["Incident.Respond"], false), {"token_type": "app"})))
	reasons(fx.session_open("incident-response")) == ["incident-response needs membership in one of the groups (oncall, sre) or the Incident.Respond app role"]
	reasons(fx.with_identity(fx.session_open("incident-response"), fx.entra_user([], [], true))) == ["your IdP sent too many groups to check membership (groups overage); ask an administrator to configure groups_overage resolution or assign the Incident.Respond app role"]
}

test_short_sessions if {
	allowed(fx.with_age(call("everything", "echo", {}), 1800))
	reasons(fx.with_age(call("everything", "echo", {}), 1801)) == ["this session is older than 1800 s, the ttl of purpose incident-response; open a new session"]
}

test_reads_logs_config_and_sources if {
	allowed(call("filesystem", "read_text_file", {"path": "logs/api/2026-01-01.log"}))
	allowed(call("filesystem", "read_multiple_files", {"paths": ["config/app.yaml", "src/a.ts"]}))
	allowed(call("filesystem", "list_directory", {"path": "logs"}))
	allowed(call("filesystem", "search_files", {"path": "logs/api", "pattern": "ERROR"}))
	reasons(call("filesystem", "read_text_file", {"path": "config/tls/server.KEY"})) == [`filesystem.read_text_file: argument path "config/tls/server.KEY" matches exclude **/*.key`]
	reasons(call("filesystem", "read_text_file", {"path": "config/secrets/db.yaml"})) == [`filesystem.read_text_file: argument path "config/secrets/db.yaml" matches exclude **/secrets*`]
	reasons(call("filesystem", "read_text_file", {"path": "home/x"})) == [`filesystem.read_text_file: argument path "home/x" is outside scope logs/**, config/**, src/**`]
	reasons(call("filesystem", "search_files", {"path": "src", "pattern": "x"})) == [`filesystem.search_files: argument path "src" is outside scope logs, logs/**`]
}

test_writes_only_incident_notes if {
	allowed(call("filesystem", "write_file", {"path": "incidents/2026-01-01.md", "content": "x"}))
	reasons(call("filesystem", "write_file", {"path": "incidents/a/b.md", "content": "x"})) == [`filesystem.write_file: argument path "incidents/a/b.md" is outside scope incidents/*.md`]
	reasons(call("filesystem", "edit_file", {"path": "src/a.ts"})) == ["filesystem.edit_file is refused during an incident; write notes under incidents/ with filesystem.write_file"]
	reasons(call("filesystem", "move_file", {"source": "a", "destination": "b"})) == ["filesystem.move_file is not allowed for purpose incident-response"]
}

test_read_only_queries if {
	allowed(query("SELECT * FROM orders WHERE id = 5"))
	allowed(query("select count(*) from errors where at > now() - interval '1 hour'"))
	reasons(query("DELETE FROM orders")) == [`database.query: argument query "DELETE FROM orders" is outside scope SELECT **, select **`]
	reasons(query("SELECT 1; DROP TABLE orders")) == [`database.query: argument query "SELECT 1; DROP TABLE orders" matches exclude **;**`]
	reasons(query("SELECT * INTO backup FROM orders")) == [`database.query: argument query "SELECT * INTO backup FROM orders" matches exclude ** into **`]
	reasons(query("SELECT PG_SLEEP(60)")) == [`database.query: argument query "SELECT PG_SLEEP(60)" matches exclude **pg_sleep**`]
	reasons(call("database", "query", {})) == ["database.query: argument query must be a non-empty string"]
}

test_hotfix_merges_need_review_first if {
	merge := call("github", "merge_pull_request", pr("api", 42))
	reasons(merge) == [
		"github.merge_pull_request requires github.create_comment earlier in this session",
		"github.merge_pull_request requires github.get_pull_request earlier in this session",
	]
	reasons(after(merge, ["github.get_pull_request"])) == ["github.merge_pull_request requires github.create_comment earlier in this session"]
	allowed(after(merge, ["github.get_pull_request", "github.create_comment"]))
	reasons(after(call("github", "merge_pull_request", {"owner": "other", "repo": "api", "pull_number": 42}), ["github.get_pull_request", "github.create_comment"])) == [`github.merge_pull_request: argument repo "other/api#42" is outside scope org/*#*`]
}

test_other_tools if {
	allowed(call("everything", "echo", {"message": "x"}))
	reasons(call("everything", "get-env", {})) == ["everything.get-env exposes the server's environment variables; read config/ instead"]
	reasons(call("filesystem", "directory_tree", {"path": "logs"})) == ["filesystem.directory_tree is not in the incident-response allow-list"]
}
