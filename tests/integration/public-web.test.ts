import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import * as DomUtils from 'domutils';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eventJson } from '../../src/advisories/overview.ts';
import { publicEvents, publicEventsJson } from '../../src/advisories/repository.ts';
import { feedSchema } from '../../src/config/schema.ts';
import { pollFeed } from '../../src/feeds/poller.ts';
import { syncFeeds } from '../../src/feeds/repository.ts';
import { addAdvisory, addFeed, addGovernmentFeeds, changeAdvisory } from '../helpers/advice.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { Page } from '../helpers/dom.ts';
import { fixture, startFeedServer, type FeedServer } from '../helpers/feed-server.ts';
import { ManualClock, feedConfig, pollDeps } from '../helpers/poll.ts';
import { CookieJar, csrfTokenOf, form, startWebApp, waitFor, type WebApp } from '../helpers/web.ts';

// The public pages, Atom feeds and JSON API over real HTTP, on a stored
// history written the way polls leave it.

const NOW = new Date('2026-11-30T12:00:00Z');
const day = (iso: string) => new Date(`${iso}T09:00:00Z`);
const HOSTILE_TITLE = 'Security Alert <script>alert(1)</script>';
const HOSTILE_BODY = 'Avoid crowds.<img src=x onerror="alert(2)"> Concerts in Moscow <b onclick="x()">may be targeted</b>.\n\nMonitor local media.';

interface EventJson {
  id: number;
  title: string;
  countries: string[];
  level: number | null;
}
interface CountryJson {
  governments: { government: string; level: number }[];
  history: { series: unknown[] };
  recentAlerts: unknown[];
}

let tdb: TestDatabase;
let web: WebApp;
let clock: ManualClock;
let usRussia: number;

async function seed(): Promise<void> {
  const db = tdb.db;
  await addGovernmentFeeds(db);
  await addFeed(db, { id: 'us-embassy-russia', name: 'U.S. Embassy Moscow alerts', source: 'us-embassy' });

  // Russia: four governments, four levels. The U.S. went 3 → 4 in March.
  const us = await addAdvisory(db, 'us-state-dept', 'russia', ['RU'], {
    level: 3,
    levelText: 'Level 3: Reconsider Travel',
    title: 'Russia - Level 3: Reconsider Travel',
    body: 'Reconsider travel.',
    link: 'https://travel.state.gov/russia',
    at: day('2025-06-01'),
  });
  usRussia = us.advisoryId;
  await changeAdvisory(db, usRussia, {
    level: 4,
    levelText: 'Level 4: Do Not Travel',
    title: 'Russia - Level 4: Do Not Travel',
    body: 'Do not travel to Russia.',
    link: 'https://travel.state.gov/russia',
    at: day('2026-03-10'),
  });
  await addAdvisory(db, 'uk-fcdo', 'russia', ['RU'], {
    level: 3,
    levelText: 'Advise against all but essential travel',
    title: 'Russia travel advice',
    body: 'FCDO advises against all but essential travel.',
    link: 'https://www.gov.uk/foreign-travel-advice/russia',
    at: day('2026-01-05'),
  });
  await addAdvisory(
    db,
    'ca-travel',
    'RU',
    ['RU'],
    { level: 2, levelText: 'Exercise a high degree of caution', title: 'Russia', link: 'https://travel.gc.ca/destinations/russia', at: day('2026-02-01') },
    { event: true },
  );
  await addAdvisory(db, 'au-smartraveller', 'russia', ['RU'], {
    level: 1,
    levelText: 'Exercise normal safety precautions',
    title: 'Russia',
    link: 'https://www.smartraveller.gov.au/destinations/europe/russia',
    at: day('2026-02-02'),
  });
  // An embassy alert with hostile markup and a javascript: link.
  await addAdvisory(
    db,
    'us-embassy-russia',
    'post-1',
    ['RU'],
    { level: null, levelText: 'Security Alert', title: HOSTILE_TITLE, body: HOSTILE_BODY, link: 'javascript:alert(3)', at: day('2026-03-07') },
    { event: true },
  );

  // France: they agree within one level.
  await addAdvisory(db, 'us-state-dept', 'france', ['FR'], {
    level: 2,
    levelText: 'Level 2: Exercise Increased Caution',
    title: 'France - Level 2',
    at: day('2026-04-01'),
  });
  await addAdvisory(db, 'uk-fcdo', 'france', ['FR'], { level: 1, title: 'France travel advice', at: day('2026-05-01') });
  // Côte d'Ivoire: for the accent-insensitive filter.
  await addAdvisory(db, 'ca-travel', 'CI', ['CI'], { level: 3, title: "Côte d'Ivoire", at: day('2026-10-01') }, { event: true });
}

beforeAll(async () => {
  tdb = await openTestDatabase();
  clock = new ManualClock(NOW);
  // Public answers are re-rendered as soon as the data changes (no refresh delay).
  web = await startWebApp({ db: tdb.db, clock, settings: { web: { publicRefreshMs: 0 } } });
});

