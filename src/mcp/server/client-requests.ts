// The requests the gateway sends to clients (sampling, elicitation, roots on behalf of an
// upstream) that wait for the client's answer, for the whole process. A client answers with
// a POST of its own, which this process may serve with the session's own transport or with
// one made for that request alone (a session another replica opened), so what is awaited is
// kept here, by session, not in one transport. Ids carry a random per-process prefix: an
// answer that reaches another replica is unknown there, never taken for a request of its own.
import { randomBytes } from 'node:crypto';
import type { RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { Cancellation } from '../../util/cancellation.js';
import { McpgateError } from '../../util/errors.js';

type Fields = Record<string, unknown>;

/** How many requests to one session's client may wait for their answers at once. */
export const MAX_CLIENT_REQUESTS_PER_SESSION = 16;

/**
 * The longest the gateway waits for a client's answer. A person may take minutes to fill in
 * a form; the upstream's own timeout usually ends the wait first (it cancels its request).
 */
export const CLIENT_REQUEST_TIMEOUT_MS = 10 * 60 * 1000;

/** The client did not answer: it timed out, the request was cancelled, or the session closed. */
export class ClientRequestError extends McpgateError {
  static override readonly code = 'ERR_CLIENT_REQUEST';
}

/** The client answered with a JSON-RPC error: its own code (`rpcCode`), message and data. */
export class ClientRpcError extends McpgateError {
  static override readonly code = 'ERR_CLIENT_RPC';

  constructor(
    readonly rpcCode: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

interface Waiting {
  readonly sessionId: string;
  readonly method: string;
  readonly resolve: (result: Fields) => void;
  readonly reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** A request opened for one client: its id, and its answer once the client gives it. */
export interface OpenClientRequest {
  readonly id: string;
  readonly answer: Promise<Fields>;
}

export class ClientRequests {
  private readonly prefix = `mcpgate-${randomBytes(6).toString('base64url')}-`;
  private next = 0;
  /** By session, then by request id. */
  private readonly waiting = new Map<string, Map<string, Waiting>>();

  constructor(private readonly timeoutMs = CLIENT_REQUEST_TIMEOUT_MS) {}

  /**
   * Opens a request to a session's client. Rejects at once when the session already has
   * MAX_CLIENT_REQUESTS_PER_SESSION waiting. `cancellation` ends the wait (the caller tells
   * the client).
   */
  open(sessionId: string, method: string, cancellation?: Cancellation): OpenClientRequest {
    let bySession = this.waiting.get(sessionId);
    if ((bySession?.size ?? 0) >= MAX_CLIENT_REQUESTS_PER_SESSION) {
      throw new ClientRequestError(
        `the client of this session already has ${MAX_CLIENT_REQUESTS_PER_SESSION} requests of the gateway to answer; ${method} is refused until it answers some`,
      );
    }
    if (!bySession) this.waiting.set(sessionId, (bySession = new Map<string, Waiting>()));
    const id = `${this.prefix}${this.next++}`;
    const waits = bySession;
    const answer = new Promise<Fields>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          this.fail(
            sessionId,
            id,
            new ClientRequestError(
              `the client did not answer ${method} within ${Math.round(this.timeoutMs / 1000)} s`,
            ),
          ),
        this.timeoutMs,
      );
      timer.unref();
      waits.set(id, { sessionId, method, resolve, reject, timer });
    });
    cancellation?.onCancel((reason) =>
      this.fail(
        sessionId,
        id,
        new ClientRequestError(`${method} was cancelled: ${String(reason)}`),
      ),
    );
    return { id, answer };
  }

  /** Whether the session's client owes an answer to this id. */
  awaits(sessionId: string, id: RequestId): boolean {
    return typeof id === 'string' && this.waiting.get(sessionId)?.has(id) === true;
  }

  /**
   * The session's client answered: true when the id was awaited (its request now settles).
   * An answer to anything else, another session's request included, changes nothing.
   */
  settle(
    sessionId: string,
    id: RequestId,
    answer: { result: Fields } | { error: { code: number; message: string; data?: unknown } },
  ): boolean {
    const waiting = this.take(sessionId, id);
    if (!waiting) return false;
    if ('result' in answer) waiting.resolve(answer.result);
    else {
      // SDK clients put "MCP error <code>: " in front; the upstream's SDK adds its own.
      const { code, message, data } = answer.error;
      waiting.reject(new ClientRpcError(code, message.replace(/^(MCP error -?\d+: )+/, ''), data));
    }
    return true;
  }

  /** Fails one waiting request (it timed out, was cancelled, or could not be sent). */
  fail(sessionId: string, id: string, err: Error): void {
    this.take(sessionId, id)?.reject(err);
  }

  /** The session is gone: everything it was asked fails. */
  endSession(sessionId: string, why: string): void {
    const bySession = this.waiting.get(sessionId);
    if (!bySession) return;
    this.waiting.delete(sessionId);
    for (const waiting of bySession.values()) {
      clearTimeout(waiting.timer);
      waiting.reject(new ClientRequestError(`${waiting.method} was not answered: ${why}`));
    }
  }

  /** Requests waiting for an answer, over every session (for /readyz). */
  get size(): number {
    let n = 0;
    for (const bySession of this.waiting.values()) n += bySession.size;
    return n;
  }

  private take(sessionId: string, id: RequestId): Waiting | undefined {
    if (typeof id !== 'string') return undefined;
    const bySession = this.waiting.get(sessionId);
    const waiting = bySession?.get(id);
    if (!bySession || !waiting) return undefined;
    bySession.delete(id);
    if (bySession.size === 0) this.waiting.delete(sessionId);
    clearTimeout(waiting.timer);
    return waiting;
  }
}
