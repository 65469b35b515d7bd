import { pino, type Logger } from 'pino';
import type { LogLevel } from './config/load.js';

export type { Logger };

/**
 * JSON logs on stdout. Nothing in the request path logs headers wholesale,
 * but the redaction list stands guard should anyone add them.
 */
export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: {
        paths: [
          'token',
          '*.token',
          'headers.cookie',
          'headers.authorization',
          'headers["set-cookie"]',
          '*.headers.cookie',
          '*.headers.authorization',
          '*.headers["set-cookie"]',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
