import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { linkBuilder } from '../../src/channels/links.ts';
import { createEmailSender, type EmailMessage, type EmailSender } from '../../src/channels/senders.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { fanOut } from '../../src/delivery/repository.ts';
import { claimDigests, createDueDigests, listDigests, renewDigestLease } from '../../src/digests/repository.ts';
import { runDigests, type DigestDeps } from '../../src/digests/run.ts';
import { upsertSubscriber } from '../../src/subscriptions/repository.ts';
import { parseSubscriber } from '../../src/subscriptions/validate.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { embassyFeedWithRoutineMessage } from '../helpers/embassy.ts';
import { fixture, startFeedServer, type FeedServer } from '../helpers/feed-server.ts';
import { feedConfig, pollDeps, syncAndPoll } from '../helpers/poll.ts';
import { insertEvent, type TestEvent } from '../helpers/events.ts';
import { ManualClock, testSettings } from '../helpers/poll.ts';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.ts';

/**
 * Digests with an injected clock: when a period falls due in each
 * subscriber's zone (daily, weekly on Mondays, across a DST change), one
 * email per subscriber per period listing each routine event once, none when
 * there is nothing, and one digest however many runs race.
 */

let t: TestDatabase;
let server: FeedServer;
beforeAll(async () => {
  [t, server] = await Promise.all([openTestDatabase(), startFeedServer()]);
});
afterAll(async () => {
  await Promise.all([t?.close(), server?.stop()]);
});

class Inbox implements EmailSender {
  readonly kind = 'file' as const;
  messages: EmailMessage[] = [];
  failNext = 0;
  async send(message: EmailMessage): Promise<{ providerId: string }> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('SMTP 421: try later');
    }
    this.messages.push(message);
    return { providerId: `m${this.messages.length}` };
  }
  async close(): Promise<void> {}
}

let inbox: Inbox;
let clock: ManualClock;
beforeEach(async () => {
  await t.reset();
  inbox = new Inbox();
  clock = new ManualClock(new Date('2026-03-02T00:00:00Z'));
});

function deps(overrides: Record<string, unknown> = {}): DigestDeps {
  return {
    db: t.db,
    logger: silentLogger,
    clock,
    settings: testSettings(overrides),
    email: inbox,
    links: linkBuilder('https://alerts.example.org', 'secret-for-tests-only-0123456789'),
    listId: 'alerts.example.org',
  };
}

async function subscriber(email: string, prefs: Record<string, unknown>): Promise<number> {
  const input = parseSubscriber({ email, countries: 'RU,FR', ...prefs }, new Set());
  return (await upsertSubscriber(t.db, input, { confirmed: true, now: clock.now() })).id;
}

async function event(at: string, extra: Partial<TestEvent> = {}): Promise<number> {
  const id = await insertEvent(t.db, { at: new Date(at), kind: 'updated', level: 2, previousLevel: 2, urgency: 'routine', ...extra });
  await fanOut(t.db, [id], new Date(at));
  return id;
}

async function runAt(at: string, settings: Record<string, unknown> = {}) {
  clock = new ManualClock(new Date(at));
  return runDigests(deps(settings));
}

const to = (addr: string) => inbox.messages.filter((m) => m.to === addr);

