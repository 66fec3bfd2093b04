// Holds the policy currently in force. Swapping is one reference assignment, so a request
// that already took the engine finishes on it while new requests use the new one.
import { readBundleFile } from './bundle.js';
import { PolicyEngine, type MemoryLimits } from './engine.js';

export class PolicyHolder {
  private engine: PolicyEngine | undefined;
  private lastError: string | undefined;

  current(): PolicyEngine | undefined {
    return this.engine;
  }

  get error(): string | undefined {
    return this.lastError;
  }

  /** Loads a bundle file; on failure the previous policy (if any) stays in force. */
  loadBundleFile(path: string, memory: MemoryLimits): PolicyEngine {
    try {
      const engine = PolicyEngine.load(readBundleFile(path), memory);
      this.engine = engine;
      this.lastError = undefined;
      return engine;
    } catch (err) {
      this.lastError = (err as Error).message;
      throw err;
    }
  }

  use(engine: PolicyEngine): void {
    this.engine = engine;
    this.lastError = undefined;
  }
}
