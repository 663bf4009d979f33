import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eventWithVersions, listAdvisories, listEvents } from '../../src/advisories/repository.ts';
import type { FeedConfig } from '../../src/config/schema.ts';
import type { PollOutcome } from '../../src/feeds/poller.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { fixture, startFeedServer, type FeedServer, type Route } from '../helpers/feed-server.ts';
import { ManualClock, feedConfig, pollDeps, syncAndPoll } from '../helpers/poll.ts';

// Change detection (docs/contract.md) end to end: documents served over HTTP, polled, diffed and stored.
// Every "changed" document is the real State Department / GDACS document with a
// programmatic transformation, and expectations are read from the documents
// with regular expressions rather than taken from the code under test.

let t: TestDatabase;
let server: FeedServer;
beforeAll(async () => {
  [t, server] = await Promise.all([openTestDatabase(), startFeedServer()]);
});
afterAll(async () => {
  await Promise.all([t?.close(), server?.stop()]);
});

let clock: ManualClock;
beforeEach(async () => {
  await t.reset();
  clock = new ManualClock();
});

// ---------------------------------------------------------------------------
// Document surgery

const SD = fixture('us-state-dept/TAsTWs_2021-03-01.xml');

interface Split {
  head: string;
  items: string[];
  /** What lies between items: seps[i] separates items[i] and items[i + 1]. */
  seps: string[];
  tail: string;
}

function split(xml: string): Split {
  const re = /<item>[\s\S]*?<\/item>/g;
  const items: string[] = [];
  const seps: string[] = [];
  let last = -1;
  let head = '';
  for (const m of xml.matchAll(re)) {
    if (last < 0) head = xml.slice(0, m.index);
    else seps.push(xml.slice(last, m.index));
    items.push(m[0]);
    last = m.index + m[0].length;
  }
  const tail = xml.slice(last);
  return { head, items, seps, tail };
}

function join(head: string, items: readonly string[], tail: string, sep = '\n'): string {
  return head + items.join(sep) + tail;
}

function mapItems(xml: string, fn: (item: string) => string): string {
  const s = split(xml);
  return s.head + s.items.map((it, i) => (i === 0 ? '' : s.seps[i - 1]!) + fn(it)).join('') + s.tail;
}

function titleOf(item: string): string {
  return /<title>([\s\S]*?)<\/title>/.exec(item)?.[1] ?? '';
}

/** Edits the single item whose title starts with `prefix`; fails if there is not exactly one. */
function editItem(xml: string, prefix: string, fn: (item: string) => string): string {
  let hits = 0;
  const out = mapItems(xml, (item) => {
    if (!titleOf(item).startsWith(prefix)) return item;
    hits++;
    const edited = fn(item);
    expect(edited, `edit of "${prefix}" changed nothing`).not.toBe(item);
    return edited;
  });
  expect(hits, `items titled "${prefix}…"`).toBe(1);
  return out;
}

/** Applies `fn` to the HTML inside every CDATA section (the descriptions). */
function inCdata(xml: string, fn: (html: string) => string): string {
  return xml.replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, (_m, html: string) => `<![CDATA[${fn(html)}]]>`);
}

/** Applies `fn` to the parts of the document outside CDATA sections. */
function outsideCdata(xml: string, fn: (xmlPart: string) => string): string {
  return xml
    .split(/(<!\[CDATA\[[\s\S]*?\]\]>)/)
    .map((part) => (part.startsWith('<![CDATA[') ? part : fn(part)))
    .join('');
}

/** Applies `fn` to HTML text nodes only (never inside a tag). */
function inTextNodes(html: string, fn: (text: string) => string): string {
  return html.replace(/(^|>)([^<]*)/g, (_m, open: string, text: string) => open + fn(text));
}

/** Expectations computed from the raw document, not by the code under test. */
function rawItem(xml: string, prefix: string) {
  const item = split(xml).items.find((i) => titleOf(i).startsWith(prefix));
  if (!item) throw new Error(`no item "${prefix}"`);
  const threat = /<category domain='Threat-Level'>Level (\d): ([^<]*)<\/category>/.exec(item);
  const tag = /<category domain='Country-Tag'>([^<]*)<\/category>/.exec(item)?.[1];
  return { item, level: threat ? Number(threat[1]) : null, levelText: threat?.[2] ?? null, tag };
}

