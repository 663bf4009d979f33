import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DB } from '../../src/db/connect.ts';
import type { Channel, EventKind, SubscriberStatus } from '../../src/db/types.ts';
import type { DispatchSummary } from '../../src/delivery/dispatcher.ts';
import { fanOut } from '../../src/delivery/repository.ts';
import { matchingChannels, type MatchEvent, type MatchPreferences, type MatchSubscriber, type MatchSubscription } from '../../src/subscriptions/match.ts';
import { upsertSubscriber } from '../../src/subscriptions/repository.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { startDeliveryRun } from '../helpers/delivery.ts';
import { ManualClock } from '../helpers/poll.ts';

/**
 * The matching rule (docs/contract.md, "Subscriptions and matching") exists twice: as the pure `matchingChannels`
 * and as the set-based SQL of `fanOut`. One table of cases runs through both,
 * and across the whole cross product (every case's subscription against every
 * case's event) the two must agree delivery for delivery. The same table then
 * runs through the dispatcher's send-time re-check: deliveries fanned out to a
 * wide subscription are sent only where the case's (changed) subscription still matches.
 */

const NOW = new Date('2026-03-01T12:00:00Z');
const PHONE = '+447911123456';

interface SubscriberState extends MatchSubscriber, MatchPreferences {
  status: SubscriberStatus;
}

interface Case {
  name: string;
  sub?: Partial<MatchSubscription>;
  subscriber?: Partial<SubscriberState>;
  event?: Partial<MatchEvent>;
  expected: Channel[];
}

const baseSub: MatchSubscription = { countries: ['RU'], feeds: null, minLevel: 1, keywords: [], channels: ['email'] };
const baseSubscriber: SubscriberState = { status: 'confirmed', phone: null, phoneVerified: false, emailStopped: false, smsStopped: false, sms: 'urgent' };
const baseEvent: MatchEvent = {
  feedId: 'us-state-dept',
  countries: ['RU'],
  level: 2,
  previousLevel: null,
  title: 'Russia - Level 2: Exercise Increased Caution',
  body: 'Exercise increased caution in Russia due to the risk of wrongful detention.',
  urgency: 'urgent',
};
const verifiedPhone: Partial<SubscriberState> = { phone: PHONE, phoneVerified: true };

