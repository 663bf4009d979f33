import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.ts';
import { settingsSchema } from '../../src/config/schema.ts';
import { fanOut } from '../../src/delivery/repository.ts';
import { runHousekeeping } from '../../src/housekeeping/run.ts';
import { matchingChannels, type MatchEvent } from '../../src/subscriptions/match.ts';
import { upsertSubscriber } from '../../src/subscriptions/repository.ts';
import { parseSubscriber } from '../../src/subscriptions/validate.ts';
import { addTrips, tripsOf } from '../../src/subscriptions/trip-repository.ts';
import { localDate } from '../../src/subscriptions/trip-window.ts';
import { createEmailSender, createSmsSender } from '../../src/channels/senders.ts';
import { linkBuilder } from '../../src/channels/links.ts';
import { Dispatcher } from '../../src/delivery/dispatcher.ts';
import { removeTrip } from '../../src/subscriptions/trip-repository.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { testSettings } from '../helpers/poll.ts';
import { startSmtpServer } from '../helpers/smtp.ts';
import { insertEvent } from '../helpers/events.ts';
import { ManualClock } from '../helpers/poll.ts';

/**
 * Trips in matching: a trip's countries are followed from `leadDays` before
 * its first day through its last day, in the subscriber's zone. Every case
 * runs through the pure rule (matchingChannels with the subscriber's local
 * date) and the fan-out SQL, with the clock set at the window's edges.
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

const LEAD = 14;
const CREATED = new Date('2026-01-01T00:00:00Z');

async function traveler(prefs: Record<string, unknown>, trips: { countries: string[]; from: string; to: string }[]): Promise<number> {
  const input = parseSubscriber({ email: `t${Math.random().toString(36).slice(2)}@example.org`, countries: 'FR', ...prefs }, new Set());
  const { id } = await upsertSubscriber(t.db, input, { confirmed: true, now: CREATED });
  await addTrips(t.db, id, trips, { now: CREATED, today: '2026-01-01', maxOpenTrips: 20 });
  return id;
}

const event = (at: Date, extra: Partial<Parameters<typeof insertEvent>[1]> = {}) => ({
  at,
  countries: ['RU'],
  kind: 'level-raised' as const,
  level: 3,
  previousLevel: 2,
  urgency: 'urgent' as const,
  ...extra,
});

/** What the pure rule says for a subscriber following FR (email) with these trips, at `at`. */
function pure(tz: string, trips: { countries: string[]; from: string; to: string }[], at: Date, e: Partial<MatchEvent> = {}, minLevel = 1) {
  const ev: MatchEvent = { feedId: 'us-state-dept', countries: ['RU'], level: 3, previousLevel: 2, title: 'Russia', body: 'text', urgency: 'urgent', ...e };
  return matchingChannels(
    { countries: ['FR'], feeds: null, minLevel, keywords: [], channels: ['email'] },
    { status: 'confirmed', phone: null, phoneVerified: false, emailStopped: false, smsStopped: false, sms: 'urgent' },
    ev,
    { trips: trips.map((x) => ({ countries: x.countries, firstDay: x.from, lastDay: x.to })), today: localDate(at, tz), leadDays: LEAD },
  );
}

