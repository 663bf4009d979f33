import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { countrySummaries, eventWithVersions, listAdvisories, listEvents } from '../../src/advisories/repository.ts';
import { loadConfig, type AppConfig } from '../../src/config/load.ts';
import { smsEncoding, smsSegments } from '../../src/delivery/render.ts';
import { pollFeed, type PollOutcome } from '../../src/feeds/poller.ts';
import { syncFeeds } from '../../src/feeds/repository.ts';
import { createDispatcher, pollDepsFor } from '../../src/runtime.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { upsertSubscriber } from '../../src/subscriptions/repository.ts';
import { parseSubscriber } from '../../src/subscriptions/validate.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { editedMail, germanDay, laterList, mailOf } from '../helpers/de-jp-documents.ts';
import { fixture, startFeedServer, type FeedServer } from '../helpers/feed-server.ts';
import { ManualClock } from '../helpers/poll.ts';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.ts';
import { startTwilioServer, type TwilioServer } from '../helpers/twilio-server.ts';
import { cli } from '../helpers/cli.ts';
import { startWebApp } from '../helpers/web.ts';

/**
 * Germany (de-aa) and Japan (jp-mofa) through the whole pipeline on the real
 * captures: served over HTTP, polled, diffed in the database, and delivered by
 * email (in-process SMTP server) and SMS (local Twilio-compatible API).
 */

const DE_0327 = fixture('de-aa/2026-03-27.json');
const DE_0402 = fixture('de-aa/2026-04-02.json');
const DE_0430 = fixture('de-aa/2026-04-30.json');
const JP_A = fixture('jp-mofa/newarrivalL_2026-01-16a.xml');
const JP_B = fixture('jp-mofa/newarrivalL_2026-01-16b.xml');

const BASE = 'https://alerts.example.org';
const ACCOUNT_SID = `AC${randomBytes(16).toString('hex')}`;
const AUTH_TOKEN = randomBytes(16).toString('hex');
const PHONE = '+819012345678';
const PATHS = { 'de-aa': '/opendata/travelwarning', 'jp-mofa': '/opendata/area/newarrivalL.xml' } as const;
type FeedId = keyof typeof PATHS;
const TYPES: Record<FeedId, string> = { 'de-aa': 'text/json;charset=UTF-8', 'jp-mofa': 'application/xml' };

/**
 * February's list, as MOFA would publish it: the oldest consular e-mails have
 * left the window, Qatar's danger level was raised (a new notice, Japan's
 * level 2 flagged), and one new consular e-mail speaks for three countries.
 */
function februaryList(options: { keepJanuaryNotice: boolean }): string {
  const qatarJanuary = mailOf(JP_B, '2026T006');
  const qatarFebruary = editedMail(qatarJanuary, {
    keyCd: '2026T031',
    leaveDate: '2026/02/20 00:00:00',
    title: 'カタールの危険情報【危険レベル引上げ】',
    lead: '●中東地域の情勢の更なる緊迫化を受け、カタール全土の危険レベルを2（不要不急の渡航は止めてください）に引き上げます。',
    risk: { 2: 1 },
  });
  const gulfMail = editedMail(mailOf(JP_B, '161834'), {
    keyCd: '162210',
    leaveDate: '2026/02/20 10:05:37',
    title: '湾岸地域の空域閉鎖に関する注意喚起',
    lead: '●湾岸地域の一部空域が閉鎖され、国際線に遅延・欠航が生じています。',
    countries: ['0974', '0973', '0965'],
  });
  const drop = ['161832', '161833', '161834', '161835', '2026C006', ...(options.keepJanuaryNotice ? [] : ['2026T006'])];
  return laterList(JP_B, { add: [gulfMail, qatarFebruary], drop, lastModified: '2026/02/20 10:30:48' });
}

let t: TestDatabase;
let feeds: FeedServer;
let smtp: TestSmtpServer;
let twilio: TwilioServer;
let root: string;
let clock: ManualClock;
beforeAll(async () => {
  [t, feeds, smtp, twilio] = await Promise.all([
    openTestDatabase(),
    startFeedServer(),
    startSmtpServer(),
    startTwilioServer(ACCOUNT_SID, AUTH_TOKEN, { now: () => clock.now() }),
  ]);
  root = mkdtempSync(path.join(tmpdir(), 'aa-de-jp-'));
});
afterAll(async () => {
  await Promise.all([t?.close(), feeds?.stop(), smtp?.stop(), twilio?.stop()]);
  if (root) rmSync(root, { recursive: true, force: true });
});

