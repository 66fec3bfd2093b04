// Keeps a policy in force and replaces it when a new one arrives: from a bundle file (reloaded
// when the file changes), from an OPA bundle server (polled with ETags), or in development
// from a rego/ folder (rebuilt with the OPA CLI on every change). A new policy is checked
// completely (bundle, signature, wasm, entrypoints) before the swap; one that fails is
// refused, logged, and the current policy keeps serving.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { watch, type FSWatcher } from 'node:fs';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { PolicyConfig } from '../../config/policy.js';
import type { Logger } from '../../util/logger.js';
import type { WasmBundle } from '../bundle/read.js';
import { HttpBundleSource } from './http.js';
import { PolicyEngine } from '../engine.js';
import type { PolicyHolder } from '../holder.js';
import { sourceRevision } from './rego-dir.js';
import { PACKAGE_ROOT } from '../../util/paths.js';

/** Parses (and verifies) bundle bytes; rejects with a reason to refuse them. */
export type BundleParser = (bytes: Buffer, origin: string) => Promise<WasmBundle>;

export interface PolicyStatus {
  source: string;
  revision?: string;
  loaded_at?: string;
  last_refusal?: string;
  last_refusal_at?: string;
  installs: number;
  refusals: number;
}

const DEBOUNCE_MS = 300;
const execFileAsync = promisify(execFile);

async function buildInChild(regoDir: string, out: string): Promise<void> {
  try {
    await execFileAsync(
      process.execPath,
      [join(PACKAGE_ROOT, 'bin/mcpgate.js'), 'policy', 'build', '--rego', regoDir, '--out', out],
      {
        maxBuffer: 16 * 1024 * 1024,
      },
    );
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(stderr.replace(/^mcpgate: /, '').trim() || (err as Error).message, {
      cause: err,
    });
  }
}
const WATCH_POLL_MS = 500;

export class PolicyManager {
  private watcher: FSWatcher | undefined;
  private poller: NodeJS.Timeout | undefined;
  private http: HttpBundleSource | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private installs = 0;
  private refusals = 0;
  private loadedAt: number | undefined;
  private refusedAt: number | undefined;
  private building: Promise<void> | undefined;
  private rebuildAgain = false;

  constructor(
    private readonly config: PolicyConfig,
    private readonly holder: PolicyHolder,
    private readonly parse: BundleParser,
    private readonly logger: Logger,
  ) {}

  private get origin(): string {
    const s = this.config.source;
    return s.kind === 'file' ? s.path : s.kind === 'http' ? s.url : `${s.regoDir} (watch)`;
  }

  /** Loads the first policy; failures are logged (requests are denied until one loads). */
  async start(): Promise<void> {
    const source = this.config.source;
    switch (source.kind) {
      case 'file':
        await this.installFile(source.path);
        this.watchPath(
          dirname(source.path),
          (name) => name === basename(source.path),
          () => void this.installFile(source.path),
        );
        return;
      case 'watch':
        await this.rebuild(source.regoDir);
        this.pollSources(source.regoDir);
        return;
      case 'http':
        this.http = new HttpBundleSource(
          {
            url: source.url,
            headers: source.headers,
            minDelayMs: source.minDelayMs,
            maxDelayMs: source.maxDelayMs,
            maxBytes: this.config.maxBundleBytes,
            ...(source.longPollingTimeoutS === undefined
              ? {}
              : { longPollingTimeoutS: source.longPollingTimeoutS }),
          },
          {
            // A refused bundle must throw, so the source keeps polling without taking its ETag.
            onBundle: async (bytes) => {
              if (!(await this.installBytes(bytes, source.url))) throw new Error('bundle refused');
            },
            onError: (err) => {
              // A refused bundle was already logged with its reason by installBytes.
              if (err.message === 'bundle refused') return;
              this.logger.warn('policy bundle download failed; the current policy stays in force', {
                url: source.url,
                error: err.message,
              });
            },
          },
        );
        await this.http.start();
        if (!this.holder.current() && this.holder.error === undefined) {
          this.refuse(source.url, `no bundle could be downloaded from ${source.url} yet`);
        }
        return;
    }
  }

