// What Node's HTTP server refuses before a request reaches the gateway: headers that did
// not arrive within gateway.header_timeout_s, a request (with its body) not complete
// within gateway.request_timeout_s (both 408), headers over the size limit (431), a
// request that is not HTTP (400). Node answers these itself; this listener gives the same
// answers, byte for byte, adds a gateway-log line, which Node's default handler does not
// write, and closes the connection without resetting it (below).
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
 * How long a refused connection may go on sending after its answer before it is cut off.
 * Closing a socket whose peer is still sending resets it, and a client that is still
 * writing (the rest of oversized headers, a trickling body) then drops the answer unread:
 * Node 24's client nearly always did, reporting ECONNRESET instead of the 431.
 */
const LINGER_MS = 1000;

/** The server's 'clientError' listener. */
export function clientErrorHandler(
  logger: Logger,
): (err: Error & { code?: string }, socket: Socket) => void {
  // Node's parser reports an error again for every later chunk of a connection it has
  // refused; that connection is answered, logged and closed once.
  const answered = new WeakSet<Socket>();
  return (err, socket) => {
    if (answered.has(socket)) return;
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
    answered.add(socket);
    // As Node does: no answer once a response to this connection has begun.
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (inFlight?.headersSent) {
      socket.destroy(err);
      return;
    }
    // Close gently: end after the answer, read and drop what the client still sends, and
    // cut the connection off after LINGER_MS at the latest.
    socket.end(ANSWERS[code] ?? BAD_REQUEST);
    socket.resume();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  };
}
