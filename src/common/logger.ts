import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs on stderr, so stdout stays clean for command output (`--json`). */
export function createLogger(level: string): Logger {
  return pino(
    {
      level,
      base: { service: 'advisory-alerts' },
      // Belt and braces: nothing logs these, and if something ever does they come out censored.
      redact: {
        paths: ['authToken', '*.authToken', 'password', '*.password', 'smtpUrl', '*.smtpUrl', 'databaseUrl', '*.databaseUrl', 'secret', '*.secret', 'token', '*.token', 'code', 'headers.authorization'],
        censor: '[redacted]',
      },
    },
    pino.destination(2),
  );
}

export const silentLogger: Logger = pino({ level: 'silent' });
