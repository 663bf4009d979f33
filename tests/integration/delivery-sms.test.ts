import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DispatchSummary } from '../../src/delivery/dispatcher.ts';
import { smsEncoding, smsSegments } from '../../src/delivery/render.ts';
import type { PollOutcome } from '../../src/feeds/poller.ts';
import { upsertSubscriber } from '../../src/subscriptions/repository.ts';
import { parseSubscriber } from '../../src/subscriptions/validate.ts';
import { deliveryRows as deliveryRowsOf, pollServed, startDeliveryRun, type DeliveryRun } from '../helpers/delivery.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { fixture, startFeedServer, type FeedServer } from '../helpers/feed-server.ts';
import { ManualClock } from '../helpers/poll.ts';
import { waitFor } from '../helpers/wait.ts';
import { createDispatcher } from '../../src/runtime.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { startTwilioServer, type TwilioServer } from '../helpers/twilio-server.ts';

/**
 * SMS delivery end to end on real peers: feeds polled over HTTP (fan-out in the
 * poll's transaction), the dispatcher sending through the real `twilio` client
 * to a local server speaking Twilio's Messages API (TWILIO_API_BASE_URL).
 */

const BASE = 'https://alerts.example.org';
const ACCOUNT_SID = `AC${randomBytes(16).toString('hex')}`;
const AUTH_TOKEN = randomBytes(16).toString('hex');
const FROM = '+15005550006';
const PHONE = '+447911123456';
const OTHER_PHONE = '+33612345678';
const EMBASSY_V1 = fixture('us-embassy/us-embassy-russia-alerts_v1.xml');
const EMBASSY_V2 = fixture('us-embassy/us-embassy-russia-alerts_v2.xml');
const MARCH_7_LINK = 'https://ru.usembassy.gov/security-alert-u-s-embassy-moscow-march-7-2024/';

const PATHS = { 'us-embassy-russia': '/ru/alerts', local: '/local/feed' } as const;
type FeedId = keyof typeof PATHS;

let t: TestDatabase;
let feeds: FeedServer;
let twilio: TwilioServer;
let root: string;
let clock: ManualClock;
beforeAll(async () => {
  // The fake API stamps date_created with the test's clock, as Twilio would with the real time.
  [t, feeds, twilio] = await Promise.all([openTestDatabase(), startFeedServer(), startTwilioServer(ACCOUNT_SID, AUTH_TOKEN, { now: () => clock.now() })]);
  root = mkdtempSync(path.join(tmpdir(), 'aa-sms-'));
});
afterAll(async () => {
  await Promise.all([t?.close(), feeds?.stop(), twilio?.stop()]);
  if (root) rmSync(root, { recursive: true, force: true });
});

type Ctx = DeliveryRun;

let ctx: Ctx | undefined;
beforeEach(async () => {
  await t.reset();
  twilio.reset();
  clock = new ManualClock(new Date('2026-03-01T12:00:00Z'));
});
afterEach(async () => {
  await ctx?.close();
  ctx = undefined;
});

/** A CONFIG_DIR with feeds.yaml (+ settings.yaml) and an AppConfig loaded from it, as `start` does. */
async function setup(options: { twilio?: 'from' | 'messaging-service' | false; settings?: string } = {}): Promise<Ctx> {
  const mode = options.twilio ?? 'from';
  ctx = await startDeliveryRun(t.db, clock, {
    root,
    feedsYaml: `feeds:
  - id: us-embassy-russia
    name: "U.S. Embassy & Consulates in Russia — alerts"
    url: ${feeds.url(PATHS['us-embassy-russia'])}
    source: us-embassy
    countries: [RU]
  - id: local
    name: Local news
    url: ${feeds.url(PATHS.local)}
    source: generic
    countries: [RU]
`,
    settingsYaml: options.settings,
    env: {
      PUBLIC_BASE_URL: BASE,
      APP_SECRET: 'x'.repeat(32),
      ...(mode === false
        ? {}
        : {
            TWILIO_ACCOUNT_SID: ACCOUNT_SID,
            TWILIO_AUTH_TOKEN: AUTH_TOKEN,
            TWILIO_API_BASE_URL: twilio.baseUrl,
            ...(mode === 'from' ? { TWILIO_FROM: FROM } : { TWILIO_MESSAGING_SERVICE_SID: `MG${'0'.repeat(32)}` }),
          }),
    },
  });
  return ctx;
}

