// Session facts shared by the store and the pipeline. The session itself lives in the
// session store (store.ts); a request works on the LoadedSession it read at its start.
import type { Identity } from '../identity/identity.js';

export interface HistoryEntry {
  action: string;
  target: string;
  args_digest: string;
  allowed: boolean;
  at: string;
}

/** Sessions are bound to this key: the issuer plus the stable subject. */
export function sessionPrincipal(identity: Identity): string {
  return `${identity.issuer}\u0000${identity.subject}`;
}