describe('digest periods', () => {
  it('daily at 08:00 in the subscriber’s zone: Berlin and Tokyo each at their own 08:00', async () => {
    await subscriber('berlin@example.org', { emailFrequency: 'daily', timezone: 'Europe/Berlin' });
    await subscriber('tokyo@example.org', { emailFrequency: 'daily', timezone: 'Asia/Tokyo' });
    await event('2026-03-02T10:00:00Z');
    // Tokyo's 08:00 on the 3rd is 22:59/23:00 UTC on the 2nd; Berlin's is 07:00 UTC on the 3rd.
    expect(await runAt('2026-03-02T22:59:00Z')).toMatchObject({ created: 0, sent: 0 });
    expect(await runAt('2026-03-02T23:00:00Z')).toMatchObject({ created: 1, sent: 1 });
    expect(to('tokyo@example.org')).toHaveLength(1);
    expect(to('berlin@example.org')).toHaveLength(0);
    expect(await runAt('2026-03-03T06:59:00Z')).toMatchObject({ created: 0 });
    expect(await runAt('2026-03-03T07:00:00Z')).toMatchObject({ created: 1, sent: 1 });
    expect(to('berlin@example.org')).toHaveLength(1);
    // Nothing new: no more email, however often the job runs.
    expect(await runAt('2026-03-04T23:00:00Z')).toMatchObject({ created: 0, sent: 0 });
    expect(inbox.messages).toHaveLength(2);
    expect((await listDigests(t.db)).map((d) => [d.subscriber, d.period])).toEqual([
      ['tokyo@example.org', 'daily:2026-03-03'],
      ['berlin@example.org', 'daily:2026-03-03'],
    ]);
  });

  it('weekly: Monday 08:00 in Tokyo, the events of the whole week once', async () => {
    await subscriber('weekly@example.org', { emailFrequency: 'weekly', timezone: 'Asia/Tokyo' });
    await event('2026-03-03T10:00:00Z', { countries: ['FR'], title: 'France travel advice' }); // Tuesday
    await event('2026-03-06T10:00:00Z'); // Friday
    expect(await runAt('2026-03-07T23:00:00Z')).toMatchObject({ created: 0 }); // Sunday 08:00 Tokyo
    expect(await runAt('2026-03-08T22:59:00Z')).toMatchObject({ created: 0 }); // Monday 07:59 Tokyo
    expect(await runAt('2026-03-08T23:00:00Z')).toMatchObject({ created: 1, sent: 1 }); // Monday 08:00 Tokyo
    const [mail] = to('weekly@example.org');
    expect(mail!.subject).toBe('Your weekly travel advisory digest: 2 updates (2026-03-09)');
    // Grouped by country, in name order.
    expect(mail!.text.indexOf('== France ==')).toBeLessThan(mail!.text.indexOf('== Russia =='));
    expect(await runAt('2026-03-09T23:00:00Z')).toMatchObject({ created: 0 });
  });

  it('across the spring DST change, Berlin’s 08:00 is 06:00 UTC', async () => {
    await subscriber('dst@example.org', { emailFrequency: 'daily', timezone: 'Europe/Berlin' });
    await event('2026-03-28T12:00:00Z');
    expect(await runAt('2026-03-29T05:59:00Z')).toMatchObject({ created: 0 });
    expect(await runAt('2026-03-29T06:00:00Z')).toMatchObject({ created: 1, sent: 1 });
    const [digest] = await listDigests(t.db);
    expect(digest).toMatchObject({ period: 'daily:2026-03-29', status: 'sent', events: 1, dueAt: new Date('2026-03-29T06:00:00Z') });
  });

  it('the digestHour setting moves it; an event after the digest time waits for the next one', async () => {
    await subscriber('late@example.org', { emailFrequency: 'daily', timezone: 'UTC' });
    await event('2026-03-02T10:00:00Z');
    expect(await runAt('2026-03-02T19:00:00Z', { digestHour: '19:30' })).toMatchObject({ created: 0 });
    await event('2026-03-02T19:40:00Z', { countries: ['FR'] });
    expect(await runAt('2026-03-02T19:45:00Z', { digestHour: '19:30' })).toMatchObject({ created: 1, sent: 1 });
    expect(to('late@example.org')[0]!.text).not.toContain('== France ==');
    expect(await runAt('2026-03-03T19:30:00Z', { digestHour: '19:30' })).toMatchObject({ created: 1, sent: 1 });
    expect(to('late@example.org')[1]!.text).toContain('== France ==');
    expect(to('late@example.org')[1]!.text).not.toContain('== Russia ==');
  });
});

