// The trust facts of a catalog item as the policy reads them (input.tool.pin and
// input.tool.findings, and the same on list items): the item's pin state under the pins of
// the policy in force, and its scan findings without their text. Worked out once per item
// and policy (the catalog and the pins both change rarely), so a call costs a lookup.
import type { ItemTrust } from '../upstreams/catalog.js';
import { pinFacts, type PinFacts, type Pins } from '../upstreams/trust/pins.js';
import type { Severity } from '../inspect/text/index.js';

/** A finding as the policy sees it: which detector, how severe, where (no excerpt). */
export interface FindingFact {
  detector: string;
  severity: Severity;
  field: string;
}

export interface TrustFacts {
  pin: PinFacts;
  findings: FindingFact[];
}

function findingFacts(trust: ItemTrust): FindingFact[] {
  const seen = new Set<string>();
  const facts: FindingFact[] = [];
  for (const f of trust.findings) {
    const key = `${f.detector}\u0000${f.field}`;
    if (seen.has(key)) continue;
    seen.add(key);
    facts.push({ detector: f.detector, severity: f.severity, field: f.field });
  }
  return facts;
}

export class TrustFactCache {
  private readonly byPins = new WeakMap<Pins, WeakMap<ItemTrust, TrustFacts>>();

  /** The facts of the item with policy id `id` and trust `trust` under `pins`. */
  facts(pins: Pins, id: string, trust: ItemTrust): TrustFacts {
    let byItem = this.byPins.get(pins);
    if (byItem === undefined) {
      byItem = new WeakMap();
      this.byPins.set(pins, byItem);
    }
    let facts = byItem.get(trust);
    if (facts === undefined) {
      const pin = pins[trust.kind].get(id);
      facts = {
        pin: pinFacts(pin, trust.fingerprint, trust.firstSeen),
        findings: findingFacts(trust),
      };
      byItem.set(trust, facts);
    }
    return facts;
  }
}
