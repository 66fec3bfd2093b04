// What the gateway answers in every MCP session: its name, capabilities and instructions,
// and each method it serves as a call on the pipeline, with the session as the HTTP layer
// read it from the store for this request. The JSON-RPC mechanics are session-rpc.ts; the
// method table is built once and shared by every session.
import {
  CallToolRequestSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
  type CallToolRequest,
  type GetPromptRequest,
  type ReadResourceRequest,
} from '@modelcontextprotocol/sdk/types.js';
import type { Identity } from '../identity/identity.js';
import type { CallContext, Pipeline } from './pipeline.js';
import type { LoadedSession } from '../sessions/store.js';
import { GATEWAY_VERSION } from '../util/version.js';
import {
  SessionRpc,
  type InboundRequest,
  type Method,
  type RequestSchema,
  type ServerDescription,
} from '../mcp/server/dispatcher.js';

export interface SessionServerDeps {
  pipeline: Pipeline;
  gatewayId: string;
  /** Ends a session everywhere (obligation terminate_session). */
  terminate: (sessionId: string, reason: string) => void;
}

/** What the HTTP layer attaches to every authenticated request (authInfo.extra). */
export interface RequestExtra {
  identity: Identity;
  remoteAddress: string | undefined;
  session?: LoadedSession;
  /** The caller's own token (non-enumerable; only the credential broker reads it). */
  readonly subjectToken?: string;
}

/** One pipeline step: what a method does with its context, params and request. */
type Step<P> = (
  pipeline: Pipeline,
  ctx: CallContext,
  params: P,
  request: InboundRequest,
) => unknown;

const INSTRUCTIONS =
  "mcpgate: every request is decided by your organisation's policy; denied calls say why.";

/** The description every session of this gateway serves (see createSessionServer). */
export function describeSessionServer(deps: SessionServerDeps): ServerDescription {
  const gateway = { id: deps.gatewayId, version: GATEWAY_VERSION };
  const { pipeline } = deps;

  const context = (request: InboundRequest): CallContext => {
    const facts = request.info?.authInfo?.extra as RequestExtra | undefined;
    // The HTTP layer authenticates and loads the session before the MCP layer runs.
    if (!facts?.session)
      throw new Error('request reached the MCP layer without an identity and session');
    const version = request.info?.requestInfo?.headers['mcp-protocol-version'];
    return {
      identity: facts.identity,
      session: facts.session,
      protocolVersion: typeof version === 'string' ? version : facts.session.record.protocolVersion,
      gateway,
      requestId: request.id,
      remoteAddress: facts.remoteAddress,
      subjectToken: facts.subjectToken ?? '',
      terminateRequested: false,
    };
  };

  /** Runs a pipeline step; a terminate_session obligation takes effect after the response. */
  const method = <P>(schema: RequestSchema, step: Step<P>): Method => ({
    schema,
    handle: async (params, request) => {
      const ctx = context(request);
      try {
        return await step(pipeline, ctx, params as P, request);
      } finally {
        if (ctx.terminateRequested)
          deps.terminate(ctx.session.record.id, 'terminated by policy obligation');
      }
    },
  });

  const methods = new Map<string, Method>([
    ['tools/list', method(ListToolsRequestSchema, (p, ctx) => ({ tools: p.listTools(ctx) }))],
    [
      'tools/call',
      method<CallToolRequest['params']>(CallToolRequestSchema, (p, ctx, params, request) =>
        p.callTool(ctx, params, request),
      ),
    ],
    [
      'resources/list',
      method(ListResourcesRequestSchema, (p, ctx) => ({ resources: p.listResources(ctx) })),
    ],
    [
      'resources/templates/list',
      method(ListResourceTemplatesRequestSchema, (p, ctx) => ({
        resourceTemplates: p.listResourceTemplates(ctx),
      })),
    ],
    [
      'resources/read',
      method<ReadResourceRequest['params']>(ReadResourceRequestSchema, (p, ctx, params, request) =>
        p.readResource(ctx, params, request),
      ),
    ],
    [
      'prompts/list',
      method(ListPromptsRequestSchema, (p, ctx) => ({ prompts: p.listPrompts(ctx) })),
    ],
    [
      'prompts/get',
      method<GetPromptRequest['params']>(GetPromptRequestSchema, (p, ctx, params, request) =>
        p.getPrompt(ctx, params, request),
      ),
    ],
  ]);

  return {
    serverInfo: { name: 'mcpgate', version: GATEWAY_VERSION },
    capabilities: {
      tools: { listChanged: true },
      resources: { listChanged: true },
      prompts: { listChanged: true },
    },
    instructions: INSTRUCTIONS,
    methods,
  };
}

/** The MCP server of one session (or of one request of another replica's session). */
export function createSessionServer(description: ServerDescription): SessionRpc {
  return new SessionRpc(description);
}