/** Serves `body` for the feed and polls it one minute after the previous poll. */
function poll(c: Ctx, id: FeedId, body: string): Promise<PollOutcome> {
  return pollServed(c, t.db, clock, feeds, id, PATHS[id], body);
}

const KNOWN_FEEDS = new Set(Object.keys(PATHS));

/** A confirmed subscriber whose number the admin vouched for (verified). */
async function subscribeVerified(email: string, phone = PHONE, channels = 'sms', sms = 'urgent'): Promise<number> {
  const input = parseSubscriber({ email, phone, countries: 'RU', channels, sms }, KNOWN_FEEDS);
  return (await upsertSubscriber(t.db, input, { confirmed: true, now: clock.now() })).id;
}

/** The embassy alert, baseline then the March 7 alert: one event. */
async function embassyEvent(c: Ctx): Promise<void> {
  await poll(c, 'us-embassy-russia', EMBASSY_V1);
  expect(await poll(c, 'us-embassy-russia', EMBASSY_V2)).toMatchObject({ events: 1 });
}

function deliveryRows() {
  return deliveryRowsOf(t.db);
}

async function drain(c: Ctx): Promise<DispatchSummary> {
  return c.dispatcher.drain();
}

/** Moves the clock just past the delivery's next attempt. */
function advancePast(at: Date): void {
  clock.advance(Math.max(0, at.getTime() - clock.now().getTime()) + 1);
}

