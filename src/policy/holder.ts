// Holds the policy currently in force. Swapping is one reference assignment: evaluation is
// synchronous, so every decision is taken wholly by one engine, and each decision log names
// the revision of the engine that took it. A refused policy never replaces the current one.
import { readBundleFile } from './bundle/read.js';
import { PolicyEngine, type MemoryLimits } from './engine.js';

export class PolicyHolder {
  private engine: PolicyEngine | undefined;
  private lastError: string | undefined;
  private readonly listeners: Array<(engine: PolicyEngine) => void> = [];

  /** Calls `listener` with every policy put in force from now on. */
  onInstalled(listener: (engine: PolicyEngine) => void): void {
    this.listeners.push(listener);
  }

  current(): PolicyEngine | undefined {
    return this.engine;
  }

  /** Why the last policy offered was refused (cleared when one is installed). */
  get error(): string | undefined {
    return this.lastError;
  }

  /** Loads a bundle file; on failure the previous policy (if any) stays in force. */
  loadBundleFile(path: string, memory: MemoryLimits): PolicyEngine {
    return this.install(() => PolicyEngine.load(readBundleFile(path), memory));
  }

  /** Builds an engine and swaps it in; on failure records why and keeps the current one. */
  install(build: () => PolicyEngine): PolicyEngine {
    try {
      const engine = build();
      this.use(engine);
      return engine;
    } catch (err) {
      this.lastError = err instanceof Error ? err.message : String(err);
      throw err;
    }
  }

  /** Records why a policy was refused; the current one stays. */
  refuse(reason: string): void {
    this.lastError = reason;
  }

  use(engine: PolicyEngine): void {
    this.engine = engine;
    this.lastError = undefined;
    for (const listener of this.listeners) listener(engine);
  }
}
