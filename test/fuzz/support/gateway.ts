// What the JSON-RPC intake suites share: the shipped policy in front of the bench upstream
// (tools echo, filler_0001, filler_0002 as `everything`: the code-review purpose allows
// everything.echo only), raw HTTP on a keep-alive agent, the decision-log file read as it
// grows, and the generated requests with what the gateway must answer to each.
import { closeSync, openSync, readSync } from 'node:fs';
import { Agent, request } from 'node:http';
import fc from 'fast-check';

/** The only tool of the bench upstream that the shipped policy allows (code-review). */
export const ALLOWED_TOOL = 'everything__echo';
/** Bodies over this are refused with 413; the generated bodies straddle it. */
export const MAX_BODY_BYTES = 64 * 1024;
/**
 * How deep generated values nest. Within any sane configured limit: this suite checks what
 * happens to well-formed requests of every shape, not the depth bound itself.
 */
export const MAX_NESTING = 64;
export const PROTOCOL_VERSION = '2025-11-25';

export interface HttpAnswer {
  status: number;
  contentType: string;
  /** The Mcp-Session-Id header of the answer, when it has one. */
  sessionId: string | undefined;
  body: string;
}

export function makeAgent(): Agent {
  return new Agent({ keepAlive: true, maxSockets: 4 });
}

/** One POST (or DELETE) on the agent; resolves whatever HTTP answer comes back. */
export function send(
  agent: Agent,
  url: URL,
  method: 'POST' | 'DELETE',
  headers: Record<string, string>,
  body: string | undefined,
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method,
        headers:
          body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers['content-type'] ?? ''),
            sessionId: res.headers['mcp-session-id'] as string | undefined,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} got no answer within 10 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** The JSON-RPC messages of an answer: one JSON body, or the data of each SSE event. */
export function answerMessages(answer: HttpAnswer): Array<Record<string, unknown>> {
  if (answer.body === '') return [];
  if (answer.contentType.startsWith('text/event-stream')) {
    return answer.body
      .split('\n\n')
      .map((event) =>
        event
          .split('\n')
          .filter((line) => line.startsWith('data: '))
          .map((line) => line.slice(6))
          .join('\n'),
      )
      .filter((data) => data !== '')
      .map((data) => JSON.parse(data) as Record<string, unknown>);
  }
  return [JSON.parse(answer.body) as Record<string, unknown>];
}

/** The decision-log file, read from where the last read stopped. */
export class LogTail {
  private offset = 0;
  private partial = '';

  constructor(private readonly path: string) {}

  /** The complete lines written since the last call, parsed. */
  read(): Array<Record<string, unknown>> {
    const fd = openSync(this.path, 'r');
    const chunks: Buffer[] = [];
    try {
      const buffer = Buffer.alloc(64 * 1024);
      for (;;) {
        const n = readSync(fd, buffer, 0, buffer.length, this.offset);
        if (n === 0) break;
        this.offset += n;
        chunks.push(Buffer.from(buffer.subarray(0, n)));
      }
    } finally {
      closeSync(fd);
    }
    const text = this.partial + Buffer.concat(chunks).toString('utf8');
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  }
}

// ---------------------------------------------------------------------------------------
// Generated requests.

/** Strings of any code points, lone surrogates included (JSON.stringify escapes them). */
export const anyText = (maxLength = 24): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ unit: 'binary', maxLength }),
    fc.string({ unit: 'grapheme', maxLength }),
    fc.string({
      unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
    }),
  );

/** JSON values nesting up to `depth` levels, with a chain as deep as `depth` now and then. */
export function nestedValue(depth: number): fc.Arbitrary<unknown> {
  const chain = fc
    .tuple(fc.integer({ min: 1, max: depth }), fc.boolean(), anyText(8))
    .map(([levels, arrays, leaf]) => {
      let value: unknown = leaf;
      for (let i = 0; i < levels; i++) value = arrays ? [value] : { [`k${i % 3}`]: value };
      return value;
    });
  return fc.oneof(
    { weight: 3, arbitrary: fc.jsonValue({ maxDepth: Math.min(depth, 6) }) },
    { weight: 1, arbitrary: chain },
  );
}