const SD_ITEMS = split(SD).items.length;

// ---------------------------------------------------------------------------
// Polling and bookkeeping

const US_PATH = '/_res/rss/TAsTWs.xml';

function usFeeds(): FeedConfig[] {
  return [feedConfig({ id: 'us', url: server.url(US_PATH), source: 'us-state-dept' })];
}

/** Serves `body` at `path` and polls feed `id` one minute after the previous poll. */
async function poll(feeds: FeedConfig[], id: string, path: string, body: string, route: Partial<Route> = {}): Promise<PollOutcome> {
  server.set(path, { body, ...route });
  clock.advance(60_000);
  const outcome = await syncAndPoll(pollDeps(t.db, clock), feeds, id);
  await expectPollRunMatchesEvents(id, outcome);
  return outcome;
}

const pollUs = (body: string, route: Partial<Route> = {}) => poll(usFeeds(), 'us', US_PATH, body, route);

/**
 * The poll's writes are one transaction: the poll_runs row it wrote agrees with
 * the outcome and with the events stamped with the poll's time, and over all
 * polls the recorded counts add up to the events table.
 */
async function expectPollRunMatchesEvents(feedId: string, outcome: PollOutcome): Promise<void> {
  const run = await t.db.selectFrom('poll_runs').selectAll().where('feed_id', '=', feedId).orderBy('id', 'desc').executeTakeFirstOrThrow();
  expect(run.status).toBe(outcome.status);
  const ofThisPoll = await t.db
    .selectFrom('events')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('feed_id', '=', feedId)
    .where('created_at', '=', run.finished_at)
    .executeTakeFirstOrThrow();
  expect(Number(ofThisPoll.n)).toBe(run.events_count);
  expect({ new: run.new_count, updated: run.updated_count, unchanged: run.unchanged_count, removed: run.removed_count, events: run.events_count }).toEqual({
    new: outcome.new,
    updated: outcome.updated,
    unchanged: outcome.unchanged,
    removed: outcome.removed,
    events: outcome.events,
  });
  const totals = await sql<{ recorded: string | null; stored: string }>`
    select (select sum(events_count) from poll_runs where feed_id = ${feedId}) as recorded,
           (select count(*) from events where feed_id = ${feedId}) as stored`.execute(t.db);
  expect(Number(totals.rows[0]?.recorded ?? 0)).toBe(Number(totals.rows[0]?.stored));
  // Every event names a version of its advisory; the advisory's current version is the newest.
  const orphans = await sql<{ n: string }>`
    select count(*) as n from events e
    left join advisory_versions v on v.id = e.version_id and v.advisory_id = e.advisory_id
    where v.id is null`.execute(t.db);
  expect(Number(orphans.rows[0]?.n)).toBe(0);
}

async function eventCount(): Promise<number> {
  return (await listEvents(t.db, {})).length;
}

async function baselineUs(): Promise<void> {
  const first = await pollUs(SD);
  expect(first).toMatchObject({ status: 'ok', baseline: true, new: SD_ITEMS, events: 0 });
}

// ---------------------------------------------------------------------------