describe('trip windows at their edges (pure rule and fan-out SQL agree)', () => {
  // Trip to Russia, 1–14 December 2026: followed from 17 November (14 days before) through 14 December, local dates.
  const trip = { countries: ['RU'], from: '2026-12-01', to: '2026-12-14' };
  it.each<[string, string, string, boolean]>([
    // [case, zone, event time (UTC), followed?]
    ['Berlin: the last second before the lead window (16 Nov 23:59:59 local)', 'Europe/Berlin', '2026-11-16T22:59:59Z', false],
    ['Berlin: the first second of the lead window (17 Nov 00:00 local)', 'Europe/Berlin', '2026-11-16T23:00:00Z', true],
    ['Berlin: during the trip', 'Europe/Berlin', '2026-12-05T12:00:00Z', true],
    ['Berlin: the last second of the last day (14 Dec 23:59:59 local)', 'Europe/Berlin', '2026-12-14T22:59:59Z', true],
    ['Berlin: the day after the last day (15 Dec 00:00 local)', 'Europe/Berlin', '2026-12-14T23:00:00Z', false],
    // The same instant is 17 November in Tokyo but still 16 November in Los Angeles.
    ['Tokyo: 17 Nov 08:00 local is inside', 'Asia/Tokyo', '2026-11-16T23:00:00Z', true],
    ['Tokyo: 16 Nov 23:59 local is outside', 'Asia/Tokyo', '2026-11-16T14:59:00Z', false],
    ['Los Angeles: 16 Nov 15:00 local is outside', 'America/Los_Angeles', '2026-11-16T23:00:00Z', false],
    ['Los Angeles: 14 Dec 23:30 local (15 Dec in UTC) is inside', 'America/Los_Angeles', '2026-12-15T07:30:00Z', true],
    ['Kiritimati (UTC+14): 15 Dec 00:30 local (14 Dec in UTC) is outside', 'Pacific/Kiritimati', '2026-12-14T10:30:00Z', false],
    ['Pago Pago (UTC−11): 14 Dec 23:00 local (15 Dec in UTC) is inside', 'Pacific/Pago_Pago', '2026-12-15T10:00:00Z', true],
  ])('%s', async (_name, tz, at, followed) => {
    const when = new Date(at);
    const id = await traveler({ timezone: tz }, [trip]);
    const eventId = await insertEvent(t.db, event(when));
    await fanOut(t.db, [eventId], when, { tripLeadDays: LEAD });
    const rows = await t.db.selectFrom('deliveries').select('channel').where('subscriber_id', '=', id).execute();
    expect(rows.map((r) => r.channel)).toEqual(followed ? ['email'] : []);
    expect(pure(tz, [trip], when)).toEqual(followed ? ['email'] : []);
  });

  it('no zone of their own: the service default decides the date', async () => {
    const when = new Date('2026-11-16T16:00:00Z'); // 17 Nov 01:00 in Tokyo, 16 Nov in UTC
    const id = await traveler({}, [trip]);
    const eventId = await insertEvent(t.db, event(when));
    await fanOut(t.db, [eventId], when, { tripLeadDays: LEAD, defaultTimezone: 'UTC' });
    expect(await t.db.selectFrom('deliveries').select('id').where('subscriber_id', '=', id).execute()).toHaveLength(0);
    await fanOut(t.db, [eventId], when, { tripLeadDays: LEAD, defaultTimezone: 'Asia/Tokyo' });
    expect(await t.db.selectFrom('deliveries').select('id').where('subscriber_id', '=', id).execute()).toHaveLength(1);
  });

  it('the lead days come from the setting', async () => {
    const when = new Date('2026-11-25T12:00:00Z'); // 6 days before the trip
    const id = await traveler({ timezone: 'UTC' }, [trip]);
    const eventId = await insertEvent(t.db, event(when));
    await fanOut(t.db, [eventId], when, { tripLeadDays: 5 });
    expect(await t.db.selectFrom('deliveries').select('id').where('subscriber_id', '=', id).execute()).toHaveLength(0);
    await fanOut(t.db, [eventId], when, { tripLeadDays: 6 });
    expect(await t.db.selectFrom('deliveries').select('id').where('subscriber_id', '=', id).execute()).toHaveLength(1);
  });

  it('the subscription’s other filters still apply to trip countries (minimum level), and channels and routing are the same', async () => {
    const when = new Date('2026-12-05T12:00:00Z');
    const id = await traveler({ timezone: 'UTC', minLevel: 4, phone: '+447911123456', channels: 'email,sms' }, [trip]);
    const low = await insertEvent(t.db, event(when, { level: 3, previousLevel: 2 }));
    const high = await insertEvent(t.db, event(when, { level: 4, previousLevel: 3 }));
    await fanOut(t.db, [low, high], when, { tripLeadDays: LEAD });
    const rows = await t.db.selectFrom('deliveries').select(['event_id', 'channel']).where('subscriber_id', '=', id).orderBy('channel').execute();
    expect(rows).toEqual([
      { event_id: high, channel: 'email' },
      { event_id: high, channel: 'sms' },
    ]);
    expect(pure('UTC', [trip], when, { level: 3 }, 4)).toEqual([]);
  });

  it('a country followed both ways, or by two overlapping trips, gets one delivery; other trip countries and other countries none', async () => {
    const when = new Date('2026-12-05T12:00:00Z');
    const id = await traveler({ timezone: 'UTC', countries: 'RU' }, [trip, { countries: ['RU', 'GE'], from: '2026-12-03', to: '2026-12-20' }]);
    const ru = await insertEvent(t.db, event(when));
    const ua = await insertEvent(t.db, event(when, { countries: ['UA'] }));
    const ge = await insertEvent(t.db, event(when, { countries: ['GE'] }));
    const created = await fanOut(t.db, [ru, ua, ge], when, { tripLeadDays: LEAD });
    expect(created).toBe(2);
    const rows = await t.db.selectFrom('deliveries').select('event_id').where('subscriber_id', '=', id).orderBy('event_id').execute();
    expect(rows.map((r) => r.event_id)).toEqual([ru, ge]);
  });

  it('a trip of a subscriber who is not confirmed sends nothing', async () => {
    const when = new Date('2026-12-05T12:00:00Z');
    const id = await traveler({ timezone: 'UTC' }, [trip]);
    await t.db.updateTable('subscribers').set({ status: 'unsubscribed' }).where('id', '=', id).execute();
    const eventId = await insertEvent(t.db, event(when));
    expect(await fanOut(t.db, [eventId], when, { tripLeadDays: LEAD })).toBe(0);
  });
});

