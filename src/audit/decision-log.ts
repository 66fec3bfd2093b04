// Writes every decision as one JSON event in OPA's decision-log shape, so tooling that
// reads OPA decision logs reads these unchanged, to each audit destination: stdout, a
// file (one line per event, written in batches off the event loop: line-writer.ts)
// or an OPA-compatible decision-log service (gzipped batches, see upload.ts).
//
// The policy that decided also decides what is logged, as in OPA: when its bundle has
// the entrypoints system/log/drop and system/log/mask (`mcpgate policy build` adds them
// when the rules exist), each event is first given to drop (true: not logged, counted),
// then to mask (rules that erase or replace parts of input and result; see
// mask.ts). Without them the event is built by hand around the
// pre-serialised input: the same bytes the policy saw, never parsed or re-serialised.
//
// If drop or mask fails (an evaluation error, an invalid rule set), the event is still
// written, but without its input: `erased: ["/input"]` and `log_error` say why. Nothing
// sensitive the mask was meant to remove can leak, and the audit trail has no gap. (OPA
// itself drops the event in that case.)
import { createSecretKey, randomUUID, type KeyObject } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { ConfigError } from '../config/load.js';
import { DEFAULT_SPOOL_DIR, type AuditDestination } from '../config/policy.js';
import { describeSource, readValue, type SecretRef } from '../config/secrets.js';
import { McpgateError } from '../util/errors.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { applyMaskRules, DROP_ENTRYPOINT, MASK_ENTRYPOINT, parseMaskRules } from './mask.js';
import {
  fileSink,
  stdoutSink,
  type LineSink,
  type LineSinkOptions,
  type LineSinkStatus,
  type SinkCloseReport,
} from './line-writer.js';
import { describe, listSpools, spooledLines, writeSpool } from './spool.js';
import { DecisionLogUploader, type UploadStats } from './upload.js';
import { describeThrown, type PolicyEngine } from '../policy/engine.js';

export interface DecisionEvent {
  path: string;
  inputJson: string;
  result: unknown;
  revision: string;
  evalNs: number;
  /** Correlates with the JSON-RPC request id and the session. */
  reqId: string | number | undefined;
  sessionId: string | undefined;
  requestedBy: string | undefined;
  /** A result decision: the id of the decision on the call it is the result of. */
  parentDecisionId?: string;
  /** The credential the allowed call ran with: kind, audience, scopes, acting chain (never a token). */
  credential?: unknown;
  /** The request's trace, when it is traced: OPA's trace_id and span_id (the SERVER span). */
  trace?: { traceId: string; spanId: string };
}

export interface DecisionLogStats extends UploadStats {
  /** Decisions whose line was refused (a destination full, failing or closed): those requests were refused. */
  refused: number;
  /** Events the policy's system.log.drop dropped. */
  dropped_policy: number;
  /** Events written without their input because drop or mask failed. */
  mask_errors: number;
  /** The stdout and file destinations: what waits to be written, and the last error. */
  writers: LineSinkStatus[];
}

/** What became of one decision's line. */
export interface LoggedDecision {
  decisionId: string;
  /**
   * Set when the line was refused (a destination is full, failing with `accept: written`,
   * or closed): nothing was queued anywhere, and the request must not be served. The
   * reason is written for the client.
   */
  refused?: string;
  /**
   * With a stdout or file destination that accepts `written` lines: resolves once every
   * such destination has written the line; rejects (LineWriteFailed) when a write fails.
   * The request may be served only after it resolves. Undefined when nothing needs waiting for.
   */
  written?: Promise<void>;
}

/** What close() could not write to a destination (or upload to a service). */
export interface DecisionLogCloseReport {
  /** Lines put in a spool file (delivered, or uploaded, at the next start). */
  spooled: Array<{ destination: string; file: string; lines: number; error: string }>;
  /** Lines neither written nor spooled (printed on stderr). */
  unsaved: Array<{ destination: string; lines: number; error: string }>;
}

