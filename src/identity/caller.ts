// Who sent one request, as authentication established it: the normalized identity, where
// the request came from, and the caller's own token. The token is kept for one purpose
// only (the credential broker may exchange it at the IdP for an upstream token), in a
// private field behind a getter, so no serialisation (logs, JSON, the decision log) sees it.
import type { Identity } from './identity.js';

export class Caller {
  readonly #token: string;

  constructor(
    readonly identity: Identity,
    readonly remoteAddress: string | undefined,
    token: string,
  ) {
    this.#token = token;
  }

  /** The bearer token this request was authenticated with (never logged or forwarded). */
  get subjectToken(): string {
    return this.#token;
  }
}
