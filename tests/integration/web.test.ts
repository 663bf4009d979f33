import { randomBytes } from 'node:crypto';
import type { Element } from 'domhandler';
import twilioLib from 'twilio';
import { describe, expect, it } from 'vitest';
import { fanOut } from '../../src/delivery/repository.ts';
import { pollFeed, type PollOutcome } from '../../src/feeds/poller.ts';
import { briefingDepsFor, digestDepsFor, pollDepsFor } from '../../src/runtime.ts';
import { sendDueBriefings } from '../../src/briefings/send.ts';
import { runDigests } from '../../src/digests/run.ts';
import { addTrips, queueBriefing } from '../../src/subscriptions/trip-repository.ts';
import { insertEvent } from '../helpers/events.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { signToken } from '../../src/common/tokens.ts';
import { upsertSubscriber } from '../../src/subscriptions/repository.ts';
import { parseSubscriber } from '../../src/subscriptions/validate.ts';
import type { TestDatabase } from '../helpers/db.ts';
import { fixture, type FeedServer } from '../helpers/feed-server.ts';
import { ManualClock } from '../helpers/poll.ts';
import type { ReceivedMail, TestSmtpServer } from '../helpers/smtp.ts';
import type { TwilioServer } from '../helpers/twilio-server.ts';
import {
  CookieJar,
  csrfTokenOf,
  EMBASSY_PATH,
  form,
  getFormPage,
  postFormTo,
  postJsonTo,
  startWebApp,
  submitForm,
  useWebStack,
  TWILIO_FROM,
  waitFor,
  type WebApp,
} from '../helpers/web.ts';
import { Page } from '../helpers/dom.ts';

/**
 * Every route of the web server over real HTTP (fetch): the subscribe page and
 * API with double opt-in (confirmation mail caught by an in-process SMTP
 * server), phone verification (code caught by a local Twilio-compatible
 * server), manage and one-click unsubscribe, the inbound SMS webhook, health,
 * metrics and the admin page — and each bad input refused with a 4xx that
 * stores nothing.
 */

const SLOW = { timeout: 120_000 };
const ADMIN_TOKEN = `admin-${randomBytes(12).toString('hex')}`;
const PHONE = '+447911123456';
const OTHER_PHONE = '+33612345678';
const EMBASSY_V1 = fixture('us-embassy/us-embassy-russia-alerts_v1.xml');
const EMBASSY_V2 = fixture('us-embassy/us-embassy-russia-alerts_v2.xml');

let t: TestDatabase, smtp: TestSmtpServer, twilio: TwilioServer, feeds: FeedServer, web: WebApp;
const clock = new ManualClock(new Date('2026-03-01T12:00:00Z'));
useWebStack(clock, { adminToken: ADMIN_TOKEN }, (s) => ({ t, smtp, twilio, feeds, web } = s));

// --- helpers

const postJson = (path: string, body: unknown, app: WebApp = web) => postJsonTo(app, path, body);

async function counts() {
  const n = async (table: 'subscribers' | 'subscriptions' | 'subscriber_tokens' | 'phone_verifications' | 'deliveries') =>
    Number(
      (
        await t.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  return {
    subscribers: await n('subscribers'),
    subscriptions: await n('subscriptions'),
    tokens: await n('subscriber_tokens'),
    phoneCodes: await n('phone_verifications'),
    deliveries: await n('deliveries'),
  };
}

function subscriber(email: string) {
  return t.db.selectFrom('subscribers').selectAll().where('email', '=', email).executeTakeFirst();
}

async function subscriptionOf(email: string) {
  const s = await subscriber(email);
  if (!s) return undefined;
  return t.db.selectFrom('subscriptions').selectAll().where('subscriber_id', '=', s.id).executeTakeFirstOrThrow();
}

/** The `n`th (1-based) message to `email`, waiting for it. */
const mailTo = (email: string, n = 1) => smtp.mail(email, n);

function confirmLinkOf(mail: ReceivedMail): string {
  const re = new RegExp(`${web.baseUrl.replace(/[.:/]/g, '\\$&')}/confirm/([A-Za-z0-9_-]+)`);
  const m = re.exec(mail.text);
  expect(m, `a ${web.baseUrl}/confirm/<token> link in:\n${mail.text}`).not.toBeNull();
  expect(mail.html).toContain(m![0]);
  return m![0];
}

/** The latest 6-digit code texted to `phone`. */
async function codeFor(phone: string, n = 1): Promise<string> {
  const msg = await waitFor(`SMS #${n} to ${phone}`, () => twilio.to(phone)[n - 1]);
  expect(msg.from).toBe(TWILIO_FROM);
  const code = /\b(\d{6})\b/.exec(msg.body)?.[1];
  expect(code, msg.body).toBeDefined();
  return code!;
}

/** Subscribes by API and confirms by the mailed link; returns the link's token. */
async function subscribeAndConfirm(email: string, extra: Record<string, unknown> = {}): Promise<string> {
  const before = smtp.to(email).length;
  const r = await postJson('/api/subscriptions', { email, countries: ['RU'], ...extra });
  expect(r.status).toBe(202);
  const link = confirmLinkOf(await mailTo(email, before + 1));
  const c = await fetch(link);
  expect(c.status).toBe(200);
  return link.slice(link.lastIndexOf('/') + 1);
}

async function confirmedSubscriber(email: string, extra: Record<string, unknown> = {}): Promise<number> {
  const input = parseSubscriber({ email, countries: 'RU', ...extra }, new Set(web.config.feeds.map((f) => f.id)));
  return (await upsertSubscriber(t.db, input, { confirmed: true, now: clock.now() })).id;
}

async function pollEmbassy(body: string): Promise<PollOutcome> {
  feeds.set(EMBASSY_PATH, { body });
  clock.advance(60_000);
  const feed = web.config.feeds.find((f) => f.id === 'us-embassy-russia')!;
  const outcome = await pollFeed(pollDepsFor(web.config, t.db, silentLogger, clock, undefined, web.metrics), feed, { force: true });
  expect(outcome.status, outcome.error ?? '').toBe('ok');
  return outcome;
}

function manageToken(id: number): string {
  return signToken(web.secret, 'manage', id);
}

function unsubscribeToken(id: number): string {
  return signToken(web.secret, 'unsubscribe', id);
}

const getPage = (path: string, jar: CookieJar) => getFormPage(web, path, jar);
const postForm = (path: string, body: URLSearchParams, jar?: CookieJar, app: WebApp = web) => postFormTo(app, path, body, jar);

/** The destination checkboxes in page order: code, the name shown, ticked or not. */
function countryBoxes(page: Page): { code: string; name: string; checked: boolean }[] {
  return page
    .all('input', (el) => Page.attr(el, 'name') === 'countries')
    .map((el) => {
      const label = el.parent as Element;
      return {
        code: Page.attr(el, 'value') ?? '',
        name: Page.text(page.one('span', (s) => Page.attr(s, 'class') === 'name', label)),
        checked: Page.attr(el, 'checked') !== undefined,
      };
    });
}

/**
 * The errors shown next to each field (`<p class="field-error" id="<field>-error">`),
 * checking that the field's input points at its error and that the summary lists the same messages.
 */
function fieldErrors(page: Page): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of page.all('p', (el) => Page.attr(el, 'class') === 'field-error')) {
    const field = (Page.attr(p, 'id') ?? '').replace(/-error$/, '');
    out[field] = Page.text(p).replace(/^Error: /, '');
    const target = page.byId(field);
    expect(target, `#${field}`).toBeDefined();
    expect(Page.attr(target!, 'aria-describedby') ?? '', field).toContain(`${field}-error`);
    expect(Page.attr(target!, 'aria-invalid'), field).toBe('true');
  }
  if (Object.keys(out).length) {
    const summary = page.one('div', (el) => Page.attr(el, 'id') === 'error-summary');
    const listed = page.all('a', () => true, summary).map((a) => [Page.attr(a, 'href'), Page.text(a)]);
    expect(listed).toEqual(Object.entries(out).map(([f, m]) => [`#${f}`, m]));
  }
  return out;
}

