import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { settingsSchema } from '../../src/config/schema.ts';
import { loadConfig, ConfigError } from '../../src/config/load.ts';
import { pollFeed } from '../../src/feeds/poller.ts';
import { runHousekeeping } from '../../src/housekeeping/run.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { pino } from 'pino';
import { createDispatcher, pollDepsFor, travelerDepsFor } from '../../src/runtime.ts';
import { sendDueConfirmations } from '../../src/subscriptions/confirmations.ts';
import { requestSubscription } from '../../src/subscriptions/service.ts';
import { signToken } from '../../src/common/tokens.ts';
import { upsertSubscriber } from '../../src/subscriptions/repository.ts';
import { fanOut } from '../../src/delivery/repository.ts';
import { insertEvent } from '../helpers/events.ts';
import { parseSubscriber } from '../../src/subscriptions/validate.ts';
import { fixture, type FeedServer } from '../helpers/feed-server.ts';
import type { TestDatabase } from '../helpers/db.ts';
import { ManualClock } from '../helpers/poll.ts';
import type { TestSmtpServer } from '../helpers/smtp.ts';
import type { TwilioServer } from '../helpers/twilio-server.ts';
import { CookieJar, csrfTokenOf, EMBASSY_PATH, form, postJsonTo, startWebApp, useWebStack, waitFor, type WebApp, type WebAppOptions } from '../helpers/web.ts';

/**
 * The abuse a public sign-up form invites, and the defects a hostile probe
 * found, each replayed over real HTTP against the real server: SMS pumping,
 * email bombing, spoofed client addresses, enumeration by timing, CSRF by
 * content type, admin brute force, and the rest. Each test is named after the
 * attack it stops.
 */

const SLOW = { timeout: 120_000 };
const ADMIN_TOKEN = `admin-${randomBytes(12).toString('hex')}`;

const EMBASSY_V1 = fixture('us-embassy/us-embassy-russia-alerts_v1.xml');
const EMBASSY_V2 = fixture('us-embassy/us-embassy-russia-alerts_v2.xml');

let t: TestDatabase, smtp: TestSmtpServer, twilio: TwilioServer, feeds: FeedServer, web: WebApp, feedsYaml: string;
const clock = new ManualClock(new Date('2026-03-01T12:00:00Z'));
useWebStack(clock, { adminToken: ADMIN_TOKEN }, (s) => ({ t, smtp, twilio, feeds, web, feedsYaml } = s));

/** A second server on the same database and mail/SMS servers, with other settings or environment. */
async function withApp<T>(options: Partial<WebAppOptions>, run: (app: WebApp) => Promise<T>): Promise<T> {
  const app = await startWebApp({ db: t.db, smtp, twilio, clock, feedsYaml, ...options });
  try {
    return await run(app);
  } finally {
    await app.close();
  }
}

const postJson = (path: string, body: unknown, app: WebApp = web, headers: Record<string, string> = {}) => postJsonTo(app, path, body, headers);

const mailTo = (email: string, n = 1) => smtp.mail(email, n);

async function getPage(path: string, jar: CookieJar, app: WebApp = web): Promise<{ res: Response; html: string; csrf: string }> {
  const res = await fetch(app.url(path), { headers: { cookie: jar.header() } });
  jar.store(res);
  const html = await res.text();
  return { res, html, csrf: csrfTokenOf(html) };
}

async function confirmedSubscriber(email: string, extra: Record<string, unknown> = {}): Promise<number> {
  const input = parseSubscriber({ email, countries: 'RU', ...extra }, new Set(web.config.feeds.map((f) => f.id)));
  return (await upsertSubscriber(t.db, input, { confirmed: true, now: clock.now() })).id;
}

/** Serves `body` as the embassy feed and polls it (events fan out to matching subscribers). */
async function pollEmbassy(body: string): Promise<void> {
  feeds.set(EMBASSY_PATH, { body });
  clock.advance(60_000);
  const feed = web.config.feeds.find((f) => f.id === 'us-embassy-russia')!;
  const outcome = await pollFeed(pollDepsFor(web.config, t.db, silentLogger, clock, undefined, web.metrics), feed, { force: true });
  expect(outcome.status, outcome.error ?? '').toBe('ok');
}

