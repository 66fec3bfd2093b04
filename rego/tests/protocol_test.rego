package mcp.lib.protocol_test

import data.mcp.lib.protocol
import data.mcp.testing.fixtures as fx

# How a purpose refuses clients that still speak an old revision: the rule a
# policy owner adds to the purpose (docs/policy.md#protocol-versions).
example_deny contains "update your MCP client: this purpose needs revision 2025-11-25 or newer" if {
	protocol.older_than("2025-11-25")
}

with_protocol(version, era) := object.union(
	fx.call("a", "x", {}),
	{"request": object.union(fx.request, {"protocol_version": version, "era": era})},
)

test_stateless if {
	protocol.stateless with input as with_protocol("2026-07-28", "stateless")
	not protocol.stateless with input as with_protocol("2025-11-25", "handshake")
	not protocol.stateless with input as fx.call("a", "x", {})
}

test_older_than if {
	protocol.older_than("2025-11-25") with input as with_protocol("2025-06-18", "handshake")
	not protocol.older_than("2025-11-25") with input as with_protocol("2025-11-25", "handshake")
	not protocol.older_than("2025-11-25") with input as with_protocol("2026-07-28", "stateless")
	not protocol.older_than("2025-11-25") with input as fx.call("a", "x", {})
}

test_example_refuses_old_versions_only if {
	count(example_deny) == 1 with input as with_protocol("2025-03-26", "handshake")
	count(example_deny) == 0 with input as with_protocol("2025-11-25", "handshake")
	count(example_deny) == 0 with input as with_protocol("2026-07-28", "stateless")
}
