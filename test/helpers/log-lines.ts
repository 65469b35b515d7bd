/** A real pino logger (src/log.ts, redaction included) whose lines a test reads back, parsed. */
import { Writable } from 'node:stream';
import type { LogLevel } from '../../src/config/load.js';
import { createLogger, type Logger } from '../../src/log.js';

export type LogLine = Record<string, unknown>;

export function capturedLog(level: LogLevel): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return { logger: createLogger(level, destination), lines };
}
