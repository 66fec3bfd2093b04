// A real winston logger (the gateway's own kind) that keeps every line it writes, at every
// level, so a test can read what the gateway logged: and what it must never log.
import { Writable } from 'node:stream';
import winston from 'winston';
import type { Logger } from '../../src/util/logger.js';

/** A JSON-lines logger at `debug` that appends each line to `lines`. */
export function capturingLogger(lines: string[]): Logger {
  return winston.createLogger({
    level: 'debug',
    format: winston.format.json(),
    transports: [
      new winston.transports.Stream({
        stream: new Writable({
          write(chunk: Buffer, _encoding, done) {
            lines.push(chunk.toString('utf8'));
            done();
          },
        }),
      }),
    ],
  });
}
