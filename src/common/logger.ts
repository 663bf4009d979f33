import { pino, type Logger } from 'pino';

export type { Logger };

/** Where log lines go: anything with `write(line)` (a file descriptor stream, or a test's buffer). */
export interface LogDestination {
  write(line: string): unknown;
}

/** JSON logs on stderr (or `destination`), so stdout stays clean for command output (`--json`). */
export function createLogger(level: string, destination: LogDestination = pino.destination(2)): Logger {
  return pino(
    {
      level,
      base: { service: 'advisory-alerts' },
      // Belt and braces: nothing logs these, and if something ever does they come out censored.
      redact: {
        paths: [
          'authToken',
          '*.authToken',
          'password',
          '*.password',
          'smtpUrl',
          '*.smtpUrl',
          'databaseUrl',
          '*.databaseUrl',
          'secret',
          '*.secret',
          'token',
          '*.token',
          'code',
          'headers.authorization',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

export const silentLogger: Logger = pino({ level: 'silent' });
