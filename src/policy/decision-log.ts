// Writes every decision as one JSON line in OPA's decision-log event shape, so tooling that
// reads OPA decision logs reads these unchanged. The input is embedded as the exact JSON
// text the policy evaluated (serialised once per request, never re-serialised here).
import { randomUUID } from 'node:crypto';
import winston from 'winston';
import type { GatewayConfig } from '../config/load.js';

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
}

export interface DecisionLog {
  write(event: DecisionEvent): string;
  close(): Promise<void>;
}

export function createDecisionLog(
  destinations: GatewayConfig['audit']['destinations'],
  labels: { id: string; version: string },
): DecisionLog {
  const transports = destinations.map((d) =>
    d.type === 'file'
      ? new winston.transports.File({ filename: d.path })
      : new winston.transports.Console({ stderrLevels: [] }),
  );
  const logger = winston.createLogger({
    level: 'info',
    format: winston.format.printf((info) => String(info.message)),
    transports,
  });
  const labelsJson = JSON.stringify({ id: labels.id, type: 'mcpgate', version: labels.version });
  return {
    write(event) {
      const decisionId = randomUUID();
      // Built by hand around the pre-serialised input: same bytes the policy saw.
      const line =
        `{"decision_id":${JSON.stringify(decisionId)}` +
        `,"labels":${labelsJson}` +
        `,"bundles":{"mcpgate":{"revision":${JSON.stringify(event.revision)}}}` +
        `,"path":${JSON.stringify(event.path)}` +
        `,"input":${event.inputJson}` +
        `,"result":${JSON.stringify(event.result ?? null)}` +
        `,"requested_by":${JSON.stringify(event.requestedBy ?? '')}` +
        `,"req_id":${JSON.stringify(event.reqId ?? null)}` +
        `,"session_id":${JSON.stringify(event.sessionId ?? null)}` +
        `,"timestamp":${JSON.stringify(new Date().toISOString())}` +
        `,"metrics":{"timer_rego_query_eval_ns":${Math.round(event.evalNs)}}}`;
      logger.info(line);
      return decisionId;
    },
    close() {
      return new Promise((resolve) => {
        logger.on('finish', () => resolve());
        logger.end();
      });
    },
  };
}
