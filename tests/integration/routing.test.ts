import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { claimDue, complete, fanOut } from '../../src/delivery/repository.ts';
import { upsertSubscriber } from '../../src/subscriptions/repository.ts';
import { parseSubscriber } from '../../src/subscriptions/validate.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { insertEvent, type TestEvent } from '../helpers/events.ts';

/**
 * Routing at fan-out by urgency and the traveler's preferences, with the
 * clock injected: what goes at once, what waits for the digest, and when a
 * text held by quiet hours falls due (across midnight, same-day windows, time
 * zones, both DST changes, the level-4 override).
 */

let t: TestDatabase;
beforeAll(async () => {
  t = await openTestDatabase();
});
afterAll(async () => {
  await t?.close();
});
beforeEach(async () => {
  await t.reset();
});

const PHONE = '+447911123456';

async function subscriber(prefs: Record<string, unknown>): Promise<number> {
  const input = parseSubscriber(
    { email: `t${Math.random().toString(36).slice(2)}@example.org`, phone: PHONE, countries: 'RU', channels: 'email,sms', ...prefs },
    new Set(),
  );
  return (await upsertSubscriber(t.db, input, { confirmed: true, now: new Date('2026-01-01T00:00:00Z') })).id;
}

async function route(prefs: Record<string, unknown>, event: TestEvent, defaultTimezone = 'UTC') {
  const id = await subscriber(prefs);
  const eventId = await insertEvent(t.db, event);
  await fanOut(t.db, [eventId], event.at, { defaultTimezone });
  const rows = await t.db
    .selectFrom('deliveries')
    .select(['channel', 'status', 'next_attempt_at'])
    .where('subscriber_id', '=', id)
    .orderBy('channel')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.channel, { status: r.status, due: r.next_attempt_at.toISOString() }]));
}

const urgent = (at: string, extra: Partial<TestEvent> = {}): TestEvent => ({
  at: new Date(at),
  kind: 'level-raised',
  level: 3,
  previousLevel: 2,
  urgency: 'urgent',
  ...extra,
});

describe('routing by urgency and preferences', () => {
  it('urgent: at once by email and SMS, whatever the email frequency', async () => {
    const at = '2026-01-15T12:00:00.000Z';
    expect(await route({ emailFrequency: 'weekly' }, urgent(at))).toEqual({ email: { status: 'pending', due: at }, sms: { status: 'pending', due: at } });
  });

  it('routine: email at once for "immediate", no text for "sms: urgent"', async () => {
    const at = '2026-01-15T12:00:00.000Z';
    expect(await route({}, { at: new Date(at), kind: 'updated', urgency: 'routine' })).toEqual({ email: { status: 'pending', due: at } });
  });

  it('routine: waits for the digest for daily and weekly subscribers; texted only with "sms: all"', async () => {
    const at = new Date('2026-01-15T12:00:00.000Z');
    expect(await route({ emailFrequency: 'daily' }, { at, kind: 'updated', urgency: 'routine' })).toMatchObject({ email: { status: 'digest' } });
    expect(await route({ emailFrequency: 'weekly', sms: 'all' }, { at, kind: 'updated', urgency: 'routine' })).toMatchObject({
      email: { status: 'digest' },
      sms: { status: 'pending', due: at.toISOString() },
    });
  });
});

