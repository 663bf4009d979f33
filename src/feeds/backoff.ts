/**
 * Delay before a failing feed is polled again: exponential in the number of
 * consecutive failures, capped; a server's Retry-After wins when it asks for
 * longer (never shorter: a 429 with "Retry-After: 0" is not an invitation to hammer).
 */
export function feedBackoffMs(consecutiveFailures: number, options: { baseMs: number; maxMs: number; retryAfterMs?: number | undefined }): number {
  const exp = options.baseMs * 2 ** Math.max(0, Math.min(consecutiveFailures - 1, 30));
  const backoff = Math.min(exp, options.maxMs);
  if (options.retryAfterMs === undefined) return backoff;
  // Cap absurd Retry-After values (a day) so a typo upstream doesn't silence a feed for months.
  return Math.min(Math.max(options.retryAfterMs, backoff), 24 * 3600 * 1000);
}
