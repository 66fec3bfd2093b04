// A real winston logger whose JSON lines the test reads back: what the gateway would log.
import { Writable } from 'node:stream';
import winston from 'winston';

/** Logs into `messages`, one JSON text per entry. */
export function captureLogger(messages: string[]): winston.Logger {
  return winston.createLogger({
    transports: [
      new winston.transports.Stream({
        stream: new Writable({
          write(chunk: Buffer, _enc, done) {
            messages.push(chunk.toString());
            done();
          },
        }),
      }),
    ],
  });
}
