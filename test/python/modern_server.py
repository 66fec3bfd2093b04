"""A small MCP server of the Python SDK (mcp 2.3.0, which serves 2026-07-28 and the
handshake era alike), as an upstream behind mcpgate: test/e2e/stateless-upstream.test.ts.

Usage: modern_server.py stdio
       modern_server.py http PORT      (Streamable HTTP on 127.0.0.1:PORT/mcp)

Its tools say what the gateway sent: `era` the protocol revision of the request (2026-07-28
when the gateway speaks the stateless era with it), `echo` its text.
"""

from __future__ import annotations

import sys

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.transport_security import TransportSecuritySettings

server = MCPServer(name="python-modern", instructions="A Python server of both eras.")


@server.tool()
def era(ctx: Context) -> str:
    """The protocol revision this request came with."""
    return ctx.protocol_version or "unknown"


@server.tool()
def echo(text: str) -> str:
    """Answers with the text it was given."""
    return f"echo: {text}"


if __name__ == "__main__":
    if sys.argv[1:] == ["stdio"]:
        server.run("stdio")
    elif len(sys.argv) == 3 and sys.argv[1] == "http":
        server.run(
            "streamable-http",
            host="127.0.0.1",
            port=int(sys.argv[2]),
            # The gateway reaches it by address; there is no browser to rebind.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
    else:
        sys.exit(__doc__)
