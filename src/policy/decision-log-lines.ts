// Where decision-log lines go when the destination is stdout or a file: straight to the
// stream, one line per event. (winston did this before; at a 10-20 KB event per call its
// per-line object, format and stream pipeline cost more CPU than building the event.)
//
// A file gets each line with one synchronous append: measured at a third of the CPU of an
// fs.WriteStream (which hands every write to the thread pool and back), and the decision
// is on disk (in the page cache) before the answer that carries its decision id leaves.
// The price is that a file on a slow network filesystem would stall the event loop:
// audit files belong on local disk (or use the service destination).
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

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
  let fd: number | undefined = openSync(path, 'a');
  return {
    write(line) {
      if (fd === undefined) return;
      try {
        writeSync(fd, `${line}\n`);
      } catch (err) {
        onError(err instanceof Error ? err : new Error(String(err)));
      }
    },
    close() {
      if (fd !== undefined) {
        const open = fd;
        fd = undefined;
        try {
          closeSync(open);
        } catch (err) {
          onError(err instanceof Error ? err : new Error(String(err)));
        }
      }
      return Promise.resolve();
    },
  };
}