  stop(): void {
    this.watcher?.close();
    clearInterval(this.poller);
    clearTimeout(this.debounce);
    this.http?.stop();
  }

  status(): PolicyStatus {
    const engine = this.holder.current();
    const status: PolicyStatus = {
      source: this.origin,
      installs: this.installs,
      refusals: this.refusals,
    };
    if (engine) status.revision = engine.revision;
    if (this.loadedAt) status.loaded_at = new Date(this.loadedAt).toISOString();
    if (this.holder.error !== undefined && this.refusedAt) {
      status.last_refusal = this.holder.error;
      status.last_refusal_at = new Date(this.refusedAt).toISOString();
    }
    return status;
  }

  /** Checks a bundle completely, then swaps it in; a refusal leaves the current policy. */
  async installBytes(bytes: Buffer, origin: string): Promise<boolean> {
    const previous = this.holder.current()?.revision;
    try {
      const bundle = await this.parse(bytes, origin);
      const engine = this.holder.install(() => PolicyEngine.load(bundle, this.config.memory));
      this.installs++;
      this.loadedAt = Date.now();
      this.logger.info('policy installed', { origin, revision: engine.revision, previous });
      return true;
    } catch (err) {
      this.refuse(origin, err instanceof Error ? err.message : String(err));
      return false;
    }
  }

  private refuse(origin: string, reason: string): void {
    this.refusals++;
    this.refusedAt = Date.now();
    this.holder.refuse(reason);
    this.logger.error('policy refused; the current policy stays in force', {
      origin,
      current: this.holder.current()?.revision ?? null,
      error: reason,
    });
  }

  private async installFile(path: string): Promise<void> {
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (err) {
      this.refuse(
        path,
        `cannot read policy bundle ${path}: ${(err as Error).message} (run \`mcpgate policy build\`)`,
      );
      return;
    }
    await this.installBytes(bytes, path);
  }

  /** Development: compile rego/ with the OPA CLI into a temp bundle and install it. */
  private rebuild(regoDir: string): Promise<void> {
    if (this.building) {
      this.rebuildAgain = true;
      return this.building;
    }
    this.building = (async () => {
      do {
        this.rebuildAgain = false;
        const dir = mkdtempSync(join(tmpdir(), 'mcpgate-watch-'));
        try {
          const out = join(dir, 'bundle.tar.gz');
          // `mcpgate policy build` in a child process: the OPA compiler runs for a second or
          // so, and requests keep being served (by the current policy) meanwhile.
          await buildInChild(regoDir, out);
          await this.installBytes(readFileSync(out), `${regoDir} (rebuilt)`);
        } catch (err) {
          this.refuse(`${regoDir} (rebuild)`, err instanceof Error ? err.message : String(err));
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      } while (this.rebuildAgain);
    })().finally(() => {
      this.building = undefined;
    });
    return this.building;
  }

  /**
   * Development mode: compares a content digest of rego/ twice a second. (Node 20's
   * recursive fs.watch on Linux loses files that editors replace by rename.)
   */
  private pollSources(regoDir: string): void {
    let seen = sourceRevision(regoDir);
    this.poller = setInterval(() => {
      let now: string;
      try {
        now = sourceRevision(regoDir);
      } catch {
        return; // a file vanished between listing and reading: look again next time
      }
      if (now === seen) return;
      seen = now;
      void this.rebuild(regoDir);
    }, WATCH_POLL_MS);
    this.poller.unref();
  }

  /** Watches one directory (not recursive: inotify reports renames into it reliably). */
  private watchPath(dir: string, relevant: (name: string) => boolean, onChange: () => void): void {
    try {
      this.watcher = watch(dir, (_event, name) => {
        if (name === null || !relevant(basename(name))) return;
        clearTimeout(this.debounce);
        this.debounce = setTimeout(onChange, DEBOUNCE_MS);
        this.debounce.unref();
      });
      this.watcher.unref();
    } catch (err) {
      this.logger.warn('cannot watch for policy changes; reload needs a restart', {
        path: dir,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }
}