describe('sms through the twilio client', () => {
  it('sends the gist and a link, in at most 2 segments, once', async () => {
    const c = await setup();
    await subscribeVerified('texter@example.com');
    await embassyEvent(c);
    expect(await deliveryRows()).toMatchObject([{ channel: 'sms', status: 'pending' }]);

    expect(await drain(c)).toEqual({ sent: 1, failed: 0, retrying: 0, skipped: 0 });
    expect(twilio.messages).toHaveLength(1);
    const msg = twilio.messages[0]!;
    expect(msg).toMatchObject({ to: PHONE, from: FROM, messagingServiceSid: null, accountSid: ACCOUNT_SID });
    expect(msg.body.startsWith('Advisory alert: Security Alert - U.S. Embassy Moscow. ')).toBe(true);
    expect(msg.body).toContain('extremists have imminent plans');
    expect(msg.body).toContain('Avoid crowds.');
    expect(msg.body.endsWith(` ${MARCH_7_LINK} Reply STOP to end`)).toBe(true);
    expect(smsEncoding(msg.body).encoding).toBe('GSM-7');
    expect(smsSegments(msg.body)).toBeLessThanOrEqual(2);
    // The server's own count (an independent GSM-7 / UCS-2 implementation) agrees.
    expect(msg.numSegments).toBeLessThanOrEqual(2);

    const [row] = await deliveryRows();
    expect(row).toMatchObject({ status: 'sent', attempts: 1, provider_id: msg.sid, last_error: null });
    expect(twilio.creates).toHaveLength(1);
    expect(twilio.creates[0]!.form).toMatchObject({ To: PHONE, From: FROM, Body: msg.body });

    clock.advance(3_600_000);
    expect(await drain(c)).toEqual({ sent: 0, failed: 0, retrying: 0, skipped: 0 });
    expect(twilio.creates).toHaveLength(1);
  });

  it('uses TWILIO_MESSAGING_SERVICE_SID as the sender when given', async () => {
    const c = await setup({ twilio: 'messaging-service' });
    await subscribeVerified('texter@example.com');
    await embassyEvent(c);
    expect(await drain(c)).toMatchObject({ sent: 1 });
    expect(twilio.creates[0]!.form).toMatchObject({ To: PHONE, MessagingServiceSid: `MG${'0'.repeat(32)}` });
    expect(twilio.creates[0]!.form.From).toBeUndefined();
  });

  it('a long non-Latin (UCS-2) alert with emoji still fits in 2 segments', async () => {
    const c = await setup();
    // A generic feed's items are routine: this subscriber asked for every text.
    await subscribeVerified('texter@example.com', PHONE, 'sms', 'all');
    const doc = (items: string) => `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Местные новости</title><link>https://news.example/</link><description>…</description>
<item><title>Старое</title><guid>n-0</guid><link>https://news.example/0</link><description>Ничего.</description></item>
${items}</channel></rss>`;
    const sentence = 'Посольство рекомендует избегать массовых мероприятий в Москве 🚨 и следить за местными СМИ. ';
    const item = `<item><title>Предупреждение о безопасности 🚨 — Москва, концерты и массовые мероприятия</title><guid>n-1</guid>
<link>https://news.example/alerts/1</link><description>${sentence.repeat(20)}</description></item>`;
    await poll(c, 'local', doc(''));
    expect(await poll(c, 'local', doc(item))).toMatchObject({ events: 1 });
    expect(await drain(c)).toMatchObject({ sent: 1 });

    const msg = twilio.messages[0]!;
    expect(smsEncoding(msg.body).encoding).toBe('UCS-2');
    expect(smsSegments(msg.body)).toBeLessThanOrEqual(2);
    expect(msg.numSegments).toBeLessThanOrEqual(2);
    expect(msg.body.length).toBeLessThanOrEqual(2 * 67);
    expect(msg.body).toContain('Предупреждение о безопасности');
    expect(msg.body.endsWith(' https://news.example/alerts/1')).toBe(true);
  });
});

/** One subscriber's text about the embassy alert, whose next create Twilio answers with `failure`. */
async function textMeetingFailedCreate(failure: Parameters<TwilioServer['failNextCreate']>[0]): Promise<Ctx> {
  const c = await setup();
  await subscribeVerified('texter@example.com');
  await embassyEvent(c);
  twilio.failNextCreate(failure);
  return c;
}