export interface DecisionLog {
  /**
   * Logs one decision (also when the event is dropped by the policy's system.log.drop).
   * Never blocks: the line is queued for every destination before this returns, and files,
   * stdout and uploads are written in the background; `written` says when it is on its way
   * to storage. `engine` is the policy that made the decision (its system.log.drop /
   * system.log.mask apply); undefined when none is loaded.
   */
  write(event: DecisionEvent, engine: PolicyEngine | undefined): LoggedDecision;
  /**
   * The last events this process logged (at most RECENT_EVENTS), oldest first, as written
   * (after the policy's mask): the console's recent decisions. Parsed only when read.
   */
  recent(): string[];
  /** Counters for /readyz; the upload ones are summed over service destinations. */
  stats(): DecisionLogStats;
  /** False while a stdout or file destination fails to write or has reached its bound. */
  healthy(): boolean;
  /**
   * Why the gateway must refuse new requests now: a stdout or file destination has
   * max_buffer_bytes waiting (its storage fails or is too slow), cannot be written while it
   * accepts only `written` lines, or is closed; a service destination that refuses when full
   * has max_buffer_events waiting. Undefined otherwise.
   */
  refusal(): string | undefined;
  /**
   * Writes everything queued to stdout and files (what cannot be written goes to a spool
   * file) and makes a last, bounded upload attempt.
   */
  close(): Promise<DecisionLogCloseReport>;
}

export interface DecisionLogOptions {
  logger?: Logger;
  /** Signs every stdout and file line (audit.hmac_key, read by hmacKeyFrom). */
  hmacKey?: KeyObject;
  /** audit.spool_dir. */
  spoolDir?: string;
  /** Bound on the final upload, and on waiting for a file write in flight, at close(). Default 2000 ms. */
  closeTimeoutMs?: number;
  /** Bound on one upload request. Default 30000 ms. */
  requestTimeoutMs?: number;
}

/** The fields of one event, each already JSON text. */
interface EventParts {
  head: string;
  input: string;
  tail: string;
}

const ERROR_LOG_INTERVAL_MS = 60_000;
/** Events kept in memory for the console (one array store per event on the request path). */
export const RECENT_EVENTS = 500;