/** Sends what is due with the test app's channels; the log lines come back as parsed JSON. */
async function dispatchLogged(): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  const { dispatcher, close } = createDispatcher(web.config, t.db, logger, clock, { channels: web.channels });
  await dispatcher.drain();
  await close();
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function count(table: 'subscribers' | 'subscriber_tokens' | 'phone_verifications'): Promise<number> {
  return Number(
    (
      await t.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );
}

/** Every queued confirmation email prepared and sent, refused or given up (the web process works them off after answering). */
async function outboxWorkedOff(): Promise<void> {
  await waitFor('the confirmation outbox to be worked off', async () => {
    const waiting = await t.db.selectFrom('confirmation_emails').select('id').where('status', 'in', ['pending', 'sending']).execute();
    return waiting.length === 0 || undefined;
  });
}

const basic = (userPass: string) => `Basic ${Buffer.from(userPass).toString('base64')}`;

describe('client addresses behind proxies', SLOW, () => {
  it('spoofed X-Forwarded-For: `web.trustProxy: true` is refused by the config check', () => {
    const r = settingsSchema.safeParse({ web: { trustProxy: true } });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toMatch(/spoofable/);
    for (const ok of [false, 1, 2, ['127.0.0.1'], ['10.0.0.0/8', '::1']])
      expect(settingsSchema.safeParse({ web: { trustProxy: ok } }).success, JSON.stringify(ok)).toBe(true);
    for (const bad of [0, 'yes', ['not-an-ip'], ['10.0.0.0/33']])
      expect(settingsSchema.safeParse({ web: { trustProxy: bad } }).success, JSON.stringify(bad)).toBe(false);
  });

  for (const trustProxy of [1, ['127.0.0.1']] as const) {
    it(`spoofed X-Forwarded-For (trustProxy ${JSON.stringify(trustProxy)}): 30 requests with made-up client addresses still hit one 20/min limit`, async () => {
      await withApp({ settings: { web: { rateLimitPerMinute: 20, trustProxy } } }, async (app) => {
        const statuses: number[] = [];
        for (let i = 0; i < 30; i++) {
          // What the client sent, then what our one proxy appended: the real address.
          const r = await postJson('/api/subscriptions', {}, app, { 'x-forwarded-for': `10.0.0.${i}, 203.0.113.7` });
          statuses.push(r.status);
        }
        expect(statuses.filter((s) => s === 400)).toHaveLength(20);
        expect(statuses.slice(20).every((s) => s === 429)).toBe(true);
        // "spoofed, 127.0.0.1" is keyed on 127.0.0.1, whose budget is untouched.
        const own = await postJson('/api/subscriptions', {}, app, { 'x-forwarded-for': 'spoofed, 127.0.0.1' });
        expect(own.status).toBe(400);
      });
    });
  }
});

describe('admin page and operations endpoints', SLOW, () => {
  it('admin brute force: after 10 wrong tokens a client gets 429, even with the right token', async () => {
    // Its own server: the failure count is per process and would lock the shared one out.
    await withApp({ adminToken: ADMIN_TOKEN }, async (app) => {
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await fetch(app.url('/admin'), { headers: { authorization: `Bearer guess-${i}` } })).status);
      expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
      expect(statuses.slice(10)).toEqual([429, 429]);
      const right = await fetch(app.url('/admin'), { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(right.status).toBe(429);
      expect(Number(right.headers.get('retry-after'))).toBeGreaterThan(0);
    });
  });

  it('weak admin token: ADMIN_TOKEN=a fails the config check', () => {
    const env = { CONFIG_DIR: web.config.configDir, DATA_DIR: web.config.dataDir, ADMIN_TOKEN: 'a' };
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(/ADMIN_TOKEN: must be at least 16 characters/);
    expect(loadConfig({ ...env, ADMIN_TOKEN: 'a'.repeat(16) }).adminToken).toBe('a'.repeat(16));
  });

  it('Basic auth without a colon: the token alone as the credentials is refused', async () => {
    await withApp({ adminToken: ADMIN_TOKEN }, async (app) => {
      expect((await fetch(app.url('/admin'), { headers: { authorization: basic(ADMIN_TOKEN) } })).status).toBe(401);
      expect((await fetch(app.url('/admin'), { headers: { authorization: basic(`anyone:${ADMIN_TOKEN}`) } })).status).toBe(200);
    });
  });

  it('CSP-blocked inline style: the admin legend carries no style attribute', async () => {
    await withApp({ adminToken: ADMIN_TOKEN }, async (app) => {
      await confirmedSubscriber('legend@example.com');
      await pollEmbassy(EMBASSY_V1);
      await pollEmbassy(EMBASSY_V2);
      const r = await fetch(app.url('/admin'), { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(r.status).toBe(200);
      const page = await r.text();
      expect(page).toMatch(/<span class="lvl[^"]*">1<\/span> pending/);
      expect(page).not.toMatch(/\sstyle=/);
      const css = await (await fetch(app.url('/assets/app.css'))).text();
      expect(css).toContain('.st-pending{');
    });
  });

  it('metrics scraping by anyone: with a metrics token /metrics wants it', async () => {
    const token = `metrics-${randomBytes(8).toString('hex')}`;
    await withApp({ env: { METRICS_TOKEN: token } }, async (app) => {
      expect((await fetch(app.url('/metrics'))).status).toBe(401);
      expect((await fetch(app.url('/metrics'), { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status).toBe(401);
      const ok = await fetch(app.url('/metrics'), { headers: { authorization: `Bearer ${token}` } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('advisory_alerts_');
    });
    expect((await fetch(web.url('/metrics'))).status).toBe(200);
  });

  it('cookie theft over plain http: with an https PUBLIC_BASE_URL the CSRF cookie is Secure', async () => {
    await withApp({ env: { PUBLIC_BASE_URL: 'https://alerts.example.org' } }, async (app) => {
      const r = await fetch(app.url('/'));
      const cookies = r.headers.getSetCookie();
      expect(cookies.length).toBeGreaterThan(0);
      for (const c of cookies) expect(c).toMatch(/;\s*Secure/i);
    });
    const plain = (await fetch(web.url('/'))).headers.getSetCookie();
    for (const c of plain) expect(c).not.toMatch(/;\s*Secure/i);
  });

  it('exposed listener: the listen address is a setting, default all interfaces', () => {
    expect(settingsSchema.parse({}).web.host).toBe('0.0.0.0');
    expect(settingsSchema.parse({ web: { host: '127.0.0.1' } }).web.host).toBe('127.0.0.1');
  });
});

describe('CSRF decided by the exact media type', SLOW, () => {
  it('CSRF with "application/x-www-form-urlencoded; charset=json": /api/phone/verify still wants the token', async () => {
    const id = await confirmedSubscriber('csrf@example.com');
    const r = await fetch(web.url('/api/phone/verify'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=json' },
      body: form({ token: signToken(web.secret, 'manage', id), code: '123456' }),
    });
    expect(r.status).toBe(403);
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
  });

  it('CSRF on the API: a cross-site form posted to /api/subscriptions is refused, nothing stored, nothing mailed', async () => {
    for (const type of ['application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=json']) {
      const r = await fetch(web.url('/api/subscriptions'), {
        method: 'POST',
        headers: { 'content-type': type },
        body: form({ email: 'victim@example.com', countries: 'RU' }),
      });
      expect(r.status, type).toBe(403);
      // Told in JSON what the API takes (what `curl -d` gets), not the HTML page about an expired form.
      expect(r.headers.get('content-type'), type).toMatch(/^application\/json/);
      expect(((await r.json()) as { error: string }).error).toBe('this API takes JSON: send the body with Content-Type: application/json');
    }
    expect(await count('subscribers')).toBe(0);
    await smtp.settled();
    expect(smtp.to('victim@example.com')).toHaveLength(0);
    // Our own form, with its token and cookie, still works; so does JSON without one.
    const jar = new CookieJar();
    const { csrf } = await getPage('/', jar);
    const ok = await fetch(web.url('/api/subscriptions'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar.header() },
      body: form({ _csrf: csrf, email: 'own@example.com', countries: 'RU' }),
    });
    // The API refuses fields it does not know, the token included: the point is that it got past CSRF.
    expect(ok.status).not.toBe(403);
    expect((await postJson('/api/subscriptions', { email: 'json@example.com', countries: ['RU'] })).status).toBe(202);
  });
});

describe('provider errors in logs', SLOW, () => {
  it('address leak through logs: SMTP 550 and Twilio 21211 texts are logged and stored without the address or number', async () => {
    const email = 'victim.person@example.com';
    const phone = '+447911123456';
    await confirmedSubscriber(email, { phone, channels: 'email,sms' });
    smtp.rejectRecipient(email, 550, `5.1.1 <${email}>: Recipient address rejected: User unknown`);
    twilio.rejectNumber(phone, 21211);
    await pollEmbassy(EMBASSY_V1);
    await pollEmbassy(EMBASSY_V2);
    const logs = await dispatchLogged();
    const failures = logs.filter((l) => l.msg === 'permanent failure: channel stopped for subscriber');
    expect(failures).toHaveLength(2);
    const text = JSON.stringify(logs);
    expect(text).toContain('SMTP 550');
    expect(text).toContain('21211');
    for (const leak of [email, 'victim.person', phone, '7911123456', '7911 123456']) expect(text).not.toContain(leak);
    const stored = await t.db.selectFrom('deliveries').select('last_error').execute();
    const reasons = await t.db.selectFrom('subscribers').select(['email_stop_reason', 'sms_stop_reason']).execute();
    for (const leak of [email, phone]) expect(JSON.stringify([stored, reasons])).not.toContain(leak);
  });
});

describe('mail-client spoofing through feed titles', SLOW, () => {
  it('MIME encoded-word and bidi controls in a feed title: the Subject stays literal, and subject, HTML and SMS carry no bidi controls', async () => {
    const phishing = Buffer.from('Your account is locked: verify at evil.example').toString('base64');
    const title = `=?utf-8?b?${phishing}?= &#x202E;fdp.exe&#x202C; &#x2066;x&#x2069;`;
    const hostile = EMBASSY_V2.replace('Security Alert &#8211; U.S. Embassy Moscow (March 7, 2024)', title).replace(
      'Location: Moscow, Russia Event:',
      'Location: Moscow&#x202E;, Russia Event:',
    );
    expect(hostile).not.toBe(EMBASSY_V2);
    await confirmedSubscriber('reader@example.com', { phone: '+447911123457', channels: 'email,sms' });
    await pollEmbassy(EMBASSY_V1);
    await pollEmbassy(hostile);
    await dispatchLogged();
    const mail = await mailTo('reader@example.com');
    const bidi = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
    // mailparser decodes headers as a mail client does.
    expect(mail.subject).not.toContain('verify at evil.example');
    expect(mail.subject).toContain(phishing);
    expect(mail.subject).not.toMatch(bidi);
    expect(mail.html).not.toMatch(bidi);
    expect(mail.text).not.toMatch(bidi);
    const sms = await waitFor('the SMS', () => twilio.to('+447911123457')[0]);
    expect(sms.body).not.toMatch(bidi);
  });
});

describe('confirmation links after unsubscribing', SLOW, () => {
  it('stale confirm link: re-opened after unsubscribing it shows the alerts are off, and no manage link', async () => {
    expect((await postJson('/api/subscriptions', { email: 'leaver@example.com', countries: ['RU'] })).status).toBe(202);
    const link = /http:\/\/127\.0\.0\.1:\d+\/confirm\/[A-Za-z0-9_-]+/.exec((await mailTo('leaver@example.com')).text)![0];
    expect(await (await fetch(link)).text()).toContain('Your alerts are on');
    const sub = await t.db.selectFrom('subscribers').select('id').where('email', '=', 'leaver@example.com').executeTakeFirstOrThrow();
    const u = await fetch(web.url(`/unsubscribe/${signToken(web.secret, 'unsubscribe', sub.id)}`), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(u.status).toBe(200);
    const again = await fetch(link);
    expect(again.status).toBe(200);
    const page = await again.text();
    expect(page).toContain('Your alerts are off');
    expect(page).not.toContain('Your alerts are on');
    expect(page).not.toContain('/manage/');
    expect(await t.db.selectFrom('subscribers').select('status').where('id', '=', sub.id).executeTakeFirstOrThrow()).toEqual({ status: 'unsubscribed' });
  });
});

describe('SMS pumping and email bombing', SLOW, () => {
  async function managePost(id: number, phone: string, jar: CookieJar, csrf: string): Promise<Response> {
    return fetch(web.url(`/manage/${signToken(web.secret, 'manage', id)}`), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar.header() },
      body: form([
        ['_csrf', csrf],
        ['email', 'pumper@example.com'],
        ['countries', 'RU'],
        ['phone', phone],
        ['sms', '1'],
      ]),
    });
  }

  it('sms pumping: a manage link cannot text codes to many new numbers', async () => {
    const id = await confirmedSubscriber('pumper@example.com');
    const jar = new CookieJar();
    const { csrf } = await getPage(`/manage/${signToken(web.secret, 'manage', id)}`, jar);
    const statuses: number[] = [];
    for (let i = 1; i <= 8; i++) {
      statuses.push((await managePost(id, `+4479110000${String(i).padStart(2, '0')}`, jar, csrf)).status);
      clock.advance(61_000);
    }
    // verification.smsPerSubscriberPerDay (5) codes, then refusals naming the field.
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    expect(twilio.messages).toHaveLength(5);
    // A refused change saved nothing: the number is the last one that got a code.
    expect(await t.db.selectFrom('subscribers').select('phone').where('id', '=', id).executeTakeFirstOrThrow()).toEqual({ phone: '+447911000005' });
  });

  it('sms pumping: one number gets one code per cool-down, and premium-rate / non-mobile numbers are refused', async () => {
    const id = await confirmedSubscriber('pumper@example.com');
    const jar = new CookieJar();
    const { csrf } = await getPage(`/manage/${signToken(web.secret, 'manage', id)}`, jar);
    expect((await managePost(id, '+447911000001', jar, csrf)).status).toBe(200);
    expect((await managePost(id, '+447911000002', jar, csrf)).status).toBe(429);
    const refused = await managePost(id, '+447911000002', jar, csrf);
    expect(await refused.text()).toContain('No code sent: we sent one a moment ago');
    for (const premium of ['+449098790000', '+19005551234', '+447640123456', '+447000123456']) {
      clock.advance(61_000);
      const r = await managePost(id, premium, jar, csrf);
      expect(r.status, premium).toBe(400);
      expect(await r.text()).toContain('This is not a mobile number.');
    }
    expect(twilio.messages).toHaveLength(1);
  });

  it('email bombing: 22 requests for one victim across /subscribe and /api/subscriptions send one confirmation, and the day is capped', async () => {
    const victim = 'victim@example.com';
    const jar = new CookieJar();
    const { csrf } = await getPage('/', jar);
    for (let i = 0; i < 11; i++) {
      expect((await postJson('/api/subscriptions', { email: victim, countries: ['RU'] })).status).toBe(202);
      const r = await fetch(web.url('/subscribe'), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar.header() },
        body: form({ _csrf: csrf, email: victim, countries: 'RU' }),
      });
      expect(r.status).toBe(202);
    }
    await mailTo(victim);
    await outboxWorkedOff();
    for (let i = 0; i < 10; i++) {
      clock.advance(61_000);
      await postJson('/api/subscriptions', { email: victim, countries: ['RU'] });
      // Caps and cool-downs count when the queued request is worked off, at the (manual) clock's time then.
      await outboxWorkedOff();
    }
    await mailTo(victim, 5);
    await smtp.settled();
    // verification.emailsPerAddressPerDay (5), whatever the route.
    expect(smtp.to(victim)).toHaveLength(5);
  });

  it('phishing through the confirmation mail: keywords typed into the form are not echoed to the address', async () => {
    await postJson('/api/subscriptions', { email: 'target@example.com', countries: ['RU'], keywords: ['https://evil.example/phish', 'urgent'] });
    const mail = await mailTo('target@example.com');
    for (const part of [mail.text, mail.html, mail.subject]) {
      expect(part).not.toContain('evil.example');
      expect(part).not.toContain('urgent');
    }
    expect(mail.text).toContain('words you chose');
  });
});

describe('the counts behind the caps', SLOW, () => {
  it('cap-table bloat: housekeeping deletes verification counts older than the longest cap or cool-down window, and keeps the ones that still count', async () => {
    const now = clock.now().getTime();
    const hoursAgo = (h: number) => new Date(now - h * 3600_000);
    await t.db
      .insertInto('verification_sends')
      .values([
        { channel: 'email', recipient_hash: 'old', subscriber_id: null, sent_at: hoursAgo(72) },
        { channel: 'sms', recipient_hash: 'day-old', subscriber_id: 1, sent_at: hoursAgo(25) },
        { channel: 'email', recipient_hash: 'counts', subscriber_id: null, sent_at: hoursAgo(23) },
      ])
      .execute();
    const kept = async () => (await t.db.selectFrom('verification_sends').select('recipient_hash').orderBy('sent_at').execute()).map((r) => r.recipient_hash);
    const { retention, verification, trips } = settingsSchema.parse({});
    // A cool-down longer than the day's caps keeps its rows as long as it lasts.
    const longCooldown = { ...verification, emailCooldownSeconds: 48 * 3600 };
    const r1 = await runHousekeeping({ db: t.db, clock, logger: silentLogger, retention, verification: longCooldown, trips });
    expect(r1).toMatchObject({ verificationSends: 1 });
    expect(await kept()).toEqual(['day-old', 'counts']);
    const r2 = await runHousekeeping({ db: t.db, clock, logger: silentLogger, retention, verification, trips });
    expect(r2).toMatchObject({ verificationSends: 1 });
    expect(await kept()).toEqual(['counts']);
  });
});

describe('a channel stopped mid-batch', SLOW, () => {
  it('hammering a dead address: after a permanent refusal stops the channel, the rest of the subscriber’s claimed deliveries are not attempted', async () => {
    const email = 'gone.away@example.com';
    const phone = '+447911123458';
    await confirmedSubscriber(email, { phone, channels: 'email,sms', sms: 'all' });
    await confirmedSubscriber('still.here@example.com');
    smtp.rejectRecipient(email, 550);
    twilio.rejectNumber(phone, 21211);
    const events: number[] = [];
    for (let i = 1; i <= 4; i++)
      events.push(await insertEvent(t.db, { at: clock.now(), level: 4, previousLevel: 3, kind: 'level-raised', title: `Russia - Level 4 (${i})` }));
    const mine = events.length;
    expect(await fanOut(t.db, events, clock.now())).toBe(mine * 3);
    // One worker, one batch: every one of the subscriber's deliveries is claimed before the first refusal.
    const settings = web.config.settings;
    const config = { ...web.config, settings: { ...settings, delivery: { ...settings.delivery, concurrency: 1 } } };
    const { dispatcher, close } = createDispatcher(config, t.db, silentLogger, clock, { channels: web.channels });
    await dispatcher.drain();
    await close();
    expect(smtp.rcptLog.filter((r) => r.address === email)).toHaveLength(1);
    expect(twilio.creates.filter((r) => r.form.To === phone)).toHaveLength(1);
    const rows = await t.db
      .selectFrom('deliveries')
      .innerJoin('subscribers', 'subscribers.id', 'deliveries.subscriber_id')
      .select(['subscribers.email', 'deliveries.channel', 'deliveries.status', 'deliveries.last_error'])
      .execute();
    const gone = rows.filter((r) => r.email === email);
    // The two refusals failed; the rest were not tried: skipped, the stopped channel named.
    expect(gone.filter((r) => r.status === 'failed')).toHaveLength(2);
    expect(gone.filter((r) => r.status === 'skipped' && /^not sent: (email|sms) stopped for this subscriber$/.test(r.last_error ?? ''))).toHaveLength(
      gone.length - 2,
    );
    // The other subscriber in the same batch gets every alert.
    expect(rows.filter((r) => r.email === 'still.here@example.com').every((r) => r.status === 'sent')).toBe(true);
    expect(smtp.to('still.here@example.com')).toHaveLength(mine);
  });
});

describe('phone changes on the manage page', SLOW, () => {
  const PHONE = '+447911123459';

  async function manageSave(id: number, fields: [string, string][]): Promise<{ res: Response; html: string; jar: CookieJar }> {
    const jar = new CookieJar();
    const path = `/manage/${signToken(web.secret, 'manage', id)}`;
    const { csrf } = await getPage(path, jar);
    const res = await fetch(web.url(path), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar.header() },
      body: form([['_csrf', csrf], ...fields]),
    });
    jar.store(res);
    return { res, html: await res.text(), jar };
  }

  const stateOf = async (id: number) => ({
    subscriber: await t.db.selectFrom('subscribers').select(['phone', 'phone_verified']).where('id', '=', id).executeTakeFirstOrThrow(),
    subscription: await t.db.selectFrom('subscriptions').select(['countries', 'min_level']).where('subscriber_id', '=', id).executeTakeFirstOrThrow(),
    codes: await count('phone_verifications'),
  });

  const change = (email: string): [string, string][] => [
    ['email', email],
    ['countries', 'FR'],
    ['minLevel', '3'],
    ['phone', PHONE],
  ];

  it('"Enter it below" with nothing below: after a phone change the manage page shows the code form, and the code entered there verifies the number', async () => {
    const id = await confirmedSubscriber('coder@example.com');
    const { res, html, jar } = await manageSave(id, change('coder@example.com'));
    expect(res.status).toBe(200);
    expect(html).toContain('Enter it below');
    expect(html).toContain('action="/api/phone/verify"');
    expect(html).toMatch(/<label for="code">/);
    const code = /\b(\d{6})\b/.exec((await waitFor('the code', () => twilio.to(PHONE)[0])).body)![1]!;
    const token = /name="token" value="([^"]+)"/.exec(html)![1]!;
    const verified = await fetch(web.url('/api/phone/verify'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar.header() },
      body: form({ _csrf: csrfTokenOf(html), token, code }),
    });
    expect(verified.status).toBe(200);
    expect((await stateOf(id)).subscriber).toEqual({ phone: PHONE, phone_verified: true });
    // Verified: the form is gone.
    expect((await getPage(`/manage/${signToken(web.secret, 'manage', id)}`, new CookieJar())).html).not.toContain('action="/api/phone/verify"');
  });

  it('half-saved change when Twilio fails: nothing is saved, and the page names the phone field (503 provider down, 400 number refused)', async () => {
    const id = await confirmedSubscriber('twilio.down@example.com');
    const before = await stateOf(id);
    twilio.failNextCreate({ status: 503 });
    const down = await manageSave(id, change('twilio.down@example.com'));
    expect(down.res.status).toBe(503);
    expect(down.html).toContain('We could not send a text message just now');
    expect(await stateOf(id)).toEqual(before);

    clock.advance(61_000);
    twilio.rejectNumber(PHONE, 21211);
    const refused = await manageSave(id, change('twilio.down@example.com'));
    expect(refused.res.status).toBe(400);
    expect(refused.html).toContain(`We could not text a code to ${PHONE}`);
    expect(await stateOf(id)).toEqual(before);
  });

  it('half-saved change when the database fails mid-save: the number, its code and the rest are one transaction', async () => {
    const id = await confirmedSubscriber('db.fails@example.com');
    const before = await stateOf(id);
    // A real failure inside the save, after the number's row would have been written.
    await sql`create function fail_subscription_insert() returns trigger language plpgsql as $$ begin raise exception 'disk full (test)'; end $$`.execute(t.db);
    await sql`create trigger fail_subscription_insert before insert on subscriptions for each row execute function fail_subscription_insert()`.execute(t.db);
    try {
      const r = await manageSave(id, change('db.fails@example.com'));
      expect(r.res.status).toBe(500);
    } finally {
      await sql`drop trigger fail_subscription_insert on subscriptions`.execute(t.db);
      await sql`drop function fail_subscription_insert()`.execute(t.db);
    }
    expect(await stateOf(id)).toEqual(before);
  });
});