describe('sms failures', () => {
  it('429 is retried after the back-off, then sent once', async () => {
    const c = await setup();
    await subscribeVerified('texter@example.com');
    await embassyEvent(c);
    twilio.throttleNext(1);
    expect(await drain(c)).toEqual({ sent: 0, failed: 0, retrying: 1, skipped: 0 });
    let [row] = await deliveryRows();
    expect(row).toMatchObject({ status: 'pending', attempts: 1 });
    expect(row!.last_error).toMatch(/429/);
    expect(row!.next_attempt_at.getTime()).toBeGreaterThan(clock.now().getTime());
    expect(twilio.messages).toHaveLength(0);

    expect(await drain(c)).toEqual({ sent: 0, failed: 0, retrying: 0, skipped: 0 });
    advancePast(row!.next_attempt_at);
    expect(await drain(c)).toEqual({ sent: 1, failed: 0, retrying: 0, skipped: 0 });
    expect(twilio.to(PHONE)).toHaveLength(1);
    expect(twilio.creates.map((r) => r.status)).toEqual([429, 201]);
    [row] = await deliveryRows();
    expect(row).toMatchObject({ status: 'sent', attempts: 2, provider_id: twilio.messages[0]!.sid });
  });

  it.each([
    [21211, 'invalid number'],
    [21610, 'unsubscribed (STOP) at the carrier'],
    [21614, 'not a mobile number'],
  ])('%i (%s) fails at once, stops SMS for the subscriber and is never retried', async (code) => {
    const c = await setup();
    await subscribeVerified('texter@example.com', PHONE, 'email,sms');
    await subscribeVerified('other@example.com', OTHER_PHONE);
    await embassyEvent(c);
    twilio.rejectNumber(PHONE, code);

    const summary = await drain(c);
    // The email (file outbox) and the other subscriber's SMS go; this SMS fails.
    expect(summary).toEqual({ sent: 2, failed: 1, retrying: 0, skipped: 0 });
    const rows = await deliveryRows();
    const failed = rows.find((r) => r.email === 'texter@example.com' && r.channel === 'sms')!;
    expect(failed).toMatchObject({ status: 'failed', attempts: 1 });
    expect(failed.last_error).toContain(String(code));
    const sub = await t.db.selectFrom('subscribers').selectAll().where('email', '=', 'texter@example.com').executeTakeFirstOrThrow();
    expect(sub.sms_stopped_at).toEqual(clock.now());
    expect(sub.sms_stop_reason).toContain(String(code));
    expect(sub.email_stopped_at).toBeNull();

    clock.advance(7 * 24 * 3_600_000);
    expect(await drain(c)).toEqual({ sent: 0, failed: 0, retrying: 0, skipped: 0 });
    expect(twilio.creates.filter((r) => r.form.To === PHONE)).toHaveLength(1);

    // A later (urgent) alert: email still fanned out to them, SMS not.
    const later = EMBASSY_V2.replace(
      '<item>',
      `<item><title>Demonstration Alert &#8211; U.S. Embassy Moscow (March 9, 2024)</title>
<link>https://ru.usembassy.gov/demonstration-alert-march-9-2024/</link><guid isPermaLink="false">https://ru.usembassy.gov/?p=31333</guid>
<category><![CDATA[Demonstration Alert]]></category><description>Protests are expected near the metro on March 10.</description></item>
<item>`,
    );
    expect(await poll(c, 'us-embassy-russia', later)).toMatchObject({ events: 1 });
    const newRows = (await deliveryRows()).filter((r) => r.event_id !== failed.event_id);
    expect(newRows.map((r) => `${r.email}/${r.channel}`).sort()).toEqual(['other@example.com/sms', 'texter@example.com/email']);
  });

  it('a 500 on create after Twilio accepted the message: uncertain, then found and not sent again', async () => {
    const c = await textMeetingFailedCreate({ status: 500, accept: true });

    expect(await drain(c)).toEqual({ sent: 0, failed: 0, retrying: 1, skipped: 0 });
    let [row] = await deliveryRows();
    expect(row).toMatchObject({ status: 'uncertain', attempts: 1 });
    expect(row!.last_error).toMatch(/500/);
    expect(twilio.messages).toHaveLength(1);
    const accepted = twilio.messages[0]!;

    advancePast(row!.next_attempt_at);
    expect(await drain(c)).toEqual({ sent: 1, failed: 0, retrying: 0, skipped: 0 });
    // Looked up, not re-sent.
    expect(twilio.messages).toHaveLength(1);
    expect(twilio.creates).toHaveLength(1);
    expect(twilio.requests.filter((r) => r.method === 'GET' && r.query.To === PHONE)).toHaveLength(1);
    [row] = await deliveryRows();
    expect(row).toMatchObject({ status: 'sent', attempts: 2, provider_id: accepted.sid });
  });

  it('a 500 on create that Twilio did not accept: uncertain, then sent once', async () => {
    const c = await textMeetingFailedCreate({ status: 500, accept: false });

    expect(await drain(c)).toEqual({ sent: 0, failed: 0, retrying: 1, skipped: 0 });
    let [row] = await deliveryRows();
    expect(row).toMatchObject({ status: 'uncertain', attempts: 1 });
    expect(twilio.messages).toHaveLength(0);

    advancePast(row!.next_attempt_at);
    expect(await drain(c)).toEqual({ sent: 1, failed: 0, retrying: 0, skipped: 0 });
    expect(twilio.messages).toHaveLength(1);
    expect(twilio.creates.map((r) => r.status)).toEqual([500, 201]);
    [row] = await deliveryRows();
    expect(row).toMatchObject({ status: 'sent', attempts: 2, provider_id: twilio.messages[0]!.sid });

    clock.advance(24 * 3_600_000);
    expect(await drain(c)).toEqual({ sent: 0, failed: 0, retrying: 0, skipped: 0 });
    expect(twilio.messages).toHaveLength(1);
  });

  it('a 503 (not processed) is a plain retry, not an uncertain send', async () => {
    const c = await textMeetingFailedCreate({ status: 503 });
    expect(await drain(c)).toMatchObject({ retrying: 1 });
    const [row] = await deliveryRows();
    expect(row).toMatchObject({ status: 'pending', attempts: 1 });
    advancePast(row!.next_attempt_at);
    expect(await drain(c)).toMatchObject({ sent: 1 });
    expect(twilio.messages).toHaveLength(1);
    expect(twilio.requests.filter((r) => r.method === 'GET')).toHaveLength(0);
  });
});

