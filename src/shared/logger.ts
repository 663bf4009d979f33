import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs on stderr, so stdout stays clean for command output (`--json`). */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'advisory-alerts' } }, pino.destination(2));
}

export const silentLogger: Logger = pino({ level: 'silent' });