export function createDecisionLog(
  destinations: AuditDestination[],
  labels: { id: string; version: string },
  options: DecisionLogOptions = {},
): DecisionLog {
  const logger = options.logger ?? silentLogger;
  const sinks: LineSink[] = [];
  const uploaders: DecisionLogUploader[] = [];
  const spoolDir = options.spoolDir ?? DEFAULT_SPOOL_DIR;
  const sinkOptions = (
    d: Extract<AuditDestination, { type: 'stdout' | 'file' }>,
  ): LineSinkOptions => ({
    maxBufferBytes: d.maxBufferBytes,
    accept: d.accept,
    maxFileBytes: d.type === 'file' ? d.maxFileBytes : undefined,
    syncWriteLimitMs: d.type === 'file' ? d.syncWriteLimitMs : undefined,
    hmacKey: options.hmacKey,
    spoolDir,
    closeTimeoutMs: options.closeTimeoutMs,
    // The writer reports a failure that repeats once a minute itself; losses always.
    onError: (message, meta) => logger.error(message, meta),
    onRecovered: (message, meta) => logger.warn(message, meta),
    onNotice: (message, meta) => logger.warn(message, meta),
  });
  for (const d of destinations) {
    switch (d.type) {
      case 'stdout':
        sinks.push(stdoutSink(sinkOptions(d)));
        break;
      case 'file':
        sinks.push(fileSink(d.path, sinkOptions(d)));
        break;
      case 'service': {
        const uploader = new DecisionLogUploader(d, {
          logger,
          closeTimeoutMs: options.closeTimeoutMs,
          requestTimeoutMs: options.requestTimeoutMs,
        });
        recoverSpooled(uploader, spoolDir, logger);
        uploaders.push(uploader);
        break;
      }
    }
  }

  reportStraySpools(
    spoolDir,
    [...sinks.map((sink) => sink.status().destination), ...uploaders.map((u) => u.name)],
    logger,
  );

  const labelsJson = JSON.stringify({ id: labels.id, type: 'mcpgate', version: labels.version });
  const counts = { refused: 0, dropped_policy: 0, mask_errors: 0 };
  const errorLog = throttled(logger, ERROR_LOG_INTERVAL_MS);
  const refusedLog = throttled(logger, ERROR_LOG_INTERVAL_MS);
  let closing: Promise<DecisionLogCloseReport> | undefined;
  const recent: string[] = new Array<string>(RECENT_EVENTS);
  let written = 0;
  const remember = (line: string): void => {
    recent[written++ % RECENT_EVENTS] = line;
  };

  const refusers: ReadonlyArray<{ refusal(): string | undefined }> = [...sinks, ...uploaders];
  const refusal = (): string | undefined => {
    for (const sink of refusers) {
      const reason = sink.refusal();
      if (reason !== undefined) return reason;
    }
    return undefined;
  };

  /** Queues the event for every destination; resolves once the `written` ones have it. */
  const emit = (event: string): Promise<void> | undefined => {
    let written: Promise<void> | undefined;
    let more: Array<Promise<void>> | undefined;
    for (const sink of sinks) {
      // Each chains and encodes the event once, into its own line.
      const done = sink.write(event);
      if (done === undefined) continue;
      if (written === undefined) written = done;
      else (more ??= [written]).push(done);
    }
    // Uploads carry the event as built: a log service stores events, not these bytes.
    for (const uploader of uploaders) uploader.push(event);
    if (more === undefined) return written;
    const all = Promise.all(more).then(() => undefined);
    all.catch(() => undefined);
    return all;
  };

  /** The event after drop and mask: its JSON text, or undefined when dropped. */
  const applyLogPolicy = (
    engine: PolicyEngine,
    parts: EventParts,
    line: string,
    path: string,
  ): string | undefined => {
    try {
      if (
        engine.hasEntrypoint(DROP_ENTRYPOINT) &&
        engine.evaluate(DROP_ENTRYPOINT, line) === true
      ) {
        counts.dropped_policy++;
        return undefined;
      }
      if (!engine.hasEntrypoint(MASK_ENTRYPOINT)) return line;
      const rules = parseMaskRules(engine.evaluate(MASK_ENTRYPOINT, line));
      if (rules.length === 0) return line;
      // The one place the event becomes an object: parsed once, masked in place.
      const event = JSON.parse(line) as Record<string, unknown>;
      const { erased, masked } = applyMaskRules(event, rules);
      if (erased.length === 0 && masked.length === 0) return line;
      if (erased.length > 0) event.erased = erased;
      if (masked.length > 0) event.masked = masked;
      return JSON.stringify(event);
    } catch (err) {
      counts.mask_errors++;
      const message = `decision log drop/mask failed, input erased: ${describeThrown(err)}`;
      errorLog(message, { path, revision: engine.revision });
      return (
        `${parts.head}${parts.tail.slice(0, -1)}` +
        `,"erased":["/input"],"log_error":${JSON.stringify(message)}}`
      );
    }
  };

  return {
    write(event, engine) {
      const decisionId = randomUUID();
      // All or none: no destination gets a line another one refuses.
      const refused = refusal();
      if (refused !== undefined) {
        counts.refused++;
        refusedLog(
          'decision not logged: the decision log refused its line; the request was refused',
          {
            decision_id: decisionId,
            path: event.path,
            session: event.sessionId?.slice(0, 8),
            reason: refused,
          },
        );
        return { decisionId, refused };
      }
      // Built by hand around the pre-serialised input: same bytes the policy saw.
      const parts: EventParts = {
        head:
          `{"decision_id":${JSON.stringify(decisionId)}` +
          `,"labels":${labelsJson}` +
          `,"bundles":{"mcpgate":{"revision":${JSON.stringify(event.revision)}}}` +
          `,"path":${JSON.stringify(event.path)}`,
        input: `,"input":${event.inputJson}`,
        tail:
          `,"result":${JSON.stringify(event.result ?? null)}` +
          `,"requested_by":${JSON.stringify(event.requestedBy ?? '')}` +
          `,"req_id":${JSON.stringify(event.reqId ?? null)}` +
          `,"session_id":${JSON.stringify(event.sessionId ?? null)}` +
          (event.parentDecisionId === undefined
            ? ''
            : `,"parent_decision_id":${JSON.stringify(event.parentDecisionId)}`) +
          (event.trace === undefined
            ? ''
            : `,"trace_id":"${event.trace.traceId}","span_id":"${event.trace.spanId}"`) +
          (event.credential === undefined
            ? ''
            : `,"credential":${JSON.stringify(event.credential)}`) +
          `,"timestamp":${JSON.stringify(new Date().toISOString())}` +
          `,"metrics":{"timer_rego_query_eval_ns":${Math.round(event.evalNs)}}}`,
      };
      const line = parts.head + parts.input + parts.tail;
      if (
        engine === undefined ||
        (!engine.hasEntrypoint(DROP_ENTRYPOINT) && !engine.hasEntrypoint(MASK_ENTRYPOINT))
      ) {
        remember(line);
        return { decisionId, written: emit(line) };
      }
      const logged = applyLogPolicy(engine, parts, line, event.path);
      if (logged !== undefined) remember(logged);
      return { decisionId, written: logged === undefined ? undefined : emit(logged) };
    },

    stats() {
      const total: DecisionLogStats = {
        sent: 0,
        dropped_buffer: 0,
        failed_attempts: 0,
        buffered: 0,
        ...counts,
        writers: sinks.map((sink) => sink.status()),
      };
      for (const uploader of uploaders) {
        const s = uploader.stats();
        total.sent += s.sent;
        total.dropped_buffer += s.dropped_buffer;
        total.failed_attempts += s.failed_attempts;
        total.buffered += s.buffered;
      }
      return total;
    },

    healthy() {
      return (
        sinks.every((sink) => {
          const status = sink.status();
          return status.error === null && !status.refusing;
        }) && uploaders.every((u) => u.refusal() === undefined)
      );
    },

    refusal,

    recent() {
      const start = Math.max(0, written - RECENT_EVENTS);
      const out: string[] = [];
      for (let i = start; i < written; i++) out.push(recent[i % RECENT_EVENTS]!);
      return out;
    },

    close() {
      closing ??= Promise.all([
        Promise.all(sinks.map((sink) => sink.close())),
        Promise.all(
          uploaders.map(async (u) => spoolUnsent(u.name, await u.close(), spoolDir, logger)),
        ),
      ]).then(([written, uploaded]) => closeReport([...written, ...uploaded]));
      return closing;
    },
  };
}

