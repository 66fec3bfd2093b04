package mcp.lib.history_test

import data.mcp.lib.history
import data.mcp.testing.fixtures as fx

inp := fx.with_history(fx.call("a", "x", {}), [
	fx.called("a.read", true),
	fx.called("a.read", false),
	fx.called("a.read", true),
	fx.called("a.write", false),
	object.union(fx.called("a.prompt", true), {"action": "prompts/get"}),
])

test_called if {
	history.called("a.read") with input as inp
	not history.called("a.write") with input as inp
	not history.called("a.prompt") with input as inp
	not history.called("a.other") with input as inp
	not history.called("a.read") with input as fx.call("a", "x", {})
}

test_counts if {
	count(history.tool_calls) == 4 with input as inp
	history.call_count("a.read") == 2 with input as inp
	history.call_count("a.write") == 0 with input as inp
	history.refused_count("a.read") == 1 with input as inp
	history.refused_count("a.write") == 1 with input as inp
	history.refused_count("a.other") == 0 with input as inp
}
