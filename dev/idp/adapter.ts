// A small in-memory storage adapter for one dev issuer. Unlike oidc-provider's bundled one
// (module-global, and it warns on every start) each issuer gets its own store, which survives
// the provider being rebuilt on key rotation. The Client model answers for ANY client id with
// a client_credentials-only client that authenticates with the IdP's dev secret, so tests can
// mint app tokens for whatever client id they need.
import type { Adapter, AdapterFactory, AdapterPayload } from 'oidc-provider';

interface Entry {
  payload: AdapterPayload;
  expiresAt: number | undefined;
}

export class DevStore {
  private readonly entries = new Map<string, Entry>();

  get(key: string): AdapterPayload | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.payload;
  }

  set(key: string, payload: AdapterPayload, expiresInSeconds: number | undefined): void {
    this.prune();
    const expiresAt =
      expiresInSeconds !== undefined && expiresInSeconds > 0
        ? Date.now() + expiresInSeconds * 1000
        : undefined;
    this.entries.set(key, { payload, expiresAt });
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  keys(): IterableIterator<string> {
    return this.entries.keys();
  }

  private prune(): void {
    const now = Date.now();
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt !== undefined && entry.expiresAt <= now) this.entries.delete(key);
    }
  }
}

export function devClientMetadata(clientId: string, secret: string): AdapterPayload {
  return {
    client_id: clientId,
    client_secret: secret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_post',
  };
}

class DevAdapter implements Adapter {
  constructor(
    private readonly model: string,
    private readonly store: DevStore,
    private readonly clientSecret: string,
  ) {}

  private key(id: string): string {
    return `${this.model}:${id}`;
  }

  upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    this.store.set(this.key(id), payload, expiresIn);
    if (payload.uid !== undefined && this.model === 'Session') {
      this.store.set(`sessionUid:${payload.uid}`, { jti: id }, expiresIn);
    }
    if (payload.userCode !== undefined) {
      this.store.set(`userCode:${payload.userCode}`, { jti: id }, expiresIn);
    }
    return Promise.resolve();
  }

  find(id: string): Promise<AdapterPayload | undefined> {
    if (this.model === 'Client') {
      return Promise.resolve(devClientMetadata(id, this.clientSecret));
    }
    return Promise.resolve(this.store.get(this.key(id)));
  }

  findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const ref = this.store.get(`sessionUid:${uid}`);
    return ref?.jti === undefined ? Promise.resolve(undefined) : this.find(ref.jti);
  }

  findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    const ref = this.store.get(`userCode:${userCode}`);
    return ref?.jti === undefined ? Promise.resolve(undefined) : this.find(ref.jti);
  }

  consume(id: string): Promise<void> {
    const payload = this.store.get(this.key(id));
    if (payload !== undefined) payload.consumed = Math.floor(Date.now() / 1000);
    return Promise.resolve();
  }

  destroy(id: string): Promise<void> {
    this.store.delete(this.key(id));
    return Promise.resolve();
  }

  revokeByGrantId(grantId: string): Promise<void> {
    for (const key of [...this.store.keys()]) {
      if (this.store.get(key)?.grantId === grantId) this.store.delete(key);
    }
    return Promise.resolve();
  }
}

export function devAdapterFactory(store: DevStore, clientSecret: string): AdapterFactory {
  return (model: string) => new DevAdapter(model, store, clientSecret);
}