/** What an uploader could not send at shutdown goes to a spool file (the next start sends it). */
function spoolUnsent(
  destination: string,
  unsent: { events: string[]; error: string },
  spoolDir: string,
  logger: Logger,
): SinkCloseReport {
  const report: SinkCloseReport = { destination };
  if (unsent.events.length === 0) return report;
  const lines = unsent.events.map((e) => Buffer.from(`${e}\n`));
  try {
    const file = writeSpool(spoolDir, destination, lines, unsent.error);
    report.spooled = { file, lines: lines.length, error: unsent.error };
    logger.error('decision log events spooled: the service could not take them', {
      destination,
      events: lines.length,
      spool: file,
      error: unsent.error,
    });
  } catch (err) {
    report.unsaved = { lines: lines.length, error: `${unsent.error}; spool: ${describe(err)}` };
    for (const event of unsent.events) {
      logger.error('unsaved decision log line', { destination, line: event });
    }
  }
  return report;
}

/**
 * Spool files whose destination is not configured (any more): left where they are, and
 * said at every start so they are not forgotten.
 */
function reportStraySpools(spoolDir: string, destinations: string[], logger: Logger): void {
  const configured = new Set(destinations);
  for (const spool of listSpools(spoolDir)) {
    if (configured.has(spool.header.destination)) continue;
    logger.warn(
      'a spool file of a destination that is not configured is left in the spool directory',
      {
        spool: spool.path,
        destination: spool.header.destination,
        lines: spool.header.lines,
        written_at: spool.header.created_at,
      },
    );
  }
}