const CASES: Case[] = [
  // countries
  { name: 'country: the event is in the subscribed country', expected: ['email'] },
  { name: 'country: a different country', sub: { countries: ['FR'] }, expected: [] },
  { name: 'country: one of several subscribed countries', sub: { countries: ['FR', 'RU'] }, expected: ['email'] },
  { name: 'country: one of the event’s several countries', sub: { countries: ['UA'] }, event: { countries: ['RU', 'UA'] }, expected: ['email'] },
  { name: 'country: "all" (null) takes any country', sub: { countries: null }, event: { countries: ['JP'] }, expected: ['email'] },
  { name: 'country: a worldwide event (no country) does not reach a country subscription', sub: { countries: ['RU'] }, event: { countries: [] }, expected: [] },
  { name: 'country: a worldwide event reaches "all"', sub: { countries: null }, event: { countries: [] }, expected: ['email'] },
  // feeds
  { name: 'feed: the event’s feed is in the filter', sub: { feeds: ['us-state-dept', 'uk-fcdo'] }, expected: ['email'] },
  { name: 'feed: the event’s feed is not in the filter', sub: { feeds: ['uk-fcdo'] }, expected: [] },
  { name: 'feed: filter with every country still applies', sub: { countries: null, feeds: ['uk-fcdo'] }, event: { feedId: 'us-state-dept' }, expected: [] },
  { name: 'feed: the other feed passes its own filter', sub: { feeds: ['uk-fcdo'] }, event: { feedId: 'uk-fcdo' }, expected: ['email'] },
  // minimum level
  { name: 'level: below the minimum', sub: { minLevel: 3 }, event: { level: 2 }, expected: [] },
  { name: 'level: equal to the minimum', sub: { minLevel: 3 }, event: { level: 3 }, expected: ['email'] },
  { name: 'level: above the minimum', sub: { minLevel: 3 }, event: { level: 4 }, expected: ['email'] },
  {
    name: 'level: an event without a level always passes (min 4)',
    sub: { minLevel: 4 },
    event: { level: null, title: 'Security Alert – U.S. Embassy Moscow' },
    expected: ['email'],
  },
  { name: 'level: lowered 4→2 reaches min 3 (the previous level counts)', sub: { minLevel: 3 }, event: { level: 2, previousLevel: 4 }, expected: ['email'] },
  { name: 'level: raised 1→2 stays below min 3', sub: { minLevel: 3 }, event: { level: 2, previousLevel: 1 }, expected: [] },
  { name: 'level: lowered 3→1 stays below min 4', sub: { minLevel: 4 }, event: { level: 1, previousLevel: 3 }, expected: [] },
  // keywords
  {
    name: 'keywords: in the title, case-insensitive (upper-case keyword)',
    sub: { keywords: ['CONCERT'] },
    event: { title: 'Russia: concert venues targeted' },
    expected: ['email'],
  },
  {
    name: 'keywords: in the title, case-insensitive (upper-case text)',
    sub: { keywords: ['concert'] },
    event: { title: 'Russia: CONCERT VENUES TARGETED' },
    expected: ['email'],
  },
  { name: 'keywords: only in the body (the version’s text)', sub: { keywords: ['wrongful'] }, expected: ['email'] },
  { name: 'keywords: any of them is enough', sub: { keywords: ['strike', 'detention'] }, expected: ['email'] },
  {
    name: 'keywords: a keyword matches inside a longer word',
    sub: { keywords: ['demonstration'] },
    event: { body: 'Avoid demonstrations near the embassy.' },
    expected: ['email'],
  },
  { name: 'keywords: non-ASCII letters fold case too', sub: { keywords: ['митинг'] }, event: { title: 'МИТИНГ в Москве' }, expected: ['email'] },
  { name: 'keywords: none of them in title or body', sub: { keywords: ['earthquake', 'volcano'] }, expected: [] },
  // channels and subscriber state
  { name: 'channels: email and sms to a verified phone', sub: { channels: ['email', 'sms'] }, subscriber: verifiedPhone, expected: ['email', 'sms'] },
  { name: 'channels: sms only', sub: { channels: ['sms'] }, subscriber: verifiedPhone, expected: ['sms'] },
  {
    name: 'channels: sms to an unverified phone is not sent',
    sub: { channels: ['email', 'sms'] },
    subscriber: { phone: PHONE, phoneVerified: false },
    expected: ['email'],
  },
  { name: 'channels: sms only, unverified phone: nothing', sub: { channels: ['sms'] }, subscriber: { phone: PHONE, phoneVerified: false }, expected: [] },
  { name: 'channels: sms without a phone number: nothing', sub: { channels: ['sms'] }, subscriber: { phone: null, phoneVerified: true }, expected: [] },
  {
    name: 'channels: sms stopped (STOP or invalid number), email still goes',
    sub: { channels: ['email', 'sms'] },
    subscriber: { ...verifiedPhone, smsStopped: true },
    expected: ['email'],
  },
  {
    name: 'channels: email stopped (bounced), sms still goes',
    sub: { channels: ['email', 'sms'] },
    subscriber: { ...verifiedPhone, emailStopped: true },
    expected: ['sms'],
  },
  { name: 'channels: email stopped, email only: nothing', subscriber: { emailStopped: true }, expected: [] },
  // SMS by urgency: texts for urgent events only (the default) or for all
  {
    name: 'sms: a routine event is not texted to an urgent-only subscriber',
    sub: { channels: ['email', 'sms'] },
    subscriber: verifiedPhone,
    event: { urgency: 'routine' },
    expected: ['email'],
  },
  {
    name: 'sms: a routine event is texted to an "all" subscriber',
    sub: { channels: ['email', 'sms'] },
    subscriber: { ...verifiedPhone, sms: 'all' },
    event: { urgency: 'routine' },
    expected: ['email', 'sms'],
  },
  {
    name: 'sms: sms-only, urgent-only, routine event: nothing',
    sub: { channels: ['sms'] },
    subscriber: verifiedPhone,
    event: { urgency: 'routine' },
    expected: [],
  },
  {
    name: 'status: unconfirmed (pending) gets nothing',
    sub: { channels: ['email', 'sms'] },
    subscriber: { ...verifiedPhone, status: 'pending' },
    expected: [],
  },
  { name: 'status: unsubscribed gets nothing', sub: { channels: ['email', 'sms'] }, subscriber: { ...verifiedPhone, status: 'unsubscribed' }, expected: [] },
  // everything at once
  {
    name: 'all filters pass together',
    sub: { countries: ['UA', 'MD'], feeds: ['uk-fcdo'], minLevel: 3, keywords: ['kyiv'], channels: ['email', 'sms'] },
    subscriber: verifiedPhone,
    event: { feedId: 'uk-fcdo', countries: ['UA'], level: 4, previousLevel: 3, title: 'Ukraine travel advice', body: 'Air raid alerts continue in Kyiv.' },
    expected: ['email', 'sms'],
  },
];

