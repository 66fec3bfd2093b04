// What Node's HTTP server refuses before a request reaches the gateway: headers that did
// not arrive within gateway.header_timeout_s, a request (with its body) not complete
// within gateway.request_timeout_s (both 408), headers over the size limit (431), a
// request that is not HTTP (400). Node answers these itself; this listener does the same
// (its own answers, byte for byte) and adds a gateway-log line, which Node's default
// handler does not write.
import type { Socket } from 'node:net';
import type { Logger } from '../util/logger.js';

const ANSWERS: Record<string, string> = {
  ERR_HTTP_REQUEST_TIMEOUT: 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n',
  HPE_HEADER_OVERFLOW: 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n',
};
const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';

/** Why a connection was refused, as the gateway log says it. */
const REASONS: Record<string, string> = {
  ERR_HTTP_REQUEST_TIMEOUT:
    'the request headers or body did not arrive in time (gateway.header_timeout_s, gateway.request_timeout_s)',
  HPE_HEADER_OVERFLOW: 'the request headers are too large',
};

/**
 * How long a refused connection is read from (and what is read, dropped) after its answer:
 * closing a socket with unread bytes sends a TCP reset, which can make the client lose the
 * answer (a 431 while it is still sending its headers). A lingering close, as nginx does.
 */
const LINGER_MS = 2_000;
const LINGER_MAX_BYTES = 1024 * 1024;

/** Sockets already answered: the parser reports each later chunk as another error. */
const refused = new WeakSet<Socket>();

/** The server's 'clientError' listener. */
export function clientErrorHandler(
  logger: Logger,
): (err: Error & { code?: string }, socket: Socket) => void {
  return (err, socket) => {
    if (refused.has(socket)) return;
    const code = err.code ?? 'unknown';
    if (code === 'ECONNRESET' || !socket.writable) {
      // The client is gone; nothing to answer, and nothing worth more than a debug line.
      logger.debug('client connection dropped', { code, remote: socket.remoteAddress });
      socket.destroy();
      return;
    }
    logger.info('request refused by the HTTP server', {
      code,
      reason: REASONS[code] ?? `malformed HTTP request: ${err.message}`,
      remote: socket.remoteAddress,
    });
    // As Node does: answer unless a response to this connection has already begun.
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (inFlight?.headersSent) {
      socket.destroy(err);
      return;
    }
    refused.add(socket);
    lingeringClose(socket, ANSWERS[code] ?? BAD_REQUEST);
  };
}

/** Answers, half-closes, and drops what the client still sends, for a bounded time. */
function lingeringClose(socket: Socket, answer: string): void {
  let dropped = 0;
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.on('close', () => clearTimeout(timer));
  socket.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > LINGER_MAX_BYTES) socket.destroy();
  });
  socket.on('error', () => socket.destroy());
  socket.end(answer);
  socket.resume();
}
