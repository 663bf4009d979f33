import { pino, type Logger } from 'pino';
import { AppError } from './errors.ts';

export type { Logger };

/** Where log lines go: anything with `write(line)` (a file descriptor stream, or a test's buffer). */
export interface LogDestination {
  write(line: string): unknown;
}

/**
 * How a logged `err` is written. `full` (the service): every error with its stack and its
 * causes nested, each with its own message. pino's default serializer joins the causes'
 * messages onto the error's own, and our typed errors already say their cause's detail, so
 * it read "network error: getaddrinfo ENOTFOUND x: getaddrinfo ENOTFOUND x".
 * `brief` (a one-shot command, read by a person before its table): a classified error
 * (an AppError: network, timeout, HTTP status, parse…) is expected and says what happened,
 * so it is its class, message and classification without a stack; anything else is a bug
 * and keeps everything.
 */
export type ErrorDetail = 'full' | 'brief';

/**
 * A cause as its class, message, code and stack: what pino's default serializer showed of it
 * (message and stack), apart. Not its other fields: a provider's error carries the envelope
 * (nodemailer's `rejected`, a database's `detail`) that must not reach the logs.
 */
function causeOf(cause: unknown, depth = 0): unknown {
  if (!(cause instanceof Error)) return cause === undefined ? undefined : String(cause);
  const code = (cause as { code?: unknown }).code;
  const inner = depth < 5 ? causeOf(cause.cause, depth + 1) : undefined;
  return {
    type: cause.name,
    message: cause.message,
    ...(code === undefined ? {} : { code }),
    stack: cause.stack,
    ...(inner === undefined ? {} : { cause: inner }),
  };
}

function fullError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const out = pino.stdSerializers.errWithCause(err) as unknown as Record<string, unknown>;
  const cause = causeOf(err.cause);
  if (cause === undefined) delete out.cause;
  else out.cause = cause;
  return out;
}

function briefError(err: unknown): unknown {
  if (!(err instanceof AppError)) return fullError(err);
  // Own enumerable fields: classification, and a subclass's (kind, details); never stack or cause.
  const { name, ...fields } = Object.fromEntries(Object.entries(err)) as { name?: string };
  return { type: name ?? err.name, message: err.message, ...fields };
}

/** JSON logs on stderr (or `destination`), so stdout stays clean for command output (`--json`). */
export function createLogger(level: string, destination: LogDestination = pino.destination(2), errors: ErrorDetail = 'full'): Logger {
  return pino(
    {
      level,
      base: { service: 'advisory-alerts' },
      serializers: { err: errors === 'brief' ? briefError : fullError },
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
