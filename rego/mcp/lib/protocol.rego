# METADATA
# title: The protocol a request came with
# description: |
#   input.request.protocol_version is the MCP revision of the request, and
#   input.request.era says how it came: "handshake" (a session opened with
#   initialize; revisions up to 2025-11-25) or "stateless" (2026-07-28: no
#   initialize, the session derived by the gateway; docs/sessions-2026.md).
#   Revisions are dates (YYYY-MM-DD), so they compare as strings.
# scope: package
# schemas:
#   - input: schema.input
package mcp.lib.protocol

# The request came without a handshake (MCP 2026-07-28).
stateless if input.request.era == "stateless"

# The request came with a protocol revision older than `revision` (a
# request whose revision is not known is not older: nothing to compare).
older_than(revision) if input.request.protocol_version < revision