afterAll(async () => {
  await web?.close();
  await tdb?.close();
});

beforeEach(async () => {
  await tdb.reset();
  await seed();
});

async function get(path: string, headers: Record<string, string> = {}): Promise<{ res: Response; body: string }> {
  const res = await fetch(web.url(path), { headers, redirect: 'manual' });
  return { res, body: await res.text() };
}

function rowOf(page: Page, name: string) {
  return page.one('tr', (tr) => page.all('th', (th) => Page.text(th) === name, tr).length === 1);
}

describe('/countries', () => {
  it('shows every government’s level side by side, in words, with a mark where they disagree', async () => {
    const { res, body } = await get('/countries');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const page = new Page(body);
    const headers = page.all('th', (th) => Page.attr(th, 'scope') === 'col').map(Page.text);
    expect(headers).toEqual(['Country', 'Highest level', 'United States', 'United Kingdom', 'Canada', 'Australia', 'Governments disagree', 'Last change']);

    const ru = page.all('td', () => true, rowOf(page, 'Russia')).map(Page.text);
    expect(ru[0]).toBe('4 — Do not travel');
    expect(ru.slice(1, 5)).toEqual(['4 — Do not travel', '3 — Reconsider travel', '2 — Exercise increased caution', '1 — Exercise normal precautions']);
    expect(ru[5]).toMatch(/Yes, levels 1 to 4/);
    expect(ru[6]).toBe('10 Mar 2026');

    const fr = page.all('td', () => true, rowOf(page, 'France')).map(Page.text);
    expect(fr[0]).toBe('2 — Exercise increased caution');
    expect(fr.slice(3, 5)).toEqual(['— no advice', '— no advice']);
    expect(fr[5]).toBe('No');
    // Each row links to its country page.
    expect(page.all('a', (a) => Page.attr(a, 'href') === '/countries/RU')).toHaveLength(1);
  });

  it('filters by name without accents and sorts by level or last change with plain links', async () => {
    const names = (body: string) => new Page(body).all('th', (th) => Page.attr(th, 'scope') === 'row').map(Page.text);
    expect(names((await get('/countries')).body)).toEqual(["Côte d'Ivoire", 'France', 'Russia']);
    expect(names((await get('/countries?q=cote')).body)).toEqual(["Côte d'Ivoire"]);
    expect(names((await get('/countries?q=RUS')).body)).toEqual(['Russia']);
    expect(names((await get('/countries?q=zzz')).body)).toEqual([]);
    expect(names((await get('/countries?sort=level')).body)).toEqual(['Russia', "Côte d'Ivoire", 'France']);
    expect(names((await get('/countries?sort=changed')).body)).toEqual(["Côte d'Ivoire", 'France', 'Russia']);
    // The column headers are the sort links, keeping the filter.
    const page = new Page((await get('/countries?q=r&sort=level')).body);
    expect(page.all('a', (a) => Page.attr(a, 'href') === '/countries?q=r&sort=changed')).toHaveLength(1);
    expect(
      Page.attr(
        page.one('th', (th) => Page.attr(th, 'aria-sort') !== undefined),
        'aria-sort',
      ),
    ).toBe('descending');
  });

  it('is linked from the subscribe page', async () => {
    const page = new Page((await get('/')).body);
    expect(page.all('a', (a) => Page.attr(a, 'href') === '/countries').length).toBeGreaterThan(0);
  });
});

