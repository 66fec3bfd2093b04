// Operational log (not the audit log): JSON lines on stderr, so stdout stays free for the
// decision log when it is routed there.
import winston from 'winston';

export type Logger = winston.Logger;

export function createLogger(level: string): Logger {
  return winston.createLogger({
    level,
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [
      new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] }),
    ],
  });
}

export const silentLogger: Logger = winston.createLogger({ silent: true });