describe('State Department feed: events', () => {
  it('(the document surgery used below is faithful)', () => {
    expect(SD_ITEMS).toBe(SD.split('<item>').length - 1);
    expect(SD_ITEMS).toBe(210);
    expect(mapItems(SD, (i) => i)).toBe(SD);
    expect(inCdata(SD, (h) => h)).toBe(SD);
    expect(outsideCdata(SD, (x) => x)).toBe(SD);
    expect(inTextNodes('<p>a <b>b</b></p>', (x) => x.toUpperCase())).toBe('<p>A <b>B</b></p>');
  });

  it('the first poll records a baseline and sends nothing', async () => {
    const first = await pollUs(SD);
    expect(first).toMatchObject({ status: 'ok', baseline: true, new: SD_ITEMS, updated: 0, unchanged: 0, removed: 0, events: 0 });
    expect(await eventCount()).toBe(0);
    expect(await listAdvisories(t.db, {})).toHaveLength(SD_ITEMS);
    const versions = await t.db
      .selectFrom('advisory_versions')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(versions.n)).toBe(SD_ITEMS);
    const feed = await t.db.selectFrom('feeds').select(['baseline_at', 'etag']).where('id', '=', 'us').executeTakeFirstOrThrow();
    expect(feed.baseline_at).not.toBeNull();
    expect(feed.etag).toMatch(/^"[0-9a-f]{40}"$/);
  });

  it('Russia Level 4 → Level 3 is exactly one "level-lowered" event', async () => {
    const before = rawItem(SD, 'Russia ');
    expect(before).toMatchObject({ level: 4, levelText: 'Do Not Travel', tag: 'RS' });
    await baselineUs();

    const lowered = editItem(SD, 'Russia ', (item) => item.replaceAll('Level 4: Do Not Travel', 'Level 3: Reconsider Travel'));
    const after = rawItem(lowered, 'Russia ');
    expect(after).toMatchObject({ level: 3, levelText: 'Reconsider Travel' });

    const second = await pollUs(lowered);
    expect(second).toMatchObject({ status: 'ok', baseline: false, new: 0, updated: 1, unchanged: SD_ITEMS - 1, removed: 0, events: 1 });
    const events = await listEvents(t.db, {});
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      kind: 'level-lowered',
      level: 3,
      previousLevel: 4,
      country: 'RU',
      countries: ['RU'],
      feed: 'us',
      title: 'Russia - Level 3: Reconsider Travel',
    });

    const detail = await eventWithVersions(t.db, events[0]!.id);
    expect(detail?.previous).toMatchObject({ level: 4, level_text: 'Do Not Travel', title: 'Russia - Level 4: Do Not Travel' });
    expect(detail?.version).toMatchObject({ level: 3, level_text: 'Reconsider Travel', title: 'Russia - Level 3: Reconsider Travel' });
    expect(detail?.version.advisory_id).toBe(detail?.previous?.advisory_id);

    const listed = await listAdvisories(t.db, { country: 'RU' });
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ level: 3, levelText: 'Reconsider Travel' });
  });

  it('Bhutan Level 3 → Level 4 is exactly one "level-raised" event', async () => {
    expect(rawItem(SD, 'Bhutan ')).toMatchObject({ level: 3, tag: 'BT' });
    await baselineUs();
    const raised = editItem(SD, 'Bhutan ', (item) => item.replaceAll('Level 3: Reconsider Travel', 'Level 4: Do Not Travel'));
    const second = await pollUs(raised);
    expect(second).toMatchObject({ status: 'ok', updated: 1, new: 0, removed: 0, events: 1 });
    const events = await listEvents(t.db, {});
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: 'level-raised', level: 4, previousLevel: 3, country: 'BT', title: 'Bhutan - Level 4: Do Not Travel' });
  });

  it('a changed sentence in one description is exactly one "updated" event with both versions kept', async () => {
    await baselineUs();
    const oldSentence = 'Exercise increased caution due to&nbsp;<b>terrorism</b>';
    const newSentence = 'Exercise increased caution due to&nbsp;<b>terrorism</b>, <b>civil unrest</b>';
    expect(rawItem(SD, 'Russia ').item).toContain(oldSentence);
    const changed = editItem(SD, 'Russia ', (item) => item.replace(oldSentence, newSentence));

    const second = await pollUs(changed);
    expect(second).toMatchObject({ status: 'ok', updated: 1, new: 0, removed: 0, unchanged: SD_ITEMS - 1, events: 1 });
    const events = await listEvents(t.db, {});
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: 'updated', level: 4, previousLevel: 4, country: 'RU' });

    const detail = await eventWithVersions(t.db, events[0]!.id);
    expect(detail?.previous).not.toBeNull();
    expect(detail?.version.body).not.toBe(detail?.previous?.body);
    expect(detail?.version.title).toBe(detail?.previous?.title);
    expect(detail?.previous?.body).toContain('Exercise increased caution due to terrorism, harassment');
    expect(detail?.version.body).toContain('Exercise increased caution due to terrorism, civil unrest, harassment');
    expect(detail?.version.fingerprint).not.toBe(detail?.previous?.fingerprint);
  });

  it('an item appended to the document is a "new" event', async () => {
    await baselineUs();
    // A new destination built from the Bhutan item: Holy See, Country-Tag VT.
    const bhutan = rawItem(SD, 'Bhutan ').item;
    const holySee = bhutan
      .replaceAll('Bhutan', 'Holy See')
      .replaceAll('bhutan', 'holy-see')
      .replace("<category domain='Country-Tag'>BT</category>", "<category domain='Country-Tag'>VT</category>");
    expect(holySee).toContain("domain='Country-Tag'>VT<");
    const s = split(SD);
    const appended = join(s.head, [...s.items, holySee], s.tail);
    expect(split(appended).items).toHaveLength(SD_ITEMS + 1);

    const second = await pollUs(appended);
    expect(second).toMatchObject({ status: 'ok', new: 1, updated: 0, removed: 0, unchanged: SD_ITEMS, events: 1 });
    const events = await listEvents(t.db, {});
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      kind: 'new',
      level: 3,
      previousLevel: null,
      country: 'VA',
      countries: ['VA'],
      title: 'Holy See - Level 3: Reconsider Travel',
    });
    const detail = await eventWithVersions(t.db, events[0]!.id);
    expect(detail?.previous).toBeNull();
    expect(detail?.version.body).toMatch(/^Reconsider travel to Holy See due to COVID-19\./);
  });
});

