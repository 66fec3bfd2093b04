// Where decision-log lines go when the destination is stdout or a file: straight to the
// stream, one line per event. (winston did this before; at a 10-20 KB event per call its
// per-line object, format and stream pipeline cost more CPU than building the event.) A
// write that finds the stream busy is coalesced by Node into one writev with the others.
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';

export interface LineSink {
  write(line: string): void;
  /** Resolves once every line written so far is flushed (and a file is closed). */
  close(): Promise<void>;
}

export function stdoutSink(): LineSink {
  return {
    write(line) {
      process.stdout.write(`${line}\n`);
    },
    close() {
      // stdout is never ended: other writers (and the process) still use it.
      return new Promise((resolve) => {
        process.stdout.write('', () => resolve());
      });
    },
  };
}

/** Appends to `path` (its directory is created), as winston's File transport did. */
export function fileSink(path: string, onError: (err: Error) => void): LineSink {
  mkdirSync(dirname(path), { recursive: true });
  const stream: Writable = createWriteStream(path, { flags: 'a' });
  stream.on('error', onError);
  let closing: Promise<void> | undefined;
  return {
    write(line) {
      if (!stream.writable) return;
      stream.write(`${line}\n`);
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        if (stream.destroyed) {
          resolve();
          return;
        }
        stream.once('close', () => resolve());
        stream.end();
      });
      return closing;
    },
  };
}
