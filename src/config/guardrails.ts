// guardrails: argument schemas, the inspection of arguments and results, its limits, the
// national ids the personal-data detector knows, and external inspectors over HTTP.
// docs/configuration.md#guardrails describes every key; docs/guardrails.md what they do.
import { z } from 'zod';
import { parseSecretRef, type ValueSource } from './secrets.js';
import { valueSource, type RawValueSource } from './value-source.js';

const inspectorName = z
  .string()
  .regex(
    /^[a-z][a-z0-9_-]{0,31}$/,
    'an inspector name is 1-32 characters of a-z 0-9 _ - starting with a letter',
  );

export const guardrailsSchema = z
  .strictObject({
    /** Check tools/call arguments against the tool's inputSchema. */
    check_argument_schemas: z.boolean().default(true),
    /** Run the detectors on arguments (input.findings) and results (input.result). */
    inspect: z.boolean().default(true),
    /** When the result decision is asked: only with findings (default), or for every result. */
    decide_results: z.enum(['with_findings', 'always']).default('with_findings'),
    inspection: z
      .strictObject({
        max_bytes: z
          .number()
          .int()
          .min(1024)
          .max(256 * 1024 * 1024)
          .default(4 * 1024 * 1024),
        // Above gateway.max_json_depth's default (64): arguments the intake accepted can be walked.
        max_depth: z.number().int().min(2).max(1000).default(128),
        max_decoded_bytes: z
          .number()
          .int()
          .min(0)
          .max(64 * 1024 * 1024)
          .default(1024 * 1024),
        max_findings: z.number().int().min(1).max(1000).default(100),
      })
      .default({
        max_bytes: 4 * 1024 * 1024,
        max_depth: 128,
        max_decoded_bytes: 1024 * 1024,
        max_findings: 100,
      }),
    national_ids: z
      .array(
        z.strictObject({
          name: z
            .string()
            .regex(/^[a-z][a-z0-9_]{0,31}$/, 'a name is 1-32 characters of a-z 0-9 _'),
          pattern: z.string().min(1).max(500),
          checksum: z.enum(['none', 'luhn', 'mod97', 'mod11']).default('none'),
        }),
      )
      .default([]),
    inspectors: z
      .array(
        z.strictObject({
          name: inspectorName,
          url: z.url({ protocol: /^https?$/ }),
          timeout_ms: z.number().int().min(1).max(60_000).default(2000),
          /** What an inspector that fails (times out, errors, answers garbage) means. */
          failure_mode: z.enum(['fail_closed', 'fail_open']).default('fail_closed'),
          headers: z
            .record(
              z.string().regex(/^[A-Za-z0-9-]+$/, 'header names are [A-Za-z0-9-]+'),
              valueSource,
            )
            .default({}),
          /** The most bytes of result sent to it; larger results are a failure of this inspector. */
          max_request_bytes: z
            .number()
            .int()
            .min(1024)
            .max(64 * 1024 * 1024)
            .default(4 * 1024 * 1024),
        }),
      )
      .default([]),
  })
  .default({
    check_argument_schemas: true,
    inspect: true,
    decide_results: 'with_findings',
    inspection: {
      max_bytes: 4 * 1024 * 1024,
      max_depth: 128,
      max_decoded_bytes: 1024 * 1024,
      max_findings: 100,
    },
    national_ids: [],
    inspectors: [],
  });

export interface InspectorConfig {
  name: string;
  url: string;
  timeoutMs: number;
  /** fail_closed: a failure denies the result; fail_open: the inspector is skipped, logged. */
  failureMode: 'fail_closed' | 'fail_open';
  headers: Record<string, ValueSource>;
  maxRequestBytes: number;
}

export interface GuardrailsConfig {
  checkArgumentSchemas: boolean;
  inspect: boolean;
  decideResults: 'with_findings' | 'always';
  inspection: { maxBytes: number; maxDepth: number; maxDecodedBytes: number; maxFindings: number };
  nationalIds: Array<{
    name: string;
    pattern: string;
    checksum: 'none' | 'luhn' | 'mod97' | 'mod11';
  }>;
  inspectors: InspectorConfig[];
}

export function resolveGuardrails(
  raw: z.infer<typeof guardrailsSchema>,
  baseDir: string,
  problems: string[],
): GuardrailsConfig {
  raw.national_ids.forEach((id, i) => {
    try {
      new RegExp(id.pattern, 'g');
    } catch (err) {
      problems.push(
        `guardrails.national_ids.${i}.pattern: not a regular expression (${(err as Error).message})`,
      );
    }
  });
  const names = new Set<string>();
  const inspectors = raw.inspectors.map((inspector, i): InspectorConfig => {
    if (names.has(inspector.name))
      problems.push(`guardrails.inspectors.${i}.name: ${inspector.name} is listed twice`);
    names.add(inspector.name);
    const headers: Record<string, ValueSource> = {};
    for (const [key, value] of Object.entries<RawValueSource>(inspector.headers)) {
      const where = `guardrails.inspectors.${i}.headers.${key}`;
      if (typeof value !== 'string') headers[key] = { kind: 'literal', value: value.literal };
      else {
        try {
          headers[key] = parseSecretRef(value, where, baseDir);
        } catch (err) {
          problems.push((err as Error).message);
        }
      }
    }
    return {
      name: inspector.name,
      url: inspector.url,
      timeoutMs: inspector.timeout_ms,
      failureMode: inspector.failure_mode,
      headers,
      maxRequestBytes: inspector.max_request_bytes,
    };
  });
  return {
    checkArgumentSchemas: raw.check_argument_schemas,
    inspect: raw.inspect,
    decideResults: raw.decide_results,
    inspection: {
      maxBytes: raw.inspection.max_bytes,
      maxDepth: raw.inspection.max_depth,
      maxDecodedBytes: raw.inspection.max_decoded_bytes,
      maxFindings: raw.inspection.max_findings,
    },
    nationalIds: raw.national_ids,
    inspectors,
  };
}