interface Ctx {
  config: AppConfig;
  close(): Promise<void>;
  drain(): Promise<unknown>;
}
let ctx: Ctx | undefined;
beforeEach(async () => {
  await t.reset();
  smtp.reset();
  twilio.reset();
  clock = new ManualClock(new Date('2026-03-01T12:00:00Z'));
});
afterEach(async () => {
  await ctx?.close();
  ctx = undefined;
});

async function setup(): Promise<Ctx> {
  const dir = mkdtempSync(path.join(root, 'run-'));
  const configDir = path.join(dir, 'config');
  mkdirSync(configDir, { recursive: true });
  writeFileSync(
    path.join(configDir, 'feeds.yaml'),
    `feeds:
  - id: de-aa
    name: Auswärtiges Amt — Reise- und Sicherheitshinweise
    url: ${feeds.url(PATHS['de-aa'])}
    source: de-aa
  - id: jp-mofa
    name: 外務省 海外安全情報 (MOFA new arrivals)
    url: ${feeds.url(PATHS['jp-mofa'])}
    source: jp-mofa
`,
  );
  const config = loadConfig({
    CONFIG_DIR: configDir,
    DATA_DIR: path.join(dir, 'data'),
    PUBLIC_BASE_URL: BASE,
    APP_SECRET: 'x'.repeat(32),
    MAIL_FROM: 'Advisory Alerts <alerts@example.org>',
    SMTP_URL: smtp.url,
    TWILIO_ACCOUNT_SID: ACCOUNT_SID,
    TWILIO_AUTH_TOKEN: AUTH_TOKEN,
    TWILIO_API_BASE_URL: twilio.baseUrl,
    TWILIO_FROM: '+15005550006',
  });
  await syncFeeds(t.db, config.feeds);
  const { dispatcher, close } = createDispatcher(config, t.db, silentLogger, clock);
  ctx = {
    config,
    close,
    drain: async () => {
      const summary = await dispatcher.drain();
      await smtp.settled();
      return summary;
    },
  };
  return ctx;
}

/** Serves `body` as the feed's document and polls it a minute after the previous poll. */
async function poll(c: Ctx, id: FeedId, body: string): Promise<PollOutcome> {
  feeds.set(PATHS[id], { body, contentType: TYPES[id] });
  clock.advance(60_000);
  const feed = c.config.feeds.find((f) => f.id === id)!;
  return pollFeed(pollDepsFor(c.config, t.db, silentLogger, clock), feed, { force: true });
}

async function eventsOf(feed: FeedId) {
  return (await listEvents(t.db, {})).filter((e) => e.feed === feed);
}

describe('Germany (de-aa) through poll', () => {
  it('captured days: baseline, 26 timestamp-only changes → nothing; {} fails the poll and keeps every advisory; a flag day → exactly its events', async () => {
    const c = await setup();
    expect(await poll(c, 'de-aa', DE_0327)).toMatchObject({ status: 'ok', baseline: true, new: 199, events: 0 });
    expect(await poll(c, 'de-aa', DE_0402)).toMatchObject({ status: 'ok', new: 0, updated: 0, unchanged: 199, removed: 0, events: 0 });
    expect(await poll(c, 'de-aa', DE_0430)).toMatchObject({ status: 'ok', updated: 0, events: 0 });

    const failed = await poll(c, 'de-aa', '{}');
    expect(failed).toMatchObject({ status: 'error', events: 0, removed: 0 });
    expect(failed.error).toMatch(/empty object/);
    const feedRow = await t.db.selectFrom('feeds').select(['consecutive_failures', 'last_status']).where('id', '=', 'de-aa').executeTakeFirstOrThrow();
    expect(feedRow).toMatchObject({ consecutive_failures: 1, last_status: 'error' });
    expect(await listAdvisories(t.db, {})).toHaveLength(199);

    const day = germanDay(DE_0430, { RU: ['warning'], QA: [], TH: ['partialWarning', 'situationPartWarning'], XK: ['partialWarning'] });
    expect(await poll(c, 'de-aa', day)).toMatchObject({ status: 'ok', new: 0, removed: 0, updated: 4, events: 4 });
    const events = await eventsOf('de-aa');
    expect(events.map((e) => [e.country, e.kind, e.previousLevel, e.level, e.government]).sort()).toEqual([
      ['QA', 'level-lowered', 4, 1, 'Germany'],
      ['RU', 'level-raised', 3, 4, 'Germany'],
      ['TH', 'updated', 3, 3, 'Germany'],
      ['XK', 'level-raised', 1, 3, 'Germany'],
    ]);
    const ru = events.find((e) => e.country === 'RU')!;
    const versions = (await eventWithVersions(t.db, ru.id))!;
    expect([versions.previous?.level_text, versions.version.level_text]).toEqual(['Teilreisewarnung', 'Reisewarnung']);

    // The same day again, now in milliseconds: the same instants, nothing new.
    expect(
      await poll(
        c,
        'de-aa',
        germanDay(DE_0430, { RU: ['warning'], QA: [], TH: ['partialWarning', 'situationPartWarning'], XK: ['partialWarning'] }, { milliseconds: true }),
      ),
    ).toMatchObject({
      status: 'ok',
      events: 0,
    });
    const [ruAdvisory] = await listAdvisories(t.db, { country: 'RU' });
    expect(ruAdvisory).toMatchObject({ feedId: 'de-aa', level: 4, levelText: 'Reisewarnung', title: 'Russische Föderation: Reise- und Sicherheitshinweise' });
    await expect(countrySummaries(t.db)).resolves.toEqual(expect.arrayContaining([expect.objectContaining({ country: 'XK', highestLevel: 3 })]));
  });
});

