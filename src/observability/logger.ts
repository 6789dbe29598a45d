/** Structured JSON logs (pino). Authorization headers and keys are never written. */
import { pino } from 'pino';

export type Logger = pino.Logger;

export function createLogger(opts: { level: string; name: string }): Logger {
  return pino({
    name: opts.name,
    level: opts.level,
    redact: { paths: ['req.headers.authorization', '*.apiKey', '*.key', '*.secret'], censor: '[redacted]' },
  });
}