/**
 * Labels that hold a hint: the hint then becomes part of the field's accessible name
 * (a screen reader reads it twice, once as name and once as description, and a name
 * like "Your time zone" matches the quiet-hours field whose hint mentions "your time zone").
 */
function labelsWithHints(html: string): string[] {
  return [...html.matchAll(/<label\b[^>]*>((?:(?!<\/label>)[\s\S])*)<\/label>/g)].filter((m) => /class="hint"/.test(m[1]!)).map((m) => m[0]);
}

/** Every visible input and select has a label: `<label for=id>` or an enclosing `<label>`. */
function unlabelledControls(html: string): string[] {
  const labelled = new Set([...html.matchAll(/<label[^>]*\sfor="([^"]+)"/g)].map((m) => m[1]!));
  const enclosing = [...html.matchAll(/<label\b[^>]*>[\s\S]*?<\/label>/g)].map((m) => [m.index, m.index + m[0].length] as const);
  const missing: string[] = [];
  for (const m of html.matchAll(/<(input|select|textarea)\b[^>]*>/g)) {
    const tag = m[0];
    if (/type="hidden"/.test(tag)) continue;
    const id = /\sid="([^"]+)"/.exec(tag)?.[1];
    if (id && labelled.has(id)) continue;
    if (enclosing.some(([a, b]) => m.index > a && m.index < b)) continue;
    missing.push(tag);
  }
  return missing;
}

// --- tests

