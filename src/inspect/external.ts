// External inspectors: a team's own guardrail service (NeMo Guardrails, LlamaGuard,
// Presidio behind a small adapter, anything) asked over HTTP about each result, with one
// JSON contract (docs/guardrails.md#external-inspectors):
//
//   POST <url>  {"mcpgate_inspect": 1, "phase": "result", "context": {...}, "content": <result>}
//   200         {"verdict": "pass"}
//               {"verdict": "findings", "findings": [{"type", "name"?, "severity"?, "pointer",
//                                                     "start"?, "end"?}]}
//               {"verdict": "mutated", "result": <the result to pass on instead>}
//
// Unlike the detectors beside it, this does I/O. Anything else than one of those answers
// within the inspector's timeout (a refused connection, a non-2xx status, not JSON, an
// unknown verdict, a finding whose pointer names no string of the content, an answer over
// the size bound) is a failure of that inspector, which its failure_mode turns into a denial
// of the result (fail_closed) or a skipped inspector (fail_open). Excerpts are made here from
// the content, masked: an inspector's own text is never put in the policy input.
import { readValue } from '../config/secrets.js';
import type { InspectorConfig } from '../config/guardrails.js';
import { McpgateError } from '../util/errors.js';
import { masked, type LocatedFinding, type Severity } from './finding.js';

/** An inspector did not answer as the contract says; the message says how. */
export class InspectorFailure extends McpgateError {
  static override readonly code = 'ERR_INSPECTOR_FAILED';
}

/** What the inspector is told about the call besides the content. */
export interface InspectionContext {
  action: string;
  target: { kind: string; server: string; id: string };
  session: { id: string; purpose: string };
  user: { issuer: string; subject: string };
  /** The id of the call's decision in the decision log. */
  decision_id: string;
}

export type InspectorAnswer =
  | { verdict: 'pass' }
  | { verdict: 'findings'; findings: LocatedFinding[] }
  | { verdict: 'mutated'; result: unknown };

const TYPE = /^[a-z][a-z0-9_]{0,31}$/;
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const SEVERITIES = new Set<Severity>(['low', 'medium', 'high']);
/** The most findings one answer may carry. */
const MAX_FINDINGS = 100;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The string a JSON pointer names in `root`, or undefined. */
function stringAt(root: unknown, pointer: string): string | undefined {
  if (pointer === '') return typeof root === 'string' ? root : undefined;
  if (!pointer.startsWith('/')) return undefined;
  let node: unknown = root;
  for (const raw of pointer.slice(1).split('/')) {
    const token = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node))
      node = /^(?:0|[1-9]\d*)$/.test(token) ? node[Number(token)] : undefined;
    else if (isRecord(node) && Object.hasOwn(node, token)) node = node[token];
    else return undefined;
  }
  return typeof node === 'string' ? node : undefined;
}

/** Reads at most `limit` bytes of a response body; more is a failure. */
async function cappedText(response: Response, limit: number, name: string): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw new InspectorFailure(`inspector ${name} answered with more than ${limit} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export class ExternalInspector {
  constructor(readonly config: InspectorConfig) {}

  get name(): string {
    return this.config.name;
  }

  /** Asks the inspector about `content`; throws InspectorFailure for any failure. */
  async inspect(content: unknown, context: InspectionContext): Promise<InspectorAnswer> {
    const { name, url, timeoutMs, maxRequestBytes } = this.config;
    const body = JSON.stringify({ mcpgate_inspect: 1, phase: 'result', context, content });
    if (Buffer.byteLength(body) > maxRequestBytes) {
      throw new InspectorFailure(
        `the result is larger than inspector ${name} takes (max_request_bytes ${maxRequestBytes})`,
      );
    }
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json',
    };
    for (const [header, source] of Object.entries(this.config.headers)) {
      headers[header] = readValue(source, `guardrails.inspectors.${name}.headers.${header}`);
    }
    let text: string;
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'error',
      });
      if (!response.ok) {
        await response.body?.cancel().catch(() => undefined);
        throw new InspectorFailure(`inspector ${name} answered HTTP ${response.status}`);
      }
      text = await cappedText(response, maxRequestBytes, name);
    } catch (err) {
      if (err instanceof InspectorFailure) throw err;
      const cause = err instanceof Error ? err : new Error(String(err));
      if (cause.name === 'TimeoutError' || cause.name === 'AbortError') {
        throw new InspectorFailure(`inspector ${name} did not answer within ${timeoutMs} ms`);
      }
      const detail = cause.cause instanceof Error ? cause.cause.message : cause.message;
      throw new InspectorFailure(`inspector ${name} could not be reached (${detail})`);
    }
    return this.parse(text, content);
  }

  private parse(text: string, content: unknown): InspectorAnswer {
    const name = this.config.name;
    const garbage = (why: string): InspectorFailure =>
      new InspectorFailure(
        `inspector ${name} answered something that is not an inspection (${why})`,
      );
    let answer: unknown;
    try {
      answer = JSON.parse(text);
    } catch {
      throw garbage('not JSON');
    }
    if (!isRecord(answer)) throw garbage('not a JSON object');
    switch (answer.verdict) {
      case 'pass':
        return { verdict: 'pass' };
      case 'mutated':
        if (!isRecord(answer.result)) throw garbage('a mutated verdict without a result object');
        return { verdict: 'mutated', result: answer.result };
      case 'findings': {
        const raw = answer.findings;
        if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_FINDINGS) {
          throw garbage(`findings must be a list of 1 to ${MAX_FINDINGS}`);
        }
        return {
          verdict: 'findings',
          findings: raw.map((f, i) => this.finding(f, i, content, garbage)),
        };
      }
      default:
        throw garbage('verdict must be "pass", "findings" or "mutated"');
    }
  }

  private finding(
    raw: unknown,
    index: number,
    content: unknown,
    garbage: (why: string) => InspectorFailure,
  ): LocatedFinding {
    const at = `findings[${index}]`;
    if (!isRecord(raw)) throw garbage(`${at} is not an object`);
    const { type, name, severity, pointer, start, end } = raw;
    if (typeof type !== 'string' || !TYPE.test(type))
      throw garbage(`${at}.type must match ${TYPE.source}`);
    if (name !== undefined && (typeof name !== 'string' || !NAME.test(name))) {
      throw garbage(`${at}.name must match ${NAME.source}`);
    }
    if (severity !== undefined && !SEVERITIES.has(severity as Severity)) {
      throw garbage(`${at}.severity must be low, medium or high`);
    }
    if (typeof pointer !== 'string') throw garbage(`${at}.pointer must be a JSON pointer`);
    const text = stringAt(content, pointer);
    if (text === undefined) throw garbage(`${at}.pointer ${pointer} names no string of the result`);
    const from = start === undefined ? 0 : start;
    const to = end === undefined ? text.length : end;
    if (
      !Number.isInteger(from) ||
      !Number.isInteger(to) ||
      (from as number) < 0 ||
      (to as number) > text.length ||
      (from as number) >= (to as number)
    ) {
      throw garbage(`${at}.start and end must be a span of the string at ${pointer}`);
    }
    const offset = from as number;
    const length = (to as number) - offset;
    return {
      id: '',
      type,
      detector: `external.${this.config.name}${name === undefined ? '' : `.${name.toLowerCase()}`}`,
      severity: (severity as Severity | undefined) ?? 'medium',
      pointer,
      excerpt: masked(text.slice(offset, offset + length)),
      offset,
      length,
      encoding: 'text',
    };
  }
}
