# Builders for complete, schema-valid inputs, shared by the unit tests.
package mcp.testing.fixtures

identity(token_type) := {
	"issuer": "https://idp.example.test",
	"subject": "user-1",
	"user_id": "user-1",
	"client_id": "client-1",
	"scopes": ["mcp"],
	"roles": [],
	"groups": ["devs"],
	"groups_overage": false,
	"token_type": token_type,
	"amr": ["pwd"],
	"claims": {"sub": "user-1"},
}

session(purpose) := {
	"id": "session-1",
	"purpose": purpose,
	"age_s": 10,
	"history": [],
	"counters": {"calls": 0, "denied": 0},
}

request := {
	"time_ns": 1767225600000000000,
	"time": "2026-01-01T00:00:00Z",
	"gateway": {"id": "gw-test", "version": "0.1.0"},
}

base(action) := {
	"action": action,
	"identity": identity("user"),
	"session": session("code-review"),
	"request": request,
}

tool(server, name, annotations) := {
	"server": server,
	"name": name,
	"id": concat(".", [server, name]),
	"annotations": annotations,
	"definition_hash": "0000",
}

read_only := {"readOnlyHint": true}

# A code-review tools/call by a user, with the tool declared read-only.
call(server, name, args) := call_annotated(server, name, args, read_only)

call_annotated(server, name, args, annotations) := object.union(base("tools/call"), {
	"tool": tool(server, name, annotations),
	"arguments": args,
})

read(server, uri) := object.union(base("resources/read"), {"resource": {
	"server": server,
	"uri": uri,
	"id": concat(":", [server, uri]),
}})

prompt(server, name) := object.union(base("prompts/get"), {
	"prompt": {"server": server, "name": name, "id": concat(".", [server, name])},
	"arguments": {},
})

list(action, catalog) := object.union(base(action), {"catalog": catalog})

# Replaces the session purpose or the token type of a built input.
with_purpose(inp, purpose) := object.union(inp, {"session": session(purpose)})

as_app(inp) := object.union(inp, {"identity": identity("app")})