describe('quiet hours hold texts until they end', () => {
  it.each<[string, Record<string, unknown>, string, string, string?]>([
    // [case, preferences, event time (UTC), expected SMS due time (UTC), default zone]
    [
      'across midnight, late evening: due at the end tomorrow',
      { quietHours: '22:00-07:00', timezone: 'Europe/Berlin' },
      '2026-01-15T22:30:00Z',
      '2026-01-16T06:00:00.000Z',
    ],
    [
      'across midnight, early morning: due at the end today',
      { quietHours: '22:00-07:00', timezone: 'Europe/Berlin' },
      '2026-01-16T05:00:00Z',
      '2026-01-16T06:00:00.000Z',
    ],
    [
      'at the first minute of the quiet hours: held',
      { quietHours: '22:00-07:00', timezone: 'Europe/Berlin' },
      '2026-01-15T21:00:00Z',
      '2026-01-16T06:00:00.000Z',
    ],
    ['at the minute they end: sent', { quietHours: '22:00-07:00', timezone: 'Europe/Berlin' }, '2026-01-16T06:00:00Z', '2026-01-16T06:00:00.000Z'],
    ['outside the quiet hours: at once', { quietHours: '22:00-07:00', timezone: 'Europe/Berlin' }, '2026-01-15T12:00:00Z', '2026-01-15T12:00:00.000Z'],
    [
      'spring forward (Berlin, 29 March): 07:00 CEST is 05:00 UTC',
      { quietHours: '22:00-07:00', timezone: 'Europe/Berlin' },
      '2026-03-28T22:00:00Z',
      '2026-03-29T05:00:00.000Z',
    ],
    [
      'fall back (New York, 1 November): 07:00 EST is 12:00 UTC',
      { quietHours: '22:00-07:00', timezone: 'America/New_York' },
      '2026-11-01T03:00:00Z',
      '2026-11-01T12:00:00.000Z',
    ],
    ['a same-day window (Tokyo lunch)', { quietHours: '13:00-15:00', timezone: 'Asia/Tokyo' }, '2026-01-15T04:30:00Z', '2026-01-15T06:00:00.000Z'],
    ['a same-day window, after it', { quietHours: '13:00-15:00', timezone: 'Asia/Tokyo' }, '2026-01-15T06:30:00Z', '2026-01-15T06:30:00.000Z'],
    ['no zone of their own: the service default', { quietHours: '22:00-07:00' }, '2026-01-15T14:00:00Z', '2026-01-15T22:00:00.000Z', 'Asia/Tokyo'],
  ])('%s', async (_name, prefs, at, due, defaultTz) => {
    const routed = await route(prefs, urgent(at), defaultTz);
    expect(routed.sms).toEqual({ status: 'pending', due });
    // Email is never held.
    expect(routed.email).toEqual({ status: 'pending', due: new Date(at).toISOString() });
  });

  it('a raise to level 4 is texted at once, even in quiet hours; a raise to 3 waits', async () => {
    const at = '2026-01-15T23:30:00Z';
    const quiet = { quietHours: '22:00-07:00', timezone: 'Europe/London' };
    expect((await route(quiet, urgent(at, { level: 4, previousLevel: 3 }))).sms).toEqual({ status: 'pending', due: new Date(at).toISOString() });
    expect((await route(quiet, urgent(at, { level: 3, previousLevel: 2 }))).sms).toEqual({ status: 'pending', due: '2026-01-16T07:00:00.000Z' });
  });

  it('a held text is not claimed before its time, and is claimed once it comes', async () => {
    const at = new Date('2026-01-15T23:30:00Z');
    await route({ quietHours: '22:00-07:00', timezone: 'Europe/London' }, urgent(at.toISOString()));
    const claim = (now: string) => claimDue(t.db, { owner: 'test', limit: 10, leaseMs: 60_000, now: new Date(now), channels: ['sms'] });
    expect(await claim('2026-01-16T06:59:59Z')).toEqual([]);
    expect(await claim('2026-01-16T07:00:00Z')).toHaveLength(1);
  });

  it.each<[string, Partial<TestEvent>, string, string, string?]>([
    // [case, event, retry due (UTC), stored due (UTC), default zone]
    ['a retry due inside the quiet hours waits for their end', {}, '2026-01-15T22:30:00Z', '2026-01-16T07:00:00.000Z'],
    ['a retry due after them goes when due', {}, '2026-01-15T21:30:00Z', '2026-01-15T21:30:00.000Z'],
    ['a retry of a raise to level 4 is not held', { level: 4, previousLevel: 3 }, '2026-01-15T22:30:00Z', '2026-01-15T22:30:00.000Z'],
  ])('retried texts are held like first sends: %s', async (_name, extra, retryAt, due) => {
    // London, quiet 22:00-07:00; the first send at 20:00 goes at once and fails with a Twilio 5xx.
    const at = new Date('2026-01-15T20:00:00Z');
    await route({ quietHours: '22:00-07:00', timezone: 'Europe/London' }, urgent(at.toISOString(), extra));
    const [claim] = await claimDue(t.db, { owner: 'test', limit: 10, leaseMs: 60_000, now: at, channels: ['sms'] });
    const [email] = await claimDue(t.db, { owner: 'test', limit: 10, leaseMs: 60_000, now: at, channels: ['email'] });
    const retry = (id: number) => ({ id, outcome: 'retry' as const, error: 'Twilio 503', nextAttemptAt: new Date(retryAt), durationMs: 5 });
    expect(await complete(t.db, 'test', [retry(claim!.id), retry(email!.id)], at)).toBe(2);
    const rows = await t.db.selectFrom('deliveries').select(['channel', 'status', 'next_attempt_at']).orderBy('channel').execute();
    expect(rows.map((r) => [r.channel, r.status, r.next_attempt_at.toISOString()])).toEqual([
      // Email is never held.
      ['email', 'pending', new Date(retryAt).toISOString()],
      ['sms', 'pending', due],
    ]);
  });
});
