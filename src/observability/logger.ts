/** Structured JSON logs (pino). Authorization headers and keys are never written. */
import { pino } from 'pino';

export type Logger = pino.Logger;

/** `destination`: where the lines go (stdout by default; tests read them). */
export function createLogger(opts: {
  level: string;
  name: string;
  destination?: pino.DestinationStream;
}): Logger {
  const options: pino.LoggerOptions = {
    name: opts.name,
    level: opts.level,
    redact: { paths: ['req.headers.authorization', '*.apiKey', '*.key', '*.secret'], censor: '[redacted]' },
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
