// What the gateway answers in every MCP session: its name, capabilities and instructions,
// and each decided method as a run of its chain (chains.ts) on a RequestContext built once
// from the request. The JSON-RPC mechanics are mcp/server/dispatcher.ts; this method table
// is built once and shared by every session.
import {
  CallToolRequestSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { Caller } from '../identity/caller.js';
import {
  SessionRpc,
  type InboundRequest,
  type Method,
  type RequestSchema,
  type ServerDescription,
} from '../mcp/server/dispatcher.js';
import type { PolicyAction } from '../policy/input.js';
import type { LoadedSession } from '../sessions/store.js';
import { GATEWAY_VERSION } from '../util/version.js';
import type { Pipeline } from './chains.js';
import { RequestContext, type RequestParams } from './context.js';
import { carrierOf, type Arrival } from '../telemetry/tracing.js';
import { GATEWAY_INSTRUCTIONS } from './stages/show-instructions.js';

/** What the HTTP layer passes with every request of a session: who calls, and the session. */
export interface SessionRequest {
  readonly caller: Caller;
  /** The session as read from the store for this request. */
  readonly session: LoadedSession;
  /** With initialize only: the instructions session/open chose (stages/show-instructions.ts). */
  readonly instructions?: string | undefined;
  /** When the HTTP request arrived, was authenticated and its session loaded (traced requests). */
  readonly arrival?: Arrival | undefined;
}

export type GatewaySessionRpc = SessionRpc<SessionRequest>;
export type GatewayServerDescription = ServerDescription<SessionRequest>;

/** The description every session of this gateway serves (see createSessionServer). */
export function describeSessionServer(pipeline: Pipeline): GatewayServerDescription {
  const method = (schema: RequestSchema, action: PolicyAction): Method<SessionRequest> => ({
    schema,
    handle: (params, request) => pipeline.run(contextOf(action, params, request)),
  });

  const methods = new Map<string, Method<SessionRequest>>([
    ['tools/list', method(ListToolsRequestSchema, 'tools/list')],
    ['tools/call', method(CallToolRequestSchema, 'tools/call')],
    ['resources/list', method(ListResourcesRequestSchema, 'resources/list')],
    [
      'resources/templates/list',
      method(ListResourceTemplatesRequestSchema, 'resources/templates/list'),
    ],
    ['resources/read', method(ReadResourceRequestSchema, 'resources/read')],
    ['prompts/list', method(ListPromptsRequestSchema, 'prompts/list')],
    ['prompts/get', method(GetPromptRequestSchema, 'prompts/get')],
  ]);

  return {
    serverInfo: { name: 'mcpgate', version: GATEWAY_VERSION },
    capabilities: {
      tools: { listChanged: true },
      resources: { listChanged: true },
      prompts: { listChanged: true },
    },
    instructions: (request) => request?.instructions ?? GATEWAY_INSTRUCTIONS,
    methods,
  };
}

/** The one context of this request: built here, passed through its whole chain. */
function contextOf(
  action: PolicyAction,
  params: unknown,
  request: InboundRequest<SessionRequest>,
): RequestContext {
  const delivery = request.delivery;
  const facts = delivery?.context;
  // The HTTP layer authenticates and loads the session before the MCP layer runs.
  if (!facts) throw new Error('request reached the MCP layer without an identity and session');
  const headers = delivery.requestInfo?.headers;
  const version = headers?.['mcp-protocol-version'];
  const meta = (params as RequestParams | undefined)?._meta;
  return new RequestContext(
    action,
    request.id,
    facts.caller,
    facts.session,
    typeof version === 'string' ? version : facts.session.record.protocolVersion,
    params ?? {},
    request,
    Date.now(),
    // W3C trace context: the request's _meta first (the MCP conventions), else its headers.
    carrierOf(meta) ?? carrierOf(headers),
    facts.arrival,
  );
}

/** The MCP server of one session (or of one request of another replica's session). */
export function createSessionServer(description: GatewayServerDescription): GatewaySessionRpc {
  return new SessionRpc(description);
}
