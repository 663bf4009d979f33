/**
 * Errors crossing an I/O boundary carry a classification so callers can decide
 * between retrying later and giving up, without parsing messages.
 */
export type ErrorClass = 'retryable' | 'permanent';

export class AppError extends Error {
  constructor(
    message: string,
    readonly classification: ErrorClass,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
  get retryable(): boolean {
    return this.classification === 'retryable';
  }
}

/** The embedded or remote database could not be reached or used. */
export class DatabaseError extends AppError {}

/** A user-facing refusal (bad input, unknown id): printed as one line, exit non-zero. */
export class UsageError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'permanent', options);
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
