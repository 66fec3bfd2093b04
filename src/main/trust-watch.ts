// Tells the gateway log when the catalog in force and the pins of the policy in force
// disagree: an item whose definition differs from its pin, or that carries high-severity
// findings its pin does not acknowledge (with the shipped policy, both are quarantined:
// hidden from lists, calls refused). Checked when either changes; each fact is logged once
// per policy revision and definition, not per request.
import type { PolicyEngine } from '../policy/engine.js';
import type { Catalog } from '../upstreams/catalog.js';
import { pinFacts } from '../upstreams/trust/pins.js';
import type { Logger } from '../util/logger.js';

/** Keys already logged are forgotten past this many (a long-running gateway with churn). */
const MAX_REMEMBERED = 10_000;

export class TrustWatch {
  private readonly logged = new Set<string>();

  constructor(private readonly logger: Logger) {}

  check(engine: PolicyEngine | undefined, catalog: Catalog): void {
    if (engine === undefined) return;
    for (const { id, server, trust } of catalog.items()) {
      const pin = engine.pins[trust.kind].get(id);
      const facts = pinFacts(pin, trust.fingerprint, trust.firstSeen);
      const accepted = new Set(facts.state === 'pinned' ? (facts.acknowledged ?? []) : []);
      const open = [
        ...new Set(
          trust.findings
            .filter((f) => f.severity === 'high' && !accepted.has(f.detector))
            .map((f) => `${f.detector} in ${f.field}`),
        ),
      ];
      const key = `${engine.revision}\u0000${trust.kind}:${id}\u0000${trust.fingerprint.sha256}`;
      if ((facts.state !== 'changed' && open.length === 0) || this.logged.has(key)) continue;
      if (this.logged.size >= MAX_REMEMBERED) this.logged.clear();
      this.logged.add(key);
      if (facts.state === 'changed') {
        this.logger.warn('catalog item differs from its pin', {
          upstream: server,
          kind: trust.kind,
          id,
          since: facts.since,
          changed: facts.changed,
          revision: engine.revision,
        });
      }
      if (open.length > 0) {
        this.logger.warn('catalog item has unacknowledged high-severity findings', {
          upstream: server,
          kind: trust.kind,
          id,
          findings: open,
          revision: engine.revision,
        });
      }
    }
  }
}
