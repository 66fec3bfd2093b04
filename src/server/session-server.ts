// The MCP Server for one client session. The SDK requires one Server and one transport per
// session; each handler turns the SDK's request into a call on the pipeline, with the
// session as the HTTP layer read it from the store for this request.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { Identity } from '../identity/identity.js';
import type { CallContext, Extra, Pipeline } from '../pipeline/pipeline.js';
import type { LoadedSession } from '../sessions/store.js';
import { GATEWAY_VERSION } from '../util/version.js';

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

export function createSessionServer(deps: SessionServerDeps): Server {
  const server = new Server(
    { name: 'mcpgate', version: GATEWAY_VERSION },
    {
      capabilities: {
        tools: { listChanged: true },
        resources: { listChanged: true },
        prompts: { listChanged: true },
      },
      instructions:
        "mcpgate: every request is decided by your organisation's policy; denied calls say why.",
    },
  );
  const gateway = { id: deps.gatewayId, version: GATEWAY_VERSION };

  const context = (extra: Extra): CallContext => {
    const facts = extra.authInfo?.extra as RequestExtra | undefined;
    // The HTTP layer authenticates and loads the session before the MCP layer runs.
    if (!facts?.session)
      throw new Error('request reached the MCP layer without an identity and session');
    const version = extra.requestInfo?.headers['mcp-protocol-version'];
    return {
      identity: facts.identity,
      session: facts.session,
      protocolVersion: typeof version === 'string' ? version : facts.session.record.protocolVersion,
      gateway,
      requestId: extra.requestId,
      remoteAddress: facts.remoteAddress,
      subjectToken: facts.subjectToken ?? '',
      terminateRequested: false,
    };
  };

  /** Runs a pipeline step; a terminate_session obligation takes effect after the response. */
  const run = async <T>(extra: Extra, step: (ctx: CallContext) => T | Promise<T>): Promise<T> => {
    const ctx = context(extra);
    try {
      return await step(ctx);
    } finally {
      if (ctx.terminateRequested)
        deps.terminate(ctx.session.record.id, 'terminated by policy obligation');
    }
  };

  const { pipeline } = deps;
  server.setRequestHandler(ListToolsRequestSchema, (_req, extra) =>
    run(extra, (ctx) => ({ tools: pipeline.listTools(ctx) })),
  );
  server.setRequestHandler(CallToolRequestSchema, (req, extra) =>
    run(extra, (ctx) => pipeline.callTool(ctx, req.params, extra)),
  );
  server.setRequestHandler(ListResourcesRequestSchema, (_req, extra) =>
    run(extra, (ctx) => ({ resources: pipeline.listResources(ctx) })),
  );
  server.setRequestHandler(ListResourceTemplatesRequestSchema, (_req, extra) =>
    run(extra, (ctx) => ({ resourceTemplates: pipeline.listResourceTemplates(ctx) })),
  );
  server.setRequestHandler(ReadResourceRequestSchema, (req, extra) =>
    run(extra, (ctx) => pipeline.readResource(ctx, req.params, extra)),
  );
  server.setRequestHandler(ListPromptsRequestSchema, (_req, extra) =>
    run(extra, (ctx) => ({ prompts: pipeline.listPrompts(ctx) })),
  );
  server.setRequestHandler(GetPromptRequestSchema, (req, extra) =>
    run(extra, (ctx) => pipeline.getPrompt(ctx, req.params, extra)),
  );
  return server;
}
