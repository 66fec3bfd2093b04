# Builders for complete, schema-valid inputs, shared by the unit tests.
package mcp.testing.fixtures

# The default caller: an Okta user in the engineering group. Okta sends group
# names in `groups` and roles, if configured, in a `roles` claim.
identity(token_type) := okta(["engineering"], [], token_type)

okta_issuer := "https://example.okta.com/oauth2/default"

okta(groups, roles, token_type) := {
	"issuer": okta_issuer,
	"subject": "00u1a2b3c4d5e6f7g8h9",
	"user_id": "00u1a2b3c4d5e6f7g8h9",
	"client_id": "0oa1mcpclient2b3c4d5",
	"scopes": ["mcp"],
	"roles": roles,
	"groups": groups,
	"groups_overage": false,
	"token_type": token_type,
	"amr": ["pwd"],
	"claims": {
		"iss": okta_issuer,
		"sub": "alice@example.com",
		"uid": "00u1a2b3c4d5e6f7g8h9",
		"cid": "0oa1mcpclient2b3c4d5",
	},
}

okta_user(groups, roles) := okta(groups, roles, "user")

# Entra sends group object ids in `groups` and app roles in `roles`. With too
# many groups it sends none and the gateway sets groups_overage; `groups` is
# then empty unless the gateway resolved them.
entra_tenant := "9a3f6c1e-2b4d-4e8f-a07c-5d1b3e9f2c68"

entra_oid := "e4c2a8f1-6b3d-4f7e-9a05-c1d8b2e6f3a9"

entra_issuer := concat("", ["https://login.microsoftonline.com/", entra_tenant, "/v2.0"])

# The object id of the Entra "Engineering" group in code_review_groups.
entra_engineering := "4956b001-92a3-865a-85b5-f84124cda311"

# Some other Entra group.
entra_other_group := "0d7b4e92-3c1a-4f6e-8b25-a9e1c7d3f084"

entra_user(groups, roles, overage) := {
	"issuer": entra_issuer,
	"subject": concat("/", [entra_tenant, entra_oid]),
	"tenant": entra_tenant,
	"user_id": entra_oid,
	"client_id": "3c8e1f5a-9d2b-4a7c-b6e0-f1a4d9c2e857",
	"scopes": ["mcp.access"],
	"roles": roles,
	"groups": groups,
	"groups_overage": overage,
	"token_type": "user",
	"amr": ["pwd", "mfa"],
	"claims": {
		"iss": entra_issuer,
		"tid": entra_tenant,
		"oid": entra_oid,
		"scp": "mcp.access",
		"ver": "2.0",
	},
}