interface Resolved {
  name: string;
  sub: MatchSubscription;
  subscriber: SubscriberState;
  event: MatchEvent;
  expected: Channel[];
}

const resolved: Resolved[] = CASES.map((c) => ({
  name: c.name,
  sub: { ...baseSub, ...c.sub },
  subscriber: { ...baseSubscriber, ...c.subscriber },
  event: { ...baseEvent, ...c.event },
  expected: c.expected,
}));

const sorted = (chs: readonly string[]) => [...chs].sort();

function kindOf(e: MatchEvent): EventKind {
  if (e.level !== null && e.previousLevel !== null && e.level !== e.previousLevel) return e.level > e.previousLevel ? 'level-raised' : 'level-lowered';
  return 'new';
}

async function insertFeeds(db: DB): Promise<void> {
  await db
    .insertInto('feeds')
    .values([
      { id: 'us-state-dept', name: 'U.S. State Department', url: 'https://travel.state.gov/feed.xml', source: 'us-state-dept' },
      { id: 'uk-fcdo', name: 'UK FCDO', url: 'https://www.gov.uk/foreign-travel-advice.atom', source: 'uk-fcdo' },
    ])
    .execute();
}

/** advisories + advisory_versions + events rows for these events, three multi-row statements; returns event ids in order. */
async function insertEvents(db: DB, events: readonly MatchEvent[], keyPrefix: string): Promise<number[]> {
  const advisories = await db
    .insertInto('advisories')
    .values(
      events.map((e, i) => ({
        feed_id: e.feedId,
        key: `${keyPrefix}-${i}`,
        countries: [...e.countries],
        level: e.level,
        title: e.title,
        body: e.body,
        fingerprint: `fp-${keyPrefix}-${i}`,
        first_seen_at: NOW,
        last_seen_at: NOW,
        changed_at: NOW,
      })),
    )
    .returning(['id', 'key'])
    .execute();
  const advisoryIds = events.map((_, i) => advisories.find((a) => a.key === `${keyPrefix}-${i}`)!.id);
  const versions = await db
    .insertInto('advisory_versions')
    .values(
      events.map((e, i) => ({
        advisory_id: advisoryIds[i]!,
        fingerprint: `fp-${keyPrefix}-${i}`,
        countries: [...e.countries],
        level: e.level,
        title: e.title,
        body: e.body,
        created_at: NOW,
      })),
    )
    .returning(['id', 'advisory_id'])
    .execute();
  const versionIds = advisoryIds.map((a) => versions.find((v) => v.advisory_id === a)!.id);
  const inserted = await db
    .insertInto('events')
    .values(
      events.map((e, i) => ({
        feed_id: e.feedId,
        advisory_id: advisoryIds[i]!,
        kind: kindOf(e),
        countries: [...e.countries],
        level: e.level,
        previous_level: e.previousLevel,
        title: e.title,
        version_id: versionIds[i]!,
        created_at: NOW,
        urgency: e.urgency,
      })),
    )
    .returning(['id', 'version_id'])
    .execute();
  return versionIds.map((v) => inserted.find((e) => e.version_id === v)!.id);
}