/** Spool files a service destination left at an earlier shutdown: uploaded first, then removed. */
function recoverSpooled(uploader: DecisionLogUploader, spoolDir: string, logger: Logger): void {
  for (const spool of listSpools(spoolDir)) {
    if (spool.header.destination !== uploader.name) continue;
    const events = spooledLines(spool.path).map((l) => l.toString('utf8', 0, l.length - 1));
    logger.warn('decision log events from a spool file left by an earlier run are uploaded first', {
      destination: uploader.name,
      spool: spool.path,
      events: events.length,
    });
    uploader.recover(events, () => {
      unlinkSync(spool.path);
      logger.warn('decision log events from a spool file uploaded; the spool file is removed', {
        destination: uploader.name,
        spool: spool.path,
      });
    });
  }
}

function closeReport(reports: SinkCloseReport[]): DecisionLogCloseReport {
  const report: DecisionLogCloseReport = { spooled: [], unsaved: [] };
  for (const r of reports) {
    if (r.spooled) report.spooled.push({ destination: r.destination, ...r.spooled });
    if (r.unsaved) report.unsaved.push({ destination: r.destination, ...r.unsaved });
  }
  return report;
}

/**
 * close() could not write every line to its destination: they are in spool files (or, when
 * even that failed, on stderr). The message names them; the process should exit non-zero.
 */
export class DecisionLogNotFlushedError extends McpgateError {
  static override readonly code = 'ERR_AUDIT_NOT_FLUSHED';

  constructor(readonly report: DecisionLogCloseReport) {
    const parts = [
      ...report.spooled.map(
        (s) =>
          `${s.lines} decision-log lines could not be written to ${s.destination} (${s.error}) ` +
          `and were saved in ${s.file}; the next start delivers them ` +
          `(to check them now: mcpgate audit verify <the destination's files> ${s.file})`,
      ),
      ...report.unsaved.map(
        (u) =>
          `${u.lines} decision-log lines could be neither written to ${u.destination} nor ` +
          `spooled (${u.error}); they were printed on stderr as "unsaved decision log line" records`,
      ),
    ];
    super(parts.join('; '));
  }
}

/** Bytes an HMAC key must have at least: as many as the hash's output. */
const MIN_HMAC_KEY_BYTES = 32;

/** Reads audit.hmac_key (once, at start); a key shorter than 32 bytes is refused. */
export function hmacKeyFrom(ref: SecretRef): KeyObject {
  const value = readValue(ref, 'audit.hmac_key');
  const bytes = Buffer.byteLength(value);
  if (bytes < MIN_HMAC_KEY_BYTES) {
    throw new ConfigError(
      `audit.hmac_key: the key in ${describeSource(ref)} has ${bytes} bytes; use at least ` +
        `${MIN_HMAC_KEY_BYTES} (for example: openssl rand -hex 32)`,
    );
  }
  return createSecretKey(Buffer.from(value, 'utf8'));
}

/** Logs an error at most once per interval, with how many were not logged in between. */
function throttled(
  logger: Logger,
  intervalMs: number,
): (message: string, meta: Record<string, unknown>) => void {
  let last = -Infinity;
  let suppressed = 0;
  return (message, meta) => {
    const now = Date.now();
    if (now - last < intervalMs) {
      suppressed++;
      return;
    }
    logger.error(message, suppressed > 0 ? { ...meta, suppressed } : meta);
    last = now;
    suppressed = 0;
  };
}