describe('moving a subscription to another address', SLOW, () => {
  it('takeover through an old manage link: after a move to a new address the old manage and unsubscribe links stop working, and the new address is told it is a move', async () => {
    const id = await confirmedSubscriber('old.owner@example.com');
    const oldManage = `/manage/${signToken(web.secret, 'manage', id)}`;
    const oldUnsubscribe = `/unsubscribe/${signToken(web.secret, 'unsubscribe', id)}`;
    const jar = new CookieJar();
    const { csrf } = await getPage(oldManage, jar);
    const saved = await fetch(web.url(oldManage), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar.header() },
      body: form({ _csrf: csrf, email: 'new.owner@example.com', countries: 'RU' }),
    });
    expect(saved.status).toBe(200);
    // Until the new address confirms, the old one still owns the subscription.
    expect((await fetch(web.url(oldManage))).status).toBe(200);

    const mail = await mailTo('new.owner@example.com');
    expect(mail.subject).toMatch(/move/i);
    expect(mail.text).toContain('move its alerts');
    expect(mail.text).toContain('links in emails sent before stop working');
    for (const part of [mail.subject, mail.text, mail.html]) expect(part).not.toContain('old.owner');
    const confirm = /http:\/\/127\.0\.0\.1:\d+\/confirm\/[A-Za-z0-9_-]+/.exec(mail.text)![0];
    const confirmed = await fetch(confirm);
    expect(confirmed.status).toBe(200);
    const newManage = /href="http:\/\/127\.0\.0\.1:\d+(\/manage\/[^"]+)"/.exec(await confirmed.text())![1]!;
    expect(newManage).not.toBe(oldManage);

    expect((await fetch(web.url(oldManage))).status).toBe(404);
    expect((await fetch(web.url(oldUnsubscribe))).status).toBe(404);
    const oneClick = await fetch(web.url(oldUnsubscribe), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(oneClick.status).toBe(404);
    expect(await t.db.selectFrom('subscribers').select(['email', 'status']).where('id', '=', id).executeTakeFirstOrThrow()).toEqual({
      email: 'new.owner@example.com',
      status: 'confirmed',
    });
    // The new address's links work.
    const page = await fetch(web.url(newManage));
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('new.owner@example.com');
  });
});

