// Sessions of the stateless era (MCP 2026-07-28): no initialize, no Mcp-Session-Id. The
// session of a request is derived by the gateway from facts it verified itself: an HMAC of
// the token's issuer, subject and OAuth client, the requested purpose, and the agent run
// (the token's mcp_run claim, else the Mcp-Run header, else _meta["mcpgate/run"]). Nothing
// a client sends names a session, so there is nothing to forge or steal; every replica with
// the same key derives the same id and finds the session in the shared store. Why this way,
// and what the run-end notes are for: docs/sessions-2026.md.
import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Caller } from '../identity/caller.js';
import { McpgateError } from '../util/errors.js';

/** Sessions derived here start with this; those opened by initialize with "s". */
export const RUN_SESSION_PREFIX = 'r';
const RUN_HEADER = 'mcp-run';
export const RUN_META_KEY = 'mcpgate/run';
export const RUN_CLAIM = 'mcp_run';
/** What a run label may be, wherever it comes from. */
const RUN_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
/** A configured key shorter than this is refused at start-up. */
const MIN_KEY_CHARS = 32;

/** sessions.run_key is missing or too short for what the configuration needs. */
export class RunKeyError extends McpgateError {
  static override readonly code = 'ERR_RUN_KEY';
}

/** The agent run a request belongs to, or why it cannot be told. */
export type RunOutcome = { run: string } | { refused: string };

/**
 * The run, most binding first: a token minted for one run (claim mcp_run) can reach only
 * that run, and a request naming another run is refused rather than quietly moved.
 */
export function runOf(req: IncomingMessage, body: unknown, caller: Caller): RunOutcome {
  const header = req.headers[RUN_HEADER];
  const meta = (body as { params?: { _meta?: Record<string, unknown> } } | undefined)?.params
    ?._meta?.[RUN_META_KEY];
  const asked = typeof header === 'string' ? header : typeof meta === 'string' ? meta : undefined;
  const claim = caller.identity.claims[RUN_CLAIM];
  if (typeof claim === 'string') {
    if (asked !== undefined && asked !== claim) {
      return {
        refused: `this token is bound to agent run ${JSON.stringify(claim)} (claim ${RUN_CLAIM}) and cannot be used for run ${JSON.stringify(asked)}; drop the Mcp-Run header or get a token for that run`,
      };
    }
    return RUN_PATTERN.test(claim)
      ? { run: claim }
      : { refused: `the token's ${RUN_CLAIM} claim must be 1-64 characters of A-Z a-z 0-9 . _ -` };
  }
  if (asked === undefined) return { run: '' };
  return RUN_PATTERN.test(asked)
    ? { run: asked }
    : { refused: 'Mcp-Run must be 1-64 characters of A-Z a-z 0-9 . _ -' };
}

/** Derives session ids of the stateless era; the key object is built once, at start-up. */
export class RunKeys {
  private readonly key: KeyObject;

  /**
   * @param configured sessions.run_key as read; undefined: a random key of this process
   *   (enough for one replica; `shared` stores refuse to derive without a configured key).
   * @param shared the store is shared by replicas (Redis)
   */
  constructor(
    configured: string | undefined,
    readonly shared: boolean,
  ) {
    if (configured !== undefined && configured.length < MIN_KEY_CHARS) {
      throw new RunKeyError(
        `sessions.run_key must be at least ${MIN_KEY_CHARS} characters (it has ${configured.length}); generate one with: openssl rand -base64 48`,
      );
    }
    this.configured = configured !== undefined;
    this.key = createSecretKey(
      configured === undefined ? randomBytes(32) : Buffer.from(configured, 'utf8'),
    );
  }

  /** False when replicas would derive different ids (a shared store without run_key). */
  readonly configured: boolean;

  get usable(): boolean {
    return this.configured || !this.shared;
  }

  /** A key of its own for another use (`label`), derived from this one. */
  derive(label: string): KeyObject {
    return createSecretKey(createHmac('sha256', this.key).update(label).digest());
  }

  /** The session id of this caller's run of this purpose. */
  sessionId(caller: Caller, purpose: string, run: string): string {
    const { issuer, subject, client_id: client } = caller.identity;
    const mac = createHmac('sha256', this.key)
      .update(`${issuer}\u0000${subject}\u0000${client}\u0000${purpose}\u0000${run}`)
      .digest('base64url');
    return `${RUN_SESSION_PREFIX}${mac}`;
  }
}