// ---------------------------------------------------------------------------

const NEW_BASE = 'https://travel.state.gov/content/tsg_aem/us/en/home/international-travel/travel-advisories/destination.';
const OLD_LINK =
  /<(link|guid)>http:\/\/travel\.state\.gov\/content\/travel\/en\/traveladvisories\/traveladvisories\/([^<]+?)(?:-travel-advisory)?\.html<\/\1>/gi;

const noise: [string, () => string][] = [
  ['pubDate changed on every item', () => mapItems(SD, (item) => item.replace(/<pubDate>[^<]*<\/pubDate>/, '<pubDate>Mon, 01 Mar 2021</pubDate>'))],
  ['all newlines between tags collapsed', () => SD.replace(/>[ \t]*\r?\n\s*</g, '><')],
  ['&nbsp; written as &#160;', () => inCdata(SD, (html) => html.replaceAll('&nbsp;', '&#160;'))],
  [
    'words wrapped in <span>s, bold as <strong>, attributes on paragraphs',
    () =>
      inCdata(SD, (html) =>
        inTextNodes(html, (text) => text.replace(/\b(travel|COVID-19|Embassy)\b/gi, '<span class="tsg-word">$1</span>'))
          .replace(/<b>/g, '<span class="em"><strong>')
          .replace(/<\/b>/g, '</strong></span>')
          .replace(/<p>/g, '<p class="tsg-rwd-text" dir="ltr">'),
      ),
  ],
  [
    'paragraphs as <div>s, paragraph breaks as one <br>',
    () =>
      inCdata(SD, (html) =>
        html
          .replace(/<\/p>\s*<p>/g, '<br>')
          .replaceAll('<p>', '<div>')
          .replaceAll('</p>', '</div>'),
      ),
  ],
  [
    'items in reverse order',
    () => {
      const s = split(SD);
      return join(s.head, [...s.items].reverse(), s.tail);
    },
  ],
  [
    're-serialised: double-quoted attributes, one element a line, indented',
    () => {
      const out = outsideCdata(SD, (part) => part.replace(/='([^']*)'/g, '="$1"').replace(/></g, '>\n<'));
      return out
        .split('\n')
        .map((line, i) => (i === 0 ? line : `  ${line}`))
        .join('\n');
    },
  ],
  [
    'every link/guid moved to the https destination.<slug>.html scheme',
    () => SD.replace(OLD_LINK, (_m, el: string, slug: string) => `<${el}>${NEW_BASE}${slug.toLowerCase()}.html</${el}>`),
  ],
];