describe('trips in the database', () => {
  it('the same trip twice is one trip; a trip ending before it starts is refused by the database too', async () => {
    const id = await traveler({}, [{ countries: ['RU'], from: '2026-12-01', to: '2026-12-14' }]);
    const again = await addTrips(t.db, id, [{ countries: ['RU'], from: '2026-12-01', to: '2026-12-14' }], {
      now: CREATED,
      today: '2026-01-01',
      maxOpenTrips: 20,
    });
    expect(again.added).toEqual([]);
    expect(again.briefingId).toBeNull();
    expect(await tripsOf(t.db, id)).toMatchObject([{ countries: ['RU'], from: '2026-12-01', to: '2026-12-14' }]);
    await expect(
      t.db
        .insertInto('trips')
        .values({ subscriber_id: id, countries: ['RU'], first_day: '2026-12-10', last_day: '2026-12-01', created_at: CREATED })
        .execute(),
    ).rejects.toThrow(/trips_days|check constraint/);
  });

  it('a confirmed subscriber’s new trip queues one briefing in the same transaction; a pending one’s none', async () => {
    const id = await traveler({}, [{ countries: ['RU', 'GE'], from: '2026-12-01', to: '2026-12-14' }]);
    const briefings = await t.db.selectFrom('briefings').select(['subscriber_id', 'trip_ids', 'status']).execute();
    const [trip] = await tripsOf(t.db, id);
    expect(briefings.map((b) => ({ ...b, trip_ids: b.trip_ids.map(Number) }))).toEqual([{ subscriber_id: id, trip_ids: [trip!.id], status: 'pending' }]);
    const pending = await upsertSubscriber(t.db, parseSubscriber({ email: 'pending@example.org', countries: 'FR' }, new Set()), {
      confirmed: false,
      now: CREATED,
    });
    const r = await addTrips(t.db, pending.id, [{ countries: ['JP'], from: '2026-12-01', to: '2026-12-14' }], {
      now: CREATED,
      today: '2026-01-01',
      maxOpenTrips: 20,
    });
    expect(r.added).toHaveLength(1);
    expect(r.briefingId).toBeNull();
  });

  it('the cap on trips not yet over refuses the whole request and stores nothing', async () => {
    const id = await traveler({}, []);
    const trips = Array.from({ length: 3 }, (_, i) => ({ countries: ['RU'], from: `2026-12-0${i + 1}`, to: '2026-12-14' }));
    await addTrips(t.db, id, trips.slice(0, 2), { now: CREATED, today: '2026-01-01', maxOpenTrips: 3 });
    await expect(addTrips(t.db, id, trips.slice(1), { now: CREATED, today: '2026-01-01', maxOpenTrips: 3 })).rejects.toThrow(/at most 3 trips/);
    expect(await tripsOf(t.db, id)).toHaveLength(2);
  });

  it('housekeeping purges trips that ended more than trips.retentionDays ago, and keeps the others', async () => {
    const id = await traveler({}, [
      { countries: ['RU'], from: '2026-01-01', to: '2026-01-10' },
      { countries: ['JP'], from: '2026-03-01', to: '2026-03-31' },
    ]);
    const { retention, verification } = settingsSchema.parse({});
    const housekeep = (at: string) =>
      runHousekeeping({ db: t.db, clock: new ManualClock(new Date(at)), logger: silentLogger, retention, verification, trips: { retentionDays: 90 } });
    // 90 days after 10 January is 10 April: the trip is past but kept until then.
    expect(await housekeep('2026-04-10T12:00:00Z')).toMatchObject({ trips: 0 });
    expect((await tripsOf(t.db, id)).map((x) => x.countries)).toEqual([['RU'], ['JP']]);
    expect(await housekeep('2026-04-11T12:00:00Z')).toMatchObject({ trips: 1 });
    expect((await tripsOf(t.db, id)).map((x) => x.countries)).toEqual([['JP']]);
  });
});

