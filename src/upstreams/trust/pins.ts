// Pins: the approved fingerprint of each catalog item, kept as policy data in the bundle
// (rego/pins/data.json, read at data.pins), so approving a tool is a reviewed change to the
// signed bundle and the decision log's bundle revision says which approvals were in force.
// `mcpgate tools pin` writes the file; the gateway compares each live item with its pin and
// gives the policy the result as facts (`pin.state`, the changed fields). The rules that
// act on them are Rego (rego/mcp/lib/trust.rego).
import { McpgateError } from '../../util/errors.js';
import { changedFields, type CatalogKind, type Fingerprint } from './fingerprint.js';

/** The pins file is malformed: the message names the place. */
export class PinsError extends McpgateError {
  static override readonly code = 'ERR_PINS_INVALID';
}

/** Where the pins sit in the bundle's data document (rego/pins/data.json). */
export const PINS_DATA_KEY = 'pins';

/** The pins file's section for each kind of item. */
export const PIN_SECTIONS: Readonly<Record<CatalogKind, string>> = {
  tool: 'tools',
  prompt: 'prompts',
  resource: 'resources',
  resource_template: 'resource_templates',
};

export interface Pin {
  /** The item's fingerprint when it was approved (fingerprint.ts). */
  sha256: string;
  /** Its field hashes then, so a change can be named field by field. */
  fields: Readonly<Record<string, string>>;
  /**
   * Detector ids of findings the reviewer accepted for this very definition (`mcpgate tools
   * pin --acknowledge`): a high-severity finding of one of these does not quarantine it.
   */
  acknowledged: readonly string[];
}

export type Pins = Readonly<Record<CatalogKind, ReadonlyMap<string, Pin>>>;

export const NO_PINS: Pins = {
  tool: new Map(),
  prompt: new Map(),
  resource: new Map(),
  resource_template: new Map(),
};

const HEX64 = /^[0-9a-f]{64}$/;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parsePin(value: unknown, where: string): Pin {
  if (!isObject(value)) throw new PinsError(`${where} must be an object {sha256, fields}`);
  for (const key of Object.keys(value)) {
    if (!['sha256', 'fields', 'acknowledged'].includes(key)) {
      throw new PinsError(`${where} has an unknown field "${key}" (sha256, fields, acknowledged)`);
    }
  }
  const { sha256, fields, acknowledged = [] } = value;
  if (typeof sha256 !== 'string' || !HEX64.test(sha256)) {
    throw new PinsError(`${where}.sha256 must be 64 lower-case hex digits`);
  }
  if (
    !isObject(fields) ||
    Object.values(fields).some((h) => typeof h !== 'string' || !HEX64.test(h))
  ) {
    throw new PinsError(`${where}.fields must map field names to 64 lower-case hex digits`);
  }
  if (!Array.isArray(acknowledged) || acknowledged.some((d) => typeof d !== 'string' || d === '')) {
    throw new PinsError(`${where}.acknowledged must be a list of detector ids`);
  }
  return {
    sha256,
    fields: fields as Record<string, string>,
    acknowledged: acknowledged as string[],
  };
}

/**
 * The pins in a bundle's data document (`data.pins`), checked; none when it has no pins.
 * `source` names the file or bundle in errors.
 */
export function parsePins(data: Readonly<Record<string, unknown>>, source: string): Pins {
  if (!Object.prototype.hasOwnProperty.call(data, PINS_DATA_KEY)) return NO_PINS;
  const document = data[PINS_DATA_KEY];
  const where = `${source}: data.${PINS_DATA_KEY}`;
  if (!isObject(document)) throw new PinsError(`${where} must be an object`);
  const sections = Object.values(PIN_SECTIONS);
  for (const key of Object.keys(document)) {
    if (!sections.includes(key)) {
      throw new PinsError(`${where} has an unknown section "${key}" (${sections.join(', ')})`);
    }
  }
  const pins = {} as Record<CatalogKind, Map<string, Pin>>;
  for (const [kind, section] of Object.entries(PIN_SECTIONS) as Array<[CatalogKind, string]>) {
    const entries = document[section] ?? {};
    if (!isObject(entries)) throw new PinsError(`${where}.${section} must be an object of ids`);
    pins[kind] = new Map(
      Object.entries(entries).map(([id, pin]) => [
        id,
        parsePin(pin, `${where}.${section}[${JSON.stringify(id)}]`),
      ]),
    );
  }
  return pins;
}

/** The pins as the file holds them: sections and ids sorted, so diffs stay small. */
export function pinsDocument(pins: Pins): Record<string, Record<string, unknown>> {
  const document: Record<string, Record<string, unknown>> = {};
  for (const [kind, section] of Object.entries(PIN_SECTIONS) as Array<[CatalogKind, string]>) {
    const out: Record<string, unknown> = {};
    for (const id of [...pins[kind].keys()].sort()) {
      const pin = pins[kind].get(id) as Pin;
      const fields = Object.fromEntries(
        Object.entries(pin.fields).sort(([a], [b]) => (a < b ? -1 : 1)),
      );
      out[id] = {
        sha256: pin.sha256,
        fields,
        ...(pin.acknowledged.length > 0 ? { acknowledged: [...pin.acknowledged].sort() } : {}),
      };
    }
    document[section] = out;
  }
  return document;
}

export type PinState = 'pinned' | 'pending' | 'changed';

/** What the policy is told about an item's pin (input.tool.pin, catalog items' pin). */
export interface PinFacts {
  state: PinState;
  /** For `changed`: the fields that differ, sorted. */
  changed?: string[];
  /** For `changed`: what the item is compared with, its pin or the first definition seen. */
  since?: 'pin' | 'first_seen';
  /** For `pinned`: the detectors the pin acknowledges. */
  acknowledged?: readonly string[];
}

/**
 * The pin facts of one item: `pinned` when its fingerprint is its pin's; `changed` when it
 * differs from its pin, or (with no pin) from the definition the gateway first saw since it
 * started, so a rug pull is caught without a pin too; `pending` otherwise.
 */
export function pinFacts(
  pin: Pin | undefined,
  current: Fingerprint,
  firstSeen: Fingerprint | undefined,
): PinFacts {
  if (pin !== undefined) {
    if (pin.sha256 === current.sha256) {
      return pin.acknowledged.length > 0
        ? { state: 'pinned', acknowledged: pin.acknowledged }
        : { state: 'pinned' };
    }
    return { state: 'changed', changed: changedFields(pin.fields, current.fields), since: 'pin' };
  }
  if (firstSeen !== undefined && firstSeen.sha256 !== current.sha256) {
    return {
      state: 'changed',
      changed: changedFields(firstSeen.fields, current.fields),
      since: 'first_seen',
    };
  }
  return { state: 'pending' };
}