describe('Japan (jp-mofa) through poll and delivery', () => {
  it('new notices, Qatar raised 2 → 3, a consular e-mail for three countries, the window rolling on — UTF-8 all the way to email and SMS', async () => {
    const c = await setup();
    const input = parseSubscriber({ email: 'traveler@example.jp', phone: PHONE, countries: 'QA', channels: 'email,sms' }, new Set(Object.keys(PATHS)));
    await upsertSubscriber(t.db, input, { confirmed: true, now: clock.now() });

    expect(await poll(c, 'jp-mofa', JP_A)).toMatchObject({ status: 'ok', baseline: true, new: 22, events: 0 });
    // Four danger-level notices arrive at once: new advisories, nothing else.
    expect(await poll(c, 'jp-mofa', JP_B)).toMatchObject({ status: 'ok', new: 4, updated: 0, removed: 0, events: 4 });
    expect((await eventsOf('jp-mofa')).map((e) => [e.country, e.kind, e.level]).sort()).toEqual([
      ['AE', 'new', 2],
      ['IR', 'new', 4],
      ['OM', 'new', 2],
      ['QA', 'new', 2],
    ]);
    await c.drain();
    smtp.reset();
    twilio.reset();

    // February: Qatar raised; five items left the window; one new e-mail for QA, BH, KW.
    const before = (await eventsOf('jp-mofa')).length;
    expect(await poll(c, 'jp-mofa', februaryList({ keepJanuaryNotice: false }))).toMatchObject({ status: 'ok', new: 1, updated: 1, removed: 5, events: 2 });
    const february = (await eventsOf('jp-mofa')).slice(before);
    expect(february.map((e) => [e.kind, e.countries, e.previousLevel, e.level, e.government])).toEqual(
      expect.arrayContaining([
        ['level-raised', ['QA'], 2, 3, 'Japan'],
        ['new', ['QA', 'BH', 'KW'], null, null, 'Japan'],
      ]),
    );
    expect(february).toHaveLength(2);

    // Iran's notice is still in force though it may leave the window; the e-mails that left are gone from the listing.
    expect((await listAdvisories(t.db, { country: 'IR' })).map((a) => [a.feedId, a.level])).toEqual([['jp-mofa', 4]]);
    expect((await listAdvisories(t.db, {})).some((a) => a.title === '大統領就任式典(1/17)開催に関する注意喚起')).toBe(false);
    // Polled again, later, with the January notice gone too: nothing.
    expect(
      await poll(c, 'jp-mofa', laterList(februaryList({ keepJanuaryNotice: false }), { drop: ['2026T007', '2026T005'], lastModified: '2026/02/21 08:00:00' })),
    ).toMatchObject({
      status: 'ok',
      events: 0,
      removed: 0,
    });

    await c.drain();
    const subjects = smtp.messages.map((m) => m.subject).sort();
    expect(subjects).toEqual([
      'Japan (MOFA): Qatar — Level 3 — 不要不急の渡航は止めてください (raised from 2)',
      'Japan (MOFA): Qatar, Bahrain, Kuwait — 湾岸地域の空域閉鎖に関する注意喚起',
    ]);
    const raise = smtp.messages.find((m) => m.subject.includes('raised'))!;
    expect(raise.text).toContain('●中東地域の情勢の更なる緊迫化を受け、カタール全土の危険レベルを2（不要不急の渡航は止めてください）に引き上げます。');
    expect(raise.html).toContain('カタールの危険情報【危険レベル引上げ】');
    expect(raise.text).toContain('https://www.anzen.mofa.go.jp/info/pchazardspecificinfo_2026T031.html');
    // Declared UTF-8 on the wire, whatever transfer encoding nodemailer chose.
    expect(raise.raw).toMatch(/charset=utf-8/i);

    const sms = twilio.messages.map((m) => m.body);
    expect(sms).toHaveLength(2);
    for (const body of sms) {
      expect(smsEncoding(body).encoding).toBe('UCS-2');
      expect(smsSegments(body)).toBeLessThanOrEqual(2);
    }
    expect(sms.some((b) => b.startsWith('Advisory alert: Japan (MOFA): Qatar - Level 3 - 不要不急の渡航は止めてください (raised from 2)'))).toBe(true);
    expect(sms.some((b) => b.startsWith('Advisory alert: Japan (MOFA): Qatar, Bahrain, Kuwait - 湾岸地域の空域閉鎖に関する注意喚起'))).toBe(true);
  });

  it('the January and February notices listed side by side: the newer one is Qatar’s advisory', async () => {
    const c = await setup();
    await poll(c, 'jp-mofa', JP_B);
    expect(await poll(c, 'jp-mofa', februaryList({ keepJanuaryNotice: true }))).toMatchObject({ status: 'ok', updated: 1, events: 2 });
    const qatar = (await eventsOf('jp-mofa')).find((e) => e.country === 'QA' && e.kind !== 'new')!;
    expect(qatar).toMatchObject({ kind: 'level-raised', previousLevel: 2, level: 3 });
  });

  it('a broken list fails the poll and changes nothing', async () => {
    const c = await setup();
    await poll(c, 'jp-mofa', JP_B);
    const failed = await poll(c, 'jp-mofa', JP_B.slice(0, 5000));
    expect(failed).toMatchObject({ status: 'error', events: 0 });
    expect(failed.error).toMatch(/not valid XML/);
    expect(await listAdvisories(t.db, {})).toHaveLength(26);
  });
});