describe('/countries/:cc', () => {
  it('shows each government’s level, wording, date and link, a chart per government and recent events', async () => {
    const { res, body } = await get('/countries/RU');
    expect(res.status).toBe(200);
    const page = new Page(body);
    expect(Page.text(page.one('h1'))).toBe('Russia: what each government advises');
    const rows = page.all('tbody')[0]!;
    const us = page
      .all(
        'td',
        () => true,
        page.one('tr', (tr) => page.all('th', (th) => Page.text(th) === 'United States', tr).length === 1, rows),
      )
      .map(Page.text);
    expect(us).toEqual(['4 — Do not travel', 'Level 4: Do Not Travel', '10 Mar 2026', 'U.S. State Department travel advisories']);
    expect(page.all('a', (a) => Page.attr(a, 'href') === 'https://travel.state.gov/russia', rows)).toHaveLength(1);

    const charts = page.all('figure').map((f) => Page.text(page.one('figcaption', () => true, f)));
    expect(charts).toEqual(['United States', 'United Kingdom', 'Canada', 'Australia']);
    const usChart = page.all('figure')[0]!;
    expect(Page.text(page.one('desc', () => true, usChart))).toBe('level 3 from 30 Nov 2025, then level 4 from 10 Mar 2026');
    // Two steps: level 3 then 4; the step line goes up at the change.
    expect(page.all('rect', () => true, usChart).map((r) => Page.attr(r, 'class'))).toEqual(['band lvl3', 'band lvl4']);

    const events = page.all('li', (li) => Page.attr(li, 'class') === 'event').map((li) => Page.text(page.one('h3', () => true, li)));
    expect(events).toContain('Russia - Level 4: Do Not Travel');
    expect(events).toContain(HOSTILE_TITLE);
  });

  it('never renders feed markup: scripts, handlers and javascript: links stay text', async () => {
    const { body } = await get('/countries/RU');
    const page = new Page(body);
    expect(page.all('script')).toEqual([]);
    expect(page.all('img')).toEqual([]);
    expect(page.all('b')).toEqual([]);
    const everything = DomUtils.findAll(() => true, page.root.children);
    expect(everything.filter((el) => Object.keys(el.attribs).some((a) => a.startsWith('on')))).toEqual([]);
    expect(everything.filter((el) => Object.values(el.attribs).some((v) => /^\s*javascript:/i.test(v)))).toEqual([]);
    expect(body).toContain('Security Alert &lt;script&gt;alert(1)&lt;/script&gt;');
    expect(body).toContain('&lt;b onclick=&quot;x()&quot;&gt;');
  });

  it('has a follow form pre-filled with the country that subscribes', async () => {
    const jar = new CookieJar();
    const res = await fetch(web.url('/countries/RU'));
    jar.store(res);
    const body = await res.text();
    expect(res.headers.get('cache-control')).toBe('private, no-store');
    const page = new Page(body);
    const followForm = page.one('form', (f) => Page.attr(f, 'class') === 'follow');
    expect(
      Page.attr(
        page.one('input', (i) => Page.attr(i, 'name') === 'countries', followForm),
        'value',
      ),
    ).toBe('RU');
    const post = await fetch(web.url('/subscribe'), {
      method: 'POST',
      headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
      body: form({ _csrf: csrfTokenOf(body), email: 'follower@example.org', countries: 'RU', minLevel: '1' }),
    });
    expect(post.status).toBe(202);
    // The request is recorded just after the answer (the same answer for any address).
    const sub = await waitFor('the request recorded', () =>
      tdb.db
        .selectFrom('subscribers')
        .innerJoin('subscriptions', 'subscriptions.subscriber_id', 'subscribers.id')
        .select(['subscribers.email', 'subscribers.status'])
        .where('subscribers.email', '=', 'follower@example.org')
        .executeTakeFirst(),
    );
    expect(sub.status).toBe('pending');
    // Each visitor gets their own token in the (otherwise cached) page.
    const other = await get('/countries/RU');
    expect(csrfTokenOf(other.body)).not.toBe(csrfTokenOf(body));
  });

  it('answers 404 for unknown codes, redirects lower case, and shows a country without advice', async () => {
    const unknown = await get('/countries/ZZ');
    expect(unknown.res.status).toBe(404);
    expect(unknown.body).toContain('Country not found');
    expect((await get('/countries/russia')).res.status).toBe(404);
    const lower = await get('/countries/ru');
    expect(lower.res.status).toBe(301);
    expect(lower.res.headers.get('location')).toBe('/countries/RU');
    const empty = await get('/countries/NO');
    expect(empty.res.status).toBe(200);
    expect(empty.body).toContain('No government’s levelled advice for Norway is stored yet.');
  });

  it('shows a level change at once', async () => {
    await changeAdvisory(tdb.db, usRussia, {
      level: 3,
      levelText: 'Level 3: Reconsider Travel',
      title: 'Russia - Level 3: Reconsider Travel',
      at: day('2026-11-29'),
    });
    const page = new Page((await get('/countries')).body);
    expect(page.all('td', () => true, rowOf(page, 'Russia')).map(Page.text)[1]).toBe('3 — Reconsider travel');
    const ru = (await (await fetch(web.url('/api/countries/RU'))).json()) as CountryJson;
    expect(ru.governments[0]).toMatchObject({ government: 'United States', level: 3 });
  });
});

const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', isArray: (name) => ['entry', 'link', 'category', 'author'].includes(name) });

interface AtomEntry {
  id: string;
  title: { '#text': string; '@type': string };
  updated: string;
  link: { '@href': string }[];
  content: { '#text': string; '@type': string };
  author: { name: string }[];
  category?: { '@term': string }[];
}

