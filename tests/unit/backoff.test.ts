import { describe, expect, it } from 'vitest';
import { backoffMs } from '../../src/common/backoff.ts';

const S = 1000;
const H = 3600 * S;

describe('backoffMs for a failing feed (no jitter, Retry-After honoured)', () => {
  const opts = { baseMs: 60 * S, maxMs: 6 * H };
  it.each<[string, number, { retryAfterMs?: number }, number]>([
    ['first failure: the base delay', 1, {}, 60 * S],
    ['second failure doubles', 2, {}, 120 * S],
    ['third failure doubles again', 3, {}, 240 * S],
    ['sixth failure', 6, {}, 32 * 60 * S],
    ['capped at maxMs', 10, {}, 6 * H],
    ['a huge failure count stays capped (no overflow)', 10_000, {}, 6 * H],
    ['zero failures is treated as one', 0, {}, 60 * S],
    ['Retry-After wins when longer than the back-off', 1, { retryAfterMs: 120 * S }, 120 * S],
    ['Retry-After loses when shorter than the back-off', 3, { retryAfterMs: 10 * S }, 240 * S],
    ['Retry-After: 0 is not an invitation to hammer', 2, { retryAfterMs: 0 }, 120 * S],
    ['Retry-After longer than maxMs still wins', 10, { retryAfterMs: 12 * H }, 12 * H],
    ['Retry-After of two days is capped at 24 h', 1, { retryAfterMs: 48 * H }, 24 * H],
    ['Retry-After of exactly 24 h is kept', 1, { retryAfterMs: 24 * H }, 24 * H],
  ])('%s', (_name, failures, extra, expected) => {
    expect(backoffMs(failures, { ...opts, ...extra })).toBe(expected);
  });

  it('grows monotonically up to the cap', () => {
    const delays = Array.from({ length: 15 }, (_, i) => backoffMs(i + 1, opts));
    for (let i = 1; i < delays.length; i++) expect(delays[i]!).toBeGreaterThanOrEqual(delays[i - 1]!);
    expect(delays.at(-1)).toBe(6 * H);
  });
});

describe('backoffMs for a failed send (jitter)', () => {
  const opts = { baseMs: 30 * S, maxMs: 1 * H, jitter: true };
  it.each<[string, number, number, number]>([
    ['no randomness: half the ceiling', 1, 0, 15 * S],
    ['full randomness: the ceiling', 1, 1, 30 * S],
    ['third attempt, midway', 3, 0.5, 90 * S],
    ['capped: between half the cap and the cap', 20, 0.5, 45 * 60 * S],
  ])('%s', (_name, attempt, r, expected) => {
    expect(backoffMs(attempt, { ...opts, random: () => r })).toBe(expected);
  });

  it('spreads a backlog: many draws for one attempt are not all equal, and stay within [ceiling/2, ceiling]', () => {
    const delays = Array.from({ length: 50 }, () => backoffMs(2, opts));
    expect(new Set(delays).size).toBeGreaterThan(1);
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(30 * S);
      expect(d).toBeLessThanOrEqual(60 * S);
    }
  });
});