/** A subscriber made the way the product makes them, then put into the case's state. */
async function createSubscriber(db: DB, email: string, sub: MatchSubscription, state: SubscriberState): Promise<number> {
  const id = await createSubscriberRow(db, email, sub, state);
  await setState(db, id, sub, state);
  return id;
}

async function createSubscriberRow(db: DB, email: string, sub: MatchSubscription, state: SubscriberState): Promise<number> {
  const { id } = await upsertSubscriber(
    db,
    {
      email,
      phone: state.phone,
      countries: sub.countries === null ? null : [...sub.countries],
      feeds: sub.feeds === null ? null : [...sub.feeds],
      minLevel: sub.minLevel,
      keywords: [...sub.keywords],
      channels: [...sub.channels],
    },
    { confirmed: state.status === 'confirmed', now: NOW },
  );
  return id;
}

/** Puts a subscriber and its subscription into a case's state (as the manage page, STOP or an unsubscribe would). */
async function setState(db: DB, id: number, sub: MatchSubscription, state: SubscriberState): Promise<void> {
  await db
    .updateTable('subscriptions')
    .set({
      countries: sub.countries === null ? null : [...sub.countries],
      feeds: sub.feeds === null ? null : [...sub.feeds],
      min_level: sub.minLevel,
      keywords: [...sub.keywords],
      channels: [...sub.channels],
    })
    .where('subscriber_id', '=', id)
    .execute();
  await db
    .updateTable('subscribers')
    .set({
      status: state.status,
      phone: state.phone,
      phone_verified: state.phoneVerified,
      email_stopped_at: state.emailStopped ? NOW : null,
      email_stop_reason: state.emailStopped ? 'SMTP 550: no such user' : null,
      sms_stopped_at: state.smsStopped ? NOW : null,
      sms_stop_reason: state.smsStopped ? 'Twilio 400 21610: unsubscribed' : null,
      unsubscribed_at: state.status === 'unsubscribed' ? NOW : null,
      sms_urgency: state.sms,
    })
    .where('id', '=', id)
    .execute();
}

async function deliveryKeys(db: DB): Promise<string[]> {
  const rows = await db.selectFrom('deliveries').select(['subscriber_id', 'event_id', 'channel']).execute();
  return rows.map((r) => `${r.subscriber_id}/${r.event_id}/${r.channel}`).sort();
}

let t: TestDatabase;
beforeAll(async () => {
  t = await openTestDatabase();
});
afterAll(async () => {
  await t?.close();
});

describe('matching rule: pure matchingChannels', () => {
  it.each(resolved)('$name', (c) => {
    expect(sorted(matchingChannels(c.sub, c.subscriber, c.event))).toEqual(sorted(c.expected));
  });
});