describe('Atom feeds', () => {
  async function atom(path: string) {
    const { res, body } = await get(path);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/atom\+xml/);
    const doc = xml.parse(body) as {
      feed: {
        '@xmlns': string;
        id: string;
        title: string;
        updated: string;
        link: { '@rel'?: string; '@href': string }[];
        author: { name: string }[];
        entry?: AtomEntry[];
      };
    };
    return { body, feed: doc.feed };
  }

  it('/feed.atom is Atom 1.0 with the required elements, one entry per event, newest first', async () => {
    const { feed } = await atom('/feed.atom');
    expect(feed['@xmlns']).toBe('http://www.w3.org/2005/Atom');
    expect(feed.id).toBe(web.url('/feed.atom'));
    expect(feed.title).toMatch(/every government/);
    expect(feed.link.find((l) => l['@rel'] === 'self')?.['@href']).toBe(web.url('/feed.atom'));
    expect(feed.author[0]?.name).toBe('Advisory Alerts');
    const entries = feed.entry ?? [];
    const events = await tdb.db.selectFrom('events').select(['id', 'created_at']).orderBy('created_at', 'desc').orderBy('id', 'desc').execute();
    expect(entries.map((e) => e.id)).toEqual(events.map((e) => `tag:127.0.0.1,2026:event:${e.id}`));
    expect(feed.updated).toBe(events[0]!.created_at.toISOString());
    for (const e of entries) {
      expect(e.title['#text'].length).toBeGreaterThan(0);
      expect(Number.isNaN(Date.parse(e.updated))).toBe(false);
      expect(e.link[0]?.['@href']).toMatch(/^https?:\/\//);
      expect(e.author[0]?.name).toBeTruthy();
    }
  });

  it('escapes feed content: a reader shows the markup as text', async () => {
    const { feed } = await atom('/countries/RU/feed.atom');
    const alert = feed.entry!.find((e) => e.title['#text'].includes('Security Alert'))!;
    // type="html": after XML decoding, the HTML must not contain live markup from the feed.
    expect(alert.title['#text']).toBe('Russia — Security Alert &lt;script&gt;alert(1)&lt;/script&gt;');
    expect(alert.content['#text']).not.toMatch(/<(script|img|b)\b/i);
    expect(alert.content['#text']).toContain('&lt;img src=x onerror=&quot;alert(2)&quot;&gt;');
    // The javascript: link is not used; the entry links to the country page instead.
    expect(alert.link[0]?.['@href']).toBe(web.url('/countries/RU'));
  });

  it('/countries/:cc/feed.atom has only that country’s events, with stable ids', async () => {
    const first = await atom('/countries/RU/feed.atom');
    const entries = first.feed.entry ?? [];
    expect(entries.length).toBe(3);
    expect(entries.every((e) => e.category?.some((c) => c['@term'] === 'RU'))).toBe(true);
    await changeAdvisory(tdb.db, usRussia, { level: 3, title: 'Russia - Level 3', at: day('2026-11-29') });
    const second = await atom('/countries/RU/feed.atom');
    expect(second.feed.entry!.slice(1).map((e) => e.id)).toEqual(entries.map((e) => e.id));
    expect(second.feed.entry![0]!.title['#text']).toBe('Russia — Russia - Level 3');
    expect((await get('/countries/ZZ/feed.atom')).res.status).toBe(404);
  });
});

