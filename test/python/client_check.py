"""Drives mcpgate with the Python MCP SDK (mcp 2.3.0, test/python/requirements.txt) as a
real client would, against the conformance fixture (test/fixtures/servers/conformance-server.ts)
behind the gateway as one upstream with `prefix: ""`.

Usage: client_check.py URL     (the bearer token in the environment variable MCPGATE_TOKEN)

Each check runs in a client connection of its own, so one that breaks its connection cannot
take others along, and prints one JSON line: {"check", "passed", "detail"}. The exit status
is 0 when every check ran, whatever their outcomes: test/e2e/python-client.test.ts judges
them against its list of expected failures.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import mcp_types as types
from mcp import Client
from mcp.client.context import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

# The fixture is the one upstream, with prefix "": its resource addresses are shown as it gives them.
FIXTURE = ""


class CheckFailed(Exception):
    """A check saw something other than what it expects."""


def expect(condition: bool, detail: str) -> None:
    if not condition:
        raise CheckFailed(detail)


def text_of(result: types.CallToolResult | types.GetPromptResult) -> str:
    if isinstance(result, types.GetPromptResult):
        blocks = [message.content for message in result.messages]
    else:
        blocks = list(result.content)
    return " ".join(block.text for block in blocks if isinstance(block, types.TextContent))


class Session:
    """What a check may set on its client, and what its callbacks saw."""

    def __init__(self) -> None:
        self.sampled: list[types.CreateMessageRequestParams] = []
        self.elicited: list[types.ElicitRequestParams] = []
        self.logs: list[types.LoggingMessageNotificationParams] = []
        self.roots_asked = 0

    async def sampling(
        self, _context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        self.sampled.append(params)
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text="sampled by the Python client"),
            model="test-model",
            stop_reason="endTurn",
        )

    async def elicitation(
        self, _context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult:
        self.elicited.append(params)
        return types.ElicitResult(action="accept", content={"username": "py", "email": "py@example.com"})

    async def logging(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append(params)

    async def roots(self, _context: ClientRequestContext) -> types.ListRootsResult:
        self.roots_asked += 1
        return types.ListRootsResult(roots=[types.Root(uri="file:///tmp/python-client-root", name="py")])


def connect(url: str, token: str, session: Session) -> Client:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    return Client(
        # The default mode, as users run it: server/discover first, then initialize.
        streamable_http_client(url, http_client=http),
        sampling_callback=session.sampling,
        elicitation_callback=session.elicitation,
        logging_callback=session.logging,
        list_roots_callback=session.roots,
        client_info=types.Implementation(name="mcpgate-python-check", version="1.0.0"),
    )


# ---- The checks: each gets a connected client and the callbacks' record ----


async def initialize(client: Client, _session: Session) -> str:
    expect(client.server_info is not None and client.server_info.name == "mcpgate", f"server {client.server_info}")
    return f"protocol {client.protocol_version}"


async def tools(client: Client, _session: Session) -> str:
    names = [tool.name for tool in (await client.list_tools()).tools]
    expect("test_simple_text" in names, f"tools/list: {names}")
    result = await client.call_tool("test_simple_text", {})
    expect(not result.is_error, f"tools/call: {result}")
    expect(text_of(result) == "This is a simple text response for testing.", f"tools/call: {result}")
    failed = await client.call_tool("test_error_handling", {})
    expect(failed.is_error is True, f"a tool error came back as {failed}")
    return f"{len(names)} tools"


async def resources(client: Client, _session: Session) -> str:
    uris = [str(resource.uri) for resource in (await client.list_resources()).resources]
    static = f"{FIXTURE}test://static-text"
    expect(static in uris, f"resources/list: {uris}")
    read = await client.read_resource(static)
    contents = read.contents[0]
    expect(
        isinstance(contents, types.TextResourceContents) and "static text resource" in contents.text,
        f"resources/read: {read}",
    )
    templates = [t.uri_template for t in (await client.list_resource_templates()).resource_templates]
    expect(f"{FIXTURE}test://template/{{id}}/data" in templates, f"resources/templates/list: {templates}")
    filled = (await client.read_resource(f"{FIXTURE}test://template/7/data")).contents[0]
    expect(
        isinstance(filled, types.TextResourceContents) and json.loads(filled.text).get("id") == "7",
        f"template read: {filled}",
    )
    return f"{len(uris)} resources, {len(templates)} templates"


async def prompts(client: Client, _session: Session) -> str:
    names = [prompt.name for prompt in (await client.list_prompts()).prompts]
    expect("test_prompt_with_arguments" in names, f"prompts/list: {names}")
    prompt = await client.get_prompt("test_prompt_with_arguments", {"arg1": "one", "arg2": "two"})
    expect("arg1='one', arg2='two'" in text_of(prompt), f"prompts/get: {prompt}")
    return f"{len(names)} prompts"


async def progress(client: Client, _session: Session) -> str:
    seen: list[float] = []

    async def on_progress(value: float, _total: float | None, _message: str | None) -> None:
        seen.append(value)

    result = await client.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
    expect(not result.is_error, f"tools/call: {result}")
    expect(seen == [0, 50, 100], f"progress seen: {seen}")
    return f"progress {seen}"


async def sampling(client: Client, session: Session) -> str:
    result = await client.call_tool("test_sampling", {"prompt": "Say hello"})
    expect(len(session.sampled) == 1, f"the sampling callback ran {len(session.sampled)} times; result {text_of(result)!r}")
    expect("sampled by the Python client" in text_of(result), f"tools/call: {result}")
    return "sampled once"


async def elicitation(client: Client, session: Session) -> str:
    result = await client.call_tool("test_elicitation", {"message": "Who are you?"})
    expect(len(session.elicited) == 1, f"the elicitation callback ran {len(session.elicited)} times; result {text_of(result)!r}")
    expect("py@example.com" in text_of(result), f"tools/call: {result}")
    return "elicited once"


async def roots(client: Client, _session: Session) -> str:
    # The gateway may answer from its own configuration instead of asking this client (a
    # client's roots must not widen a server's sandbox): an answer is what counts here.
    result = await client.call_tool("test_roots", {})
    expect(not result.is_error and text_of(result).startswith("Roots: "), f"tools/call: {result}")
    return text_of(result)


async def logging_messages(client: Client, session: Session) -> str:
    await client.set_logging_level("debug")
    await client.call_tool("test_tool_with_logging", {})
    expect(len(session.logs) >= 3, f"{len(session.logs)} log messages")
    return f"{len(session.logs)} log messages"


async def completion(client: Client, _session: Session) -> str:
    result = await client.complete(
        types.PromptReference(type="ref/prompt", name="test_prompt_with_arguments"),
        {"name": "arg1", "value": "pa"},
    )
    expect("paris" in result.completion.values, f"completion/complete: {result}")
    return f"values {result.completion.values}"


async def subscriptions(client: Client, _session: Session) -> str:
    await client.subscribe_resource(f"{FIXTURE}test://watched-resource")
    await client.unsubscribe_resource(f"{FIXTURE}test://watched-resource")
    return "subscribed and unsubscribed"


async def cancel_request(client: Client, _session: Session) -> str:
    # Abandoning the call sends notifications/cancelled; the session must go on working.
    with anyio.move_on_after(0.5):
        await client.call_tool("test_slow", {"ms": 10_000})
    expect(text_of(await client.call_tool("test_simple_text", {})) != "", "no answer after the cancel")
    return "cancelled; the next call was answered"


CHECKS: dict[str, Callable[[Client, Session], Awaitable[str]]] = {
    "initialize": initialize,
    "tools": tools,
    "resources": resources,
    "prompts": prompts,
    "progress": progress,
    "sampling": sampling,
    "elicitation": elicitation,
    "roots": roots,
    "logging": logging_messages,
    "completion": completion,
    "subscriptions": subscriptions,
    # Passes only when the client also ends cleanly after it (see run_check).
    "cancel-then-clean-exit": cancel_request,
}


class ErrorLogs(logging.Handler):
    """Errors the SDK logs (a crashed task it caught, a message it could not deliver)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}")


