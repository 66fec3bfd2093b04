// Carries the credential of the upstream call in flight to the HTTP transport's fetch, so
// one per-session connection can send each call with the token scoped to that call.
import { AsyncLocalStorage } from 'node:async_hooks';

export const callCredential = new AsyncLocalStorage<Record<string, string>>();
