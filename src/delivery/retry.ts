/**
 * Delay before the next attempt of a failed send: exponential in the attempt
 * number, capped, with "full jitter" so that a backlog released at once after
 * an outage doesn't come back as one synchronized wave.
 */
export function retryDelayMs(attempt: number, options: { baseMs: number; maxMs: number; random?: () => number }): number {
  const random = options.random ?? Math.random;
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  // Never less than half the ceiling: jitter spreads retries without making them eager.
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
