// The redact obligation carried out on a value: each named finding's span is replaced by
// `[REDACTED:<type>]` in its string (in the decoded text of a base64 field, which is then
// encoded again), and each named JSON pointer's string is replaced whole by `[REDACTED]`.
// The value is copied along the changed paths only; the original is left as it was.
import { McpgateError } from '../util/errors.js';
import type { LocatedFinding } from './finding.js';

/** The policy named something to redact that is not there: the obligation cannot be met. */
export class RedactionError extends McpgateError {
  static override readonly code = 'ERR_REDACTION_IMPOSSIBLE';
}

type Fields = Record<string, unknown>;

/** RFC 6901 reference tokens of a pointer (`''` is the whole value). */
function tokens(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new RedactionError(`"${pointer}" is not a JSON pointer`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** `root` with the string at `path` replaced by `change(it)`; copies along the path. */
function updated(
  root: unknown,
  path: string[],
  pointer: string,
  change: (s: string) => string,
): unknown {
  if (path.length === 0) {
    if (typeof root !== 'string') throw new RedactionError(`${pointer || '/'} is not a string`);
    return change(root);
  }
  const [head, ...rest] = path as [string, ...string[]];
  if (Array.isArray(root)) {
    const index = /^(?:0|[1-9]\d*)$/.test(head) ? Number(head) : -1;
    if (index < 0 || index >= root.length)
      throw new RedactionError(`${pointer} is not in the result`);
    const copy = root.slice();
    copy[index] = updated(root[index], rest, pointer, change);
    return copy;
  }
  if (typeof root === 'object' && root !== null && Object.hasOwn(root, head)) {
    const fields = root as Fields;
    return { ...fields, [head]: updated(fields[head], rest, pointer, change) };
  }
  throw new RedactionError(`${pointer} is not in the result`);
}

/** Replaces the spans, last first so earlier offsets stay right; overlaps merge. */
function redactSpans(
  text: string,
  spans: Array<{ offset: number; length: number; type: string }>,
): string {
  const sorted = [...spans].sort((a, b) => b.offset - a.offset);
  let out = text;
  let limit = Infinity;
  for (const span of sorted) {
    const end = Math.min(span.offset + span.length, limit);
    if (end <= span.offset) continue;
    out = `${out.slice(0, span.offset)}[REDACTED:${span.type}]${out.slice(end)}`;
    limit = span.offset;
  }
  return out;
}

/**
 * `value` with the obligation's entries redacted: finding ids (`f3`) and JSON pointers
 * (`/structuredContent/password`). An entry that names no finding of this value and no
 * string in it throws RedactionError (the caller denies: an obligation not carried out).
 */
export function redact(
  value: unknown,
  entries: readonly string[],
  findings: readonly LocatedFinding[],
): unknown {
  const byId = new Map(findings.map((f) => [f.id, f]));
  const spansByPointer = new Map<
    string,
    { encoding: 'text' | 'base64'; spans: LocatedFinding[] }
  >();
  const wholePointers: string[] = [];
  for (const entry of entries) {
    const finding = byId.get(entry);
    if (finding) {
      const at = spansByPointer.get(finding.pointer) ?? { encoding: finding.encoding, spans: [] };
      at.spans.push(finding);
      spansByPointer.set(finding.pointer, at);
    } else if (entry.startsWith('/') || entry === '') {
      wholePointers.push(entry);
    } else {
      throw new RedactionError(`"${entry}" names no finding of this result`);
    }
  }
  let out = value;
  for (const [pointer, { encoding, spans }] of spansByPointer) {
    out = updated(out, tokens(pointer), pointer, (s) =>
      encoding === 'base64'
        ? Buffer.from(
            redactSpans(Buffer.from(s, 'base64').toString('utf8'), spans),
            'utf8',
          ).toString('base64')
        : redactSpans(s, spans),
    );
  }
  for (const pointer of wholePointers)
    out = updated(out, tokens(pointer), pointer, () => '[REDACTED]');
  return out;
}