def leaves(error: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, or the exception itself."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


async def run_check(name: str, url: str, token: str) -> dict[str, Any]:
    """Runs one check in its own connection. Closing the connection is part of the check:
    an exception (or an error the SDK logs) on the way out fails it."""
    check = CHECKS[name]
    errors = ErrorLogs()
    logging.getLogger("mcp").addHandler(errors)
    session = Session()
    detail = ""
    try:
        with anyio.fail_after(20):
            async with connect(url, token, session) as client:
                detail = await check(client, session)
    except Exception as error:  # the SDK's task groups wrap what a check raises in groups
        failures = leaves(error)
        if all(isinstance(leaf, CheckFailed) for leaf in failures):
            return {"check": name, "passed": False, "detail": "; ".join(map(str, failures))}
        return {
            "check": name,
            "passed": False,
            "detail": "; ".join(f"{type(leaf).__name__}: {leaf}" for leaf in failures),
            "trace": traceback.format_exception(error)[-4:],
        }
    finally:
        logging.getLogger("mcp").removeHandler(errors)
    if errors.records:
        return {"check": name, "passed": False, "detail": f"the SDK logged: {errors.records}"}
    return {"check": name, "passed": True, "detail": detail}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--check", action="append", choices=list(CHECKS), help="run only these")
    args = parser.parse_args()
    token = os.environ.get("MCPGATE_TOKEN")
    if not token:
        sys.exit("client_check: set MCPGATE_TOKEN to a bearer token for the gateway")
    for name in args.check or CHECKS:
        print(json.dumps(await run_check(name, args.url, token)), flush=True)


if __name__ == "__main__":
    anyio.run(main)
