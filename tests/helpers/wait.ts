/** Waiting for a condition instead of sleeping for a fixed time. */

export interface WaitOptions {
  /** Give up after this long (default 60 s: a loaded machine stretches child-process start-ups a lot). */
  timeoutMs?: number;
  /** Longest pause between probes (they start at 10 ms and double up to this; default 100 ms). */
  everyMs?: number;
  /** Why the condition can no longer come true (e.g. the process exited): fails the wait at once. */
  dead?: () => string | undefined;
}

/** Probes until it returns a value other than undefined / null / false; fails with `what` after the deadline. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  options: WaitOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  let delay = 10;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== null && v !== false) return v;
    const dead = options.dead?.();
    if (dead) throw new Error(`while waiting for ${what}: ${dead}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, options.everyMs ?? 100);
  }
}