describe('sms and a stopping service', () => {
  /** Two subscribers' texts for one event; Twilio takes the first and never answers; the service stops after 200 ms of grace. */
  async function stopWhileFirstTextHeld(c: Ctx): Promise<void> {
    await subscribeVerified('first@example.com', PHONE);
    await subscribeVerified('second@example.com', OTHER_PHONE);
    await embassyEvent(c);
    twilio.holdNextCreates(1);
    c.dispatcher.start();
    await waitFor('Twilio to take the first text', () => twilio.messages.length === 1);
    await c.dispatcher.stop(200);
  }

  it('a text still unanswered when the service stops is recorded as uncertain, and its next attempt asks Twilio before sending: one text', async () => {
    const c = await setup();
    await subscribeVerified('texter@example.com');
    await embassyEvent(c);
    twilio.holdNextCreates(1);
    c.dispatcher.start();
    await waitFor('Twilio to take the text', () => twilio.messages.length === 1);
    await c.dispatcher.stop(200);
    const [row] = await deliveryRows();
    expect(row).toMatchObject({ status: 'uncertain', attempts: 1 });
    expect(row!.last_error).toMatch(/stopped while this send was in progress/);
    twilio.hangUpHeld();

    // The next process (a restart) takes it when it falls due.
    advancePast(row!.next_attempt_at);
    const next = createDispatcher(c.config, t.db, silentLogger, clock).dispatcher;
    expect(await next.drain()).toEqual({ sent: 1, failed: 0, retrying: 0, skipped: 0 });
    expect(twilio.creates).toHaveLength(1);
    expect(twilio.requests.filter((r) => r.method === 'GET').length).toBeGreaterThanOrEqual(1);
    expect(await deliveryRows()).toMatchObject([{ status: 'sent', provider_id: twilio.messages[0]!.sid }]);
  });

  it('claims whose send had not begun when the service stops are handed back unsent, for any process to take at once', async () => {
    const c = await setup({ settings: 'delivery:\n  concurrency: 1\n' });
    await stopWhileFirstTextHeld(c);
    const rows = await deliveryRows();
    const held = rows.find((r) => r.status === 'uncertain');
    const unsent = rows.find((r) => r.id !== held?.id);
    expect(held).toBeDefined();
    expect(unsent).toMatchObject({ status: 'pending', attempts: 0 });
    twilio.hangUpHeld();
  });

  it('a retry whose Twilio lookup outlasts the stop’s grace does not send afterwards', async () => {
    const c = await textMeetingFailedCreate({ status: 500 });
    expect(await drain(c)).toMatchObject({ retrying: 1 });
    const [row] = await deliveryRows();
    expect(row).toMatchObject({ status: 'uncertain' });
    advancePast(row!.next_attempt_at);
    twilio.lookupDelayMs = 600;
    c.dispatcher.start();
    await waitFor('the lookup to reach Twilio', () => twilio.delayedLookups === 1);
    await c.dispatcher.stop(100);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(twilio.creates).toHaveLength(1);
    expect(twilio.messages).toHaveLength(0);
  });

  it('a text still waiting for its rate-limit slot when the stop gives up is not sent afterwards, and is handed back', async () => {
    const c = await setup({ settings: 'delivery:\n  concurrency: 2\n  sms:\n    ratePerSecond: 0.5\n' });
    await stopWhileFirstTextHeld(c);
    // The second text's slot (2 s after the first) comes after the stop: it must not go out then.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(twilio.creates).toHaveLength(1);
    const rows = await deliveryRows();
    expect(rows.map((r) => [r.status, r.attempts]).sort()).toEqual([
      ['pending', 0],
      ['uncertain', 1],
    ]);
    twilio.hangUpHeld();
  });
});

