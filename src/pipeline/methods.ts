// What the gateway answers in every MCP session: its name, capabilities and instructions,
// and each decided method as a run of its chain (chains.ts) on a RequestContext built once
// from the request. The JSON-RPC mechanics are mcp/server/dispatcher.ts; this method table
// is built once and shared by every session.
import {
  CallToolRequestSchema,
  CancelTaskRequestSchema,
  CompleteRequestSchema,
  GetPromptRequestSchema,
  GetTaskPayloadRequestSchema,
  GetTaskRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListTasksRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type ServerCapabilities,
  type ServerNotification,
} from '@modelcontextprotocol/sdk/types.js';
import type { Caller } from '../identity/caller.js';
import {
  SessionRpc,
  type InboundRequest,
  type Method,
  type RequestSchema,
  type ServerDescription,
  type SessionRpcOptions,
} from '../mcp/server/dispatcher.js';
import type { LoadedSession } from '../sessions/store.js';
import type { Catalog } from '../upstreams/catalog.js';
import type { ListKind } from '../upstreams/connection.js';
import { GATEWAY_VERSION } from '../util/version.js';
import type { Pipeline } from './chains.js';
import { RequestContext, type ChainMethod, type RequestParams } from './context.js';
import type { LogLevel } from './log-relay.js';
import { carrierOf, type Arrival } from '../telemetry/tracing.js';
import { GATEWAY_INSTRUCTIONS } from './stages/show-instructions.js';
import { logLevelOf } from './upstream-messages.js';

/** What the HTTP layer passes with every request of a session: who calls, and the session. */
export interface SessionRequest {
  readonly caller: Caller;
  /** The session as read from the store for this request. */
  readonly session: LoadedSession;
  /** With initialize and server/discover: the instructions the policy shows the session (stages/show-instructions.ts). */
  readonly instructions?: string | undefined;
  /** When the HTTP request arrived, was authenticated and its session loaded (traced requests). */
  readonly arrival?: Arrival | undefined;
}

export type GatewaySessionRpc = SessionRpc<SessionRequest>;
export type GatewayServerDescription = ServerDescription<SessionRequest>;

/** Where logging/setLevel puts a session's level (UpstreamMessages.setLogLevel). */
export type SetLogLevel = (sessionId: string, level: LogLevel) => void;

/** One subscriptions/listen stream (MCP 2026-07-28): what it asked for, and where it goes. */
export interface ListenStream {
  /** The lists whose list_changed it receives. */
  readonly lists: ReadonlySet<ListKind>;
  /** It holds resource subscriptions: notifications/resources/updated of its session. */
  readonly resources: boolean;
  send(notification: ServerNotification): Promise<void>;
}

/** Registers a session's listen stream where notifications for it are sent; returns its removal. */
export type Listen = (sessionId: string, stream: ListenStream) => () => void;

type Fields = Record<string, unknown>;

/** subscriptions/listen's params: checked here (the 2025-11-25 SDK has no schema for it). */
const LISTEN_SCHEMA: RequestSchema = {
  safeParse(message: unknown) {
    const params = (message as { params?: unknown }).params;
    const filter = (params as { notifications?: unknown } | undefined)?.notifications;
    if (typeof filter !== 'object' || filter === null || Array.isArray(filter)) {
      return {
        success: false,
        error: { issues: [{ path: ['params', 'notifications'], message: 'expected an object' }] },
      };
    }
    const uris = (filter as Fields).resourceSubscriptions;
    if (uris !== undefined && !(Array.isArray(uris) && uris.every((u) => typeof u === 'string'))) {
      return {
        success: false,
        error: {
          issues: [
            {
              path: ['params', 'notifications', 'resourceSubscriptions'],
              message: 'expected a list of URIs',
            },
          ],
        },
      };
    }
    return { success: true, data: { params } };
  },
};

const LIST_FLAGS: ReadonlyArray<[string, ListKind]> = [
  ['toolsListChanged', 'tools'],
  ['promptsListChanged', 'prompts'],
  ['resourcesListChanged', 'resources'],
];

/**
 * The description every session of this gateway serves (see createSessionServer).
 * logging/setLevel is answered here, not decided: it only narrows what the session gets.
 */