describe('JSON API', () => {
  it('/api/countries: shapes, strong ETag, 304, Cache-Control and CORS', async () => {
    const { res, body } = await get('/api/countries', { origin: 'https://news.example.com' });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('cache-control')).toBe('public, max-age=60');
    const etag = res.headers.get('etag')!;
    expect(etag).toMatch(/^"[^"]+"$/);
    const data = JSON.parse(body);
    expect(data.governments).toEqual(['United States', 'United Kingdom', 'Canada', 'Australia']);
    const ru = data.countries.find((c: { country: string }) => c.country === 'RU');
    expect(ru).toMatchObject({ name: 'Russia', highestLevel: 4, lowestLevel: 1, disagree: true, url: web.url('/countries/RU') });
    expect(Object.keys(ru.governments)).toEqual(['United States', 'United Kingdom', 'Canada', 'Australia']);
    expect(ru.governments['United States']).toMatchObject({
      level: 4,
      levelText: 'Level 4: Do Not Travel',
      link: 'https://travel.state.gov/russia',
      feed: 'us-state-dept',
    });

    const again = await get('/api/countries', { 'if-none-match': etag });
    expect(again.res.status).toBe(304);
    expect(again.body).toBe('');
    // A change gives a new representation and a new ETag.
    await changeAdvisory(tdb.db, usRussia, { level: 3, title: 'Russia - Level 3', at: day('2026-11-29') });
    const changed = await get('/api/countries', { 'if-none-match': etag });
    expect(changed.res.status).toBe(200);
    expect(changed.res.headers.get('etag')).not.toBe(etag);
  });

  it('sends the gzipped representation to clients that take it, with its own ETag, and the plain one to others', async () => {
    const raw = (path: string, headers: Record<string, string>) =>
      new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
        http
          .get(web.url(path), { headers }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
          })
          .on('error', reject);
      });
    const plain = await raw('/countries', { 'accept-encoding': 'identity' });
    const zipped = await raw('/countries', { 'accept-encoding': 'gzip, deflate, br' });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.headers.vary).toMatch(/Accept-Encoding/);
    expect(gunzipSync(zipped.body).toString('utf8')).toBe(plain.body.toString('utf8'));
    expect(zipped.body.length).toBeLessThan(plain.body.length / 2);
    expect(zipped.headers.etag).not.toBe(plain.headers.etag);
    // Each representation revalidates against its own validator.
    expect((await raw('/countries', { 'accept-encoding': 'gzip', 'if-none-match': zipped.headers.etag! })).status).toBe(304);
    expect((await raw('/countries', { 'accept-encoding': 'identity', 'if-none-match': plain.headers.etag! })).status).toBe(304);
    expect((await raw('/countries', { 'accept-encoding': 'identity', 'if-none-match': zipped.headers.etag! })).status).toBe(200);
  });

  it('answers a CORS preflight for GET from any origin, and not for the subscription API', async () => {
    const pre = await fetch(web.url('/api/events'), {
      method: 'OPTIONS',
      headers: { origin: 'https://x.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'if-none-match' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('*');
    const sub = await fetch(web.url('/api/subscriptions'), {
      method: 'OPTIONS',
      headers: { origin: 'https://x.example', 'access-control-request-method': 'POST' },
    });
    expect(sub.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('/api/countries/:cc: each government, the history and recent events; 404 for unknown codes', async () => {
    const data = (await (await fetch(web.url('/api/countries/RU'))).json()) as CountryJson;
    expect(data).toMatchObject({ country: 'RU', name: 'Russia', highestLevel: 4, lowestLevel: 1, disagree: true });
    expect(data.governments.map((g) => [g.government, g.level])).toEqual([
      ['United States', 4],
      ['United Kingdom', 3],
      ['Canada', 2],
      ['Australia', 1],
    ]);
    expect(data.history.series[0]).toEqual({
      government: 'United States',
      steps: [
        { from: '2025-11-30T12:00:00.000Z', to: '2026-03-10T09:00:00.000Z', level: 3 },
        { from: '2026-03-10T09:00:00.000Z', to: '2026-11-30T12:00:00.000Z', level: 4 },
      ],
    });
    expect(data.recentAlerts[0]).toMatchObject({ title: HOSTILE_TITLE, level: null, kind: 'new', government: 'United States' });
    const missing = await get('/api/countries/ZZ');
    expect(missing.res.status).toBe(404);
    expect(JSON.parse(missing.body)).toMatchObject({ field: 'country' });
  });

  it('/api/events writes each event byte for byte as webhooks publish it (eventJson)', async () => {
    // Text a JSON writer can get wrong: quotes, backslashes, control characters, a line separator, characters beyond the BMP.
    await changeAdvisory(tdb.db, usRussia, {
      level: 4,
      levelText: 'Level 4: "Do Not Travel"',
      title: 'Russia \\ Level 4\t"again" 🧳',
      body: 'Line one.\n\nTab\there, bell\u0007, escape\u001b, separator\u2028, quote " and backslash \\.',
      link: null,
      at: new Date('2026-11-29T10:11:12.345Z'),
    });
    const expected = (await publicEvents(tdb.db, { limit: 500 })).map((e) => JSON.stringify(eventJson(e)));
    expect(expected.length).toBeGreaterThanOrEqual(5);
    expect((await publicEventsJson(tdb.db, { limit: 500 })).map((e) => e.json)).toEqual(expected);
    const page = (await (await fetch(web.url('/api/events?limit=500'))).json()) as { events: unknown[] };
    expect(page.events).toEqual(expected.map((e) => JSON.parse(e) as unknown));
  });

  it('/api/events pages with a cursor, filters by since and country, and refuses bad parameters', async () => {
    const all: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    for (;;) {
      const res: Response = await fetch(web.url(`/api/events?limit=2${cursor ? `&cursor=${cursor}` : ''}`));
      expect(res.status).toBe(200);
      const page = (await res.json()) as { events: { id: number; createdAt: string }[]; hasMore: boolean; nextCursor: string | null };
      pages++;
      all.push(...page.events.map((e) => e.id));
      if (page.hasMore) expect(res.headers.get('link')).toBe(`<${web.url(`/api/events?cursor=${page.nextCursor}&limit=2`)}>; rel="next"`);
      else expect(res.headers.get('link')).toBeNull();
      if (!page.hasMore) break;
      cursor = page.nextCursor;
    }
    const events = await tdb.db.selectFrom('events').select('id').orderBy('created_at').orderBy('id').execute();
    expect(all).toEqual(events.map((e) => e.id));
    expect(pages).toBe(Math.ceil(events.length / 2));

    const since = (await (await fetch(web.url('/api/events?since=2026-03-08T00:00:00Z'))).json()) as { events: EventJson[] };
    expect(since.events.map((e) => e.title)).toEqual(['Russia - Level 4: Do Not Travel', "Côte d'Ivoire"]);
    const fr = (await (await fetch(web.url('/api/events?country=ci'))).json()) as { events: EventJson[] };
    expect(fr.events.map((e) => e.countries)).toEqual([['CI']]);

    for (const [query, field] of [
      ['since=yesterday', 'since'],
      ['country=XX', 'country'],
      ['cursor=bogus', 'cursor'],
      ['limit=0', 'limit'],
      ['limit=501', 'limit'],
      ['page=2', 'page'],
    ] as const) {
      const res = await fetch(web.url(`/api/events?${query}`));
      expect(res.status, query).toBe(400);
      expect(((await res.json()) as { field: string }).field, query).toBe(field);
    }
  });
});

describe('feeds removed from feeds.yaml or disabled', () => {
  /** What `feeds sync` or a SIGHUP does with a feeds.yaml: the seeded feeds, but `us-state-dept` gone or disabled. */
  async function syncWithoutUsStateDept(how: 'removed' | 'disabled'): Promise<void> {
    const rows = await tdb.db.selectFrom('feeds').select(['id', 'name', 'url', 'source']).execute();
    const feeds = rows
      .filter((r) => how === 'disabled' || r.id !== 'us-state-dept')
      .map((r) => feedSchema.parse({ id: r.id, name: r.name, url: r.url, source: r.source, enabled: r.id !== 'us-state-dept' }));
    await syncFeeds(tdb.db, feeds);
  }

  /** The level shown beside a country on the subscribe page's destination list. */
  function pickerLevel(body: string, cc: string): string | undefined {
    const page = new Page(body);
    const item = page.one('li', (li) => page.all('input', (i) => Page.attr(i, 'name') === 'countries' && Page.attr(i, 'value') === cc, li).length === 1);
    const level = page.all('span', (sp) => Page.attr(sp, 'title') === 'highest level now', item)[0];
    return level && Page.text(level);
  }

  it('a removed feed’s advice is no longer shown as current: list, country page, API and the subscribe page’s levels', async () => {
    // Rendered and cached before the sync, as a running service would have them.
    expect(JSON.parse((await get('/api/countries')).body).governments).toContain('United States');
    expect((await get('/countries')).body).toContain('United States');
    expect((await get('/countries/RU')).body).toContain('Level 4: Do Not Travel');
    expect(pickerLevel((await get('/')).body, 'RU')).toBe('4');

    await syncWithoutUsStateDept('removed');

    const list = new Page((await get('/countries')).body);
    expect(list.all('th', (th) => Page.attr(th, 'scope') === 'col').map(Page.text)).toEqual([
      'Country',
      'Highest level',
      'United Kingdom',
      'Canada',
      'Australia',
      'Governments disagree',
      'Last change',
    ]);
    expect(Page.text(list.all('td', () => true, rowOf(list, 'Russia'))[0]!)).toBe('3 — Reconsider travel');
    expect(Page.text(list.all('td', () => true, rowOf(list, 'France'))[0]!)).toBe('1 — Exercise normal precautions');

    const ru = new Page((await get('/countries/RU')).body);
    const current = ru.all('tbody')[0]!;
    expect(ru.all('th', (th) => Page.attr(th, 'scope') === 'row', current).map(Page.text)).toEqual(['United Kingdom', 'Canada', 'Australia']);
    expect(Page.text(ru.one('p', (p) => Page.attr(p, 'class') === 'summary'))).toMatch(/^Highest level: 3 — Reconsider travel/);
    // The chart runs each government's last level up to today: the removed feed's is not drawn either.
    expect(ru.all('figure').map((f) => Page.text(ru.one('figcaption', () => true, f)))).toEqual(['United Kingdom', 'Canada', 'Australia']);

    const api = JSON.parse((await get('/api/countries')).body) as {
      governments: string[];
      countries: { country: string; highestLevel: number; governments: Record<string, unknown> }[];
    };
    expect(api.governments).toEqual(['United Kingdom', 'Canada', 'Australia']);
    const apiRu = api.countries.find((c) => c.country === 'RU')!;
    expect(apiRu.highestLevel).toBe(3);
    expect(Object.keys(apiRu.governments)).toEqual(['United Kingdom', 'Canada', 'Australia']);
    const one = (await (await fetch(web.url('/api/countries/RU'))).json()) as CountryJson & { highestLevel: number };
    expect(one.highestLevel).toBe(3);
    expect(one.governments.map((g) => g.government)).toEqual(['United Kingdom', 'Canada', 'Australia']);
    expect(one.history.series).toHaveLength(3);

    expect(pickerLevel((await get('/')).body, 'RU')).toBe('3');
  });

  it('a disabled feed’s advice is not shown as current either; enabling it again brings it back', async () => {
    expect(pickerLevel((await get('/')).body, 'RU')).toBe('4');
    await syncWithoutUsStateDept('disabled');
    const api = JSON.parse((await get('/api/countries')).body) as { governments: string[]; countries: { country: string; highestLevel: number }[] };
    expect(api.governments).not.toContain('United States');
    expect(api.countries.find((c) => c.country === 'RU')!.highestLevel).toBe(3);
    expect(new Page((await get('/countries/RU')).body).all('th', (th) => Page.text(th) === 'United States')).toEqual([]);
    expect(pickerLevel((await get('/')).body, 'RU')).toBe('3');

    const rows = await tdb.db.selectFrom('feeds').select(['id', 'name', 'url', 'source']).execute();
    await syncFeeds(
      tdb.db,
      rows.map((r) => feedSchema.parse({ id: r.id, name: r.name, url: r.url, source: r.source })),
    );
    expect(JSON.parse((await get('/api/countries')).body).governments).toContain('United States');
    expect(pickerLevel((await get('/')).body, 'RU')).toBe('4');
  });
});

describe('the advice’s date', () => {
  // Advice the government dated in 2021, first read by this service today.
  beforeEach(async () => {
    await addAdvisory(tdb.db, 'us-state-dept', 'afghanistan', ['AF'], {
      level: 4,
      levelText: 'Level 4: Do Not Travel',
      title: 'Afghanistan - Level 4: Do Not Travel',
      at: NOW,
      publishedAt: new Date('2021-02-10T15:00:00Z'),
    });
    await addAdvisory(tdb.db, 'uk-fcdo', 'afghanistan', ['AF'], { level: 4, title: 'Afghanistan travel advice', at: NOW, publishedAt: null });
  });

  it('the country page shows the government’s date, and ours only when it gives none, said to be ours', async () => {
    const page = new Page((await get('/countries/AF')).body);
    const current = page.all('tbody')[0]!;
    expect(page.all('th', (th) => Page.attr(th, 'scope') === 'col').map(Page.text)).toContain('Government’s date');
    const cells = (government: string) =>
      page
        .all(
          'td',
          () => true,
          page.one('tr', (tr) => page.all('th', (th) => Page.text(th) === government, tr).length === 1, current),
        )
        .map(Page.text);
    expect(cells('United States')[2]).toBe('10 Feb 2021');
    expect(cells('United Kingdom')[2]).toBe('not given (recorded here 30 Nov 2026)');
  });

  it('the API adds publishedAt, the government’s date (null when it gives none); updatedAt stays when we recorded it', async () => {
    const one = (await (await fetch(web.url('/api/countries/AF'))).json()) as {
      governments: { government: string; publishedAt: string | null; updatedAt: string }[];
    };
    expect(one.governments.map((g) => [g.government, g.publishedAt, g.updatedAt])).toEqual([
      ['United States', '2021-02-10T15:00:00.000Z', NOW.toISOString()],
      ['United Kingdom', null, NOW.toISOString()],
    ]);
    const all = JSON.parse((await get('/api/countries')).body) as {
      countries: { country: string; governments: Record<string, { publishedAt: string | null }> }[];
    };
    expect(all.countries.find((c) => c.country === 'AF')!.governments['United States']!.publishedAt).toBe('2021-02-10T15:00:00.000Z');
  });
});

describe('embassy alerts on the country page', () => {
  const MARCH_7 = 'Security Alert – U.S. Embassy Moscow (March 7, 2024)';
  let feeds: FeedServer;
  beforeAll(async () => {
    feeds = await startFeedServer();
  });
  afterAll(() => feeds?.stop());

  /**
   * The U.S. Embassy Moscow feed as a service reads it, here on 30 Nov 2026: a baseline,
   * then the March 7, 2024 security alert (its <ul> of "Actions to Take"), recorded today.
   */
  beforeEach(async () => {
    const url = feeds.set('/ru/alerts', { body: fixture('us-embassy/us-embassy-russia-alerts_v1.xml') });
    const local = feedConfig({ id: 'local-ru', name: 'U.S. Embassy Moscow (local copy)', url, source: 'us-embassy', countries: ['RU'] });
    const seeded = await tdb.db.selectFrom('feeds').select(['id', 'name', 'url', 'source']).execute();
    await syncFeeds(tdb.db, [...seeded.map((r) => feedSchema.parse(r)), local]);
    const deps = pollDeps(tdb.db, clock);
    expect(await pollFeed(deps, local, { force: true })).toMatchObject({ status: 'ok', baseline: true });
    feeds.set('/ru/alerts', { body: fixture('us-embassy/us-embassy-russia-alerts_v2.xml') });
    expect(await pollFeed(deps, local, { force: true })).toMatchObject({ status: 'ok', events: 1 });
    // An alert whose feed gave no date, recorded in May.
    await addAdvisory(
      tdb.db,
      'us-embassy-russia',
      'post-2',
      ['RU'],
      {
        level: null,
        levelText: 'Message for U.S. Citizens',
        title: 'Undated message',
        body: 'Renew your passport early.',
        at: day('2026-05-01'),
        publishedAt: null,
      },
      { event: true },
    );
  });

  function alertItems(page: Page) {
    const section = page.all('ul', (ul) => Page.attr(ul, 'class') === 'events')[1]!;
    return page.all('li', (li) => Page.attr(li, 'class') === 'event', section);
  }

  it('shows each alert’s paragraphs and its list items, dated by the government, newest first by that date', async () => {
    const page = new Page((await get('/countries/RU')).body);
    const items = alertItems(page);
    const titleOf = (li: (typeof items)[number]) => Page.text(page.one('h3', () => true, li));
    const metaOf = (li: (typeof items)[number]) => Page.text(page.one('p', (p) => Page.attr(p, 'class') === 'meta', li));
    // Recorded last, the March 7, 2024 alert is the oldest by its government's date: last.
    expect(items.map(titleOf)).toEqual(['Undated message', HOSTILE_TITLE, MARCH_7]);

    const march7 = items[2]!;
    expect(metaOf(march7)).toMatch(/ · 7 Mar 2024$/);
    expect(
      page.one(
        'time',
        () => true,
        page.one('p', (p) => Page.attr(p, 'class') === 'meta', march7),
      ).attribs.datetime,
    ).toBe('2024-03-07T19:00:00.000Z');
    const list = page.one('ul', () => true, march7);
    expect(page.all('li', () => true, list).map(Page.text)).toEqual(['Avoid crowds.', 'Monitor local media for updates.', 'Be aware of your surroundings.']);
    expect(page.all('p', (p) => Page.attr(p, 'class') !== 'meta', march7).map(Page.text)).toEqual([
      'Location: Moscow, Russia',
      expect.stringMatching(/^Event: The Embassy is monitoring reports/),
      'Actions to Take:',
      'Read it at the source: Security Alert – U.S. Embassy Moscow (March 7, 2024)',
    ]);

    // Without a date from the feed, ours, said to be ours.
    expect(metaOf(items[0]!)).toMatch(/ · recorded here 1 May 2026$/);
    expect(metaOf(items[1]!)).toMatch(/ · 7 Mar 2026$/);
    // A change of advice stays dated when it was recorded here.
    const changes = page.all('ul', (ul) => Page.attr(ul, 'class') === 'events')[0]!;
    expect(page.all('p', (p) => Page.attr(p, 'class') === 'meta', changes).map(Page.text)).toContain(
      'United States · Raised to level 4 from 3 (“Level 4: Do Not Travel”) · 10 Mar 2026',
    );
  });

  it('leaves the JSON and Atom feed as they were: recorded order, both dates', async () => {
    const ru = (await (await fetch(web.url('/api/countries/RU'))).json()) as {
      recentAlerts: { title: string; publishedAt: string | null; createdAt: string }[];
    };
    expect(ru.recentAlerts.map((a) => [a.title, a.publishedAt, a.createdAt])).toEqual([
      [MARCH_7, '2024-03-07T19:00:00.000Z', NOW.toISOString()],
      ['Undated message', null, day('2026-05-01').toISOString()],
      [HOSTILE_TITLE, day('2026-03-07').toISOString(), day('2026-03-07').toISOString()],
    ]);
    const atom = xml.parse((await get('/countries/RU/feed.atom')).body) as { feed: { entry: (AtomEntry & { published?: string })[] } };
    const first = atom.feed.entry[0]!;
    expect(first.title['#text']).toBe(`Russia — ${MARCH_7}`);
    expect([first.updated, first.published]).toEqual([NOW.toISOString(), '2024-03-07T19:00:00.000Z']);
    expect(first.content['#text']).toContain('Avoid crowds.');
  });
});

describe('before any feed has answered', () => {
  it('/countries says nothing has been read yet; a search that finds nothing in stored advice says no country matches', async () => {
    const search = new Page((await get('/countries?q=atlantis')).body);
    expect(Page.text(search.one('p', (p) => Page.attr(p, 'role') === 'status'))).toMatch(/^0 of \d+ countries matching “atlantis”/);
    expect(Page.text(search.one('main'))).toContain('No country matches.');

    await tdb.reset();
    const { res, body } = await get('/countries');
    expect(res.status).toBe(200);
    const page = new Page(body);
    expect(Page.text(page.one('p', (p) => Page.attr(p, 'role') === 'status'))).toBe(
      'No government’s level has been read for any country yet. Countries appear here once a feed that publishes levels has answered; embassy alerts are on each country’s page.',
    );
    expect(body).not.toContain('No country matches');
    expect(body).not.toContain('0 countries');
  });

  it('an empty Atom feed’s <updated> is when it was written, not 1970', async () => {
    await tdb.reset();
    for (const path of ['/feed.atom', '/countries/RU/feed.atom']) {
      const { res, body } = await get(path);
      expect(res.status, path).toBe(200);
      const { feed } = xml.parse(body) as { feed: { updated: string; entry?: unknown[] } };
      expect(feed.entry, path).toBeUndefined();
      expect(feed.updated, path).toBe(NOW.toISOString());
    }
  });
});
