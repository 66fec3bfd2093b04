"""A small MCP server of the Python SDK (mcp 2.3.0, which serves 2026-07-28 and the
handshake era alike), as an upstream behind mcpgate: test/e2e/stateless-upstream.test.ts.

Usage: modern_server.py stdio
       modern_server.py http PORT      (Streamable HTTP on 127.0.0.1:PORT/mcp)

Its tools say what the gateway sent: `era` the protocol revision of the request (2026-07-28
when the gateway speaks the stateless era with it), `echo` its text; `confirm` asks the user
first, as a 2026-07-28 server does: an InputRequiredResult with an elicitation and its own
requestState, then, on the retry, the answer and the state it got back; `where` asks for
the client's roots; `nag` asks again
after every answer; `grow` adds a tool `grown` and tells its subscriptions/listen streams
that the tool list changed; `touch` tells those subscribed to a resource (`note://watched`,
`note://secret`) that it was updated; `listening` counts the open listen streams.
"""

from __future__ import annotations

import sys

import mcp_types as types
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


@server.tool()
async def confirm(action: str, ctx: Context) -> str | types.InputRequiredResult:
    """Asks the user to confirm the action, then says what they answered."""
    answer = (ctx.input_responses or {}).get("confirm")
    if answer is None:
        question = types.ElicitRequest(
            params=types.ElicitRequestFormParams(
                message=f"Really {action}?",
                requested_schema={"type": "object", "properties": {"sure": {"type": "boolean"}}},
            )
        )
        return types.InputRequiredResult(input_requests={"confirm": question}, request_state=f"asked:{action}")
    if not isinstance(answer, types.ElicitResult):
        return f"not an elicitation answer: {answer}"
    return f"{answer.action} {action} {answer.content} state={ctx.request_state}"


@server.tool()
async def where(ctx: Context) -> str | types.InputRequiredResult:
    """Asks for the client's roots, then names them."""
    answer = (ctx.input_responses or {}).get("roots")
    if answer is None:
        return types.InputRequiredResult(input_requests={"roots": types.ListRootsRequest()})
    if not isinstance(answer, types.ListRootsResult):
        return f"not a roots answer: {answer}"
    return "roots: " + ", ".join(str(root.uri) for root in answer.roots)


@server.tool()
async def nag(ctx: Context) -> types.InputRequiredResult:
    """Asks again after every answer: it never has enough (a bound on rounds stops it)."""
    asked = int(ctx.request_state or "0")
    question = types.ElicitRequest(
        params=types.ElicitRequestFormParams(
            message=f"Question {asked + 1}?",
            requested_schema={"type": "object", "properties": {"ok": {"type": "boolean"}}},
        )
    )
    return types.InputRequiredResult(input_requests={"again": question}, request_state=str(asked + 1))


@server.resource("note://watched")
def watched_note() -> str:
    """A note whose updates clients may subscribe to."""
    return "a watched note"


@server.resource("note://secret")
def secret_note() -> str:
    """A note some purposes may not see (the fixture policy)."""
    return "a secret note"


@server.tool()
async def touch(uri: str, ctx: Context) -> str:
    """Tells the subscriptions/listen streams subscribed to the resource that it changed."""
    await ctx.notify_resource_updated(uri)
    return f"touched {uri}"


@server.tool()
def listening() -> int:
    """How many subscriptions/listen streams are open on this server now."""
    # The in-process bus keeps one listener per open stream (the SDK has no public count).
    return len(server._subscriptions._listeners)  # noqa: SLF001


@server.tool()
async def grow(ctx: Context) -> str:
    """Adds the tool `grown`, and says the tool list changed."""

    def grown() -> str:
        """A tool added while the server runs."""
        return "grown"

    server.add_tool(grown, name="grown")
    await ctx.notify_tools_changed()
    return "grew"


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
