import { describe, expect, it } from 'vitest';
import { FORCE_STOP_AFTER_MS, repeatedStopSignal } from '../../src/common/stop-signal.ts';

describe('repeatedStopSignal', () => {
  const first = new Date('2026-11-30T09:00:00.000Z');
  const later = (ms: number) => new Date(first.getTime() + ms);

  it('the same Ctrl-C passed on by npm (milliseconds later) is a duplicate, not a second request', () => {
    expect(repeatedStopSignal(first, first)).toBe('duplicate');
    expect(repeatedStopSignal(first, later(5))).toBe('duplicate');
    expect(repeatedStopSignal(first, later(FORCE_STOP_AFTER_MS))).toBe('duplicate');
  });

  it('a signal sent well after the first forces the exit', () => {
    expect(repeatedStopSignal(first, later(FORCE_STOP_AFTER_MS + 1))).toBe('force');
    expect(repeatedStopSignal(first, later(60_000))).toBe('force');
  });
});
