package mcp.lib.history_test

import data.mcp.lib.history
import data.mcp.testing.fixtures as fx

prompt_call := object.union(fx.called("a.read", true), {"action": "prompts/get"})

calls := [
	fx.called("a.read", true),
	fx.called("a.read", false),
	object.union(fx.called("a.read", true), {"at_ns": fx.request.time_ns - 1000}),
	fx.called("a.write", false),
	prompt_call,
	object.union(fx.called("a.write", true), {"action": "prompts/get"}),
]

inp := fx.with_history(fx.call("a", "x", {}), calls)

# The same calls, all but the last two gone from the history window.
old := fx.with_calls(fx.call("a", "x", {}), calls, [prompt_call])

test_called if {
	history.called("a.read") with input as inp
	not history.called("a.write") with input as inp
	not history.called("a.prompt") with input as inp
	not history.called("a.other") with input as inp
	not history.called("a.read") with input as fx.call("a", "x", {})
}

test_called_beyond_the_history_window if {
	history.called("a.read") with input as old
	not history.called("a.write") with input as old
	count(history.tool_calls) == 0 with input as old
}

test_a_prompt_is_not_a_tool_call if {
	only_prompts := fx.with_history(fx.call("a", "x", {}), [prompt_call])
	not history.called("a.read") with input as only_prompts
	history.call_count("a.read") == 0 with input as only_prompts
}

test_counts if {
	count(history.tool_calls) == 4 with input as inp
	history.call_count("a.read") == 2 with input as inp
	history.call_count("a.write") == 0 with input as inp
	history.call_count("a.other") == 0 with input as inp
	history.refused_count("a.read") == 1 with input as inp
	history.refused_count("a.write") == 1 with input as inp
	history.refused_count("a.other") == 0 with input as inp
}

test_counts_cover_the_whole_session if {
	history.call_count("a.read") == 2 with input as old
	history.refused_count("a.read") == 1 with input as old
}

test_last_call_ns if {
	history.last_call_ns("a.read") == fx.request.time_ns - 1000 with input as inp
	history.last_call_ns("a.write") == fx.request.time_ns - 60000000000 with input as inp
	not history.last_call_ns("a.other") with input as inp
}

test_complete if {
	history.complete with input as inp
	full := object.union(inp, {"session": {"counters": {"untracked": 3}}})
	not history.complete with input as full
}