export function describeSessionServer(
  pipeline: Pipeline,
  setLogLevel: SetLogLevel = () => undefined,
  listen?: Listen,
): GatewayServerDescription {
  const method = (
    schema: RequestSchema,
    action: ChainMethod,
    taskAugmented = false,
  ): Method<SessionRequest> => ({
    schema,
    taskAugmented,
    handle: (params, request) => pipeline.run(contextOf(action, params, request)),
  });

  const methods = new Map<string, Method<SessionRequest>>([
    ['tools/list', method(ListToolsRequestSchema, 'tools/list')],
    ['tools/call', method(CallToolRequestSchema, 'tools/call', true)],
    ['resources/list', method(ListResourcesRequestSchema, 'resources/list')],
    [
      'resources/templates/list',
      method(ListResourceTemplatesRequestSchema, 'resources/templates/list'),
    ],
    ['resources/read', method(ReadResourceRequestSchema, 'resources/read')],
    ['prompts/list', method(ListPromptsRequestSchema, 'prompts/list')],
    ['prompts/get', method(GetPromptRequestSchema, 'prompts/get')],
    ['completion/complete', method(CompleteRequestSchema, 'completion/complete')],
    ['resources/subscribe', method(SubscribeRequestSchema, 'resources/subscribe')],
    ['resources/unsubscribe', method(UnsubscribeRequestSchema, 'resources/unsubscribe')],
    ['tasks/get', method(GetTaskRequestSchema, 'tasks/get')],
    ['tasks/result', method(GetTaskPayloadRequestSchema, 'tasks/result')],
    ['tasks/list', method(ListTasksRequestSchema, 'tasks/list')],
    ['tasks/cancel', method(CancelTaskRequestSchema, 'tasks/cancel')],
    [
      'logging/setLevel',
      {
        schema: SetLevelRequestSchema,
        handle: (params, request) => {
          const session = request.delivery?.context?.session;
          const level = logLevelOf((params as { level?: unknown } | undefined)?.level);
          if (!session || !level) throw new Error('logging/setLevel without a session or level');
          setLogLevel(session.record.id, level);
          return {};
        },
      },
    ],
  ]);
  if (listen) {
    methods.set('subscriptions/listen', {
      schema: LISTEN_SCHEMA,
      handle: (params, request) => listenStream(pipeline, listen, params as Fields, request),
    });
  }

  return {
    serverInfo: { name: 'mcpgate', version: GATEWAY_VERSION },
    // Read at each initialize: what the upstreams offer decides part of it.
    get capabilities() {
      return gatewayCapabilities(pipeline.catalog);
    },
    instructions: (request) => request?.instructions ?? GATEWAY_INSTRUCTIONS,
    methods,
  };
}

/**
 * What the gateway declares at initialize. Lists and their list_changed, and logging, always; resource
 * subscriptions, completions and tasks only when some upstream offers them (a client would
 * otherwise use a feature no upstream behind the gateway has).
 */
export function gatewayCapabilities(catalog: Catalog): ServerCapabilities {
  const capabilities: ServerCapabilities = {
    tools: { listChanged: true },
    resources: { listChanged: true },
    prompts: { listChanged: true },
    // Upstreams' log messages are relayed (log-relay.ts); the level is set here.
    logging: {},
  };
  if (catalog.someServer((c) => c.resources?.subscribe)) {
    capabilities.resources = { listChanged: true, subscribe: true };
  }
  if (catalog.someServer((c) => c.completions)) capabilities.completions = {};
  if (catalog.someServer((c) => c.tasks?.requests?.tools?.call)) {
    // tasks/list and tasks/cancel are the gateway's own (cancel needs the task's upstream).
    capabilities.tasks = { list: {}, cancel: {}, requests: { tools: { call: {} } } };
  }
  return capabilities;
}

/** The one context of this request: built here, passed through its whole chain. */
function contextOf(
  action: ChainMethod,
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

/**
 * subscriptions/listen (2026-07-28): one long-lived request whose stream carries what the
 * client opted into. Each resource subscription is decided as a resources/subscribe (and
 * each update again as it is delivered); the first message acknowledges what is honoured.
 * The stream lasts until the client closes it; its subscriptions end with it.
 */
async function listenStream(
  pipeline: Pipeline,
  listen: Listen,
  params: Fields,
  request: InboundRequest<SessionRequest>,
): Promise<unknown> {
  const session = request.delivery?.context?.session;
  if (!session) throw new Error('subscriptions/listen without a session');
  const filter = params.notifications as Fields;
  const lists = new Set<ListKind>();
  const honoured: Fields = {};
  for (const [flag, kind] of LIST_FLAGS) {
    if (filter[flag] !== true) continue;
    lists.add(kind);
    honoured[flag] = true;
  }
  const subscribed: string[] = [];
  for (const uri of (filter.resourceSubscriptions ?? []) as string[]) {
    try {
      await pipeline.run(contextOf('resources/subscribe', { uri }, request));
      subscribed.push(uri);
    } catch {
      // Refused (by the policy, or the upstream offers no subscriptions): not honoured.
    }
  }
  if (subscribed.length > 0) honoured.resourceSubscriptions = subscribed;
  // Every frame of the stream names the listen it belongs to (the spec asks it of each one).
  const send = (notification: ServerNotification): Promise<void> =>
    request.sendNotification(tagged(notification, request.id));
  await send({
    method: 'notifications/subscriptions/acknowledged',
    params: { notifications: honoured },
  } as unknown as ServerNotification);
  const remove = listen(session.record.id, {
    lists,
    resources: subscribed.length > 0,
    send,
  });
  await new Promise<void>((resolve) => request.cancellation.onCancel(() => resolve()));
  remove();
  for (const uri of subscribed) {
    await pipeline.run(contextOf('resources/unsubscribe', { uri }, request)).catch(() => undefined);
  }
  return { _meta: { [SUBSCRIPTION_ID_META]: request.id } };
}

/** Where each frame of a listen stream names the listen request (its JSON-RPC id). */
const SUBSCRIPTION_ID_META = 'io.modelcontextprotocol/subscriptionId';

/** A copy of `notification` whose `_meta` names the listen `id` (other `_meta` kept). */
function tagged(notification: ServerNotification, id: string | number): ServerNotification {
  const params = (notification.params ?? {}) as Fields;
  const meta = (params._meta ?? {}) as Fields;
  return {
    ...notification,
    params: { ...params, _meta: { ...meta, [SUBSCRIPTION_ID_META]: id } },
  } as ServerNotification;
}

/** The MCP server of one session (or of one request of another replica's session). */
export function createSessionServer(
  description: GatewayServerDescription,
  options?: SessionRpcOptions,
): GatewaySessionRpc {
  return new SessionRpc(description, options);
}
