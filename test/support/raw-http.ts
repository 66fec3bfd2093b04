// HTTP clients a fetch() cannot be: the same header sent twice, on separate lines (fetch
// joins them into one), with Node's own client; a client that sends its request slowly,
// byte by byte, on a plain socket; a keep-alive connection left idle.
import { request, type Agent } from 'node:http';
import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The client's port of the connection it went out on: the same for a reused connection. */
  localPort: number | undefined;
}

/**
 * POSTs `body` with exactly these header lines; an array value is sent as several lines.
 * With `agent`, on the agent's connections (a keep-alive agent reuses them).
 */
export function postWithHeaders(
  url: string,
  headers: Record<string, string | string[]>,
  body: string,
  agent?: Agent,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text,
          localPort: req.socket?.localPort,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export interface SlowClientResult {
  /** Everything the server sent before it closed the connection. */
  answer: string;
  /** False when the connection was still open at the safety deadline (the test fails). */
  closedByServer: boolean;
}

/**
 * A slow client (slowloris): connects, writes `head`, then writes `trickle` every
 * `everyMs` until the server closes the connection, or `giveUpMs` passes.
 */
export function slowClient(
  url: string,
  head: string,
  trickle: string,
  everyMs: number,
  giveUpMs = 30_000,
): Promise<SlowClientResult> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let answer = '';
    let ticker: NodeJS.Timeout | undefined;
    const finish = (closedByServer: boolean): void => {
      clearInterval(ticker);
      clearTimeout(giveUp);
      socket.destroy();
      resolve({ answer, closedByServer });
    };
    const giveUp = setTimeout(() => finish(false), giveUpMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('close', () => finish(true));
    socket.on('error', () => undefined); // a reset after the answer: 'close' follows
    socket.on('connect', () => {
      socket.write(head);
      ticker = setInterval(() => {
        if (!socket.destroyed) socket.write(trickle);
      }, everyMs);
    });
  });
}

/** Sends one keep-alive request and resolves once the server closes the idle connection. */
export function keepAliveClose(
  url: string,
  path: string,
  giveUpMs = 30_000,
): Promise<SlowClientResult> {
  const { hostname, port, host } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let answer = '';
    const giveUp = setTimeout(() => {
      socket.destroy();
      resolve({ answer, closedByServer: false });
    }, giveUpMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(giveUp);
      resolve({ answer, closedByServer: true });
    });
    socket.on('connect', () =>
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: keep-alive\r\n\r\n`),
    );
  });
}
