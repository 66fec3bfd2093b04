# METADATA
# title: MCP request helpers
# description: Facts about the request that every purpose needs.
# scope: package
# schemas:
#   - input: schema.input
package mcp.lib.tools

# The list actions, mapped to the catalog kind each one lists.
list_kinds := {
	"tools/list": "tool",
	"resources/list": "resource",
	"resources/templates/list": "resource_template",
	"prompts/list": "prompt",
}

# One clause per action of list_kinds rather than a lookup in it: the wasm
# evaluator would build the whole object on every evaluation to look one key
# up, where a comparison builds nothing (rego/README.md, "Speed in wasm").
# tools_test checks that the clauses and the table agree.
default is_list_action := false

is_list_action if input.action == "tools/list"

is_list_action if input.action == "resources/list"

is_list_action if input.action == "resources/templates/list"

is_list_action if input.action == "prompts/list"

# The kind of catalog item each visible decision is about: a list's items, at
# session/open the upstreams' instructions (input.catalog holds one
# instruction item per upstream that gave instructions; which of them the
# session is shown is the policy's choice), and for notifications/message the
# upstreams whose log messages the session receives over shared connections
# (one log item per upstream).
visible_kinds := object.union(list_kinds, {
	"session/open": "instruction",
	"completion/complete": "completion_value",
	"notifications/message": "log",
})

# The actions about one resource (input.resource): reading it, subscribing to
# its updates, ending that subscription, and delivering one update of it to a
# subscribed session.
resource_actions := {
	"resources/read",
	"resources/subscribe",
	"resources/unsubscribe",
	"notifications/resources/updated",
}

# The actions that show a resource's content or changes to the session: a
# policy that lets a session read a resource usually lets it subscribe to it
# and be told of its updates (a delivery is decided again each time, so a
# session that may no longer read the resource is no longer told).
default reads_resource := false

reads_resource if input.action == "resources/read"

reads_resource if input.action == "resources/subscribe"

reads_resource if input.action == "notifications/resources/updated"

# What an upstream asks of a session's client: decided with the upstream as
# the requester (input.upstream) and the facts of its request (input.sampling,
# input.elicitation, input.roots).
ask_actions := {"sampling/createMessage", "elicitation/create", "roots/list"}

is_ask_action if input.action in ask_actions

# --- Tool ids ------------------------------------------------------------------

# The gateway names a tool "server.name": the upstream server's configured name,
# a dot, and the tool's own name. Server names contain no dot; tool names may.
id(server, name) := concat(".", [server, name])

# server_of(tool_id) and name_of(tool_id) split an id at its first dot;
# both are undefined for a string without one.
server_of(tool_id) := substring(tool_id, 0, i) if {
	i := indexof(tool_id, ".")
	i > 0
}

name_of(tool_id) := substring(tool_id, i + 1, -1) if {
	i := indexof(tool_id, ".")
	i > 0
}

# is_tool_id(x) holds for a string "server.name" with both parts non-empty.
is_tool_id(x) if {
	is_string(x)
	server_of(x) != ""
	name_of(x) != ""
}

# --- Annotations and arguments -------------------------------------------------

# read_only(annotations) holds only if the upstream explicitly declares the
# tool read-only. Annotations are untrusted hints, so they may only tighten a
# policy: a missing or false readOnlyHint makes a tool count as a write tool.
read_only(annotations) if annotations.readOnlyHint == true

# non_empty_string(x) holds for strings other than "".
non_empty_string(x) if {
	is_string(x)
	x != ""
}

# The call's arguments as an object. The gateway passes what the client
# sent; anything but an object counts as no arguments, so checks on a named
# argument see null and refuse rather than erroring into silence.
arguments := args if {
	args := input.arguments
	is_object(args)
} else := {}

# argument(name) is the named argument of this call, or null when absent, so
# that checks can tell "missing" from "wrong" with one rule.
argument(name) := object.get(arguments, name, null)
