// Canonical JSON (object keys sorted, no whitespace) and its sha256, for argument digests
// and tool-definition hashes that must not depend on key order.
import * as crypto from 'node:crypto';

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function sha256Hex(text: string): string {
  // One-shot: about half the CPU of createHash for the short strings hashed per request.
  return crypto.hash('sha256', text, 'hex');
}