describe('Germany and Japan beside the other governments', () => {
  it('countries list, advisories list and the public country page name them, the wording as published', async () => {
    const c = await setup();
    expect(await poll(c, 'de-aa', DE_0430)).toMatchObject({ status: 'ok', baseline: true });
    expect(await poll(c, 'jp-mofa', JP_B)).toMatchObject({ status: 'ok', baseline: true });
    const env = { CONFIG_DIR: c.config.configDir, ...t.cliEnv };

    const advisories = await cli(['advisories', 'list', '--country', 'QA', '--json'], env);
    expect(advisories.code, advisories.stderr).toBe(0);
    const rows = JSON.parse(advisories.stdout) as Record<string, unknown>[];
    // Japan's consular e-mails about Qatar are listed too, as alerts without a level.
    expect(
      rows
        .filter((a) => a.level === null)
        .map((a) => [a.feed, a.government, a.title])
        .sort(),
    ).toEqual([
      ['jp-mofa', 'Japan', '中東情勢に関する注意喚起について'],
      ['jp-mofa', 'Japan', '最近のイラン情勢に端を発した中東情勢の緊迫化の可能性'],
    ]);
    expect(rows.filter((a) => a.level !== null).map((a) => [a.feed, a.government, a.level, a.wording, a.title])).toEqual([
      ['de-aa', 'Germany', 4, 'Reisewarnung', 'Katar: Reise- und Sicherheitshinweise'],
      ['jp-mofa', 'Japan', 2, '十分注意してください', 'カタールの危険情報 【危険レベルの発出】（新規）'],
    ]);
    const countries = await cli(['countries', 'list', '--json'], env);
    expect(countries.code, countries.stderr).toBe(0);
    const qa = (JSON.parse(countries.stdout) as Record<string, unknown>[]).find((r) => r.country === 'QA');
    expect(qa).toMatchObject({ highestLevel: 4, saidBy: ['Germany'], disagree: true });

    // The service's own feeds.yaml: the web app syncs it as `start` does, and feeds missing from it are not shown.
    const web = await startWebApp({ db: t.db, feedsYaml: readFileSync(path.join(c.config.configDir, 'feeds.yaml'), 'utf8') });
    try {
      const res = await fetch(web.url('/countries/QA'));
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/charset=utf-8/i);
      const html = await res.text();
      for (const words of ['Germany', 'Japan', 'Reisewarnung', '十分注意してください']) expect(html).toContain(words);
    } finally {
      await web.close();
    }
  });
});