describe('matching rule: SQL fanOut (same table)', () => {
  const subscriberIds: number[] = [];
  const eventIds: number[] = [];
  let created = 0;

  beforeAll(async () => {
    await t.reset();
    await insertFeeds(t.db);
    eventIds.push(
      ...(await insertEvents(
        t.db,
        resolved.map((c) => c.event),
        'case',
      )),
    );
    for (const [i, c] of resolved.entries()) subscriberIds.push(await createSubscriber(t.db, `case${i}@example.org`, c.sub, c.subscriber));
    created = await fanOut(t.db, eventIds, NOW);
  });

  it.each(resolved.map((c, i) => ({ ...c, i })))('$name', async (c) => {
    const rows = await t.db
      .selectFrom('deliveries')
      .select(['channel', 'status', 'attempts', 'next_attempt_at'])
      .where('subscriber_id', '=', subscriberIds[c.i]!)
      .where('event_id', '=', eventIds[c.i]!)
      .execute();
    expect(sorted(rows.map((r) => r.channel))).toEqual(sorted(c.expected));
    for (const r of rows) expect(r).toMatchObject({ status: 'pending', attempts: 0, next_attempt_at: NOW });
  });

  it('agrees with matchingChannels on the whole cross product (every subscription × every event)', async () => {
    const expected: string[] = [];
    for (const [si, s] of resolved.entries()) {
      for (const [ei, e] of resolved.entries()) {
        for (const ch of matchingChannels(s.sub, s.subscriber, e.event)) expected.push(`${subscriberIds[si]}/${eventIds[ei]}/${ch}`);
      }
    }
    expected.sort();
    const actual = await deliveryKeys(t.db);
    expect(actual).toEqual(expected);
    expect(created).toBe(expected.length);
    // The table is not degenerate: plenty of pairs match and plenty don't.
    expect(expected.length).toBeGreaterThan(200);
    expect(expected.length).toBeLessThan(resolved.length * resolved.length);
  });

  it('fanning out the same events again creates no duplicates', async () => {
    const before = await deliveryKeys(t.db);
    expect(await fanOut(t.db, eventIds, new Date(NOW.getTime() + 60_000))).toBe(0);
    expect(await fanOut(t.db, [eventIds[0]!, eventIds[0]!], NOW)).toBe(0);
    expect(await deliveryKeys(t.db)).toEqual(before);
  });

  it('the unique (subscriber, event, channel) constraint refuses a duplicate written by hand', async () => {
    const one = await t.db.selectFrom('deliveries').select(['subscriber_id', 'event_id', 'channel']).limit(1).executeTakeFirstOrThrow();
    await expect(
      t.db
        .insertInto('deliveries')
        .values({ ...one, next_attempt_at: NOW, created_at: NOW })
        .execute(),
    ).rejects.toThrow(/deliveries_once|duplicate key/);
  });

  it('fanOut of no events does nothing', async () => {
    expect(await fanOut(t.db, [], NOW)).toBe(0);
  });
});