describe('digest content and delivery', () => {
  it('lists the level change, the sentences changed and the link; escapes feed text; has unsubscribe headers', async () => {
    await subscriber('content@example.org', { emailFrequency: 'daily', timezone: 'UTC' });
    const id = await insertEvent(t.db, {
      at: new Date('2026-03-02T10:00:00Z'),
      kind: 'level-lowered',
      level: 2,
      previousLevel: 3,
      link: 'https://travel.example/ru',
      urgency: 'routine',
    });
    const alert = await insertEvent(t.db, {
      at: new Date('2026-03-02T11:00:00Z'),
      kind: 'updated',
      level: null,
      title: 'Notice <script>alert(1)</script>',
      urgency: 'routine',
      link: 'javascript:alert(1)',
    });
    await fanOut(t.db, [id, alert], new Date('2026-03-02T11:00:00Z'));
    await runAt('2026-03-03T08:00:00Z');
    const [mail] = to('content@example.org');
    expect(mail!.text).toContain('Level 3 → Level 2');
    expect(mail!.text).toContain('https://travel.example/ru');
    expect(mail!.html).not.toContain('<script>');
    expect(mail!.html).toContain('&lt;script&gt;');
    expect(mail!.html).not.toContain('javascript:');
    expect(mail!.headers).toMatchObject({ 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' });
    expect(mail!.headers['List-Unsubscribe']).toMatch(/^<https:\/\/alerts\.example\.org\/unsubscribe\//);
    expect(mail!.text).toMatch(/https:\/\/alerts\.example\.org\/manage\//);
  });

  it('a failed send is retried later, and sent once', async () => {
    await subscriber('retry@example.org', { emailFrequency: 'daily', timezone: 'UTC' });
    await event('2026-03-02T10:00:00Z');
    inbox.failNext = 1;
    expect(await runAt('2026-03-03T08:00:00Z')).toMatchObject({ created: 1, sent: 0, retrying: 1 });
    expect(await runAt('2026-03-03T08:00:01Z')).toMatchObject({ created: 0, sent: 0 });
    expect(await runAt('2026-03-03T12:00:00Z')).toMatchObject({ created: 0, sent: 1 });
    expect(to('retry@example.org')).toHaveLength(1);
  });

  it('several runs at once: one digest per subscriber, each event in it once', async () => {
    for (let i = 0; i < 10; i++) await subscriber(`race${i}@example.org`, { emailFrequency: i % 2 ? 'daily' : 'weekly', timezone: 'UTC' });
    await event('2026-03-02T10:00:00Z');
    await event('2026-03-03T10:00:00Z', { countries: ['FR'] });
    clock = new ManualClock(new Date('2026-03-09T08:00:00Z'));
    const runs = await Promise.all([runDigests(deps()), runDigests(deps()), runDigests(deps())]);
    expect(runs.reduce((n, r) => n + r.created, 0)).toBe(10);
    expect(runs.reduce((n, r) => n + r.sent, 0)).toBe(10);
    expect(inbox.messages).toHaveLength(10);
    expect(new Set(inbox.messages.map((m) => m.to)).size).toBe(10);
    for (const m of inbox.messages) expect(m.subject).toMatch(/: 2 updates /);
  });

  it('a claim older than the lease is sent only by the process that holds the lease at the send', async () => {
    await subscriber('slow@example.org', { emailFrequency: 'daily', timezone: 'UTC' });
    await event('2026-03-02T10:00:00Z');
    const t0 = new Date('2026-03-03T08:00:00Z');
    const at = (ms: number) => new Date(t0.getTime() + ms);
    expect(await createDueDigests(t.db, t0, { digestHour: '08:00', defaultTimezone: 'UTC' })).toBe(1);
    const [a] = await claimDigests(t.db, { owner: 'a', limit: 50, leaseMs: 1000, now: t0 });
    // Nobody took it over: a's late renewal still holds.
    expect(await renewDigestLease(t.db, 'a', a!.id, { leaseMs: 1000, now: at(1500) })).toBe(true);
    // a is slow again; b takes the digest over once the renewed lease has run out, and a must not send it.
    expect(await claimDigests(t.db, { owner: 'b', limit: 50, leaseMs: 1000, now: at(2000) })).toEqual([]);
    expect(await claimDigests(t.db, { owner: 'b', limit: 50, leaseMs: 1000, now: at(2600) })).toMatchObject([{ id: a!.id, attempts: 2 }]);
    expect(await renewDigestLease(t.db, 'a', a!.id, { leaseMs: 1000, now: at(2700) })).toBe(false);
    expect(await renewDigestLease(t.db, 'b', a!.id, { leaseMs: 1000, now: at(2700) })).toBe(true);
  });

  it('an unsubscribed traveler gets no digest', async () => {
    const id = await subscriber('gone@example.org', { emailFrequency: 'daily', timezone: 'UTC' });
    await event('2026-03-02T10:00:00Z');
    await t.db.updateTable('subscribers').set({ status: 'unsubscribed' }).where('id', '=', id).execute();
    expect(await runAt('2026-03-03T08:00:00Z')).toMatchObject({ created: 0, sent: 0 });
    expect(inbox.messages).toHaveLength(0);
  });
});

describe('the matching rule again when the digest is built (real SMTP)', () => {
  let smtp: TestSmtpServer;
  let email: EmailSender;
  beforeAll(async () => {
    smtp = await startSmtpServer();
    email = createEmailSender({ smtpUrl: smtp.url, from: 'alerts@example.org', outboxDir: path.join(os.tmpdir(), 'aa-digests-outbox'), connections: 1 });
  });
  afterAll(async () => {
    await email?.close();
    await smtp?.stop();
  });
  beforeEach(() => smtp.reset());

  const run = (at: string) => runDigests({ ...deps(), clock: new ManualClock(new Date(at)), email });
  const deliveriesOf = (id: number) =>
    t.db.selectFrom('deliveries').select(['status', 'last_error', 'digest_id']).where('subscriber_id', '=', id).orderBy('id').execute();
  const twoEvents = async () => {
    await event('2026-03-02T10:00:00Z', { countries: ['RU'] });
    await event('2026-03-02T11:00:00Z', { countries: ['UA'] });
  };

  it('a traveler who narrowed RU,UA to UA after two routine events gets only Ukraine’s; Russia’s is skipped with the reason', async () => {
    const prefs = { emailFrequency: 'daily', timezone: 'UTC' };
    const id = await subscriber('narrow@example.org', { ...prefs, countries: 'RU,UA' });
    await twoEvents();
    expect((await deliveriesOf(id)).map((d) => d.status)).toEqual(['digest', 'digest']);
    await subscriber('narrow@example.org', { ...prefs, countries: 'UA' });

    expect(await run('2026-03-03T08:00:00Z')).toMatchObject({ created: 1, sent: 1, skipped: 0 });
    const mail = await smtp.mail('narrow@example.org');
    expect(mail.subject).toBe('Your daily travel advisory digest: 1 update (2026-03-03)');
    expect(mail.text).toContain('== Ukraine ==');
    expect(mail.text).not.toContain('Russia');
    expect(await deliveriesOf(id)).toEqual([
      { status: 'skipped', last_error: 'not sent: the subscription no longer matches the event', digest_id: null },
      { status: 'digested', last_error: null, digest_id: expect.any(Number) },
    ]);
    expect(await listDigests(t.db)).toMatchObject([{ subscriber: 'narrow@example.org', status: 'sent', events: 1 }]);
  });

  it('a traveler who narrowed to nothing matching gets no digest; the deliveries are skipped and it is not tried again', async () => {
    const prefs = { emailFrequency: 'daily', timezone: 'UTC' };
    const id = await subscriber('nothing@example.org', { ...prefs, countries: 'RU,UA' });
    await twoEvents();
    await subscriber('nothing@example.org', { ...prefs, countries: 'FR' });

    expect(await run('2026-03-03T08:00:00Z')).toMatchObject({ created: 1, sent: 0, failed: 0, skipped: 1 });
    expect(await deliveriesOf(id)).toEqual([
      { status: 'skipped', last_error: 'not sent: the subscription no longer matches the event', digest_id: null },
      { status: 'skipped', last_error: 'not sent: the subscription no longer matches the event', digest_id: null },
    ]);
    expect(await run('2026-03-04T08:00:00Z')).toMatchObject({ created: 0, sent: 0, skipped: 0 });
    await smtp.settled();
    expect(smtp.messages).toHaveLength(0);
    expect(await listDigests(t.db)).toMatchObject([{ status: 'skipped', events: 0 }]);
    const attempts = await t.db.selectFrom('delivery_attempts').select(['outcome', 'error']).execute();
    expect(attempts).toEqual([
      { outcome: 'skipped', error: 'not sent: the subscription no longer matches the event' },
      { outcome: 'skipped', error: 'not sent: the subscription no longer matches the event' },
    ]);
  });

  it('a traveler who stopped email after the fan-out gets no digest; the reason says so', async () => {
    const id = await subscriber('stopped@example.org', { emailFrequency: 'daily', timezone: 'UTC' });
    await event('2026-03-02T10:00:00Z');
    await t.db
      .updateTable('subscribers')
      .set({ email_stopped_at: new Date('2026-03-02T12:00:00Z') })
      .where('id', '=', id)
      .execute();
    expect(await run('2026-03-03T08:00:00Z')).toMatchObject({ created: 1, sent: 0, skipped: 1 });
    expect(await deliveriesOf(id)).toEqual([{ status: 'skipped', last_error: 'not sent: email stopped for this subscriber', digest_id: null }]);
    await smtp.settled();
    expect(smtp.messages).toHaveLength(0);
  });
});

describe('seed case: a traveler following Russia, SMS for urgent events, daily digest', () => {
  it('gets the March 2024 security alert by SMS and email at once, and the later message for U.S. citizens only in the digest', async () => {
    const input = parseSubscriber(
      {
        email: 'traveler@example.org',
        phone: '+447911123456',
        countries: 'RU',
        channels: 'email,sms',
        sms: 'urgent',
        emailFrequency: 'daily',
        timezone: 'Europe/Moscow',
      },
      new Set(),
    );
    const { id } = await upsertSubscriber(t.db, input, { confirmed: true, now: clock.now() });
    const url = server.set('/ru/seed', { body: fixture('us-embassy/us-embassy-russia-alerts_v1.xml') });
    const feeds = [feedConfig({ id: 'us-embassy-russia', url, source: 'us-embassy', countries: ['RU'] })];
    clock = new ManualClock(new Date('2024-03-07T19:30:00Z'));
    const poll = {
      ...pollDeps(t.db, clock),
      onEvents: async (tx: Parameters<NonNullable<ReturnType<typeof pollDeps>['onEvents']>>[0], ids: number[]) =>
        void (await fanOut(tx, ids, clock.now(), { defaultTimezone: 'UTC' })),
    };
    await syncAndPoll(poll, feeds, 'us-embassy-russia');
    server.set('/ru/seed', { body: fixture('us-embassy/us-embassy-russia-alerts_v2.xml') });
    await syncAndPoll(poll, feeds, 'us-embassy-russia');
    const rows = () =>
      t.db.selectFrom('deliveries').select(['event_id', 'channel', 'status', 'next_attempt_at']).where('subscriber_id', '=', id).orderBy('id').execute();
    expect(await rows()).toEqual([
      { event_id: expect.any(Number), channel: 'email', status: 'pending', next_attempt_at: clock.now() },
      { event_id: expect.any(Number), channel: 'sms', status: 'pending', next_attempt_at: clock.now() },
    ]);

    clock.advance(13 * 24 * 3600_000); // 20 March 2024
    server.set('/ru/seed', { body: embassyFeedWithRoutineMessage() });
    await syncAndPoll(poll, feeds, 'us-embassy-russia');
    const later = (await rows()).slice(2);
    expect(later).toEqual([{ event_id: expect.any(Number), channel: 'email', status: 'digest', next_attempt_at: clock.now() }]);

    // The next 08:00 in Moscow (05:00 UTC on 21 March): one digest with the message.
    clock = new ManualClock(new Date('2024-03-21T05:00:00Z'));
    expect(await runDigests(deps())).toMatchObject({ created: 1, sent: 1 });
    const [mail] = to('traveler@example.org');
    expect(mail!.subject).toBe('Your daily travel advisory digest: 1 update (2024-03-21)');
    expect(mail!.text).toContain('Message for U.S. Citizens');
    expect(mail!.text).not.toContain('Security Alert');
    expect((await rows()).map((r) => r.status)).toEqual(['pending', 'pending', 'digested']);
  });
});
