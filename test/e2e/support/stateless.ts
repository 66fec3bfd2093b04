// One raw MCP 2026-07-28 request, as a stateless client sends it: the envelope in
// params._meta, the version, method and name in headers, no Mcp-Session-Id.
export const STATELESS_VERSION = '2026-07-28';

export interface StatelessAnswer {
  status: number;
  body: {
    result?: Record<string, unknown>;
    error?: { code: number; message: string; data?: unknown };
  };
}

let nextId = 1;

/** The POST of one 2026-07-28 request, unread: for streams (subscriptions/listen). */
export function postStateless(
  mcpUrl: string,
  token: string,
  method: string,
  params: Record<string, unknown>,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<Response> {
  const name = (params.name ?? params.uri) as string | undefined;
  return fetch(mcpUrl, {
    method: 'POST',
    ...(signal === undefined ? {} : { signal }),
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': STATELESS_VERSION,
      'mcp-method': method,
      ...(name === undefined ? {} : { 'mcp-name': name }),
      ...headers,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: nextId++,
      method,
      params: {
        ...params,
        _meta: {
          'io.modelcontextprotocol/protocolVersion': STATELESS_VERSION,
          'io.modelcontextprotocol/clientCapabilities': { elicitation: { form: {} } },
          'io.modelcontextprotocol/clientInfo': { name: 'e2e-stateless', version: '1.0.0' },
        },
      },
    }),
  });
}

export async function sendStateless(
  mcpUrl: string,
  token: string,
  method: string,
  params: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<StatelessAnswer> {
  const response = await postStateless(mcpUrl, token, method, params, headers);
  return { status: response.status, body: (await response.json()) as StatelessAnswer['body'] };
}

/** A tools/call result's text blocks (other blocks by their type), joined by spaces. */
export function textOfResult(result: Record<string, unknown> | undefined): string {
  const content = (result?.content ?? []) as Array<{ type: string; text?: string }>;
  return content.map((block) => block.text ?? block.type).join(' ');
}
