package mcp.lib.tools_test

import data.mcp.lib.tools

test_tool_ids if {
	tools.id("filesystem", "read_file") == "filesystem.read_file"
	tools.server_of("filesystem.read_file") == "filesystem"
	tools.name_of("filesystem.read_file") == "read_file"
	tools.name_of("a.b.c") == "b.c"
	not tools.server_of("nodot")
	not tools.server_of(".x")
	tools.is_tool_id("a.b")
	not tools.is_tool_id("a.")
	not tools.is_tool_id(".b")
	not tools.is_tool_id("ab")
	not tools.is_tool_id(7)
}

test_read_only_needs_true if {
	tools.read_only({"readOnlyHint": true})
	not tools.read_only({"readOnlyHint": "true"})
	not tools.read_only({})
}

test_arguments if {
	tools.argument("path") == "x" with input.arguments as {"path": "x"}
	tools.argument("path") == null with input.arguments as {}
	tools.argument("path") == null with input.arguments as ["x"]
}

# is_list_action compares with each action rather than looking it up in
# list_kinds (rego/README.md, "Speed in wasm"): the two must name the same
# actions, and reads_resource the resource actions that show content.
test_action_clauses_match_the_tables if {
	every action, _ in tools.list_kinds {
		tools.is_list_action with input as {"action": action}
	}
	every action in {"tools/call", "session/open", "tools/list/x", "prompts/get"} {
		not tools.is_list_action with input as {"action": action}
	}
	every action in tools.resource_actions {
		tools.reads_resource == action != "resources/unsubscribe" with input as {"action": action}
	}
	not tools.reads_resource with input as {"action": "tools/call"}
}
