// The gateway's own `requestState` for multi round-trip requests (MCP 2026-07-28). An
// upstream that needs the user answers a call with an InputRequiredResult and an opaque
// `requestState`; the client sends that state back when it retries the call. What comes
// back is attacker-controlled, so the client never sees the upstream's state: it gets a
// state the gateway sealed (HMAC-SHA256) over the upstream's state, the session (which is
// bound to the verified principal and client), the call (its action, target and a digest of
// its arguments), an expiry and a nonce used once. A state that was not sealed here, is
// for another session or call, has expired or comes back a second time is refused.
import { createHmac, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';

/** What a sealed state says. */
export interface SealedState {
  /** The session the call belongs to. */
  session: string;
  /** The call: action and target, e.g. "tools/call fixture.confirm". */
  call: string;
  /** A digest of the call's arguments. */
  args: string;
  /** The upstream's own requestState, if it gave one. */
  upstream: string | null;
  /** Epoch ms after which the state is refused. */
  expiresAt: number;
  /** Used once: a state that comes back twice is a replay. */
  nonce: string;
  /** A held call's state: the replica that holds the call (held-calls.ts). */
  holder?: string;
}

/** How long a client may take to answer an upstream's questions. */
export const STATE_LIFETIME_MS = 10 * 60_000;

export class RequestStates {
  /**
   * @param prefix tells the kinds of state apart (the MAC covers it, so one kind cannot
   *   pass for another): the upstream's sealed state, or a call the gateway holds.
   */
  constructor(
    private readonly key: KeyObject,
    private readonly prefix = 'mcpgate1.',
  ) {}

  /** True when `token` claims to be a state of this kind (whether it is, open() says). */
  owns(token: string): boolean {
    return token.startsWith(this.prefix);
  }

  seal(state: Omit<SealedState, 'nonce' | 'expiresAt'>, now = Date.now()): string {
    return this.sealed(state, now).token;
  }

  /** Seals, and says which nonce the state carries. */
  sealed(
    state: Omit<SealedState, 'nonce' | 'expiresAt'>,
    now = Date.now(),
  ): { token: string; nonce: string } {
    const full: SealedState = {
      ...state,
      expiresAt: now + STATE_LIFETIME_MS,
      nonce: randomBytes(16).toString('base64url'),
    };
    const payload = Buffer.from(JSON.stringify(full), 'utf8').toString('base64url');
    return { token: `${this.prefix}${payload}.${this.mac(payload)}`, nonce: full.nonce };
  }

  /**
   * The state as sealed, or why it is refused (a reason the client can act on). Whether
   * it was used before is the caller's to check (the nonce, in the session store).
   */
  open(
    token: string,
    expected: { session: string; call: string; args: string },
    now = Date.now(),
  ): SealedState | { refused: string } {
    const forged = {
      refused:
        'requestState was not issued by this gateway (or was altered): send back the requestState of the InputRequiredResult unchanged, or call again without it',
    };
    if (!token.startsWith(this.prefix)) return forged;
    const [payload, mac, extra] = token.slice(this.prefix.length).split('.');
    if (payload === undefined || mac === undefined || extra !== undefined) return forged;
    const wanted = Buffer.from(this.mac(payload), 'base64url');
    const given = Buffer.from(mac, 'base64url');
    if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) return forged;
    const state = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as SealedState;
    if (state.session !== expected.session) {
      return { refused: 'requestState belongs to another session: it cannot be used here' };
    }
    if (state.call !== expected.call || state.args !== expected.args) {
      return {
        refused:
          'requestState belongs to another call: retry the same tool, prompt or resource with the same arguments',
      };
    }
    if (now > state.expiresAt) {
      return { refused: 'requestState has expired: call again without it to be asked afresh' };
    }
    return state;
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.key).update(this.prefix).update(payload).digest('base64url');
  }
}
