// The MCP Server for one client session. The SDK requires one Server and one transport per
// session; each handler turns the SDK's request into a call on the pipeline.
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
import type { Session } from '../sessions/session.js';
import { GATEWAY_VERSION } from '../util/version.js';

export interface SessionServerDeps {
  pipeline: Pipeline;
  gatewayId: string;
  terminate: (sessionId: string, reason: string) => void;
}

export function createSessionServer(session: Session, deps: SessionServerDeps): Server {
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
    const identity = extra.authInfo?.extra?.identity as Identity | undefined;
    // The HTTP layer authenticates every request before it reaches here.
    if (!identity) throw new Error('request reached the MCP layer without an identity');
    const version = extra.requestInfo?.headers['mcp-protocol-version'];
    return {
      identity,
      session,
      protocolVersion: typeof version === 'string' ? version : undefined,
      gateway,
      requestId: extra.requestId,
      remoteAddress: extra.authInfo?.extra?.remoteAddress as string | undefined,
      terminateRequested: false,
    };
  };

  /** Runs a pipeline step; a terminate_session obligation takes effect after the response. */
  const run = async <T>(extra: Extra, step: (ctx: CallContext) => T | Promise<T>): Promise<T> => {
    const ctx = context(extra);
    try {
      return await step(ctx);
    } finally {
      if (ctx.terminateRequested) deps.terminate(session.id, 'terminated by policy obligation');
    }
  };

  server.oninitialized = () => {
    const info = server.getClientVersion();
    if (info) session.clientInfo = { name: info.name, version: info.version };
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