describe('the subscribe page and its assets', SLOW, () => {
  it('GET / is the form, every input labelled, with a strict CSP, nosniff and a CSRF cookie', async () => {
    const res = await fetch(web.url('/'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.getSetCookie().some((c) => /^_csrf=/.test(c) && /HttpOnly/i.test(c))).toBe(true);
    const html = await res.text();
    expect(html).toContain('<form method="post" action="/subscribe"');
    expect(html).toMatch(/<input type="hidden" name="_csrf" value="[^"]+">/);
    for (const id of ['email', 'keywords', 'phone', 'country-filter']) expect(html).toMatch(new RegExp(`<label for="${id}"`));
    expect(html).not.toContain('<select');
    expect(countryBoxes(new Page(html))).toContainEqual({ code: 'RU', name: 'Russia', checked: false });
    expect(html.match(/name="minLevel"/g)).toHaveLength(4);
    expect(html).toContain('name="sms"');
    expect(unlabelledControls(html)).toEqual([]);
    expect(labelsWithHints(html)).toEqual([]);
    // No inline script or style for the CSP to forbid: scripts are files from our own origin.
    const scripts = new Page(html).all('script');
    expect(scripts.map((s) => Page.attr(s, 'src'))).toEqual(['/assets/picker.js']);
    expect(scripts.every((s) => Page.text(s) === '')).toBe(true);
    expect(html).not.toMatch(/\sstyle="/i);
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
  });

  it('GET /assets/app.css is the stylesheet; an unknown page is a 404 page', async () => {
    const css = await fetch(web.url('/assets/app.css'));
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
    expect(await css.text()).toContain('body{');
    const missing = await fetch(web.url('/no/such/page'));
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain('Page not found');
  });
});

describe('POST /api/subscriptions: double opt-in', SLOW, () => {
  it('answers 202, mails a confirmation link on PUBLIC_BASE_URL, and the subscriber is pending until it is opened', async () => {
    const r = await postJson('/api/subscriptions', { email: 'Ann@Example.com', countries: ['ru', 'FR'], minLevel: 2, keywords: ['airport'] });
    expect(r.status).toBe(202);
    const firstBody = await r.text();
    expect(JSON.parse(firstBody)).toMatchObject({ status: 'pending' });

    // The request is recorded after the answer (the same answer for any address), by the time the mail goes.
    const mail = await mailTo('ann@example.com');
    expect(await subscriber('ann@example.com')).toMatchObject({ status: 'pending', confirmed_at: null });
    expect(await counts()).toMatchObject({ subscribers: 1, tokens: 1 });

    expect(mail.subject).toBe('Confirm your travel advisory alerts');
    expect(mail.text).toContain('France, Russia');
    const link = confirmLinkOf(mail);
    // Only the hash of the token is stored.
    const token = link.slice(link.lastIndexOf('/') + 1);
    const stored = await t.db.selectFrom('subscriber_tokens').select('token_hash').executeTakeFirstOrThrow();
    expect(stored.token_hash).not.toContain(token);

    const page = await fetch(link);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('Your alerts are on');
    expect(html).toContain('We will email ann@example.com when advice changes for France, Russia, at level 2 and up, when it mentions “airport”.');
    expect(await subscriber('ann@example.com')).toMatchObject({ status: 'confirmed' });
    expect(await subscriptionOf('ann@example.com')).toMatchObject({ countries: ['FR', 'RU'], min_level: 2, keywords: ['airport'], channels: ['email'] });
    // Opening the link again (a mail client prefetching it) is harmless.
    expect((await fetch(link)).status).toBe(200);
    expect(await subscriber('ann@example.com')).toMatchObject({ status: 'confirmed' });

    // A known, confirmed address gets the very same answer; its subscription waits for the new link.
    // (After the confirmation-email cool-down: within it the request is answered the same but not mailed.)
    clock.advance(61_000);
    const again = await postJson('/api/subscriptions', { email: 'ann@example.com', countries: ['DE'] });
    expect(again.status).toBe(202);
    expect(await again.text()).toBe(firstBody);
    expect(await subscriptionOf('ann@example.com')).toMatchObject({ countries: ['FR', 'RU'] });
    const second = confirmLinkOf(await mailTo('ann@example.com', 2));
    expect(second).not.toBe(link);
    expect((await fetch(second)).status).toBe(200);
    expect(await subscriptionOf('ann@example.com')).toMatchObject({ countries: ['DE'], min_level: 1 });
  });

  it('with a phone: after confirmation a 6-digit code is texted; POST /api/phone/verify verifies the number', async () => {
    const r = await postJson('/api/subscriptions', { email: 'bo@example.com', countries: 'RU', phone: PHONE });
    expect(r.status).toBe(202);
    const link = confirmLinkOf(await mailTo('bo@example.com'));
    // No text before the address is confirmed.
    expect(twilio.messages).toHaveLength(0);
    expect(await subscriber('bo@example.com')).toMatchObject({ status: 'pending', phone: null, phone_verified: false });

    const page = await fetch(link);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('action="/api/phone/verify"');
    expect(html).toMatch(/<label for="code">/);
    const code = await codeFor(PHONE);
    expect(twilio.to(PHONE)[0]!.body).toMatch(/expires in 10 minutes/);
    expect(await subscriber('bo@example.com')).toMatchObject({ status: 'confirmed', phone: PHONE, phone_verified: false });
    expect(await subscriptionOf('bo@example.com')).toMatchObject({ channels: ['email', 'sms'] });

    const token = link.slice(link.lastIndexOf('/') + 1);
    const v = await postJson('/api/phone/verify', { token, code });
    expect(v.status).toBe(200);
    expect(await v.json()).toEqual({ status: 'verified' });
    expect(await subscriber('bo@example.com')).toMatchObject({ phone_verified: true });
    expect((await counts()).phoneCodes).toBe(0);
  });

  it('the manage link works as the token for /api/phone/verify too', async () => {
    const id = await confirmedSubscriber('cy@example.com');
    await t.db.updateTable('subscribers').set({ phone: PHONE, phone_verified: false }).where('id', '=', id).execute();
    // Saving a number on the manage page texts a code.
    const jar = new CookieJar();
    const { csrf } = await getPage(`/manage/${manageToken(id)}`, jar);
    const saved = await postForm(
      `/manage/${manageToken(id)}`,
      form({ _csrf: csrf, email: 'cy@example.com', countries: 'RU', minLevel: '1', phone: OTHER_PHONE, sms: '1' }),
      jar,
    );
    expect(saved.status).toBe(200);
    expect(await saved.text()).toContain(`We texted a code to ${OTHER_PHONE}`);
    const code = await codeFor(OTHER_PHONE);
    const v = await postJson('/api/phone/verify', { token: manageToken(id), code });
    expect(v.status).toBe(200);
    expect(await subscriber('cy@example.com')).toMatchObject({ phone: OTHER_PHONE, phone_verified: true });
  });
});

describe('bad input: a clear 4xx and nothing stored', SLOW, () => {
  const cases: { name: string; body: unknown; field: string }[] = [
    { name: 'invalid email', body: { email: 'not-an-email', countries: ['RU'] }, field: 'email' },
    { name: 'missing email', body: { countries: ['RU'] }, field: 'email' },
    { name: 'unknown country', body: { email: 'dee@example.com', countries: ['RU', 'XX'] }, field: 'countries' },
    { name: 'invalid phone', body: { email: 'dee@example.com', countries: ['RU'], phone: '+1234' }, field: 'phone' },
    { name: 'landline phone', body: { email: 'dee@example.com', countries: ['RU'], phone: '+442079460958' }, field: 'phone' },
    { name: 'missing countries', body: { email: 'dee@example.com' }, field: 'countries' },
    { name: 'unknown field', body: { email: 'dee@example.com', countries: ['RU'], admin: true }, field: 'admin' },
    { name: 'level out of range', body: { email: 'dee@example.com', countries: ['RU'], minLevel: 7 }, field: 'minLevel' },
    { name: 'sms without a phone', body: { email: 'dee@example.com', countries: ['RU'], channels: ['sms'] }, field: 'channels' },
    { name: 'invalid time zone', body: { email: 'dee@example.com', countries: ['RU'], timezone: 'Mars/Olympus_Mons' }, field: 'timezone' },
    { name: 'quiet hours 25:00-07:00', body: { email: 'dee@example.com', countries: ['RU'], quietHours: '25:00-07:00' }, field: 'quietHours' },
    { name: 'unknown email frequency', body: { email: 'dee@example.com', countries: ['RU'], emailFrequency: 'hourly' }, field: 'emailFrequency' },
    { name: 'unknown sms choice', body: { email: 'dee@example.com', countries: ['RU'], sms: 'never' }, field: 'sms' },
  ];
  it.each(cases)('$name → 400 naming the field "$field"', async ({ body, field }) => {
    const before = await counts();
    const r = await postJson('/api/subscriptions', body);
    expect(r.status).toBe(400);
    const answer = (await r.json()) as { error: string; field?: string };
    expect(answer.field).toBe(field);
    expect(answer.error).toMatch(new RegExp(`^${field}: `));
    expect(await counts()).toEqual(before);
    expect(smtp.to('dee@example.com')).toHaveLength(0);
  });

  it('malformed JSON → 400; a JSON array → 400', async () => {
    const before = await counts();
    const r = await fetch(web.url('/api/subscriptions'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"email": "dee@example.com", "countries": [',
    });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: string }).error).toMatch(/malformed JSON/);
    const arr = await postJson('/api/subscriptions', [{ email: 'dee@example.com', countries: ['RU'] }]);
    expect(arr.status).toBe(400);
    expect(await counts()).toEqual(before);
  });

  it('an oversized body → 413, as JSON and as a form', async () => {
    const before = await counts();
    const limit = web.config.settings.web.bodyLimitBytes;
    const big = await postJson('/api/subscriptions', { email: 'dee@example.com', countries: ['RU'], keywords: ['x'.repeat(limit * 2)] });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: string }).error).toMatch(/too large/);
    const bigForm = await postForm('/subscribe', form({ email: 'dee@example.com', countries: 'RU', keywords: 'y'.repeat(limit * 2) }));
    expect(bigForm.status).toBe(413);
    expect(await counts()).toEqual(before);
  });

  it('a wrong content type → 415, for XML and for plain text', async () => {
    const before = await counts();
    const xml = await fetch(web.url('/api/subscriptions'), {
      method: 'POST',
      headers: { 'content-type': 'application/xml' },
      body: '<email>dee@example.com</email>',
    });
    expect(xml.status).toBe(415);
    expect(((await xml.json()) as { error: string }).error).toMatch(/content type/);
    const text = await fetch(web.url('/api/subscriptions'), {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ email: 'dee@example.com', countries: ['RU'] }),
    });
    expect(text.status).toBe(415);
    expect(await counts()).toEqual(before);
  });

  it('a forged or malformed confirmation token → 404 and nothing changes', async () => {
    await postJson('/api/subscriptions', { email: 'eve@example.com', countries: ['RU'] });
    const real = confirmLinkOf(await mailTo('eve@example.com'));
    const token = real.slice(real.lastIndexOf('/') + 1);
    const before = await counts();
    const forged = `${token.slice(0, -4)}${token.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
    for (const bad of [forged, randomBytes(24).toString('base64url'), 'short', `${token}.x`]) {
      const r = await fetch(web.url(`/confirm/${bad}`));
      expect(r.status, bad).toBe(404);
      expect(await r.text()).toContain('This link does not work');
    }
    // Longer than any token: refused before routing (414 URI Too Long).
    expect((await fetch(web.url(`/confirm/${'a'.repeat(300)}`))).status).toBe(414);
    expect(await subscriber('eve@example.com')).toMatchObject({ status: 'pending' });
    expect(await counts()).toEqual(before);
  });

  it('an expired confirmation link (49 h later) → 410 and the subscriber stays pending', async () => {
    await postJson('/api/subscriptions', { email: 'fay@example.com', countries: ['RU'] });
    const link = confirmLinkOf(await mailTo('fay@example.com'));
    clock.advance(49 * 3600 * 1000);
    const r = await fetch(link);
    expect(r.status).toBe(410);
    expect(await r.text()).toContain('This link has expired');
    expect(await subscriber('fay@example.com')).toMatchObject({ status: 'pending', confirmed_at: null });
  });

  it('a wrong code five times → 429, and then even the right code is refused', async () => {
    const token = await subscribeAndConfirm('gus@example.com', { phone: PHONE });
    const code = await codeFor(PHONE);
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
    for (let i = 1; i <= 4; i++) {
      const r = await postJson('/api/phone/verify', { token, code: wrong });
      expect(r.status, `attempt ${i}`).toBe(400);
      expect(await r.json()).toMatchObject({ field: 'code' });
    }
    const fifth = await postJson('/api/phone/verify', { token, code: wrong });
    expect(fifth.status).toBe(429);
    const right = await postJson('/api/phone/verify', { token, code });
    expect(right.status).toBe(429);
    expect(((await right.json()) as { error: string }).error).toMatch(/too many wrong codes/);
    expect(await subscriber('gus@example.com')).toMatchObject({ phone: PHONE, phone_verified: false });
  });

  it('phone verification: an expired code → 410; a forged token → 404; a malformed code → 400', async () => {
    const token = await subscribeAndConfirm('hal@example.com', { phone: PHONE });
    const code = await codeFor(PHONE);
    const forged = await postJson('/api/phone/verify', { token: randomBytes(24).toString('base64url'), code });
    expect(forged.status).toBe(404);
    expect(await forged.json()).toMatchObject({ field: 'token' });
    const malformed = await postJson('/api/phone/verify', { token, code: '12ab' });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ field: 'code' });
    clock.advance(11 * 60 * 1000);
    const late = await postJson('/api/phone/verify', { token, code });
    expect(late.status).toBe(410);
    expect(await subscriber('hal@example.com')).toMatchObject({ phone_verified: false });
  });

  it('an unsigned or wrongly signed Twilio webhook → 403 and nothing changes', async () => {
    await confirmedSubscriber('ivy@example.com', { phone: PHONE, channels: 'email,sms' });
    const params = { From: PHONE, To: TWILIO_FROM, Body: 'STOP', MessageSid: `SM${randomBytes(16).toString('hex')}`, AccountSid: twilio.accountSid };
    const url = `${web.config.publicBaseUrl}/webhooks/twilio`;
    const attempts: Record<string, string>[] = [
      {},
      { 'x-twilio-signature': 'bm90IGEgc2lnbmF0dXJl' },
      { 'x-twilio-signature': twilioLib.getExpectedTwilioSignature('another-auth-token', url, params) },
      // Signed over another URL (the Host the request came with, not PUBLIC_BASE_URL).
      { 'x-twilio-signature': twilioLib.getExpectedTwilioSignature(twilio.authToken, 'https://evil.example.net/webhooks/twilio', params) },
      // Signed over other parameters.
      { 'x-twilio-signature': twilioLib.getExpectedTwilioSignature(twilio.authToken, url, { ...params, Body: 'HELP' }) },
    ];
    for (const headers of attempts) {
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: form(params) });
      expect(r.status, JSON.stringify(headers)).toBe(403);
    }
    expect(await subscriber('ivy@example.com')).toMatchObject({ sms_stopped_at: null });
  });

  it('too many requests from one client → 429 (a low-limit app), and nothing stored', async () => {
    const low = await startWebApp({ db: t.db, smtp, clock, settings: { web: { rateLimitPerMinute: 3 } } });
    try {
      for (let i = 0; i < 3; i++) expect((await postJson('/api/subscriptions', { email: 'nope', countries: ['RU'] }, low)).status).toBe(400);
      const before = await counts();
      const r = await postJson('/api/subscriptions', { email: 'jo@example.com', countries: ['RU'] }, low);
      expect(r.status).toBe(429);
      expect(((await r.json()) as { error: string }).error).toMatch(/too many requests/);
      expect(await counts()).toEqual(before);
      expect(await subscriber('jo@example.com')).toBeUndefined();
      // Confirm links are limited per client as well.
      for (let i = 0; i < 3; i++) expect((await fetch(low.url(`/confirm/${randomBytes(24).toString('base64url')}`))).status).toBe(404);
      expect((await fetch(low.url(`/confirm/${randomBytes(24).toString('base64url')}`))).status).toBe(429);
      // Pages that are not limited still answer.
      expect((await fetch(low.url('/'))).status).toBe(200);
    } finally {
      await low.close();
    }
  });
});

describe('the subscribe form without JavaScript', SLOW, () => {
  it('GET / then POST /subscribe with the CSRF token and cookie → 202 "Check your inbox" and a confirmation mail', async () => {
    const jar = new CookieJar();
    const { csrf } = await getPage('/', jar);
    expect(jar.get('_csrf')).toBeDefined();
    const r = await postForm(
      '/subscribe',
      form({ _csrf: csrf, email: 'kim@example.com', countries: ['RU', 'UA'], minLevel: '3', keywords: '', phone: '+44 7911 123456', sms: '1' }),
      jar,
    );
    expect(r.status).toBe(202);
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await r.text()).toContain('Check your inbox');
    const link = confirmLinkOf(await mailTo('kim@example.com'));
    expect(await subscriptionOf('kim@example.com')).toMatchObject({ countries: ['RU', 'UA'], min_level: 3, channels: ['email', 'sms'] });
    expect((await fetch(link)).status).toBe(200);
    expect(await subscriber('kim@example.com')).toMatchObject({ status: 'confirmed', phone: PHONE, phone_verified: false });
    await codeFor(PHONE);
  });

  it('a phone number typed without ticking "also by text message" is kept, not dropped', async () => {
    const r = await submitForm(web, '/', '/subscribe', { email: 'noa@example.com', countries: 'RU', minLevel: '1', phone: '+44 7911 123456' });
    expect(r.status).toBe(202);
    const mail = await mailTo('noa@example.com');
    expect(await subscriptionOf('noa@example.com')).toMatchObject({ countries: ['RU'], channels: ['email', 'sms'] });
    expect((await fetch(confirmLinkOf(mail))).status).toBe(200);
    expect(await subscriber('noa@example.com')).toMatchObject({ status: 'confirmed', phone: PHONE, phone_verified: false });
  });

  it('POST /subscribe without the CSRF token, or without its cookie → 403, nothing stored', async () => {
    const jar = new CookieJar();
    const { csrf } = await getPage('/', jar);
    const before = await counts();
    const noToken = await postForm('/subscribe', form({ email: 'lee@example.com', countries: 'RU' }), jar);
    expect(noToken.status).toBe(403);
    expect(await noToken.text()).toContain('reload the page');
    const noCookie = await postForm('/subscribe', form({ _csrf: csrf, email: 'lee@example.com', countries: 'RU' }));
    expect(noCookie.status).toBe(403);
    const otherCookie = new CookieJar();
    await getPage('/', otherCookie);
    const mismatched = await postForm('/subscribe', form({ _csrf: csrf, email: 'lee@example.com', countries: 'RU' }), otherCookie);
    expect(mismatched.status).toBe(403);
    expect(await counts()).toEqual(before);
  });

  it('a form with an invalid email → 400, the form again with the error and the values kept, nothing stored', async () => {
    const jar = new CookieJar();
    const { csrf } = await getPage('/', jar);
    const before = await counts();
    const r = await postForm('/subscribe', form({ _csrf: csrf, email: 'mo@', countries: 'RU', minLevel: '2' }), jar);
    expect(r.status).toBe(400);
    const html = await r.text();
    expect(fieldErrors(new Page(html))).toEqual({ email: 'Enter a full email address, like name@example.com.' });
    expect(html).toContain('value="mo@"');
    expect(countryBoxes(new Page(html)).filter((c) => c.checked)).toEqual([{ code: 'RU', name: 'Russia', checked: true }]);
    expect(html).toMatch(/value="2" checked/);
    const noCountry = await postForm('/subscribe', form({ _csrf: csrfTokenOf(html), email: 'mo@example.com' }), jar);
    expect(noCountry.status).toBe(400);
    expect(fieldErrors(new Page(await noCountry.text()))).toEqual({ countries: 'Choose at least one destination, tick “Every destination”, or add a trip.' });
    expect(await counts()).toEqual(before);
  });
});

describe('the forms speak plainly: every problem at once, next to its field, nothing typed lost', SLOW, () => {
  it('a bad email, no destination, a number without its country code and too many keywords → all four shown, everything kept, nothing stored', async () => {
    const jar = new CookieJar();
    const { csrf } = await getPage('/', jar);
    const before = await counts();
    const keywords = Array.from({ length: 21 }, (_, i) => `word${i}`).join(', ');
    const r = await postForm('/subscribe', form({ _csrf: csrf, email: 'ana@example', minLevel: '3', keywords: keywords, phone: '89123456789', sms: '1' }), jar);
    expect(r.status).toBe(400);
    const html = await r.text();
    const page = new Page(html);
    expect(fieldErrors(page)).toEqual({
      email: 'Enter a full email address, like name@example.com.',
      countries: 'Choose at least one destination, tick “Every destination”, or add a trip.',
      keywords: 'Enter 20 words at most.',
      phone: 'Enter your mobile number with its country code, starting with + (for example +44 7911 123456).',
    });
    // No developer wording: no field names followed by a colon, no quoted input, no "must be".
    const summary = Page.text(page.one('div', (el) => Page.attr(el, 'id') === 'error-summary'));
    expect(summary).not.toMatch(/\b(email|phone|countries|keywords|channels): |must be|"/);
    expect(Page.text(page.one('title'))).toMatch(/^Error: /);
    // Everything typed is still there.
    expect(Page.attr(page.byId('email')!, 'value')).toBe('ana@example');
    expect(Page.attr(page.byId('phone')!, 'value')).toBe('89123456789');
    expect(Page.attr(page.byId('keywords')!, 'value')).toBe(keywords);
    expect(
      Page.attr(
        page.one('input', (el) => Page.attr(el, 'name') === 'sms'),
        'checked',
      ),
    ).toBeDefined();
    expect(
      page.all('input', (el) => Page.attr(el, 'name') === 'minLevel' && Page.attr(el, 'checked') !== undefined).map((el) => Page.attr(el, 'value')),
    ).toEqual(['3']);
    expect(await counts()).toEqual(before);
  });

  it('"also by text message" ticked without a number asks for the number; a landline is refused in words', async () => {
    const jar = new CookieJar();
    const { csrf } = await getPage('/', jar);
    const before = await counts();
    const noNumber = await postForm('/subscribe', form({ _csrf: csrf, email: 'bo@example.com', countries: ['RU', 'NL'], sms: '1' }), jar);
    expect(noNumber.status).toBe(400);
    const page = new Page(await noNumber.text());
    expect(fieldErrors(page)).toEqual({
      phone: 'To get alerts by text message, enter your mobile number (for example +44 7911 123456), or untick “text message”.',
    });
    expect(
      countryBoxes(page)
        .filter((c) => c.checked)
        .map((c) => c.code),
    ).toEqual(['NL', 'RU']);
    const landline = await postForm(
      '/subscribe',
      form({ _csrf: csrfTokenOf(page.html), email: 'bo@example.com', countries: 'RU', phone: '+44 20 7946 0018' }),
      jar,
    );
    expect(landline.status).toBe(400);
    expect(fieldErrors(new Page(await landline.text()))).toEqual({ phone: 'This is not a mobile number. Text messages need a mobile number.' });
    expect(await counts()).toEqual(before);
  });

  it('the country chooser: a checkbox list sorted as people read names, consistent names, and a filter script from our own origin', async () => {
    const html = await (await fetch(web.url('/'))).text();
    const page = new Page(html);
    const boxes = countryBoxes(page);
    expect(boxes.length).toBeGreaterThan(240);
    const names = boxes.map((b) => b.name);
    expect(names).toEqual([...names].sort((a, b) => a.localeCompare(b, 'en')));
    expect(names.filter((n) => /^the /i.test(n))).toEqual([]);
    expect(boxes.find((b) => b.code === 'NL')?.name).toBe('Netherlands');
    expect(boxes.find((b) => b.code === 'GB')?.name).toBe('United Kingdom');
    expect(names).not.toContain('UK');
    // The filter matches what people type: "uk" and "great britain" find the United Kingdom, "burma" Myanmar.
    const search = (code: string) =>
      (
        Page.attr(
          page.one('input', (el) => Page.attr(el, 'value') === code && Page.attr(el, 'name') === 'countries').parent!.parent as Element,
          'data-search',
        ) ?? ''
      ).split('|');
    expect(search('GB')).toEqual(expect.arrayContaining(['united kingdom', 'uk', 'great britain', 'gb']));
    expect(search('MM')).toContain('burma');
    // The filter box is hidden until the script shows it: without JavaScript the list is the whole chooser.
    expect(Page.attr(page.byId('country-filter')!, 'hidden')).toBeDefined();
    const js = await fetch(web.url('/assets/picker.js'));
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    const code = await js.text();
    expect(() => new Function(code)).not.toThrow();
    expect(code).toContain('data-country-picker');
  });
});

describe('GET/POST /manage/:token', SLOW, () => {
  it('shows the settings; a forged or wrong-purpose token → 404', async () => {
    const id = await confirmedSubscriber('nia@example.com', { countries: 'FR,RU', minLevel: 2, phone: PHONE, channels: 'email,sms' });
    const r = await fetch(web.url(`/manage/${manageToken(id)}`));
    expect(r.status).toBe(200);
    expect(r.headers.get('cache-control')).toBe('no-store');
    const html = await r.text();
    expect(html).toContain('<strong>nia@example.com</strong>');
    // The chosen destinations come first, ticked; the rest follow, unticked.
    const boxes = countryBoxes(new Page(html));
    expect(boxes.slice(0, 2)).toEqual([
      { code: 'FR', name: 'France', checked: true },
      { code: 'RU', name: 'Russia', checked: true },
    ]);
    expect(boxes.filter((b) => b.checked)).toHaveLength(2);
    expect(boxes.find((b) => b.code === 'DE')).toEqual({ code: 'DE', name: 'Germany', checked: false });
    expect(html).toContain('name="minLevel" value="2" checked');
    expect(html).toContain(`value="${PHONE}"`);
    expect(html).toContain('Unsubscribe from all alerts');
    expect(unlabelledControls(html)).toEqual([]);
    expect(labelsWithHints(html)).toEqual([]);

    const token = manageToken(id);
    const forged = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    for (const bad of [forged, signToken('another-secret-0123456789', 'manage', id), unsubscribeToken(id), manageToken(id + 1000), 'nonsense']) {
      const f = await fetch(web.url(`/manage/${bad}`));
      expect(f.status, bad).toBe(404);
    }
  });

  it('removing a destination, changing the level and adding a destination apply at once (the signed link proves ownership)', async () => {
    const id = await confirmedSubscriber('oli@example.com', { countries: 'FR,RU', minLevel: 1 });
    const path = `/manage/${manageToken(id)}`;
    const jar = new CookieJar();
    let { csrf } = await getPage(path, jar);

    // No CSRF token → 403, nothing changes.
    const forged = await postForm(path, form({ email: 'oli@example.com', countries: 'RU' }), jar);
    expect(forged.status).toBe(403);
    expect(await subscriptionOf('oli@example.com')).toMatchObject({ countries: ['FR', 'RU'], min_level: 1 });

    const fewer = await postForm(path, form({ _csrf: csrf, email: 'oli@example.com', countries: 'RU', minLevel: '3' }), jar);
    expect(fewer.status).toBe(200);
    const fewerHtml = await fewer.text();
    expect(fewerHtml).toContain('Your changes are saved.');
    expect(fewerHtml).not.toContain('We sent a confirmation link');
    expect(await subscriptionOf('oli@example.com')).toMatchObject({ countries: ['RU'], min_level: 3 });
    expect((await counts()).tokens).toBe(0);

    csrf = csrfTokenOf(fewerHtml);
    const more = await postForm(path, form({ _csrf: csrf, email: 'oli@example.com', countries: ['RU', 'DE'], minLevel: '3' }), jar);
    expect(more.status).toBe(200);
    const moreHtml = await more.text();
    expect(moreHtml).toContain('Your changes are saved.');
    expect(moreHtml).not.toContain('We sent a confirmation link');
    expect(await subscriptionOf('oli@example.com')).toMatchObject({ countries: ['DE', 'RU'], min_level: 3 });
    expect((await counts()).tokens).toBe(0);
    expect(await subscriber('oli@example.com')).toMatchObject({ status: 'confirmed' });
  });

  it('a refused change shows every problem by its field and what was typed, and saves nothing', async () => {
    const id = await confirmedSubscriber('uma@example.com', { countries: 'FR', minLevel: 1 });
    const path = `/manage/${manageToken(id)}`;
    const jar = new CookieJar();
    const { csrf } = await getPage(path, jar);
    const r = await postForm(path, form({ _csrf: csrf, email: '', countries: ['DE', 'IT'], minLevel: '4', keywords: 'strike', phone: '+44 7911' }), jar);
    expect(r.status).toBe(400);
    const page = new Page(await r.text());
    expect(fieldErrors(page)).toEqual({
      email: 'Enter your email address.',
      phone: 'This is not a phone number we can text. Check the digits and the country code (for example +44 7911 123456).',
    });
    expect(
      countryBoxes(page)
        .filter((c) => c.checked)
        .map((c) => c.code),
    ).toEqual(['DE', 'IT']);
    expect(Page.attr(page.byId('phone')!, 'value')).toBe('+44 7911');
    expect(Page.attr(page.byId('keywords')!, 'value')).toBe('strike');
    expect(await subscriptionOf('uma@example.com')).toMatchObject({ countries: ['FR'], min_level: 1, keywords: [] });
  });
});

describe('GET/POST /unsubscribe/:token', SLOW, () => {
  it('GET asks and changes nothing; the RFC 8058 one-click POST (no CSRF, no cookie) unsubscribes', async () => {
    const id = await confirmedSubscriber('pat@example.com');
    const path = `/unsubscribe/${unsubscribeToken(id)}`;
    const ask = await fetch(web.url(path));
    expect(ask.status).toBe(200);
    const html = await ask.text();
    expect(html).toContain('Stop all travel advisory alerts to <strong>pat@example.com</strong>?');
    expect(html).toContain(`<form method="post" action="${path}">`);
    expect(await subscriber('pat@example.com')).toMatchObject({ status: 'confirmed' });

    const r = await fetch(web.url(path), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(r.status).toBe(200);
    expect(await subscriber('pat@example.com')).toMatchObject({ status: 'unsubscribed' });
    expect((await subscriber('pat@example.com'))!.unsubscribed_at).not.toBeNull();
    // Again: still fine, still unsubscribed.
    expect(
      (await fetch(web.url(path), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' }))
        .status,
    ).toBe(200);
    const after = await fetch(web.url(path));
    expect(await after.text()).toContain('You are unsubscribed');
  });

  it('one-click as multipart/form-data works too', async () => {
    const id = await confirmedSubscriber('quin@example.com');
    const body = new FormData();
    body.append('List-Unsubscribe', 'One-Click');
    const r = await fetch(web.url(`/unsubscribe/${unsubscribeToken(id)}`), { method: 'POST', body });
    expect(r.status).toBe(200);
    expect(await subscriber('quin@example.com')).toMatchObject({ status: 'unsubscribed' });
  });

  it('a forged token → 404 for GET and POST; nobody is unsubscribed', async () => {
    const id = await confirmedSubscriber('ray@example.com');
    const token = unsubscribeToken(id);
    const forged = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    for (const bad of [forged, manageToken(id), unsubscribeToken(id + 1000)]) {
      expect((await fetch(web.url(`/unsubscribe/${bad}`))).status, bad).toBe(404);
      const r = await fetch(web.url(`/unsubscribe/${bad}`), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'List-Unsubscribe=One-Click',
      });
      expect(r.status, bad).toBe(404);
    }
    expect(await subscriber('ray@example.com')).toMatchObject({ status: 'confirmed' });
  });
});

describe('POST /webhooks/twilio (inbound SMS)', SLOW, () => {
  function inbound(body: string, from = PHONE): Promise<Response> {
    const params = {
      From: from,
      To: TWILIO_FROM,
      Body: body,
      MessageSid: `SM${randomBytes(16).toString('hex')}`,
      AccountSid: twilio.accountSid,
      NumMedia: '0',
    };
    const url = `${web.config.publicBaseUrl}/webhooks/twilio`;
    const signature = twilioLib.getExpectedTwilioSignature(twilio.authToken, url, params);
    return fetch(web.url('/webhooks/twilio'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
      body: form(params),
    });
  }

  async function smsStopped(email: string): Promise<boolean> {
    return (await subscriber(email))!.sms_stopped_at !== null;
  }

  it('STOP stops SMS for that number (no SMS is fanned out to it); START resumes it', async () => {
    const id = await confirmedSubscriber('sam@example.com', { phone: PHONE, channels: 'email,sms' });
    const other = await confirmedSubscriber('tia@example.com', { phone: OTHER_PHONE, channels: 'email,sms' });
    const stop = await inbound('STOP');
    expect(stop.status).toBe(200);
    expect(stop.headers.get('content-type')).toMatch(/^text\/xml/);
    expect(await stop.text()).toBe('<?xml version="1.0" encoding="UTF-8"?><Response/>');
    expect(await smsStopped('sam@example.com')).toBe(true);
    expect(await smsStopped('tia@example.com')).toBe(false);

    expect(await pollEmbassy(EMBASSY_V1)).toMatchObject({ baseline: true });
    expect(await pollEmbassy(EMBASSY_V2)).toMatchObject({ events: 1 });
    const rows = await t.db.selectFrom('deliveries').select(['subscriber_id', 'channel', 'event_id']).orderBy('subscriber_id').orderBy('channel').execute();
    expect(rows.map((r) => [r.subscriber_id, r.channel])).toEqual([
      [id, 'email'],
      [other, 'email'],
      [other, 'sms'],
    ]);

    const start = await inbound('start');
    expect(start.status).toBe(200);
    expect(await start.text()).toMatch(/<Message>Advisory Alerts: text alerts are back on\. Reply STOP to stop them\.<\/Message>/);
    expect(await smsStopped('sam@example.com')).toBe(false);
    // Fanned out again now, the event reaches the number by SMS.
    await fanOut(t.db, [rows[0]!.event_id], clock.now());
    const smsTo = await t.db.selectFrom('deliveries').select('channel').where('subscriber_id', '=', id).orderBy('channel').execute();
    expect(smsTo.map((r) => r.channel)).toEqual(['email', 'sms']);
  });

  it('HELP answers with TwiML: what the service is and how to stop', async () => {
    const r = await inbound('help');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/xml/);
    const xml = await r.text();
    expect(xml).toMatch(/^<\?xml version="1\.0" encoding="UTF-8"\?><Response><Message>[^<]+<\/Message><\/Response>$/);
    expect(xml).toContain('Advisory Alerts');
    expect(xml).toContain('Reply STOP to stop');
    expect(xml).toContain(`${web.config.publicBaseUrl}/`);
  });

  it.each(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'REVOKE', 'OPTOUT', ' stop ', 'OptOut'])('"%s" stops SMS', async (word) => {
    await confirmedSubscriber('uma@example.com', { phone: PHONE, channels: 'email,sms' });
    expect(await smsStopped('uma@example.com')).toBe(false);
    const r = await inbound(word);
    expect(r.status).toBe(200);
    expect(await smsStopped('uma@example.com')).toBe(true);
    expect((await subscriber('uma@example.com'))!.sms_stop_reason).toMatch(/STOP/);
  });

  it.each(['START', 'UNSTOP', 'YES'])('"%s" resumes SMS', async (word) => {
    await confirmedSubscriber('val@example.com', { phone: PHONE, channels: 'email,sms' });
    await inbound('STOP');
    expect(await smsStopped('val@example.com')).toBe(true);
    expect((await inbound(word)).status).toBe(200);
    expect(await smsStopped('val@example.com')).toBe(false);
  });

  it('any other text changes nothing and gets an empty answer', async () => {
    await confirmedSubscriber('wes@example.com', { phone: PHONE, channels: 'email,sms' });
    const r = await inbound('please stop sending me these');
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('<?xml version="1.0" encoding="UTF-8"?><Response/>');
    expect(await smsStopped('wes@example.com')).toBe(false);
  });
});

describe('operations: health, readiness, metrics, admin', SLOW, () => {
  it('GET /healthz and /readyz → 200', async () => {
    const h = await fetch(web.url('/healthz'));
    expect(h.status).toBe(200);
    expect(await h.json()).toEqual({ status: 'ok' });
    const r = await fetch(web.url('/readyz'));
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: 'ready' });
  });

  it('GET /metrics is Prometheus text with polls by result and deliveries by status', async () => {
    await confirmedSubscriber('xan@example.com');
    await pollEmbassy(EMBASSY_V1);
    await pollEmbassy(EMBASSY_V2);
    const r = await fetch(web.url('/metrics'));
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await r.text();
    expect(text).toContain('# TYPE advisory_alerts_polls_total counter');
    expect(text).toMatch(/^advisory_alerts_polls_total\{status="ok"\} [1-9]\d*$/m);
    expect(text).toContain('# TYPE advisory_alerts_deliveries gauge');
    expect(text).toMatch(/^advisory_alerts_deliveries\{status="pending"\} 1$/m);
    expect(text).toMatch(/^advisory_alerts_events\{kind="new"\} 1$/m);
    expect(text).toContain('advisory_alerts_send_seconds');
    expect(text).toContain('advisory_alerts_feed_consecutive_failures');
    // Process metrics carry the prefix once.
    expect(text).toContain('# TYPE advisory_alerts_process_cpu_seconds_total counter');
    expect(text).toContain('# TYPE advisory_alerts_nodejs_heap_size_total_bytes gauge');
    expect(text).not.toContain('advisory_alerts_process_process_');
  });

  it('GET /metrics counts digests and briefings by outcome, as the jobs report them', async () => {
    const metricLine = (text: string, name: string, outcome: string) =>
      Number(new RegExp(`^${name}\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 'NaN');
    // A daily digest that goes, and one whose only event the subscriber no longer wants.
    await confirmedSubscriber('mia@example.com', { emailFrequency: 'daily', timezone: 'UTC' });
    const narrowed = await confirmedSubscriber('max@example.com', { emailFrequency: 'daily', timezone: 'UTC' });
    const eventId = await insertEvent(t.db, { at: clock.now(), kind: 'updated', level: 2, previousLevel: 2, urgency: 'routine' });
    await fanOut(t.db, [eventId], clock.now());
    await confirmedSubscriber('max@example.com', { emailFrequency: 'daily', timezone: 'UTC', countries: 'FR' });
    const later = new ManualClock(new Date(clock.now().getTime() + 2 * 86_400_000));
    const digests = await runDigests(digestDepsFor(web.config, t.db, silentLogger, later, web.channels, web.metrics));
    expect(digests).toMatchObject({ sent: expect.any(Number), skipped: 1 });
    expect(digests.sent).toBeGreaterThanOrEqual(1);
    await mailTo('mia@example.com');
    // A briefing that goes, and one whose trips are gone.
    const today = clock.now().toISOString().slice(0, 10);
    const from = new Date(clock.now().getTime() + 10 * 86_400_000).toISOString().slice(0, 10);
    const to = new Date(clock.now().getTime() + 20 * 86_400_000).toISOString().slice(0, 10);
    await addTrips(t.db, narrowed, [{ countries: ['RU'], from, to }], { now: clock.now(), today, maxOpenTrips: 10 });
    await queueBriefing(t.db, narrowed, [2_000_000_000], clock.now());
    const briefings = await sendDueBriefings(briefingDepsFor(web.config, t.db, silentLogger, clock, web.channels, web.metrics));
    expect(briefings).toMatchObject({ sent: 1, failed: 1 });

    const text = await (await fetch(web.url('/metrics'))).text();
    expect(text).toContain('# TYPE advisory_alerts_digests_total counter');
    expect(text).toContain('# TYPE advisory_alerts_briefings_total counter');
    expect(metricLine(text, 'advisory_alerts_digests_total', 'sent')).toBe(digests.sent);
    expect(metricLine(text, 'advisory_alerts_digests_total', 'skipped')).toBe(1);
    expect(metricLine(text, 'advisory_alerts_briefings_total', 'sent')).toBe(1);
    expect(metricLine(text, 'advisory_alerts_briefings_total', 'failed')).toBe(1);
  });

  it('GET /admin → 404 when ADMIN_TOKEN is not configured', async () => {
    const plain = await startWebApp({ db: t.db, clock });
    try {
      const r = await fetch(plain.url('/admin'), { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(r.status).toBe(404);
    } finally {
      await plain.close();
    }
  });

  it('GET /admin → 401 without or with a wrong token; 200 with the bearer token: feeds, events, the chart', async () => {
    await confirmedSubscriber('yan@example.com');
    await pollEmbassy(EMBASSY_V1);
    await pollEmbassy(EMBASSY_V2);
    const none = await fetch(web.url('/admin'));
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic /);
    for (const authorization of [`Bearer ${ADMIN_TOKEN}x`, 'Bearer nope', `Basic ${Buffer.from('admin:wrong').toString('base64')}`]) {
      expect((await fetch(web.url('/admin'), { headers: { authorization } })).status, authorization).toBe(401);
    }
    const r = await fetch(web.url('/admin'), { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(r.status).toBe(200);
    expect(r.headers.get('cache-control')).toBe('no-store');
    const html = await r.text();
    expect(html).toContain('<h2 id="feeds">Feeds</h2>');
    const polledAt = clock
      .now()
      .toISOString()
      .replace(/\.\d+Z$/, 'Z');
    expect(html).toContain(
      `<tr><td data-label="Feed">us-embassy-russia</td><td data-label="Last poll">${polledAt}</td><td data-label="Status">ok</td><td data-label="Failures">0</td>`,
    );
    expect(html).toContain('<h2 id="events">Recent events</h2>');
    expect(html).toContain('Security Alert – U.S. Embassy Moscow (March 7, 2024)');
    expect(html).toMatch(/<svg class="chart"[^>]*role="img"/);
    expect(html).toMatch(/<rect [^>]*><title>\d\d:\d\d UTC: 1 pending<\/title><\/rect>/);
    // A browser logs in with Basic (any user, the token as password).
    const basic = await fetch(web.url('/admin'), { headers: { authorization: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}` } });
    expect(basic.status).toBe(200);
  });
});

describe('no page reveals whether an address is subscribed', SLOW, () => {
  it('the subscribe answers for unknown, pending, confirmed and unsubscribed addresses are byte-identical', async () => {
    await postJson('/api/subscriptions', { email: 'pending@example.com', countries: ['RU'] });
    await mailTo('pending@example.com');
    await confirmedSubscriber('known@example.com');
    const goneId = await confirmedSubscriber('gone@example.com');
    await fetch(web.url(`/unsubscribe/${unsubscribeToken(goneId)}`), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(await subscriber('gone@example.com')).toMatchObject({ status: 'unsubscribed' });

    const answers: { status: number; type: string | null; body: string }[] = [];
    for (const email of ['nobody@example.com', 'pending@example.com', 'known@example.com', 'gone@example.com']) {
      const r = await postJson('/api/subscriptions', { email, countries: ['RU'] });
      answers.push({ status: r.status, type: r.headers.get('content-type'), body: Buffer.from(await r.arrayBuffer()).toString('base64') });
    }
    expect(answers[0]!.status).toBe(202);
    for (const a of answers.slice(1)) expect(a).toEqual(answers[0]);

    const pages: { status: number; body: string }[] = [];
    for (const email of ['nobody2@example.com', 'known@example.com', 'gone@example.com']) {
      const r = await submitForm(web, '/', '/subscribe', { email, countries: 'RU' });
      pages.push({ status: r.status, body: Buffer.from(await r.arrayBuffer()).toString('base64') });
    }
    expect(pages[0]!.status).toBe(202);
    for (const p of pages.slice(1)) expect(p).toEqual(pages[0]);
  });
});
