/**
 * A stop signal arriving while the service already stops: a terminal's Ctrl-C
 * reaches node twice within milliseconds (from the terminal, to the whole
 * foreground process group, and again from `npm start`, which passes its own
 * on), and that duplicate must not cut the clean stop short. Only a signal sent
 * well after the first is someone asking again, because the stop hangs.
 */
export const FORCE_STOP_AFTER_MS = 2_000;

export function repeatedStopSignal(firstAt: Date, now: Date): 'duplicate' | 'force' {
  return now.getTime() - firstAt.getTime() > FORCE_STOP_AFTER_MS ? 'force' : 'duplicate';
}
