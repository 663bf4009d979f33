import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DispatchSummary } from '../../src/delivery/dispatcher.ts';
import type { PollOutcome } from '../../src/feeds/poller.ts';
import { syncFeeds } from '../../src/feeds/repository.ts';
import { systemClock } from '../../src/common/clock.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { verifyToken } from '../../src/common/tokens.ts';
import { loadConfig } from '../../src/config/load.ts';
import { startService } from '../../src/service.ts';
import { unsubscribe, upsertSubscriber } from '../../src/subscriptions/repository.ts';
import { parseSubscriber } from '../../src/subscriptions/validate.ts';
import { cli, jsonArray, ok } from '../helpers/cli.ts';
import { deliveryRows as deliveryRowsOf, pollServed, startDeliveryRun, type DeliveryRun } from '../helpers/delivery.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { fixture, startFeedServer, type FeedServer } from '../helpers/feed-server.ts';
import { ManualClock } from '../helpers/poll.ts';
import { startSmtpServer, type ReceivedMail, type TestSmtpServer } from '../helpers/smtp.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Email delivery end to end on real peers: feeds served over HTTP and polled
 * (events fanned out in the poll's transaction), the dispatcher sending through
 * nodemailer to an in-process SMTP server, every message parsed back.
 */

const BASE = 'https://alerts.example.org';
const SECRET = 'x'.repeat(32);
const EMBASSY_V1 = fixture('us-embassy/us-embassy-russia-alerts_v1.xml');
const EMBASSY_V2 = fixture('us-embassy/us-embassy-russia-alerts_v2.xml');
const MARCH_7_LINK = 'https://ru.usembassy.gov/security-alert-u-s-embassy-moscow-march-7-2024/';
const EMBASSY_WORDS = 'extremists have imminent plans to target large gatherings in Moscow';

const PATHS = { 'us-embassy-russia': '/ru/alerts', 'us-state-dept': '/_res/rss/TAsTWs.xml', hostile: '/hostile/feed' } as const;
type FeedId = keyof typeof PATHS;

let t: TestDatabase;
let feeds: FeedServer;
let smtp: TestSmtpServer;
let root: string;
beforeAll(async () => {
  [t, feeds, smtp] = await Promise.all([openTestDatabase(), startFeedServer(), startSmtpServer()]);
  root = mkdtempSync(path.join(tmpdir(), 'aa-email-'));
});
afterAll(async () => {
  await Promise.all([t?.close(), feeds?.stop(), smtp?.stop()]);
  if (root) rmSync(root, { recursive: true, force: true });
});

type Ctx = DeliveryRun;

let clock: ManualClock;
let ctx: Ctx | undefined;
beforeEach(async () => {
  await t.reset();
  smtp.reset();
  clock = new ManualClock(new Date('2026-03-01T12:00:00Z'));
});
afterEach(async () => {
  await ctx?.close();
  ctx = undefined;
});

/** A CONFIG_DIR with feeds.yaml (+ settings.yaml) and an AppConfig loaded from it, as `start` does. */
async function setup(options: { smtp?: boolean; settings?: string } = {}): Promise<Ctx> {
  ctx = await startDeliveryRun(t.db, clock, {
    root,
    feedsYaml: `feeds:
  - id: us-embassy-russia
    name: "U.S. Embassy & Consulates in Russia — alerts"
    url: ${feeds.url(PATHS['us-embassy-russia'])}
    source: us-embassy
    countries: [RU]
  - id: us-state-dept
    name: U.S. State Department travel advisories
    url: ${feeds.url(PATHS['us-state-dept'])}
    source: us-state-dept
  - id: hostile
    name: Community alerts
    url: ${feeds.url(PATHS.hostile)}
    source: generic
    countries: [RU]
`,
    settingsYaml: options.settings,
    env: {
      PUBLIC_BASE_URL: BASE,
      APP_SECRET: SECRET,
      MAIL_FROM: 'Advisory Alerts <alerts@example.org>',
      ...(options.smtp === false ? {} : { SMTP_URL: smtp.url }),
    },
  });
  return ctx;
}

/** Serves `body` for the feed and polls it one minute after the previous poll. */
function poll(c: Ctx, id: FeedId, body: string): Promise<PollOutcome> {
  return pollServed(c, t.db, clock, feeds, id, PATHS[id], body);
}

async function subscribe(email: string, extra: Record<string, unknown> = {}): Promise<number> {
  const input = parseSubscriber({ email, countries: 'RU', channels: 'email', ...extra }, new Set(Object.keys(PATHS)));
  return (await upsertSubscriber(t.db, input, { confirmed: true, now: clock.now() })).id;
}

async function drain(c: Ctx): Promise<DispatchSummary> {
  const summary = await c.dispatcher.drain();
  await smtp.settled();
  return summary;
}

function deliveryRows() {
  return deliveryRowsOf(t.db);
}

function subscriberRow(email: string) {
  return t.db.selectFrom('subscribers').selectAll().where('email', '=', email).executeTakeFirstOrThrow();
}

/** The manage and unsubscribe links of a message's plain-text part. */
function linksOf(mail: ReceivedMail): { manage: string; unsubscribe: string } {
  const manage = /https:\/\/alerts\.example\.org\/manage\/[A-Za-z0-9._-]+/.exec(mail.text)?.[0];
  const unsubscribe = /https:\/\/alerts\.example\.org\/unsubscribe\/[A-Za-z0-9._-]+/.exec(mail.text)?.[0];
  expect(manage, 'manage link in the text part').toBeDefined();
  expect(unsubscribe, 'unsubscribe link in the text part').toBeDefined();
  return { manage: manage!, unsubscribe: unsubscribe! };
}

/** The lines of a plain-text section ("Added:" / "Removed:") up to the next blank line. */
function section(text: string, heading: string): string[] {
  const lines = text.split('\n');
  const at = lines.indexOf(heading);
  if (at < 0) return [];
  const out: string[] = [];
  for (const line of lines.slice(at + 1)) {
    if (!line.trim()) break;
    out.push(line);
  }
  return out;
}

/** v2 with the March 7 alert edited: one bullet reworded, one sentence added. */
function embassyV3(): string {
  const at = EMBASSY_V2.indexOf('<item>');
  const end = EMBASSY_V2.indexOf('</item>', at);
  const item = EMBASSY_V2.slice(at, end);
  expect(item).toContain('<li>Avoid crowds.</li>');
  const edited = item
    .replace('<li>Avoid crowds.</li>', '<li>Avoid all large public events, including concerts.</li>')
    .replace(
      '<p><strong>Actions to Take:</strong></p>',
      '<p>The Embassy has suspended routine consular services on March 8.</p>\n<p><strong>Actions to Take:</strong></p>',
    );
  return EMBASSY_V2.slice(0, at) + edited + EMBASSY_V2.slice(end);
}

/** v2 plus one more alert (a later event). */
function embassyWithNewAlert(): string {
  const item = `<item>
		<title>Message for U.S. Citizens &#8211; U.S. Embassy Moscow (March 9, 2024)</title>
		<link>https://ru.usembassy.gov/message-for-u-s-citizens-u-s-embassy-moscow-march-9-2024/</link>
		<pubDate>Sat, 09 Mar 2024 10:00:00 +0000</pubDate>
		<category><![CDATA[Alert]]></category>
		<category><![CDATA[Message for U.S. Citizens]]></category>
		<guid isPermaLink="false">https://ru.usembassy.gov/?p=31333</guid>
		<content:encoded><![CDATA[<p>The Embassy reminds U.S. citizens that the metro will close early on March 10.</p>]]></content:encoded>
	</item>
	`;
  const at = EMBASSY_V2.indexOf('<item>');
  return EMBASSY_V2.slice(0, at) + item + EMBASSY_V2.slice(at);
}

describe('email: the U.S. Embassy Moscow security alert', () => {
  it('arrives once, multipart, with the words, the source link, manage/unsubscribe links and list headers', async () => {
    const c = await setup();
    const id = await subscribe('traveler@example.com');

    expect(await poll(c, 'us-embassy-russia', EMBASSY_V1)).toMatchObject({ baseline: true, events: 0 });
    expect(await deliveryRows()).toHaveLength(0);
    expect(await poll(c, 'us-embassy-russia', EMBASSY_V2)).toMatchObject({ new: 1, events: 1 });
    // Fanned out with the event, before any dispatcher ran.
    expect(await deliveryRows()).toMatchObject([{ email: 'traveler@example.com', channel: 'email', status: 'pending', attempts: 0 }]);

    expect(await drain(c)).toEqual({ sent: 1, failed: 0, retrying: 0, skipped: 0 });
    expect(smtp.messages).toHaveLength(1);
    const mail = smtp.messages[0]!;
    expect(mail.envelope).toEqual({ from: 'alerts@example.org', to: ['traveler@example.com'] });
    expect(mail.parsed.from?.value[0]?.address).toBe('alerts@example.org');
    expect(mail.parsed.to && !Array.isArray(mail.parsed.to) ? mail.parsed.to.value[0]?.address : undefined).toBe('traveler@example.com');

    // Multipart: a plain-text and an HTML alternative.
    expect(mail.headers.get('content-type')).toMatch(/^multipart\/alternative/i);
    expect(mail.raw).toMatch(/Content-Type: text\/plain/i);
    expect(mail.raw).toMatch(/Content-Type: text\/html/i);
    expect(mail.subject).toBe('Security Alert — U.S. Embassy Moscow');

    // The embassy's own words and the source link, in both parts.
    expect(mail.text).toContain(EMBASSY_WORDS);
    expect(mail.html).toContain(EMBASSY_WORDS);
    expect(mail.text).toContain(MARCH_7_LINK);
    expect(mail.html).toContain(`href="${MARCH_7_LINK}"`);

    // Signed links for this subscriber, in both parts.
    const { manage, unsubscribe } = linksOf(mail);
    expect(manage.startsWith(`${BASE}/manage/`)).toBe(true);
    expect(unsubscribe.startsWith(`${BASE}/unsubscribe/`)).toBe(true);
    expect(verifyToken(SECRET, 'manage', manage.slice(`${BASE}/manage/`.length))).toEqual({ subscriberId: id, version: 0 });
    expect(verifyToken(SECRET, 'unsubscribe', unsubscribe.slice(`${BASE}/unsubscribe/`.length))).toEqual({ subscriberId: id, version: 0 });
    expect(mail.html).toContain(`href="${manage}"`);
    expect(mail.html).toContain(`href="${unsubscribe}"`);

    // RFC 2369 / RFC 8058 list headers.
    expect(mail.headers.get('list-unsubscribe')).toBe(`<${unsubscribe}>`);
    expect(mail.headers.get('list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
    expect(mail.headers.get('list-id')).toMatch(/<[a-z0-9.-]*alerts\.example\.org>$/);

    const rows = await deliveryRows();
    expect(rows).toMatchObject([{ status: 'sent', attempts: 1, last_error: null }]);
    expect(rows[0]!.provider_id).toBe(mail.parsed.messageId);

    // Nothing is due any more: a second run sends nothing.
    clock.advance(3_600_000);
    expect(await drain(c)).toEqual({ sent: 0, failed: 0, retrying: 0, skipped: 0 });
    expect(smtp.messages).toHaveLength(1);
  });

  it('two subscribers of one event get the same email, each with their own signed links', async () => {
    const c = await setup();
    const ann = await subscribe('ann@example.com');
    const bob = await subscribe('bob@example.com');
    await poll(c, 'us-embassy-russia', EMBASSY_V1);
    expect(await poll(c, 'us-embassy-russia', EMBASSY_V2)).toMatchObject({ new: 1, events: 1 });

    expect(await drain(c)).toEqual({ sent: 2, failed: 0, retrying: 0, skipped: 0 });
    const to = (email: string) => smtp.messages.find((m) => m.envelope.to.includes(email))!;
    const [annMail, bobMail] = [to('ann@example.com'), to('bob@example.com')];
    for (const [mail, id] of [
      [annMail, ann],
      [bobMail, bob],
    ] as const) {
      const { manage, unsubscribe } = linksOf(mail);
      expect(verifyToken(SECRET, 'manage', manage.slice(`${BASE}/manage/`.length))).toEqual({ subscriberId: id, version: 0 });
      expect(verifyToken(SECRET, 'unsubscribe', unsubscribe.slice(`${BASE}/unsubscribe/`.length))).toEqual({ subscriberId: id, version: 0 });
      expect(mail.html).toContain(`href="${manage}"`);
      expect(mail.headers.get('list-unsubscribe')).toBe(`<${unsubscribe}>`);
    }
    const annTokens = Object.values(linksOf(annMail)).map((link) => link.slice(link.lastIndexOf('/') + 1));
    for (const token of annTokens) expect([bobMail.text, bobMail.html, bobMail.headers.get('list-unsubscribe')].join('\n')).not.toContain(token);
    // Apart from the links, word for word the same email.
    const unlinked = (mail: ReceivedMail) => {
      const { manage, unsubscribe } = linksOf(mail);
      return [mail.subject, mail.text, mail.html].map((part) => part.replaceAll(manage, 'MANAGE').replaceAll(unsubscribe, 'UNSUBSCRIBE'));
    };
    expect(unlinked(bobMail)).toEqual(unlinked(annMail));
    expect(annMail.text).toContain(EMBASSY_WORDS);
  });

  it('a subscription narrowed or ended after the fan-out stops its pending email (skipped, with the reason)', async () => {
    const c = await setup();
    await subscribe('narrowed@example.com');
    const gone = await subscribe('gone@example.com');
    await subscribe('still@example.com');
    await poll(c, 'us-embassy-russia', EMBASSY_V1);
    await poll(c, 'us-embassy-russia', EMBASSY_V2);
    expect((await deliveryRows()).map((r) => [r.email, r.status])).toEqual([
      ['narrowed@example.com', 'pending'],
      ['gone@example.com', 'pending'],
      ['still@example.com', 'pending'],
    ]);

    // After the fan-out: one follows France instead of Russia, one unsubscribes.
    await subscribe('narrowed@example.com', { countries: 'FR' });
    expect(await unsubscribe(t.db, gone, clock.now())).toBe(true);

    expect(await drain(c)).toEqual({ sent: 1, failed: 0, retrying: 0, skipped: 2 });
    expect(smtp.messages.map((m) => m.envelope.to)).toEqual([['still@example.com']]);
    expect((await deliveryRows()).map((r) => [r.email, r.status, r.last_error])).toEqual([
      ['narrowed@example.com', 'skipped', 'not sent: the subscription no longer matches the event'],
      ['gone@example.com', 'skipped', 'not sent: subscriber unsubscribed'],
      ['still@example.com', 'sent', null],
    ]);
    const attempts = await t.db.selectFrom('delivery_attempts').select(['outcome']).orderBy('delivery_id').execute();
    expect(attempts.map((a) => a.outcome)).toEqual(['skipped', 'skipped', 'sent']);
    // Closed, not retried: a later run sends nothing.
    clock.advance(3_600_000);
    expect(await drain(c)).toEqual({ sent: 0, failed: 0, retrying: 0, skipped: 0 });
  });

  it('an "updated" alert lists the sentences added and removed', async () => {
    const c = await setup();
    await subscribe('traveler@example.com');
    await poll(c, 'us-embassy-russia', EMBASSY_V1);
    await poll(c, 'us-embassy-russia', EMBASSY_V2);
    await drain(c);
    expect(await poll(c, 'us-embassy-russia', embassyV3())).toMatchObject({ updated: 1, events: 1 });
    expect(await drain(c)).toMatchObject({ sent: 1 });
    expect(smtp.messages).toHaveLength(2);

    const mail = smtp.messages[1]!;
    expect(mail.subject).toBe('Updated: Security Alert — U.S. Embassy Moscow');
    const added = section(mail.text, 'Added:');
    const removed = section(mail.text, 'Removed:');
    expect(added).toHaveLength(2);
    expect(added.some((l) => l.includes('Avoid all large public events, including concerts.'))).toBe(true);
    expect(added.some((l) => l.includes('The Embassy has suspended routine consular services on March 8.'))).toBe(true);
    expect(removed).toHaveLength(1);
    expect(removed[0]).toMatch(/^- .*Avoid crowds\.$/);
    // Unchanged sentences are quoted, not listed as changes.
    expect([...added, ...removed].join('\n')).not.toContain('Monitor local media');
    expect(mail.text).toContain('Monitor local media for updates.');
    // The same changes in the HTML part, as list items.
    expect(mail.html).toMatch(/<strong>Added<\/strong>[\s\S]*<li>[^<]*Avoid all large public events, including concerts\.<\/li>/);
    expect(mail.html).toMatch(/<strong>Removed<\/strong>[\s\S]*<li>[^<]*Avoid crowds\.<\/li>/);
  });
});

describe('email: a State Department level change', () => {
  it('Russia Level 4 → 3 says so in the subject and the body', async () => {
    const c = await setup();
    await subscribe('traveler@example.com', { minLevel: 3 });
    const sd = fixture('us-state-dept/TAsTWs_2021-03-01.xml');
    expect(await poll(c, 'us-state-dept', sd)).toMatchObject({ baseline: true, events: 0 });
    const russia = /<item>\s*<title>Russia - Level 4: Do Not Travel<\/title>[\s\S]*?<\/item>/.exec(sd)?.[0];
    expect(russia).toBeDefined();
    const lowered = sd.replace(russia!, russia!.replaceAll('Level 4: Do Not Travel', 'Level 3: Reconsider Travel'));
    expect(await poll(c, 'us-state-dept', lowered)).toMatchObject({ updated: 1, events: 1 });

    expect(await drain(c)).toMatchObject({ sent: 1 });
    expect(smtp.messages).toHaveLength(1);
    const mail = smtp.messages[0]!;
    expect(mail.subject).toBe('Russia: United States lowers to Level 3 — Reconsider Travel');
    for (const part of [mail.text, mail.html]) {
      expect(part).toMatch(/lowered its advice for Russia from Level 4 \(Do Not Travel\) to Level 3 \(Reconsider Travel\)/);
      expect(part).toContain('russia-travel-advisory.html');
    }
    // The advisory's own words are quoted.
    expect(mail.text).toContain('Terrorists may attack with little or no warning');
  });
});

describe('email: hostile feed HTML', () => {
  const hostileDoc = (items: string) => `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel>
<title>Community alerts</title>
<link>https://community.example/</link>
<description>Anyone can post here</description>
<item><title>Welcome</title><link>https://community.example/welcome</link><guid>h-0</guid><description>Nothing to see.</description></item>
${items}
</channel>
</rss>`;

  const HOSTILE_ITEMS = `<item>
<title><![CDATA[Alert: "quotes" & ampersands <script>alert(1)</script><img src=x onerror=alert(1)> &lt;script&gt;alert(2)&lt;/script&gt;]]></title>
<link>https://community.example/alerts/1</link>
<guid>h-1</guid>
<content:encoded><![CDATA[
<p>Officials say "stay indoors" &amp; avoid the square &lt;b&gt;now&lt;/b&gt;.</p>
<script>alert(1)</script>
<img src=x onerror=alert(1)>
<p><a href="javascript:alert(1)">Click for details</a></p>
<iframe src="https://evil.example/frame.html"></iframe>
<style>body { background: url(https://evil.example/bg.png) }</style>
<img src="https://evil.example/t.gif" width="1" height="1">
<p onclick="alert(1)">Tom &amp; Jerry's "quotes" &lt;script&gt;alert(3)&lt;/script&gt;</p>
<svg onload="alert(1)"><circle r="1"/></svg>
]]></content:encoded>
</item>
<item>
<title>Second alert</title>
<link>javascript:alert(document.cookie)</link>
<guid>h-2</guid>
<description><![CDATA[<p>Short <a href="javascript:alert(1)">text</a> here.</p><img src="https://evil.example/t2.gif">]]></description>
</item>`;

  it('never reaches the HTML part as markup: no script, handler, javascript: URL, frame, style or remote image', async () => {
    const c = await setup();
    await subscribe('traveler@example.com');
    expect(await poll(c, 'hostile', hostileDoc(''))).toMatchObject({ baseline: true });
    expect(await poll(c, 'hostile', hostileDoc(HOSTILE_ITEMS))).toMatchObject({ new: 2, events: 2 });
    expect(await drain(c)).toMatchObject({ sent: 2, failed: 0 });
    expect(smtp.messages).toHaveLength(2);

    for (const mail of smtp.messages) {
      const html = mail.html;
      expect(html).not.toMatch(/<script/i);
      expect(html).not.toMatch(/onerror|onclick|onload/i);
      expect(html).not.toMatch(/javascript:/i);
      expect(html).not.toMatch(/<iframe/i);
      expect(html).not.toMatch(/<style/i);
      expect(html).not.toMatch(/<svg/i);
      expect(html).not.toMatch(/<img/i);
      expect(html).not.toContain('evil.example');
      expect(mail.text).not.toMatch(/javascript:/i);
      // Every link in the HTML is ours or the (http/https) source.
      for (const [, href] of html.matchAll(/href="([^"]*)"/g)) expect(href).toMatch(/^https:\/\/(alerts\.example\.org|community\.example)\//);
    }

    const first = smtp.messages.find((m) => m.text.includes('stay indoors'))!;
    expect(first).toBeDefined();
    // The words survive, escaped: quotes, ampersands and angle brackets the source spelled out.
    expect(first.html).toContain('Officials say &quot;stay indoors&quot; &amp; avoid the square &lt;b&gt;now&lt;/b&gt;.');
    expect(first.html).toContain('Tom &amp; Jerry&#39;s &quot;quotes&quot; &lt;script&gt;alert(3)&lt;/script&gt;');
    expect(first.html).toContain('Alert: &quot;quotes&quot; &amp; ampersands');
    expect(first.html).toContain('&lt;script&gt;alert(2)&lt;/script&gt;');
    expect(first.html).toContain('Click for details');
    expect(first.html).toContain('href="https://community.example/alerts/1"');
    // The plain-text part carries the same words unescaped.
    expect(first.text).toContain('Officials say "stay indoors" & avoid the square <b>now</b>.');
    expect(first.text).not.toContain('&amp;');

    // A javascript: item link is dropped, not linked.
    const second = smtp.messages.find((m) => m.subject.includes('Second alert'))!;
    expect(second).toBeDefined();
    expect(second.html).not.toContain('Read it at the source');
    expect(second.text).not.toContain('Source:');
  });
});

describe('email: failures', () => {
  /** traveler@example.com follows Russia; the March 7 alert's first attempt gets an SMTP 451 and waits to be retried. */
  async function firstAttemptRefused(c: Ctx): Promise<void> {
    await subscribe('traveler@example.com');
    await poll(c, 'us-embassy-russia', EMBASSY_V1);
    await poll(c, 'us-embassy-russia', EMBASSY_V2);
    smtp.failNextRcpt(1, 451);
    expect(await drain(c)).toEqual({ sent: 0, failed: 0, retrying: 1, skipped: 0 });
  }

  it('SMTP 451 is retried after the back-off and then sent exactly once', async () => {
    const c = await setup();
    await firstAttemptRefused(c);
    expect(smtp.messages).toHaveLength(0);
    let [row] = await deliveryRows();
    expect(row).toMatchObject({ status: 'pending', attempts: 1 });
    expect(row!.last_error).toContain('451');
    const now = clock.now().getTime();
    const base = c.config.settings.delivery.retryBaseSeconds * 1000;
    expect(row!.next_attempt_at.getTime()).toBeGreaterThan(now);
    expect(row!.next_attempt_at.getTime() - now).toBeGreaterThanOrEqual(base / 2);
    expect(row!.next_attempt_at.getTime() - now).toBeLessThanOrEqual(base);

    // Not due yet: nothing happens.
    expect(await drain(c)).toEqual({ sent: 0, failed: 0, retrying: 0, skipped: 0 });
    expect(smtp.rcptLog).toHaveLength(1);

    clock.advance(row!.next_attempt_at.getTime() - now + 1);
    expect(await drain(c)).toEqual({ sent: 1, failed: 0, retrying: 0, skipped: 0 });
    expect(smtp.messages).toHaveLength(1);
    expect(smtp.to('traveler@example.com')).toHaveLength(1);
    [row] = await deliveryRows();
    expect(row).toMatchObject({ status: 'sent', attempts: 2 });
    const attempts = await t.db.selectFrom('delivery_attempts').select(['outcome', 'error']).where('delivery_id', '=', row!.id).orderBy('id').execute();
    expect(attempts.map((a) => a.outcome)).toEqual(['retry', 'sent']);
    expect(attempts[0]!.error).toContain('451');

    clock.advance(24 * 3_600_000);
    expect(await drain(c)).toEqual({ sent: 0, failed: 0, retrying: 0, skipped: 0 });
    expect(smtp.messages).toHaveLength(1);
  });

  it('a retry after a reload renamed the feed says the new name (the dispatcher keeps no rendering across batches)', async () => {
    const c = await setup();
    // The first attempt renders the email, then the server answers 451.
    await firstAttemptRefused(c);
    // A reload (SIGHUP) writes the renamed feed into the database while the retry waits.
    const renamed = 'U.S. Mission to Russia';
    await syncFeeds(
      t.db,
      c.config.feeds.map((f) => (f.id === 'us-embassy-russia' ? { ...f, name: renamed } : f)),
    );
    const [row] = await deliveryRows();
    clock.advance(row!.next_attempt_at.getTime() - clock.now().getTime() + 1);
    // The same dispatcher sends the retry.
    expect(await drain(c)).toEqual({ sent: 1, failed: 0, retrying: 0, skipped: 0 });
    const mail = smtp.to('traveler@example.com')[0]!;
    expect(mail.text).toContain(`New alert from ${renamed}`);
    expect(mail.html).toContain(renamed);
    expect(`${mail.text}\n${mail.html}`).not.toContain('Consulates in Russia');
  });

  it('a 451 to DATA is retried too', async () => {
    const c = await setup();
    await subscribe('traveler@example.com');
    await poll(c, 'us-embassy-russia', EMBASSY_V1);
    await poll(c, 'us-embassy-russia', EMBASSY_V2);
    smtp.failNextData(1, 451);
    expect(await drain(c)).toMatchObject({ retrying: 1 });
    const [row] = await deliveryRows();
    expect(row!.last_error).toContain('451');
    clock.advance(row!.next_attempt_at.getTime() - clock.now().getTime() + 1);
    expect(await drain(c)).toMatchObject({ sent: 1 });
    expect(smtp.messages).toHaveLength(1);
  });

  it('SMTP 550 for the recipient fails at once, stops email for that subscriber, and later events skip it', async () => {
    const c = await setup();
    await subscribe('gone@example.com');
    await subscribe('traveler@example.com');
    await poll(c, 'us-embassy-russia', EMBASSY_V1);
    await poll(c, 'us-embassy-russia', EMBASSY_V2);

    smtp.rejectRecipient('gone@example.com', 550, '5.1.1 <gone@example.com>: Recipient address rejected: User unknown');
    expect(await drain(c)).toEqual({ sent: 1, failed: 1, retrying: 0, skipped: 0 });
    expect(smtp.to('traveler@example.com')).toHaveLength(1);
    expect(smtp.to('gone@example.com')).toHaveLength(0);

    const gone = (await deliveryRows()).find((r) => r.email === 'gone@example.com')!;
    expect(gone).toMatchObject({ status: 'failed', attempts: 1 });
    expect(gone.last_error).toContain('550');
    const sub = await subscriberRow('gone@example.com');
    expect(sub.email_stopped_at).toEqual(clock.now());
    expect(sub.email_stop_reason).toContain('550');
    expect(sub.status).toBe('confirmed');

    // Never retried.
    clock.advance(7 * 24 * 3_600_000);
    expect(await drain(c)).toEqual({ sent: 0, failed: 0, retrying: 0, skipped: 0 });
    expect(smtp.rcptLog.filter((r) => r.address === 'gone@example.com')).toHaveLength(1);

    // A later event is fanned out to the others only.
    expect(await poll(c, 'us-embassy-russia', embassyWithNewAlert())).toMatchObject({ new: 1, events: 1 });
    const rows = await deliveryRows();
    const later = rows.filter((r) => r.event_id !== gone.event_id);
    expect(later.map((r) => r.email)).toEqual(['traveler@example.com']);
    expect(await drain(c)).toEqual({ sent: 1, failed: 0, retrying: 0, skipped: 0 });
    expect(smtp.to('traveler@example.com')).toHaveLength(2);
    expect(smtp.rcptLog.filter((r) => r.address === 'gone@example.com')).toHaveLength(1);
  });

  it('gives up after maxAttempts with the last error', async () => {
    const c = await setup({ settings: 'delivery:\n  maxAttempts: 3\n  retryBaseSeconds: 10\n  retryMaxSeconds: 60\n' });
    await subscribe('traveler@example.com');
    await poll(c, 'us-embassy-russia', EMBASSY_V1);
    await poll(c, 'us-embassy-russia', EMBASSY_V2);
    smtp.failNextRcpt(1_000, 452, '4.2.2 Mailbox full, try later');

    for (let attempt = 1; attempt <= 2; attempt++) {
      expect(await drain(c)).toEqual({ sent: 0, failed: 0, retrying: 1, skipped: 0 });
      const [row] = await deliveryRows();
      expect(row).toMatchObject({ status: 'pending', attempts: attempt });
      clock.advance(row!.next_attempt_at.getTime() - clock.now().getTime() + 1);
    }
    expect(await drain(c)).toEqual({ sent: 0, failed: 1, retrying: 0, skipped: 0 });
    const [row] = await deliveryRows();
    expect(row).toMatchObject({ status: 'failed', attempts: 3 });
    expect(row!.last_error).toMatch(/^gave up after 3 attempts: SMTP 452/);
    // A transient failure never stops the channel.
    expect((await subscriberRow('traveler@example.com')).email_stopped_at).toBeNull();
    expect(smtp.messages).toHaveLength(0);

    clock.advance(24 * 3_600_000);
    expect(await drain(c)).toEqual({ sent: 0, failed: 0, retrying: 0, skipped: 0 });
    expect(smtp.rcptLog).toHaveLength(3);
  });

  it('an SMTP server that is down is a transient failure; the delivery goes out when it is back', async () => {
    const c = await setup();
    await subscribe('traveler@example.com');
    await poll(c, 'us-embassy-russia', EMBASSY_V1);
    await poll(c, 'us-embassy-russia', EMBASSY_V2);
    await smtp.stop();
    try {
      expect(await drain(c)).toEqual({ sent: 0, failed: 0, retrying: 1, skipped: 0 });
    } finally {
      await smtp.start();
    }
    const [row] = await deliveryRows();
    expect(row).toMatchObject({ status: 'pending', attempts: 1 });
    expect(row!.last_error).toMatch(/^SMTP /);
    clock.advance(row!.next_attempt_at.getTime() - clock.now().getTime() + 1);
    expect(await drain(c)).toEqual({ sent: 1, failed: 0, retrying: 0, skipped: 0 });
    expect(smtp.messages).toHaveLength(1);
  });
});

describe('email: a confirmation queued by the command line', () => {
  const ADDRESS = 'greylisted@example.org';

  /** A CONFIG_DIR for the command line (and `start`), on the test database and SMTP server. */
  function cliEnv(): Record<string, string> {
    const configDir = path.join(root, 'cli-config');
    mkdirSync(configDir, { recursive: true });
    writeFileSync(
      path.join(configDir, 'feeds.yaml'),
      `feeds:\n  - id: us-state-dept\n    name: U.S. State Department travel advisories\n    url: ${feeds.url(PATHS['us-state-dept'])}\n    source: us-state-dept\n`,
    );
    // The command line reads the real clock: a back-off of a fraction of a second keeps the wait short.
    writeFileSync(path.join(configDir, 'settings.yaml'), 'delivery:\n  retryBaseSeconds: 0.05\n  retryMaxSeconds: 0.1\n');
    return {
      ...t.cliEnv,
      DATA_DIR: t.cliEnv.DATA_DIR ?? path.join(root, 'cli-data'),
      CONFIG_DIR: configDir,
      PUBLIC_BASE_URL: BASE,
      APP_SECRET: SECRET,
      MAIL_FROM: 'Advisory Alerts <alerts@example.org>',
      SMTP_URL: smtp.url,
    };
  }

  const row = () =>
    t.db
      .selectFrom('confirmation_emails')
      .select(['status', 'attempts', 'last_error', 'next_attempt_at'])
      .where('email', '=', ADDRESS)
      .executeTakeFirstOrThrow();

  /** `subscribers add` (not --confirmed) meeting an SMTP 451: the request stays queued for a retry. Returns when it falls due. */
  async function queuedAfter451(env: Record<string, string>): Promise<void> {
    smtp.failNextRcpt(1, 451);
    const added = await cli(['subscribers', 'add', '--email', ADDRESS, '--countries', 'RU', '--channels', 'email'], env);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toContain(`confirmation email to ${ADDRESS} queued`);
    expect(added.stderr).toContain('confirmation email not sent');
    const waiting = await row();
    expect(waiting).toMatchObject({ status: 'pending', attempts: 1 });
    expect(waiting.last_error).toContain('451');
    expect(smtp.to(ADDRESS)).toHaveLength(0);
    await waitFor('the back-off to pass', async () => Date.now() >= waiting.next_attempt_at.getTime() || undefined);
  }

  async function expectSentOnce(): Promise<void> {
    await smtp.settled();
    const mails = smtp.to(ADDRESS);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.subject).toBe('Confirm your travel advisory alerts');
    expect(mails[0]!.text).toMatch(/https:\/\/alerts\.example\.org\/confirm\/[A-Za-z0-9_-]+/);
    expect(await row()).toMatchObject({ status: 'sent', attempts: 2, last_error: null });
  }

  it('an SMTP 451 is retried by `dispatch`, with no web process, and sent once', async () => {
    const env = cliEnv();
    await queuedAfter451(env);
    expect(jsonArray(await cli(['dispatch', '--json'], env))).toEqual([{ sent: 1, failed: 0, retrying: 0, skipped: 0 }]);
    await expectSentOnce();
    // Sent once: the next run finds nothing.
    expect(ok(await cli(['dispatch'], env))).toBe('sent 0, failed 0, retrying 0\n');
    expect(smtp.to(ADDRESS)).toHaveLength(1);
  });

  it('an SMTP 451 is retried by a `start --roles deliver` process (no web role)', async () => {
    const env = cliEnv();
    await queuedAfter451(env);
    const service = await startService(loadConfig(env), { roles: ['deliver'], logger: silentLogger, clock: systemClock });
    try {
      await waitFor('the deliver process to send the confirmation', async () => (await row()).status === 'sent' || undefined, { timeoutMs: 20_000 });
    } finally {
      await service.stop();
    }
    await expectSentOnce();
  });
});

describe('email: file outbox (no SMTP_URL)', () => {
  it('writes one .eml per delivery in $DATA_DIR/outbox/email with the same parts and headers', async () => {
    const c = await setup({ smtp: false });
    const id = await subscribe('traveler@example.com');
    await poll(c, 'us-embassy-russia', EMBASSY_V1);
    await poll(c, 'us-embassy-russia', EMBASSY_V2);
    expect(await drain(c)).toEqual({ sent: 1, failed: 0, retrying: 0, skipped: 0 });
    expect(smtp.messages).toHaveLength(0);

    const dir = path.join(c.dataDir, 'outbox', 'email');
    const files = readdirSync(dir).filter((f) => f.endsWith('.eml'));
    expect(files).toHaveLength(1);
    const [row] = await deliveryRows();
    expect(row).toMatchObject({ status: 'sent', provider_id: `file:${files[0]}` });

    const mail = await simpleParser(readFileSync(path.join(dir, files[0]!)));
    expect(mail.subject).toBe('Security Alert — U.S. Embassy Moscow');
    expect(mail.to && !Array.isArray(mail.to) ? mail.to.value[0]?.address : undefined).toBe('traveler@example.com');
    expect(mail.text).toContain(EMBASSY_WORDS);
    expect(typeof mail.html === 'string' ? mail.html : '').toContain(EMBASSY_WORDS);
    const raw = (name: string) =>
      mail.headerLines
        .find((h) => h.key === name)
        ?.line.replace(/^[^:]+:\s*/, '')
        .replace(/\r?\n[ \t]+/g, ' ');
    const unsubscribe = raw('list-unsubscribe');
    expect(unsubscribe).toMatch(new RegExp(`^<${BASE.replace(/\./g, '\\.')}/unsubscribe/[A-Za-z0-9._-]+>$`));
    expect(verifyToken(SECRET, 'unsubscribe', unsubscribe!.slice(`<${BASE}/unsubscribe/`.length, -1))).toEqual({ subscriberId: id, version: 0 });
    expect(raw('list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
    expect(raw('list-id')).toMatch(/<[a-z0-9.-]*alerts\.example\.org>$/);

    // Sent means sent: a second run writes nothing more.
    clock.advance(3_600_000);
    expect(await drain(c)).toEqual({ sent: 0, failed: 0, retrying: 0, skipped: 0 });
    expect(readdirSync(dir)).toHaveLength(1);
  });
});