/** Look-alikes of the allowed tool's name: one character changed, added or dropped. */
export const lookAlike = (name: string): fc.Arbitrary<string> =>
  fc
    .tuple(
      fc.nat({ max: name.length }),
      fc.constantFrom('replace', 'insert', 'drop'),
      fc.oneof(
        fc.constantFrom('\u043e', '\u0435', '\u200b', '\u00a0', '\u0000', '\ufeff', ' ', '_', 'O'),
        fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
      ),
    )
    .map(([at, how, c]) => {
      if (how === 'insert') return name.slice(0, at) + c + name.slice(at);
      if (how === 'drop') return name.slice(0, at) + name.slice(at + 1);
      return name.slice(0, at) + c + name.slice(at + 1);
    });

export const toolName: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constant(ALLOWED_TOOL) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'everything__filler_0001',
      'everything__get-env',
      'everything.echo',
      'EVERYTHING__ECHO',
      'everything__echo ',
      ' everything__echo',
      'everything___echo',
      '__echo',
      'echo',
      'filesystem__read_file',
    ),
  },
  { weight: 3, arbitrary: lookAlike(ALLOWED_TOOL) },
  { weight: 1, arbitrary: anyText() },
);

export const requestId: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.integer() },
  { weight: 3, arbitrary: anyText(40) },
  { weight: 1, arbitrary: fc.constantFrom(0, -1, Number.MAX_SAFE_INTEGER, -0, 1e300, '') },
  // Not JSON-RPC ids: refused as malformed messages.
  {
    weight: 1,
    arbitrary: fc.oneof(fc.constant(null), fc.double(), fc.boolean(), fc.object({ maxDepth: 1 })),
  },
);

const METHODS = [
  'tools/call',
  'tools/list',
  'resources/read',
  'resources/list',
  'resources/templates/list',
  'prompts/get',
  'prompts/list',
  'ping',
  'initialize',
  'completion/complete',
  'logging/setLevel',
  'notifications/cancelled',
  'notifications/initialized',
] as const;

const meta = fc.option(
  fc.dictionary(
    fc.oneof(fc.constantFrom('progressToken', 'mcpgate/purpose'), anyText(12)),
    fc.jsonValue({ maxDepth: 2 }),
    { maxKeys: 3 },
  ),
  { nil: undefined },
);

/** Params as the method expects them, more or less. */
function paramsFor(method: string): fc.Arbitrary<unknown> {
  switch (method) {
    case 'tools/call':
      return fc.record(
        {
          name: toolName,
          arguments: fc.oneof(
            fc.record({ text: anyText(64) }),
            fc.dictionary(anyText(8), nestedValue(MAX_NESTING), { maxKeys: 4 }),
            nestedValue(4),
          ),
          _meta: meta,
        },
        { requiredKeys: ['name'] },
      );
    case 'resources/read':
      return fc.record({
        uri: fc.oneof(
          fc.constant('mcpgate://everything/demo://resource/1'),
          anyText(60).map((t) => `mcpgate://everything/${t}`),
          anyText(60),
        ),
      });
    case 'prompts/get':
      return fc.record(
        { name: fc.oneof(fc.constant('everything__simple'), anyText()), arguments: meta },
        { requiredKeys: ['name'] },
      );
    case 'initialize':
      return fc.record(
        {
          protocolVersion: fc.oneof(fc.constant(PROTOCOL_VERSION), anyText(12)),
          capabilities: fc.oneof(fc.constant({}), fc.jsonValue({ maxDepth: 3 })),
          clientInfo: fc.record({ name: anyText(), version: anyText(8) }),
          _meta: fc.option(
            fc.record({ 'mcpgate/purpose': fc.oneof(fc.constant('code-review'), anyText(12)) }),
            { nil: undefined },
          ),
        },
        { requiredKeys: ['protocolVersion', 'capabilities', 'clientInfo'] },
      );
    case 'notifications/cancelled':
      return fc.record({ requestId, reason: fc.option(anyText(), { nil: undefined }) });
    default:
      return fc.option(fc.dictionary(anyText(8), fc.jsonValue({ maxDepth: 3 })), {
        nil: undefined,
      });
  }
}

