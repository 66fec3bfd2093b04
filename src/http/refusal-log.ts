// One gateway-log line for each request the HTTP edge refuses because of what the client
// sent (a body too large, too deep or not JSON, a wrong media type, a second Authorization
// header...). These refusals come before the policy is asked, so they are not decisions and
// never reach the decision log (docs/security.md); this line is where an operator sees them.
import type { IncomingMessage } from 'node:http';
import type { Caller } from '../identity/caller.js';
import type { Logger } from '../util/logger.js';

/** What a guard refused: the status sent (undefined when the client was gone), and why. */
export interface Refusal {
  status: number | undefined;
  reason: string;
}

/**
 * Logs a refusal at `info`: the status sent (undefined when the client was gone), the
 * reason as the client was told it, the peer address and, once authenticated, the subject.
 */
export function logRefusal(
  logger: Logger,
  req: IncomingMessage,
  status: number | undefined,
  reason: string,
  caller?: Caller,
): void {
  logger.info('request refused', {
    status,
    reason,
    method: req.method,
    remote: req.socket.remoteAddress,
    subject: caller?.identity.subject,
  });
}