describe('matching rule: the dispatcher re-checks it at send time (same table)', () => {
  // Every case starts wide open: all countries and feeds, level 1, no keywords, both
  // channels, a verified phone and every text, so the fan-out creates an email and an SMS
  // for each. Then the subscriber changes into the case's state, and only what the case
  // expects may be sent; the rest is skipped with a reason.
  const open: { sub: MatchSubscription; subscriber: SubscriberState } = {
    sub: { countries: null, feeds: null, minLevel: 1, keywords: [], channels: ['email', 'sms'] },
    subscriber: { ...baseSubscriber, ...verifiedPhone, sms: 'all' },
  };
  const subscriberIds: number[] = [];
  const eventIds: number[] = [];
  let root: string;
  let summary: DispatchSummary;

  beforeAll(async () => {
    await t.reset();
    root = mkdtempSync(path.join(tmpdir(), 'aa-match-'));
    const run = await startDeliveryRun(t.db, new ManualClock(NOW), {
      root,
      feedsYaml: `feeds:
  - { id: us-state-dept, name: U.S. State Department, url: "https://travel.state.gov/feed.xml", source: us-state-dept }
  - { id: uk-fcdo, name: UK FCDO, url: "https://www.gov.uk/foreign-travel-advice.atom", source: uk-fcdo }
`,
      settingsYaml: 'delivery:\n  email:\n    ratePerSecond: 0\n  sms:\n    ratePerSecond: 0\n',
      env: { PUBLIC_BASE_URL: 'https://alerts.example.org', APP_SECRET: 'x'.repeat(32), MAIL_FROM: 'alerts@example.org' },
    });
    try {
      eventIds.push(
        ...(await insertEvents(
          t.db,
          resolved.map((c) => c.event),
          'recheck',
        )),
      );
      for (const i of resolved.keys()) subscriberIds.push(await createSubscriber(t.db, `recheck${i}@example.org`, open.sub, open.subscriber));
      await fanOut(t.db, eventIds, NOW);
      // Wide open, every subscriber matched every event: keep each case's own pair.
      await sql`
        delete from deliveries d where not exists (
          select 1 from unnest(${sql.val(subscriberIds)}::bigint[], ${sql.val(eventIds)}::bigint[]) as p(s, e)
          where p.s = d.subscriber_id and p.e = d.event_id)`.execute(t.db);
      expect(await t.db.selectFrom('deliveries').select('id').execute()).toHaveLength(2 * resolved.length);
      for (const [i, c] of resolved.entries()) await setState(t.db, subscriberIds[i]!, c.sub, c.subscriber);
      summary = await run.dispatcher.drain();
    } finally {
      await run.close();
    }
  });
  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it.each(resolved.map((c, i) => ({ ...c, i })))('$name', async (c) => {
    const rows = await t.db
      .selectFrom('deliveries')
      .select(['channel', 'status', 'last_error'])
      .where('subscriber_id', '=', subscriberIds[c.i]!)
      .where('event_id', '=', eventIds[c.i]!)
      .execute();
    expect(sorted(rows.filter((r) => r.status === 'sent').map((r) => r.channel))).toEqual(sorted(c.expected));
    for (const r of rows.filter((r) => r.status !== 'sent')) {
      expect(r.status).toBe('skipped');
      expect(r.last_error).toMatch(/^not sent: /);
    }
  });

  it('sends exactly what the table expects and skips the rest', () => {
    const expected = resolved.reduce((n, c) => n + c.expected.length, 0);
    expect(summary).toEqual({ sent: expected, failed: 0, retrying: 0, skipped: 2 * resolved.length - expected });
  });
});

