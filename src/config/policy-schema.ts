// The policy and audit sections: where the policy bundle comes from (a file, or an OPA
// bundle server polled with ETags), how its signature is checked, dev-mode rebuilds of
// rego/, and where decision logs go (stdout, file, an OPA-compatible log service).
import { z } from 'zod';
import { ASYMMETRIC_ALGORITHMS, valueSource } from './value-source.js';

/** OPA bundle signing also allows HMAC (a shared secret). */
const SIGNING_ALGORITHMS = [...ASYMMETRIC_ALGORITHMS, 'HS256', 'HS384', 'HS512'] as const;

const httpSource = z.strictObject({
  url: z.url({ protocol: /^https?$/ }),
  headers: z
    .record(z.string().regex(/^[A-Za-z0-9-]+$/, 'header names are [A-Za-z0-9-]+'), valueSource)
    .default({}),
  polling: z
    .strictObject({
      min_delay_s: z.number().positive().default(10),
      max_delay_s: z.number().positive().default(20),
      /** OPA long polling: the server holds the request up to this long (Prefer: wait=N). */
      long_polling_timeout_s: z.number().int().positive().max(3600).optional(),
    })
    .refine((p) => p.min_delay_s <= p.max_delay_s, 'min_delay_s must not exceed max_delay_s')
    .default({ min_delay_s: 10, max_delay_s: 20 }),
  allow_insecure_http: z.boolean().default(false),
});

export const policySchema = z
  .strictObject({
    /** Shorthand for source: {file: PATH}: a bundle built by `mcpgate policy build`. */
    bundle: z.string().min(1).optional(),
    source: z
      .union([z.strictObject({ file: z.string().min(1) }), z.strictObject({ http: httpSource })])
      .optional(),
    /** Bundle signatures, verified as OPA does (.signatures.json). */
    signing: z
      .strictObject({
        /** Refuse bundles without .signatures.json. */
        required: z.boolean().default(true),
        keys: z
          .array(
            z.strictObject({
              key_id: z.string().min(1),
              /** From this config, never from the token header. */
              algorithm: z.enum(SIGNING_ALGORITHMS),
              /** PEM public key (or HMAC secret) by reference: env:NAME or file:PATH. */
              key: valueSource,
            }),
          )
          .min(1),
        scope: z.string().min(1).optional(),
        /** Files left out of the signature check (globs over bundle paths). */
        exclude_files: z.array(z.string().min(1)).default([]),
      })
      .optional(),
    /** Bundles (compressed or not) larger than this are refused. */
    max_bundle_bytes: z
      .number()
      .int()
      .positive()
      .default(64 * 1024 * 1024),
    /** Development: rebuild from this rego/ folder on change and swap the policy in. */
    watch_rego: z.string().min(1).optional(),
    memory: z
      .strictObject({
        initial_pages: z.number().int().positive().default(5),
        max_pages: z.number().int().positive().max(65536).default(1024),
      })
      .refine((m) => m.initial_pages <= m.max_pages, 'initial_pages must not exceed max_pages')
      .default({ initial_pages: 5, max_pages: 1024 }),
  })
  .superRefine((p, ctx) => {
    const sources = [p.bundle, p.source, p.watch_rego].filter((s) => s !== undefined).length;
    if (sources !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: 'name exactly one of bundle, source ({file} or {http}) or watch_rego',
      });
    }
    if (p.source && 'http' in p.source) {
      const { url, allow_insecure_http } = p.source.http;
      if (!allow_insecure_http && !url.startsWith('https://')) {
        ctx.addIssue({
          code: 'custom',
          path: ['source', 'http', 'url'],
          message: `${url} is not https (set allow_insecure_http: true only for local testing)`,
        });
      }
    }
  });