describe('sms eligibility and the file outbox', () => {
  it('a subscriber whose number is not verified gets no SMS delivery at all', async () => {
    const c = await setup();
    await subscribeVerified('texter@example.com');
    // Confirmed by email first, then a phone added through the (unconfirmed) web path: not verified yet.
    const base = parseSubscriber({ email: 'unverified@example.com', countries: 'RU', channels: 'email' }, KNOWN_FEEDS);
    await upsertSubscriber(t.db, base, { confirmed: true, now: clock.now() });
    const withPhone = parseSubscriber({ email: 'unverified@example.com', phone: OTHER_PHONE, countries: 'RU', channels: 'email,sms' }, KNOWN_FEEDS);
    expect(await upsertSubscriber(t.db, withPhone, { confirmed: false, now: clock.now() })).toMatchObject({ status: 'confirmed' });
    const sub = await t.db.selectFrom('subscribers').selectAll().where('email', '=', 'unverified@example.com').executeTakeFirstOrThrow();
    expect(sub).toMatchObject({ phone: OTHER_PHONE, phone_verified: false, status: 'confirmed' });

    await embassyEvent(c);
    const rows = await deliveryRows();
    expect(rows.map((r) => `${r.email}/${r.channel}`).sort()).toEqual(['texter@example.com/sms', 'unverified@example.com/email']);
    expect(await drain(c)).toEqual({ sent: 2, failed: 0, retrying: 0, skipped: 0 });
    expect(twilio.to(OTHER_PHONE)).toHaveLength(0);
    expect(twilio.to(PHONE)).toHaveLength(1);
  });

  it('without Twilio credentials, texts are written to $DATA_DIR/outbox/sms', async () => {
    const c = await setup({ twilio: false });
    await subscribeVerified('texter@example.com');
    await embassyEvent(c);
    expect(await drain(c)).toEqual({ sent: 1, failed: 0, retrying: 0, skipped: 0 });
    expect(twilio.requests).toHaveLength(0);

    const dir = path.join(c.dataDir, 'outbox', 'sms');
    expect(existsSync(dir)).toBe(true);
    const files = readdirSync(dir);
    expect(files).toHaveLength(1);
    const text = readFileSync(path.join(dir, files[0]!), 'utf8');
    expect(text.startsWith(`To: ${PHONE}\n\n`)).toBe(true);
    const body = text.slice(`To: ${PHONE}\n\n`.length).replace(/\n$/, '');
    expect(body).toContain('Security Alert - U.S. Embassy Moscow');
    expect(body.endsWith(`${MARCH_7_LINK} Reply STOP to end`)).toBe(true);
    expect(smsSegments(body)).toBeLessThanOrEqual(2);
    const [row] = await deliveryRows();
    expect(row).toMatchObject({ status: 'sent', provider_id: `file:${files[0]}` });
  });
});
