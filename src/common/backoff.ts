/**
 * The one back-off rule, for failing feeds and failed sends alike: exponential
 * in the attempt number (the first failure waits `baseMs`), capped at `maxMs`.
 *
 * - `jitter`: a delay between half the ceiling and the ceiling ("full jitter"
 *   kept from being eager), so a backlog released at once after an outage
 *   does not come back as one synchronized wave. Sends use it.
 * - `retryAfterMs`: a server's Retry-After wins when it asks for longer, never
 *   shorter (a 429 with "Retry-After: 0" is not an invitation to hammer), and
 *   is capped at a day so a typo upstream does not silence a feed for months.
 */
export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  jitter?: boolean;
  /** For tests: the source of randomness behind the jitter. */
  random?: () => number;
  retryAfterMs?: number | undefined;
}

const MAX_RETRY_AFTER_MS = 24 * 3600 * 1000;

export function backoffMs(attempt: number, options: BackoffOptions): number {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  const delay = options.jitter ? Math.round(ceiling / 2 + (options.random ?? Math.random)() * (ceiling / 2)) : ceiling;
  if (options.retryAfterMs === undefined) return delay;
  return Math.min(Math.max(options.retryAfterMs, delay), MAX_RETRY_AFTER_MS);
}
