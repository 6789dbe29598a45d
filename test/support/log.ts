/** A logger whose lines the test reads back: the messages said at a pino level (30 info, 40 warn, 50 error). */
import { createLogger, type Logger } from '../../src/observability/logger.js';

export function capturedLog(): { log: Logger; said: (level: number) => string[] } {
  const lines: { level: number; msg: string }[] = [];
  const log = createLogger({
    level: 'info',
    name: 'test',
    destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
  });
  return { log, said: (level) => lines.filter((l) => l.level === level).map((l) => l.msg) };
}