describe('fan-out at scale: one event to 5,000 subscribers in one statement', () => {
  const N = 5000;
  // Ten subscriber profiles, repeated by id modulo 10.
  const event: MatchEvent = {
    feedId: 'us-state-dept',
    countries: ['RU'],
    level: 3,
    previousLevel: null,
    title: 'Russia - Level 3: Reconsider Travel',
    body: 'Avoid demonstrations and large gatherings.',
    urgency: 'urgent',
  };
  const profiles: { sub: MatchSubscription; subscriber: SubscriberState }[] = [
    { sub: { ...baseSub, countries: ['RU'] }, subscriber: baseSubscriber },
    { sub: { ...baseSub, countries: null }, subscriber: baseSubscriber },
    { sub: { ...baseSub, countries: ['FR'] }, subscriber: baseSubscriber },
    { sub: { ...baseSub, minLevel: 4 }, subscriber: baseSubscriber },
    { sub: { ...baseSub, minLevel: 3, channels: ['email', 'sms'] }, subscriber: { ...baseSubscriber, phone: PHONE, phoneVerified: true } },
    { sub: { ...baseSub, countries: ['RU', 'UA'], keywords: ['demonstration'] }, subscriber: baseSubscriber },
    { sub: { ...baseSub, keywords: ['earthquake'] }, subscriber: baseSubscriber },
    { sub: { ...baseSub, feeds: ['uk-fcdo'] }, subscriber: baseSubscriber },
    { sub: baseSub, subscriber: { ...baseSubscriber, status: 'pending' } },
    { sub: { ...baseSub, channels: ['sms'] }, subscriber: { ...baseSubscriber, phone: PHONE, phoneVerified: false } },
  ];

  it('creates exactly the matching deliveries, and none twice', async () => {
    await t.reset();
    await insertFeeds(t.db);
    const [eventId] = await insertEvents(t.db, [event], 'bulk');

    const started = performance.now();
    // Subscribers and their subscriptions in one statement each, straight from generate_series.
    const text = (a: readonly string[] | null) => (a === null ? sql`null::text[]` : sql`${sql.val([...a])}::text[]`);
    const caseOf = <T>(pick: (p: (typeof profiles)[number]) => T, render: (v: T) => ReturnType<typeof sql>) =>
      sql.join(
        profiles.map((p, i) => sql`when ${sql.lit(i)} then ${render(pick(p))}`),
        sql` `,
      );
    await sql`
      insert into subscribers (email, phone, phone_verified, status, created_at, confirmed_at)
      select 'bulk-' || g || '@example.org',
             case g % 10 ${caseOf(
               (p) => p.subscriber.phone,
               (v) => sql`${v}::text`,
             )} end,
             case g % 10 ${caseOf(
               (p) => p.subscriber.phoneVerified,
               (v) => sql`${v}::boolean`,
             )} end,
             case g % 10 ${caseOf(
               (p) => p.subscriber.status,
               (v) => sql`${v}::text`,
             )} end,
             ${NOW}::timestamptz, ${NOW}::timestamptz
      from generate_series(1, ${N}) g`.execute(t.db);
    await sql`
      insert into subscriptions (subscriber_id, countries, feeds, min_level, keywords, channels, created_at)
      select s.id,
             case g % 10 ${caseOf((p) => p.sub.countries, text)} end,
             case g % 10 ${caseOf((p) => p.sub.feeds, text)} end,
             case g % 10 ${caseOf(
               (p) => p.sub.minLevel,
               (v) => sql`${v}::smallint`,
             )} end,
             case g % 10 ${caseOf((p) => p.sub.keywords, text)} end,
             case g % 10 ${caseOf((p) => p.sub.channels, text)} end,
             ${NOW}::timestamptz
      from subscribers s, lateral (select split_part(split_part(s.email, '@', 1), '-', 2)::int as g) x
      where s.email like 'bulk-%'`.execute(t.db);
    const seeded = performance.now();

    const perProfile = profiles.map((p) => matchingChannels(p.sub, p.subscriber, event));
    const expectedEmail = (N / 10) * perProfile.filter((chs) => chs.includes('email')).length;
    const expectedSms = (N / 10) * perProfile.filter((chs) => chs.includes('sms')).length;
    expect(expectedEmail).toBe(2000);
    expect(expectedSms).toBe(500);

    const created = await fanOut(t.db, [eventId!], NOW);
    const fanned = performance.now();
    console.info(
      `fan-out to ${N} subscribers (${t.kind}): seed ${Math.round(seeded - started)} ms, fanOut ${Math.round(fanned - seeded)} ms, ${created} deliveries`,
    );

    expect(created).toBe(expectedEmail + expectedSms);
    const counts = await t.db
      .selectFrom('deliveries')
      .select(['channel', (eb) => eb.fn.countAll<number>().as('n'), (eb) => eb.fn.count<number>('subscriber_id').distinct().as('subscribers')])
      .groupBy('channel')
      .orderBy('channel')
      .execute();
    expect(counts.map((c) => ({ channel: c.channel, n: Number(c.n), subscribers: Number(c.subscribers) }))).toEqual([
      { channel: 'email', n: expectedEmail, subscribers: expectedEmail },
      { channel: 'sms', n: expectedSms, subscribers: expectedSms },
    ]);
    // Each subscriber's deliveries are exactly what its profile predicts.
    const wrong = await sql<{ n: number }>`
      select count(*)::int as n from deliveries d join subscribers s on s.id = d.subscriber_id
      where split_part(split_part(s.email, '@', 1), '-', 2)::int % 10 not in (0, 1, 4, 5)
         or (d.channel = 'sms' and split_part(split_part(s.email, '@', 1), '-', 2)::int % 10 <> 4)`.execute(t.db);
    expect(wrong.rows[0]!.n).toBe(0);

    expect(await fanOut(t.db, [eventId!], new Date(NOW.getTime() + 1000))).toBe(0);
    const total = await t.db
      .selectFrom('deliveries')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(total.n)).toBe(expectedEmail + expectedSms);
  });
});