describe('confirmation emails through the outbox', SLOW, () => {
  /** Another process working off the outbox (the web process's own runner does the same after each answer). */
  async function workOffOutbox() {
    return sendDueConfirmations(travelerDepsFor(web.config, t.db, silentLogger, clock, web.channels));
  }
  const confirmLink = (text: string) => /http:\/\/127\.0\.0\.1:\d+\/confirm\/[A-Za-z0-9_-]+/.exec(text)![0];

  it('timing enumeration: a confirmed and an unknown address are answered before any work on the address, so that work cannot shape the answer', async () => {
    await confirmedSubscriber('known@example.com');
    // Any work on the address after the answer fails here: recording a request writes a token.
    await sql`create function fail_token_insert() returns trigger language plpgsql as $$ begin raise exception 'tokens unavailable (test)'; end $$`.execute(
      t.db,
    );
    await sql`create trigger fail_token_insert before insert on subscriber_tokens for each row execute function fail_token_insert()`.execute(t.db);
    const answers: { status: number; body: string }[] = [];
    try {
      for (const email of ['known@example.com', 'unknown@example.com']) {
        const r = await postJson('/api/subscriptions', { email, countries: ['RU'] });
        answers.push({ status: r.status, body: await r.text() });
      }
      expect(answers[0]!.status).toBe(202);
      expect(answers[1]).toEqual(answers[0]);
      // The same single piece of work on both paths before the answer: one queued request each.
      const queued = await t.db.selectFrom('confirmation_emails').select(['email', 'subscriber_id']).orderBy('id').execute();
      expect(queued).toEqual([
        { email: 'known@example.com', subscriber_id: null },
        { email: 'unknown@example.com', subscriber_id: null },
      ]);
      await outboxWorkedOffOrRetrying();
      expect(await count('subscribers')).toBe(1);
    } finally {
      await sql`drop trigger fail_token_insert on subscriber_tokens`.execute(t.db);
      await sql`drop function fail_token_insert()`.execute(t.db);
    }
    // The failed work was not lost: it is retried after its back-off.
    clock.advance(web.config.settings.delivery.retryMaxSeconds * 1000);
    expect((await workOffOutbox()).summary).toMatchObject({ sent: 2 });
    for (const email of ['known@example.com', 'unknown@example.com']) expect((await mailTo(email)).subject).toBe('Confirm your travel advisory alerts');
  });

  it('a request sent at once (as `subscribers add` does) gets one attempt: after a 451 it stays queued, even if its back-off passes during the call', async () => {
    smtp.failNextRcpt(1, 451);
    // An hour later at every reading: a second claim within the same call would find the request due again.
    let readings = 0;
    const hurried = { now: () => new Date(clock.now().getTime() + readings++ * 3600_000) };
    const deps = travelerDepsFor(web.config, t.db, silentLogger, hurried, web.channels);
    const queued = await requestSubscription(deps, 'greylisted.cli@example.com', {
      countries: ['RU'],
      feeds: null,
      minLevel: 1,
      keywords: [],
      channels: ['email'],
      phone: null,
    });
    const { results, summary } = await sendDueConfirmations(deps, { id: queued });
    expect(results.map((r) => r.outcome)).toEqual(['retrying']);
    expect(summary).toMatchObject({ sent: 0, retrying: 1 });
    expect(smtp.to('greylisted.cli@example.com')).toHaveLength(0);
    expect(await t.db.selectFrom('confirmation_emails').select(['status', 'attempts']).where('id', '=', queued).executeTakeFirstOrThrow()).toEqual({
      status: 'pending',
      attempts: 1,
    });
  });

  it('451 on a confirmation email: retried after a back-off with the same link, not dropped; a 550 is given up', async () => {
    smtp.failNextRcpt(1, 451);
    expect((await postJson('/api/subscriptions', { email: 'greylisted@example.com', countries: ['RU'] })).status).toBe(202);
    const row = () =>
      t.db.selectFrom('confirmation_emails').select(['status', 'attempts', 'last_error', 'message', 'next_attempt_at']).executeTakeFirstOrThrow();
    const waiting = await waitFor('the 451 to be recorded', async () => {
      const r = await row();
      return r.status === 'pending' && r.attempts === 1 ? r : undefined;
    });
    expect(waiting.last_error).toContain('SMTP 451');
    expect(waiting.next_attempt_at.getTime()).toBeGreaterThan(clock.now().getTime());
    expect(smtp.to('greylisted@example.com')).toHaveLength(0);
    // Not before its time.
    expect((await workOffOutbox()).summary).toMatchObject({ sent: 0 });
    clock.advance(web.config.settings.delivery.retryMaxSeconds * 1000);
    expect((await workOffOutbox()).summary).toMatchObject({ sent: 1 });
    const mail = await mailTo('greylisted@example.com');
    expect((await fetch(confirmLink(mail.text))).status).toBe(200);
    expect(await row()).toMatchObject({ status: 'sent', attempts: 2, message: null });
    expect(await t.db.selectFrom('subscribers').select('status').where('email', '=', 'greylisted@example.com').executeTakeFirstOrThrow()).toEqual({
      status: 'confirmed',
    });

    smtp.rejectRecipient('nobody.here@example.com', 550);
    await postJson('/api/subscriptions', { email: 'nobody.here@example.com', countries: ['RU'] });
    await outboxWorkedOffOrRetrying();
    expect(
      await t.db.selectFrom('confirmation_emails').select(['status', 'message']).where('email', '=', 'nobody.here@example.com').executeTakeFirstOrThrow(),
    ).toEqual({
      status: 'failed',
      message: null,
    });
    // Done with: the queued requests (an address and what was asked) go once their links would have expired.
    clock.advance(3 * 24 * 3600_000);
    const { retention, verification, trips } = settingsSchema.parse({});
    expect(await runHousekeeping({ db: t.db, clock, logger: silentLogger, retention, verification, trips })).toMatchObject({ confirmationEmails: 2 });
  });
});

/** Nothing queued is being worked on or due now (what is left waits for a back-off). */
async function outboxWorkedOffOrRetrying(): Promise<void> {
  await waitFor('the confirmation outbox to be worked off', async () => {
    const busy = await t.db
      .selectFrom('confirmation_emails')
      .select('id')
      .where((eb) => eb.or([eb('status', '=', 'sending'), eb.and([eb('status', '=', 'pending'), eb('next_attempt_at', '<=', clock.now())])]))
      .execute();
    return busy.length === 0 || undefined;
  });
}