describe('State Department feed: no event for noise', () => {
  it.each(noise)('%s', async (name, make) => {
    const changed = make();
    expect(changed, 'the transformation must change the document').not.toBe(SD);
    expect(split(changed).items).toHaveLength(SD_ITEMS);
    await baselineUs();

    const second = await pollUs(changed);
    expect(second.status, 'a changed document is fetched and diffed, not answered 304').toBe('ok');
    expect(second).toMatchObject({ new: 0, updated: 0, removed: 0, unchanged: SD_ITEMS, events: 0 });
    expect(await eventCount()).toBe(0);
    expect(await listAdvisories(t.db, {})).toHaveLength(SD_ITEMS);

    if (name.startsWith('every link')) {
      // The move is stored silently on the same advisories.
      const rows = await t.db.selectFrom('advisories').select(['link', 'guid']).execute();
      expect(rows).toHaveLength(SD_ITEMS);
      for (const r of rows) {
        expect(r.link?.startsWith(NEW_BASE), r.link ?? '').toBe(true);
        expect(r.guid).toBe(r.link);
      }
    }
    if (name.startsWith('pubDate')) {
      const dates = await t.db.selectFrom('advisories').select('published_at').execute();
      for (const d of dates) expect(d.published_at?.toISOString()).toBe('2021-03-01T00:00:00.000Z');
    }
  });

  it('an item dropping out is recorded (removed_at), not alerted, and hidden from the listing', async () => {
    await baselineUs();
    const s = split(SD);
    const without = join(
      s.head,
      s.items.filter((i) => !titleOf(i).startsWith('Russia ')),
      s.tail,
    );
    expect(split(without).items).toHaveLength(SD_ITEMS - 1);

    const second = await pollUs(without);
    expect(second).toMatchObject({ status: 'ok', new: 0, updated: 0, removed: 1, unchanged: SD_ITEMS - 1, events: 0 });
    expect(await eventCount()).toBe(0);
    const ru = await t.db.selectFrom('advisories').select(['removed_at', 'level']).where('key', '=', 'iso:RU').executeTakeFirstOrThrow();
    expect(ru.removed_at).toEqual(clock.now());
    expect(ru.level).toBe(4);
    expect(await listAdvisories(t.db, { country: 'RU' })).toEqual([]);
    const all = await listAdvisories(t.db, {});
    expect(all).toHaveLength(SD_ITEMS - 1);
    expect(all.some((a) => a.countries.includes('RU'))).toBe(false);

    // Still gone on the next poll: not removed twice.
    const third = await pollUs(`${without}\n`);
    expect(third).toMatchObject({ status: 'ok', removed: 0, events: 0 });

    // Coming back unchanged: listed again, still no event.
    const fourth = await pollUs(SD);
    expect(fourth).toMatchObject({ status: 'ok', new: 0, updated: 0, removed: 0, events: 0 });
    expect(await eventCount()).toBe(0);
    expect(await listAdvisories(t.db, { country: 'RU' })).toHaveLength(1);
  });

  it('the same document polled twice: the second poll is not-modified', async () => {
    await baselineUs();
    const second = await pollUs(SD);
    expect(second).toMatchObject({ status: 'not-modified', httpStatus: 304, events: 0 });
    expect(await eventCount()).toBe(0);
    const last = server.requests.filter((r) => r.path === US_PATH).at(-1);
    expect(last?.headers['if-none-match']).toMatch(/^"[0-9a-f]{40}"$/);
  });

  it('the same document polled twice without an ETag is re-fetched and diffed: still nothing', async () => {
    const first = await pollUs(SD, { noEtag: true });
    expect(first).toMatchObject({ status: 'ok', baseline: true, events: 0 });
    const second = await pollUs(SD, { noEtag: true });
    expect(second).toMatchObject({ status: 'ok', httpStatus: 200, new: 0, updated: 0, removed: 0, unchanged: SD_ITEMS, events: 0 });
    expect(await eventCount()).toBe(0);
    const last = server.requests.filter((r) => r.path === US_PATH).at(-1);
    expect(last?.headers['if-none-match']).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------

interface GdacsItem {
  guid: string;
  title: string;
  description: string;
  pubDate: string;
}

function gdacsItems(xml: string): Map<string, GdacsItem> {
  const out = new Map<string, GdacsItem>();
  for (const item of split(xml.replace(/\r\n/g, '\n')).items) {
    const field = (name: string) => new RegExp(`<${name}(?:\\s[^>]*)?>([\\s\\S]*?)</${name}>`).exec(item)?.[1] ?? '';
    out.set(field('guid'), { guid: field('guid'), title: field('title'), description: field('description'), pubDate: field('pubDate') });
  }
  return out;
}

describe('GDACS snapshots with the generic profile', () => {
  const JUL = fixture('gdacs/gdacs-rss-24h_2019-07-17T1007Z.xml');
  const DEC_24H = fixture('gdacs/gdacs-rss-24h_2019-12-30T0022Z.xml');
  const DEC_ALL = fixture('gdacs/gdacs-rss_2019-12-30T0135Z.xml');
  const PATH = '/xml/rss_24h.xml';

  async function eventsByGuid(since: Date) {
    const rows = await t.db
      .selectFrom('events')
      .innerJoin('advisories', 'advisories.id', 'events.advisory_id')
      .select(['events.id', 'events.kind', 'advisories.guid'])
      .where('events.created_at', '>=', since)
      .orderBy('events.id')
      .execute();
    return rows;
  }

  it('same guid with a changed title is "updated", new guids are "new", dropped ones nothing; pubDate churn is nothing', async () => {
    const feeds = [feedConfig({ id: 'gdacs', url: server.url(PATH), source: 'generic' })];
    const jul = gdacsItems(JUL);
    const dec = gdacsItems(DEC_24H);
    const all = gdacsItems(DEC_ALL);

    // Expectations from the data.
    const common = [...dec.keys()].filter((g) => jul.has(g));
    const retitled = common.filter((g) => jul.get(g)!.title !== dec.get(g)!.title || jul.get(g)!.description !== dec.get(g)!.description);
    const added = [...dec.keys()].filter((g) => !jul.has(g));
    const dropped = [...jul.keys()].filter((g) => !dec.has(g));
    expect(common.sort()).toEqual(['DR1012649', 'DR1012728', 'DR1012806']);
    // All three survivors changed their title (their country lists changed).
    expect(retitled.sort()).toEqual(['DR1012649', 'DR1012728', 'DR1012806']);
    expect(added.length).toBeGreaterThan(0);
    expect(dropped.length).toBeGreaterThan(0);

    const first = await poll(feeds, 'gdacs', PATH, JUL);
    expect(first).toMatchObject({ status: 'ok', baseline: true, new: jul.size, events: 0 });

    const since2 = new Date(clock.now().getTime() + 1);
    const second = await poll(feeds, 'gdacs', PATH, DEC_24H);
    expect(second).toMatchObject({
      status: 'ok',
      new: added.length,
      updated: retitled.length,
      removed: dropped.length,
      events: added.length + retitled.length,
    });
    const ev2 = await eventsByGuid(since2);
    expect(
      ev2
        .filter((e) => e.kind === 'updated')
        .map((e) => e.guid)
        .sort(),
    ).toEqual([...retitled].sort());
    expect(
      ev2
        .filter((e) => e.kind === 'new')
        .map((e) => e.guid)
        .sort(),
    ).toEqual([...added].sort());
    expect(ev2.every((e) => e.kind === 'new' || e.kind === 'updated')).toBe(true);
    for (const g of dropped) expect(ev2.some((e) => e.guid === g)).toBe(false);

    // The "updated" events keep both titles.
    for (const e of ev2.filter((x) => x.kind === 'updated')) {
      const detail = await eventWithVersions(t.db, e.id);
      expect(detail?.previous?.title).toBe(jul.get(e.guid!)!.title.replaceAll('&amp;', '&'));
      expect(detail?.version.title).toBe(dec.get(e.guid!)!.title.replaceAll('&amp;', '&'));
    }
    const removed = await t.db.selectFrom('advisories').select('guid').where('feed_id', '=', 'gdacs').where('removed_at', 'is not', null).execute();
    expect(removed.map((r) => r.guid).sort()).toEqual([...dropped].sort());

    // 00:22Z → 01:35Z: the overlapping items only changed pubDate.
    const overlap = [...all.keys()].filter((g) => dec.has(g));
    const pubDateOnly = overlap.filter((g) => {
      const a = dec.get(g)!;
      const b = all.get(g)!;
      return a.title === b.title && a.description === b.description;
    });
    const drought = overlap.filter((g) => g.startsWith('DR'));
    expect(drought.length).toBeGreaterThan(0);
    for (const g of drought) {
      expect(pubDateOnly).toContain(g);
      expect(dec.get(g)!.pubDate).not.toBe(all.get(g)!.pubDate);
    }
    const added3 = [...all.keys()].filter((g) => !dec.has(g) && !jul.has(g));

    const since3 = new Date(clock.now().getTime() + 1);
    const third = await poll(feeds, 'gdacs', PATH, DEC_ALL);
    expect(third).toMatchObject({ status: 'ok', new: added3.length, events: added3.length + (overlap.length - pubDateOnly.length) });
    const ev3 = await eventsByGuid(since3);
    for (const g of pubDateOnly)
      expect(
        ev3.some((e) => e.guid === g),
        `event for ${g}`,
      ).toBe(false);
    expect(ev3.filter((e) => e.kind === 'updated')).toEqual([]);
    expect(ev3.map((e) => e.guid).sort()).toEqual([...added3].sort());
    // The churned pubDate is stored silently.
    const dr = await t.db.selectFrom('advisories').select('published_at').where('key', '=', 'guid:DR1012728').executeTakeFirstOrThrow();
    expect(dr.published_at?.toISOString()).toBe(new Date(all.get('DR1012728')!.pubDate).toISOString());
  });
});

describe('text the database cannot take as it is', () => {
  const PATH = '/index-alpha-eng.json';
  // A JSON document may hold a lone UTF-16 surrogate (XML parsing refuses one).
  const doc = (updates: string) =>
    JSON.stringify({
      data: {
        AL: { 'advisory-state': 0, eng: { name: 'Alb\ud800ania', 'advisory-text': 'Exercise normal security precautions', 'recent-updates': updates } },
        AF: { 'advisory-state': 3, eng: { name: 'Afghanistan', 'advisory-text': 'AVOID ALL TRAVEL', 'recent-updates': 'Plain.' } },
      },
    });

  it('a lone UTF-16 surrogate is stored as U+FFFD (as a text parameter stores it), new or changed, and events keep it', async () => {
    const feeds = [feedConfig({ id: 'odd', url: server.url(PATH), source: 'ca-travel', alertOnFirstPoll: true })];
    const first = await poll(feeds, 'odd', PATH, doc('One \udc00 update.'));
    expect(first).toMatchObject({ status: 'ok', new: 2, events: 2 });
    const stored = () => t.db.selectFrom('advisories').select(['title', 'body', 'version_id']).where('key', '=', 'iso:AL').executeTakeFirstOrThrow();
    expect(await stored()).toMatchObject({
      title: 'Alb\ufffdania: Exercise normal security precautions',
      body: 'Exercise normal security precautions\n\nOne \ufffd update.',
    });

    const second = await poll(feeds, 'odd', PATH, doc('Two \udc00 updates.'));
    expect(second).toMatchObject({ status: 'ok', updated: 1, unchanged: 1, events: 1 });
    const now = await stored();
    expect(now.body).toBe('Exercise normal security precautions\n\nTwo \ufffd updates.');
    const version = await t.db.selectFrom('advisory_versions').select(['title', 'body']).where('id', '=', now.version_id!).executeTakeFirstOrThrow();
    expect(version).toEqual({ title: now.title, body: now.body });
    const events = await t.db.selectFrom('events').select('title').where('feed_id', '=', 'odd').orderBy('id').execute();
    expect(events.map((e) => e.title).sort()).toEqual([now.title, now.title, 'Afghanistan: AVOID ALL TRAVEL'].sort());
  });
});