/** A JSON-RPC id (the first four kinds) or a value that is not one. */
function idKey(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || !('id' in value)) return value;
  return JSON.stringify(value.id);
}

/** How a well-formed message is spoiled, now and then. */
const SPOILERS = [
  'none',
  'none',
  'none',
  'none',
  'none',
  'none',
  'no-id',
  'extra-key',
  'bad-jsonrpc',
  'bad-params',
] as const;

/** A message: a request (often well formed), a notification, a response, or any JSON. */
export const message: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.constantFrom(...METHODS).chain((method) =>
      fc
        .tuple(
          requestId,
          fc.oneof({ weight: 9, arbitrary: fc.constant(method) }, anyText()),
          fc.option(paramsFor(method), { nil: undefined, freq: 8 }),
          fc.constantFrom(...SPOILERS),
          fc.jsonValue({ maxDepth: 2 }),
        )
        .map(([id, name, params, spoiler, junk]) => {
          const notification = method.startsWith('notifications/') || spoiler === 'no-id';
          const out: Record<string, unknown> = { jsonrpc: '2.0', method: name };
          if (!notification) out.id = id;
          if (params !== undefined) out.params = params;
          if (spoiler === 'extra-key') out.extra = junk;
          if (spoiler === 'bad-jsonrpc') out.jsonrpc = junk;
          if (spoiler === 'bad-params') out.params = junk;
          return out;
        }),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.record({ jsonrpc: fc.constant('2.0'), id: requestId, result: fc.jsonValue() }),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

/**
 * A batch: ids unique within it (a duplicate id gets one answer for two requests), and no
 * cancellation of a request of the same batch (a cancelled request gets no answer): the
 * intake's check expects one answer per request.
 */
const batch: fc.Arbitrary<unknown[]> = fc
  .uniqueArray(message, { minLength: 1, maxLength: 4, selector: idKey })
  .map((messages) => {
    const ids = new Set(messages.map(idKey));
    return messages.filter((m) => {
      const params = m as { method?: unknown; params?: { requestId?: unknown } } | null;
      return !(
        params?.method === 'notifications/cancelled' &&
        ids.has(JSON.stringify(params.params?.requestId))
      );
    });
  });

/** One POST body: a message or a batch, as JSON text; sometimes cut short or padded past the limit. */
export const body: fc.Arbitrary<{ text: string; parsed: unknown }> = fc
  .tuple(
    fc.oneof({ weight: 5, arbitrary: message }, batch),
    fc.oneof(
      {
        weight: 12,
        arbitrary: fc.constant<['whole'] | ['cut', number] | ['pad', number]>(['whole']),
      },
      { weight: 1, arbitrary: fc.nat().map((n) => ['cut', n] as ['cut', number]) },
      {
        weight: 1,
        arbitrary: fc
          .integer({ min: MAX_BODY_BYTES - 512, max: MAX_BODY_BYTES + 512 })
          .map((n) => ['pad', n] as ['pad', number]),
      },
    ),
  )
  .map(([value, form]) => {
    if (form[0] === 'pad' && typeof value === 'object' && value !== null) {
      // A body of about form[1] bytes: the same message with a long value in it.
      const text = JSON.stringify(value) ?? 'null';
      const fill = Math.max(0, form[1] - text.length - 16);
      const padded: unknown = Array.isArray(value)
        ? [...(value as unknown[]), 'x'.repeat(fill)]
        : { ...(value as Record<string, unknown>), pad: 'x'.repeat(fill) };
      return { text: JSON.stringify(padded), parsed: padded };
    }
    const text = JSON.stringify(value) ?? 'null';
    if (form[0] === 'cut' && text.length > 1) {
      const cut = text.slice(0, form[1] % text.length);
      return { text: cut, parsed: undefined };
    }
    return { text, parsed: JSON.parse(text) as unknown };
  });