session(purpose) := {
	"id": "session-1",
	"purpose": purpose,
	"age_s": 10,
	"history": [],
	"summary": summary_of([]),
	"counters": {"calls": 0, "denied": 0, "untracked": 0},
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
	"pin": {"state": "pinned"},
	"findings": [],
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

# The same resource, for another action about it: resources/subscribe,
# resources/unsubscribe, or the delivery of an update
# (notifications/resources/updated).
about_resource(action, server, uri) := object.union(read(server, uri), {"action": action})

# completion/complete of argument name (typed so far: value) of a prompt.
complete_prompt(server, name, argument, value) := object.union(base("completion/complete"), {"completion": {
	"ref": {"kind": "prompt", "server": server, "name": name, "id": concat(".", [server, name])},
	"argument": {"name": argument, "value": value},
	"context_arguments": {},
}})

# completion/complete of an argument of a resource template.
complete_template(server, template, argument, value) := object.union(base("completion/complete"), {"completion": {
	"ref": {"kind": "resource_template", "server": server, "uri": template, "id": concat(":", [server, template])},
	"argument": {"name": argument, "value": value},
	"context_arguments": {},
}})

# A completion's input as mcp/authz/visible sees it, with the values the
# upstream suggested.
with_completion_values(inp, server, values) := object.union(inp, {"catalog": [{"kind": "completion_value", "id": v, "server": server} | some v in values]})

prompt(server, name) := object.union(base("prompts/get"), {
	"prompt": {
		"server": server, "name": name, "id": concat(".", [server, name]),
		"pin": {"state": "pinned"}, "findings": [],
	},
	"arguments": {},
})

list(action, catalog) := object.union(base(action), {"catalog": catalog})

# Replaces the session purpose or the token type of a built input.
with_purpose(inp, purpose) := object.union(inp, {"session": session(purpose)})

as_app(inp) := object.union(inp, {"identity": identity("app")})

# Replaces the whole identity. object.union alone merges objects key by key,
# so an Entra identity would keep an Okta one's claims.
with_identity(inp, id) := object.union(object.remove(inp, ["identity"]), {"identity": id})

# A request to open a session of purpose, by the default caller.
session_open(purpose) := {
	"action": "session/open",
	"identity": identity("user"),
	"session": object.union(session(purpose), {"age_s": 0}),
	"request": request,
}

# session/open with the upstreams' instructions the gateway holds, one
# instruction item per server, as the visible decision at session/open sees it.
session_open_with_instructions(purpose, servers) := object.union(session_open(purpose), {"catalog": [instruction(server) | some server in servers]})

instruction(server) := {"kind": "instruction", "id": server, "server": server}

# A session history entry: an earlier decided tools/call of tool_id, a
# minute before request.time_ns.
called(tool_id, allowed) := {
	"action": "tools/call",
	"target": tool_id,
	"args_digest": "00000000000000000000000000000000",
	"allowed": allowed,
	"at_ns": request.time_ns - 60000000000,
}

# The session.summary the gateway keeps after exactly these calls.
summary_of(entries) := {key: {target: _target_summary(entries, action, target) |
	some e in entries
	e.action == action
	target := e.target
} |
	some action, key in _summary_keys
}

_summary_keys := {"tools/call": "tools", "resources/read": "resources", "prompts/get": "prompts"}

_target_summary(entries, action, target) := {
	"allowed": count([e | some e in entries; e.action == action; e.target == target; e.allowed == true]),
	"denied": count([e | some e in entries; e.action == action; e.target == target; e.allowed == false]),
	"last_ns": max([e.at_ns | some e in entries; e.action == action; e.target == target]),
}

# Replaces the session's history, its summary and counters to match: these
# are all the calls of the session, recent enough to be in the history.
with_history(inp, entries) := with_calls(inp, entries, entries)

# Replaces the session's calls: all of them (summary and counters), of which
# the most recent, recent (the history; older ones have left it).
with_calls(inp, all, recent) := object.union(inp, {"session": {
	"history": recent,
	"summary": summary_of(all),
	"counters": {
		"calls": count(all),
		"denied": count([e | some e in all; e.allowed == false]),
		"untracked": 0,
	},
}})

# Replaces the session's age.
with_age(inp, age_s) := object.union(inp, {"session": {"age_s": age_s}})

# A tools/call under purpose by an Okta user in groups, the tool declared
# read-only.
call_as(purpose, groups, server, name, args) := with_identity(
	with_purpose(call(server, name, args), purpose),
	okta_user(groups, []),
)

# An admin API request (admin/sessions/list, show or kill) by identity id.
# Admin requests carry no session; admin.session_id names the session shown
# or killed ("" leaves it out, as for list).
admin(action, id, session_id) := {
	"action": action,
	"identity": id,
	"admin": _admin_target(session_id),
	"request": request,
	"findings": [],
}

_admin_target("") := {}

_admin_target(session_id) := {"session_id": session_id} if session_id != ""

# The role that makes a user a sessions admin by default.
admin_role := "mcpgate.admin"

# What an upstream asks of the session's client (sampling/createMessage,
# elicitation/create, roots/list) in a code-review session of the default
# caller, over the upstream's shared stdio connection.
ask(action, server, facts) := object.union(
	object.union(base(action), {"upstream": {"server": server, "isolation": "shared", "transport": "stdio"}}),
	facts,
)

sampling(server, max_tokens, tool_names) := ask("sampling/createMessage", server, {"sampling": {
	"messages": [{"role": "user", "content": {"type": "text", "text": "Summarise the diff"}}],
	"max_tokens": max_tokens,
	"tools": tool_names,
	"include_context": "none",
}})

elicitation_form(server) := ask("elicitation/create", server, {"elicitation": {
	"mode": "form",
	"message": "Which branch?",
	"requested_schema": {"type": "object", "properties": {"branch": {"type": "string"}}},
}})

elicitation_url(server, url) := ask("elicitation/create", server, {"elicitation": {
	"mode": "url",
	"message": "Sign in to continue",
	"url": url,
}})

roots_from(server, from, uris) := ask("roots/list", server, {"roots": {"from": from, "uris": uris}})

# The visible decision of which upstreams' log messages a session receives.
log_sources(servers) := list("notifications/message", [{"kind": "log", "id": server, "server": server} | some server in servers])