const serviceDestination = z.strictObject({
  type: z.literal('service'),
  /** OPA-compatible decision-log endpoint: POST of gzipped JSON arrays of events. */
  url: z.url({ protocol: /^https?$/ }),
  headers: z
    .record(z.string().regex(/^[A-Za-z0-9-]+$/, 'header names are [A-Za-z0-9-]+'), valueSource)
    .default({}),
  /** Events per upload (at most). */
  batch_max_events: z.number().int().positive().max(100_000).default(500),
  /** Upload at least this often while events are waiting. */
  flush_interval_s: z.number().positive().max(3600).default(5),
  /** Events kept while the service is unreachable or slow; see when_full for what happens beyond. */
  max_buffer_events: z.number().int().positive().default(100_000),
  /** refuse: requests are refused until there is room (fail closed); drop_oldest: as OPA. */
  when_full: z.enum(['refuse', 'drop_oldest']).default('refuse'),
  retry: z
    .strictObject({
      initial_delay_s: z.number().positive().default(1),
      max_delay_s: z.number().positive().default(60),
    })
    .refine(
      (r) => r.initial_delay_s <= r.max_delay_s,
      'initial_delay_s must not exceed max_delay_s',
    )
    .default({ initial_delay_s: 1, max_delay_s: 60 }),
  allow_insecure_http: z.boolean().default(false),
});

/** Default bound on the bytes waiting to be written, per stdout or file destination. */
export const DEFAULT_MAX_BUFFER_BYTES = 64 * 1024 * 1024;
/** A file destination's batch is written on the event loop while that takes under this. */
export const DEFAULT_SYNC_WRITE_LIMIT_MS = 2;

/**
 * Bytes a stdout or file destination may have waiting to be written; at the bound the
 * gateway refuses new requests until storage catches up (docs/configuration.md#audit).
 * At least 64 KiB (a few events), at most 1 GiB.
 */
const maxBufferBytes = z
  .number()
  .int()
  .min(64 * 1024)
  .max(1024 * 1024 * 1024)
  .default(DEFAULT_MAX_BUFFER_BYTES);

/** When a line counts as accepted: written by the OS (the call waits), or queued in memory. */
const accept = z.enum(['written', 'queued']).default('written');

/** A secret by reference only: an HMAC key is never written in the config, not even as a literal. */
const secretRef = z
  .string()
  .regex(/^(env|file):.+$/, 'must be a secret reference, "env:NAME" or "file:PATH"');

const DEFAULT_DESTINATIONS = [
  {
    type: 'stdout' as const,
    max_buffer_bytes: DEFAULT_MAX_BUFFER_BYTES,
    accept: 'written' as const,
  },
];

export const auditSchema = z
  .strictObject({
    destinations: z
      .array(
        z.discriminatedUnion('type', [
          z.strictObject({ type: z.literal('stdout'), max_buffer_bytes: maxBufferBytes, accept }),
          z.strictObject({
            type: z.literal('file'),
            path: z.string().min(1),
            max_buffer_bytes: maxBufferBytes,
            accept,
            /** Rotate the file before it grows past this; unset: never rotated. */
            max_file_bytes: z
              .number()
              .int()
              .min(64 * 1024)
              .optional(),
            /**
             * A batch is written on the event loop while that takes under this many
             * milliseconds, else on the thread pool for a minute; 0: always the thread pool.
             */
            sync_write_limit_ms: z.number().min(0).max(1000).default(DEFAULT_SYNC_WRITE_LIMIT_MS),
          }),
          serviceDestination,
        ]),
      )
      .min(1)
      .default(DEFAULT_DESTINATIONS),
    /** Signs every stdout and file line (HMAC-SHA256); at least 32 bytes. */
    hmac_key: secretRef.optional(),
    /** Where lines go that cannot be written at shutdown; default <tmpdir>/mcpgate-spool. */
    spool_dir: z.string().min(1).optional(),
  })
  .superRefine((a, ctx) => {
    a.destinations.forEach((d, i) => {
      if (d.type === 'service' && !d.allow_insecure_http && !d.url.startsWith('https://')) {
        ctx.addIssue({
          code: 'custom',
          path: ['destinations', i, 'url'],
          message: `${d.url} is not https (set allow_insecure_http: true only for local testing)`,
        });
      }
    });
  })
  .default({ destinations: DEFAULT_DESTINATIONS });

export type RawPolicy = z.infer<typeof policySchema>;
export type RawAudit = z.infer<typeof auditSchema>;