describe('trip deliveries at send time (the dispatcher re-checks the rule with the trips)', () => {
  it('sends a trip-only country’s alert, also when the text was held past the last day; skips it once the trip is removed', async () => {
    const smtp = await startSmtpServer();
    const trip = { countries: ['RU'], from: '2026-12-01', to: '2026-12-14' };
    const id = await traveler({ timezone: 'UTC' }, [trip]);
    const keep = await traveler({ timezone: 'UTC' }, [trip]);
    // On the last day: fanned out inside the window, sent the day after it.
    const at = new Date('2026-12-14T20:00:00Z');
    const eventId = await insertEvent(t.db, event(at));
    expect(await fanOut(t.db, [eventId], at, { tripLeadDays: LEAD })).toBe(2);
    const [removedTrip] = await tripsOf(t.db, id);
    expect(await removeTrip(t.db, removedTrip!.id)).toBe(true);
    const clock = new ManualClock(new Date('2026-12-15T09:00:00Z'));
    const outbox = path.join(os.tmpdir(), 'aa-trips-outbox');
    const email = createEmailSender({ smtpUrl: smtp.url, from: 'alerts@example.org', outboxDir: outbox, connections: 1 });
    try {
      const dispatcher = new Dispatcher({
        db: t.db,
        logger: silentLogger,
        clock,
        settings: testSettings().delivery,
        email,
        sms: createSmsSender({
          accountSid: undefined,
          authToken: undefined,
          from: undefined,
          messagingServiceSid: undefined,
          apiBaseUrl: '',
          outboxDir: outbox,
        }),
        links: linkBuilder('https://alerts.example.org', 'test-secret-0123456789abcdef'),
        listId: 'alerts.example.org',
        travelers: { defaultTimezone: 'UTC', tripLeadDays: LEAD },
      });
      expect(await dispatcher.drain()).toMatchObject({ sent: 1, skipped: 1 });
      const rows = await t.db.selectFrom('deliveries').select(['subscriber_id', 'status', 'last_error']).orderBy('subscriber_id').execute();
      expect(rows).toEqual([
        { subscriber_id: id, status: 'skipped', last_error: 'not sent: the subscription no longer matches the event' },
        { subscriber_id: keep, status: 'sent', last_error: null },
      ]);
      await smtp.settled();
      expect(smtp.messages.map((m) => m.envelope.to)).toHaveLength(1);
    } finally {
      await email.close();
      await smtp.stop();
    }
  });
});
