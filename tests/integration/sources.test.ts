import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { countrySummaries, eventWithVersions, listAdvisories, listEvents } from '../../src/advisories/repository.ts';
import type { FeedConfig } from '../../src/config/schema.ts';
import { cli, jsonArray } from '../helpers/cli.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { fixture, startFeedServer, type FeedServer } from '../helpers/feed-server.ts';
import { ManualClock, feedConfig, pollDeps, syncAndPoll } from '../helpers/poll.ts';

/**
 * The uk-fcdo, ca-travel, au-smartraveller and us-state-dept profiles through
 * the whole pipeline (HTTP → parse → diff → PostgreSQL), on real documents:
 * what is an event, what is noise, and the governments side by side.
 */

const CANADA_MARCH = fixture('canada/index-alpha-eng_2014-03-02.json');
const CANADA_OCTOBER = fixture('canada/index-alpha-eng_2014-10-02.json');
const STATE_DEPT_2021 = fixture('us-state-dept/TAsTWs_2021-03-01.xml');
const FCDO_V1 = fixture('uk-fcdo/uk-fcdo-russia_v1.atom');
const FCDO_V2 = fixture('uk-fcdo/uk-fcdo-russia_v2.atom');
const SMARTRAVELLER_V1 = fixture('au-smartraveller/index_v1.rss');
const SMARTRAVELLER_V2 = fixture('au-smartraveller/index_v2.rss');

const JSON_TYPE = 'application/json; charset=utf-8';
const ATOM_TYPE = 'application/atom+xml; charset=utf-8';

let t: TestDatabase;
let server: FeedServer;
let work: string;
beforeAll(async () => {
  [t, server] = await Promise.all([openTestDatabase(), startFeedServer()]);
  work = mkdtempSync(path.join(tmpdir(), 'aa-src-'));
});
afterAll(async () => {
  await Promise.all([t?.close(), server?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});
beforeEach(async () => {
  await t.reset();
});

// ---------------------------------------------------------------- Canada

interface CaEntry {
  'advisory-state': number;
  'date-published': { timestamp: number; date: string; asp: string };
}
interface CaDoc {
  metadata: { generated: { timestamp: number; date: string } };
  data: Record<string, CaEntry>;
}

describe('Canada index-alpha-eng.json (ca-travel)', () => {
  it('2014-03-02 → 2014-10-02: exactly the level changes in the data, on the 1–4 scale; everything else at most "updated"', async () => {
    // Expected level changes, computed from the two documents alone.
    const before = JSON.parse(CANADA_MARCH) as CaDoc;
    const after = JSON.parse(CANADA_OCTOBER) as CaDoc;
    expect(Object.keys(after.data).sort()).toEqual(Object.keys(before.data).sort());
    const expected = Object.keys(before.data)
      .filter((k) => before.data[k]!['advisory-state'] !== after.data[k]!['advisory-state'])
      .map((k) => {
        const was = before.data[k]!['advisory-state'];
        const now = after.data[k]!['advisory-state'];
        return { country: k, kind: now > was ? 'level-raised' : 'level-lowered', level: now + 1, previousLevel: was + 1 };
      })
      .sort((a, b) => a.country.localeCompare(b.country));
    // …which are the changes the corpus notes name.
    const raised = ['BS', 'IQ', 'LR', 'LY', 'SL']; // Bahamas, Iraq, Liberia, Libya, Sierra Leone
    const lowered = ['BI', 'GE', 'ML', 'MS', 'KN', 'VC', 'SD']; // Burundi, Georgia, Mali, Montserrat, Saint Kitts and Nevis, Saint Vincent and the Grenadines, Sudan
    expect(expected.filter((e) => e.kind === 'level-raised').map((e) => e.country)).toEqual([...raised].sort());
    expect(expected.filter((e) => e.kind === 'level-lowered').map((e) => e.country)).toEqual([...lowered].sort());

    const url = server.set('/ca/index-alpha-eng.json', { body: CANADA_MARCH, contentType: JSON_TYPE });
    const feeds = [feedConfig({ id: 'ca-travel', name: 'Government of Canada travel advisories', url, source: 'ca-travel' })];
    const deps = pollDeps(t.db, new ManualClock());
    expect(await syncAndPoll(deps, feeds, 'ca-travel')).toMatchObject({ status: 'ok', baseline: true, new: 229, events: 0 });

    server.set('/ca/index-alpha-eng.json', { body: CANADA_OCTOBER, contentType: JSON_TYPE });
    const second = await syncAndPoll(deps, feeds, 'ca-travel');
    expect(second).toMatchObject({ status: 'ok', baseline: false, new: 0, removed: 0 });
    expect(second.updated + second.unchanged).toBe(229);

    const events = await listEvents(t.db, {});
    expect(events).toHaveLength(second.events);
    const levelEvents = events
      .filter((e) => e.kind !== 'updated')
      .map((e) => ({ country: e.country, kind: e.kind, level: e.level, previousLevel: e.previousLevel }))
      .sort((a, b) => String(a.country).localeCompare(String(b.country)));
    expect(levelEvents).toEqual(expected);
    // Every other event is a text change (recent-updates), never a level event, never "new".
    const others = events.filter((e) => !expected.some((x) => x.country === e.country));
    expect(others.length).toBeGreaterThan(0);
    for (const e of others) expect(e).toMatchObject({ kind: 'updated' });
    for (const e of others) expect(e.level).toBe(e.previousLevel);
    // One event per changed country, all naming the feed and the government.
    expect(new Set(events.map((e) => e.country)).size).toBe(events.length);
    for (const e of events) expect(e).toMatchObject({ feed: 'ca-travel', government: 'Canada' });

    // "Canada now advises avoiding all travel to Iraq (was: avoid non-essential travel)".
    const iraq = events.find((e) => e.country === 'IQ')!;
    const detail = await eventWithVersions(t.db, iraq.id);
    expect(detail?.version.level_text).toBe('AVOID ALL TRAVEL; see also regional advisories.');
    expect(detail?.previous?.level_text).toBe('AVOID NON-ESSENTIAL TRAVEL; see also regional advisories.');
    expect(iraq.title).toBe('Iraq: AVOID ALL TRAVEL; see also regional advisories.');
  });

  it('the document re-published (new timestamps for every country, new metadata) and re-serialised pretty-printed → no events', async () => {
    const doc = JSON.parse(CANADA_OCTOBER) as CaDoc;
    doc.metadata.generated = { timestamp: doc.metadata.generated.timestamp + 86_400, date: '2014-10-03 06:12:33' };
    for (const entry of Object.values(doc.data)) {
      const ts = entry['date-published'].timestamp + 3_600;
      const iso = new Date(ts * 1000).toISOString().slice(0, 19);
      entry['date-published'] = { timestamp: ts, date: iso.replace('T', ' '), asp: iso };
    }
    const republished = JSON.stringify(doc, null, 2);
    expect(republished).not.toBe(CANADA_OCTOBER);
    expect(republished.split('\n').length).toBeGreaterThan(1000);

    const url = server.set('/ca/index-alpha-eng.json', { body: CANADA_OCTOBER, contentType: JSON_TYPE });
    const feeds = [feedConfig({ id: 'ca-travel', url, source: 'ca-travel' })];
    const deps = pollDeps(t.db, new ManualClock());
    await syncAndPoll(deps, feeds, 'ca-travel');

    server.set('/ca/index-alpha-eng.json', { body: republished, contentType: JSON_TYPE });
    const second = await syncAndPoll(deps, feeds, 'ca-travel');
    expect(second).toMatchObject({ status: 'ok', new: 0, updated: 0, removed: 0, unchanged: 229, events: 0 });
    expect(await listEvents(t.db, {})).toEqual([]);
    // The new publication time is stored silently.
    const iraq = await t.db.selectFrom('advisories').select(['published_at']).where('key', '=', 'iso:IQ').executeTakeFirstOrThrow();
    expect(iraq.published_at).toEqual(new Date(doc.data.IQ!['date-published'].timestamp * 1000));
  });
});

// ---------------------------------------------------------------- UK FCDO

describe('UK FCDO Russia Atom (uk-fcdo)', () => {
  it('v1 → v2 (a new change note, the same headline advice): one "updated" event, level 4 → 4', async () => {
    const url = server.set('/uk/russia.atom', { body: FCDO_V1, contentType: ATOM_TYPE });
    const feeds = [feedConfig({ id: 'uk-fcdo-russia', url, source: 'uk-fcdo', countries: ['RU'] })];
    const deps = pollDeps(t.db, new ManualClock());
    expect(await syncAndPoll(deps, feeds, 'uk-fcdo-russia')).toMatchObject({ status: 'ok', baseline: true, new: 1, events: 0 });

    server.set('/uk/russia.atom', { body: FCDO_V2, contentType: ATOM_TYPE });
    expect(await syncAndPoll(deps, feeds, 'uk-fcdo-russia')).toMatchObject({ status: 'ok', new: 0, updated: 1, unchanged: 0, events: 1 });

    const events = await listEvents(t.db, {});
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      kind: 'updated',
      feed: 'uk-fcdo-russia',
      government: 'United Kingdom',
      country: 'RU',
      level: 4,
      previousLevel: 4,
      title: 'Russia travel advice',
      link: 'https://www.gov.uk/foreign-travel-advice/russia',
    });
    const detail = await eventWithVersions(t.db, events[0]!.id);
    expect(detail?.previous?.body).toContain('presidential election on 15 to 17 March 2024');
    expect(detail?.version.body).toContain('Crocus City Hall');
    expect(detail?.version.level_text).toBe('FCDO advises against all travel to Russia.');
  });

  it('an entry whose id and updated time change with the same summary is not an event', async () => {
    const stamped = (updated: string) =>
      FCDO_V1.replace('<entry>\n    <title>', `<entry>\n    <id>tag:www.gov.uk,2005:/travel-advice/russia/${updated}</id>\n    <title>`).replaceAll(
        '2024-02-28T11:41:05+00:00',
        updated,
      );
    const first = stamped('2024-02-28T11:41:05+00:00');
    const second = stamped('2024-03-01T08:00:00+00:00');
    expect(first).toContain('<id>tag:www.gov.uk,2005:/travel-advice/russia/2024-02-28T11:41:05+00:00</id>');
    expect(second).not.toContain('2024-02-28T11:41:05');

    const url = server.set('/uk/russia.atom', { body: FCDO_V1, contentType: ATOM_TYPE });
    const feeds = [feedConfig({ id: 'uk-fcdo-russia', url, source: 'uk-fcdo', countries: ['RU'] })];
    const deps = pollDeps(t.db, new ManualClock());
    await syncAndPoll(deps, feeds, 'uk-fcdo-russia');
    for (const body of [first, second]) {
      server.set('/uk/russia.atom', { body, contentType: ATOM_TYPE });
      expect(await syncAndPoll(deps, feeds, 'uk-fcdo-russia')).toMatchObject({ status: 'ok', new: 0, updated: 0, unchanged: 1, events: 0 });
    }
    expect(await listEvents(t.db, {})).toEqual([]);
    const stored = await t.db.selectFrom('advisories').select(['guid', 'published_at', 'level']).executeTakeFirstOrThrow();
    expect(stored).toEqual({
      guid: 'tag:www.gov.uk,2005:/travel-advice/russia/2024-03-01T08:00:00+00:00',
      published_at: new Date('2024-03-01T08:00:00Z'),
      level: 4,
    });
  });
});

// ---------------------------------------------------------------- Australia

describe('Smartraveller (au-smartraveller, constructed feed)', () => {
  it('v1 → v2: Israel raised 3 → 4 is one event; a pubDate change alone (USA) is none', async () => {
    const url = server.set('/au/index.rss', { body: SMARTRAVELLER_V1 });
    const feeds = [feedConfig({ id: 'au-smartraveller', url, source: 'au-smartraveller' })];
    const deps = pollDeps(t.db, new ManualClock());
    expect(await syncAndPoll(deps, feeds, 'au-smartraveller')).toMatchObject({ status: 'ok', baseline: true, new: 5 });
    server.set('/au/index.rss', { body: SMARTRAVELLER_V2 });
    expect(await syncAndPoll(deps, feeds, 'au-smartraveller')).toMatchObject({ status: 'ok', new: 0, updated: 1, unchanged: 4, events: 1 });
    const events = await listEvents(t.db, {});
    expect(events).toEqual([
      expect.objectContaining({
        kind: 'level-raised',
        feed: 'au-smartraveller',
        government: 'Australia',
        country: 'IL',
        level: 4,
        previousLevel: 3,
        title: 'Israel and the Palestinian Territories',
      }),
    ]);
  });
});

// ---------------------------------------------------------------- U.S. State Department

const LEVEL_PHRASE =
  /(<description><!\[CDATA\[\s*)<p>((?:Do|Reconsider|Exercise)(?: |&nbsp;)(?:not(?: |&nbsp;)travel|travel|increased(?: |&nbsp;)caution|normal(?: |&nbsp;)precautions))(?: |&nbsp;)+(to|in)\b/i;

/** A fake but unique three-letter code per destination, derived from its name (not from the profile's mapping). */
function fakeIso3(destination: string, used: Set<string>): string {
  const letters = destination
    .toLowerCase()
    .replace(/&#\d+;/g, '')
    .replace(/[^a-z]/g, '');
  for (let i = 2; i < letters.length; i++) {
    const code = `${letters[0]}${letters[1]}${letters[i]}`;
    if (!used.has(code)) {
      used.add(code);
      return code;
    }
  }
  for (let n = 0; ; n++) {
    const code = `${letters[0] ?? 'x'}${String.fromCharCode(97 + (n % 26))}${String.fromCharCode(97 + Math.floor(n / 26))}`;
    if (!used.has(code)) {
      used.add(code);
      return code;
    }
  }
}

/**
 * The State Department's newer feed format (corpus notes on the 2026 copy),
 * built from the 2021 document: every link and guid moved to an https
 * `…/travel-advisories/destination.<iso3>.html` URL, a channel pubDate and
 * dc:date, double-quoted attributes and declaration, 2-space indentation,
 * dc:identifier without its leading newline, and the description opening with
 * the level phrase glued to a `<p>` ("Reconsider travel<p>to …").
 */
function newerStateDeptFormat(xml: string): { xml: string; glued: number } {
  const used = new Set<string>();
  let glued = 0;
  let out = xml.replace(/<item>([\s\S]*?)<\/item>/g, (_m, body: string) => {
    const title = /<title>([\s\S]*?)<\/title>/.exec(body)?.[1] ?? '';
    const url = `https://travel.state.gov/content/tsg_aem/us/en/home/international-travel/travel-advisories/destination.${fakeIso3(title.replace(/\s+-\s+.*$/, ''), used)}.html`;
    let next = body
      .replace(/<link>[^<]*<\/link>/, `<link>${url}</link>`)
      .replace(/<guid>[^<]*<\/guid>/, `<guid>${url}</guid>`)
      .replace('<dc:identifier>\n', '<dc:identifier>');
    next = next.replace(LEVEL_PHRASE, (_p, head: string, phrase: string, prep: string) => {
      glued++;
      return `${head}${phrase}<p>${prep}`;
    });
    return `<item>${next}</item>`;
  });
  out = out.replace(
    '</description>\n<item>',
    '</description>\n<pubDate>Wed, 07 Oct 2026 21:02:01 GMT</pubDate>\n<dc:date>2026-10-07T21:02:01Z</dc:date>\n<item>',
  );
  // Quotes and indentation, outside CDATA only.
  let inCdata = false;
  let inItem = false;
  out = out
    .split('\n')
    .map((line) => {
      if (inCdata) {
        if (line.includes(']]>')) inCdata = false;
        return line;
      }
      const depth = /^<\?xml|^<\/?rss\b/.test(line) ? 0 : /^<\/?channel>/.test(line) ? 1 : /^<\/?item>/.test(line) ? 2 : inItem ? 3 : 2;
      if (line.startsWith('<item>')) inItem = true;
      if (line.startsWith('</item>')) inItem = false;
      const cdataAt = line.indexOf('<![CDATA[');
      if (cdataAt >= 0 && !line.includes(']]>', cdataAt)) inCdata = true;
      const tagPart = cdataAt >= 0 ? line.slice(0, cdataAt) : line;
      const rest = cdataAt >= 0 ? line.slice(cdataAt) : '';
      const quoted = tagPart.replace(/(\s[\w:-]+)='([^'"]*)'/g, '$1="$2"');
      return line.trim() ? `${'  '.repeat(depth)}${quoted}${rest}` : line;
    })
    .join('\n');
  return { xml: out, glued };
}

describe('U.S. State Department (us-state-dept): the switch to the newer format', () => {
  it('old 2021 document, then the same advisories in the newer format → no events', async () => {
    const { xml: newer, glued } = newerStateDeptFormat(STATE_DEPT_2021);
    // The transformation did what the corpus notes describe.
    const items = [...newer.matchAll(/<item>([\s\S]*?)<\/item>/g)].map((m) => m[1]!);
    expect(items).toHaveLength(210);
    const guids = items.map((b) => /<guid>([^<]*)<\/guid>/.exec(b)?.[1]);
    for (const b of items) {
      expect(b).toMatch(
        /<link>https:\/\/travel\.state\.gov\/content\/tsg_aem\/us\/en\/home\/international-travel\/travel-advisories\/destination\.[a-z]{3}\.html<\/link>/,
      );
      expect(b).toMatch(/<dc:identifier>[^\n<]/);
    }
    expect(new Set(guids).size).toBe(210);
    expect(newer).not.toContain('<link>http://travel.state.gov/content/travel/en/traveladvisories/traveladvisories/');
    expect(newer.startsWith('<?xml version="1.0" encoding="utf-8"?>\n<rss xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0">\n  <channel>\n')).toBe(
      true,
    );
    expect(newer).toContain('\n    <pubDate>Wed, 07 Oct 2026 21:02:01 GMT</pubDate>\n    <dc:date>');
    expect(newer).toContain('<category domain="Country-Tag">RS</category>');
    expect(newer).toContain('\n      <category domain="Keyword">advisory</category>\n      <dc:identifier>RS,advisory</dc:identifier>\n');
    expect(newer).not.toMatch(/domain='/);
    expect(newer).toContain('Reconsider travel<p>to Bhutan due to <b>COVID-19</b>.</p>');
    expect(glued).toBeGreaterThan(190);

    const url = server.set('/us/TAsTWs.xml', { body: STATE_DEPT_2021 });
    const feeds = [feedConfig({ id: 'us-state-dept', url, source: 'us-state-dept' })];
    const deps = pollDeps(t.db, new ManualClock());
    expect(await syncAndPoll(deps, feeds, 'us-state-dept')).toMatchObject({ status: 'ok', baseline: true, new: 210 });

    server.set('/us/TAsTWs.xml', { body: newer });
    expect(await syncAndPoll(deps, feeds, 'us-state-dept')).toMatchObject({ status: 'ok', new: 0, updated: 0, removed: 0, unchanged: 210, events: 0 });
    expect(await listEvents(t.db, {})).toEqual([]);
    // The moved links are stored silently; the advisory is the same one.
    const russia = await t.db
      .selectFrom('advisories')
      .select(['id', 'link', 'guid', 'level', 'countries'])
      .where('key', '=', 'iso:RU')
      .executeTakeFirstOrThrow();
    expect(russia.link).toMatch(/^https:\/\/travel\.state\.gov\/content\/tsg_aem\/.*\/destination\.[a-z]{3}\.html$/);
    expect(russia).toMatchObject({ level: 4, countries: ['RU'] });
    expect(await t.db.selectFrom('advisory_versions').select('id').where('advisory_id', '=', russia.id).execute()).toHaveLength(1);
  });
});

// ---------------------------------------------------------------- Side by side

/** The 2021 State Department document cut down to a few destinations (each item byte-identical), to keep the test fast. */
function stateDeptSubset(xml: string, tags: string[]): string {
  const items = [...xml.matchAll(/<item>[\s\S]*?<\/item>\n/g)].map((m) => m[0]);
  const keep = items.filter((i) => tags.some((tag) => i.includes(`<category domain='Country-Tag'>${tag}</category>`)));
  expect(keep).toHaveLength(tags.length);
  const head = xml.slice(0, xml.indexOf('<item>'));
  const tail = xml.slice(xml.lastIndexOf('</item>\n') + '</item>\n'.length);
  return `${head}${keep.join('')}${tail}`;
}

describe('governments side by side', () => {
  it('Russia from four governments: one row per feed, the highest level, who says so, and the disagreement (also through the CLI)', async () => {
    const feeds: FeedConfig[] = [
      feedConfig({
        id: 'uk-fcdo-russia',
        name: 'UK FCDO — Russia travel advice',
        url: server.set('/uk/russia.atom', { body: FCDO_V1, contentType: ATOM_TYPE }),
        source: 'uk-fcdo',
        countries: ['RU'],
      }),
      feedConfig({
        id: 'us-state-dept',
        name: 'U.S. State Department travel advisories',
        url: server.set('/us/TAsTWs.xml', { body: stateDeptSubset(STATE_DEPT_2021, ['RS', 'KS', 'IS', 'TH', 'IZ']) }),
        source: 'us-state-dept',
      }),
      feedConfig({
        id: 'ca-travel',
        name: 'Government of Canada travel advisories',
        url: server.set('/ca/index-alpha-eng.json', { body: CANADA_OCTOBER, contentType: JSON_TYPE }),
        source: 'ca-travel',
      }),
      feedConfig({
        id: 'au-smartraveller',
        name: 'Australia Smartraveller destinations',
        url: server.set('/au/index.rss', { body: SMARTRAVELLER_V1 }),
        source: 'au-smartraveller',
      }),
    ];
    const deps = pollDeps(t.db, new ManualClock());
    for (const f of feeds) expect(await syncAndPoll(deps, feeds, f.id)).toMatchObject({ status: 'ok', baseline: true });

    const russia = await listAdvisories(t.db, { country: 'RU' });
    expect(russia.map((a) => [a.feedId, a.level, a.levelText])).toEqual([
      ['au-smartraveller', 4, 'Do not travel to Russia due to the security situation and the impacts of the military conflict with Ukraine.'],
      ['ca-travel', 2, 'Exercise a high degree of caution; see also regional advisories.'],
      ['uk-fcdo-russia', 4, 'FCDO advises against all travel to Russia.'],
      ['us-state-dept', 4, 'Do Not Travel'],
    ]);
    for (const a of russia) expect(a.countries).toEqual(['RU']);

    const summaries = await countrySummaries(t.db);
    const byCountry = new Map(summaries.map((s) => [s.country, s]));
    const ru = byCountry.get('RU')!;
    expect(ru.highestLevel).toBe(4);
    expect(ru.highestFeeds.map((f) => f.feedId).sort()).toEqual(['au-smartraveller', 'uk-fcdo-russia', 'us-state-dept']);
    expect(ru.lowestLevel).toBe(2);
    expect(ru.highestLevel - ru.lowestLevel).toBeGreaterThanOrEqual(2); // flagged: Canada says 2, the others 4
    expect(ru.levels.map((l) => [l.feedId, l.level])).toEqual([
      ['au-smartraveller', 4],
      ['uk-fcdo-russia', 4],
      ['us-state-dept', 4],
      ['ca-travel', 2],
    ]);
    // South Korea: the U.S. 2, Canada 1, Australia 1 → within one level, not a disagreement.
    const kr = byCountry.get('KR')!;
    expect(kr).toMatchObject({ highestLevel: 2, lowestLevel: 1 });
    expect(kr.highestFeeds.map((f) => f.feedId)).toEqual(['us-state-dept']);
    // Israel: Smartraveller 3, the State Department 3 (Israel, The West Bank and Gaza).
    expect(byCountry.get('IL')!.levels.map((l) => [l.feedId, l.level])).toEqual(
      expect.arrayContaining([
        ['au-smartraveller', 3],
        ['us-state-dept', 3],
      ]),
    );

    // The CLI's listings of this very database.
    const configDir = path.join(work, 'config');
    mkdirSync(configDir, { recursive: true });
    writeFileSync(
      path.join(configDir, 'feeds.yaml'),
      `feeds:\n${feeds
        .map(
          (f) =>
            `  - id: ${f.id}\n    name: ${JSON.stringify(f.name)}\n    url: ${f.url}\n    source: ${f.source}\n${f.countries.length ? `    countries: [${f.countries.join(', ')}]\n` : ''}`,
        )
        .join('')}`,
    );
    const env = { CONFIG_DIR: configDir, ...t.cliEnv };
    const [countriesR, advisoriesR] = await Promise.all([
      cli(['countries', 'list', '--json'], env),
      cli(['advisories', 'list', '--country', 'RU', '--json'], env),
    ]);

    const countries = jsonArray(countriesR);
    expect(countries).toHaveLength(summaries.length);
    for (const c of countries) expect(Object.keys(c)).toEqual(expect.arrayContaining(['country', 'highestLevel', 'saidBy', 'disagree']));
    const ruRow = countries.find((c) => c.country === 'RU')!;
    expect(ruRow).toMatchObject({ country: 'RU', highestLevel: 4, disagree: true });
    expect([...(ruRow.saidBy as string[])].sort()).toEqual(['Australia', 'United Kingdom', 'United States']);
    expect(countries.find((c) => c.country === 'KR')).toMatchObject({ highestLevel: 2, saidBy: ['United States'], disagree: false });
    for (const c of countries) {
      const s = byCountry.get(String(c.country))!;
      expect(c.highestLevel).toBe(s.highestLevel);
      expect(c.disagree).toBe(s.highestLevel - s.lowestLevel >= 2);
    }

    const advisories = jsonArray(advisoriesR);
    expect(advisories.map((a) => [a.feed, a.government, a.country, a.level, a.highestLevel])).toEqual([
      ['au-smartraveller', 'Australia', 'RU', 4, 4],
      ['ca-travel', 'Canada', 'RU', 2, 4],
      ['uk-fcdo-russia', 'United Kingdom', 'RU', 4, 4],
      ['us-state-dept', 'United States', 'RU', 4, 4],
    ]);
    for (const a of advisories) expect(Object.keys(a)).toEqual(expect.arrayContaining(['wording', 'title', 'link', 'updatedAt']));
  });
});

describe('a profile pointed at another government’s document', () => {
  it('poll: the Smartraveller feed read as us-state-dept polls ok but warns that no level was understood; an embassy feed without countries is warned about too', async () => {
    const url = server.set('/au/index.rss', { body: SMARTRAVELLER_V1, contentType: 'application/rss+xml; charset=utf-8' });
    const embassy = server.set('/embassy/alerts', { body: fixture('us-embassy/us-embassy-russia-alerts_v1.xml'), contentType: 'application/rss+xml' });
    const configDir = path.join(work, 'wrong-profile');
    mkdirSync(configDir, { recursive: true });
    writeFileSync(
      path.join(configDir, 'feeds.yaml'),
      `feeds:\n  - id: mixed-up\n    url: ${url}\n    source: us-state-dept\n  - id: embassy\n    url: ${embassy}\n    source: us-embassy\n`,
    );
    const env = { CONFIG_DIR: configDir, ...t.cliEnv };
    const r = await cli(['poll', '--json'], env);
    const rows = jsonArray(r, { quiet: false });
    expect(rows.find((row) => row.feed === 'mixed-up')).toMatchObject({ status: 'ok', warning: expect.stringMatching(/no level in any of them/) });
    expect(rows.find((row) => row.feed === 'embassy')).toMatchObject({ status: 'ok', warning: null });
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning: '));
    expect(warnings).toEqual([
      'warning: feeds.yaml: feeds[1] (embassy): a us-embassy feed without countries: its alerts reach only subscribers who follow every destination; set countries: [CC, …]',
      expect.stringMatching(
        /^warning: feed mixed-up: the us-state-dept profile read \d+ items but no level in any of them; is this document really a us-state-dept one\?/,
      ),
    ]);
    // The service's own log says it too (a JSON line at level warn, naming the feed).
    const logged = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number; feed?: string; msg: string });
    expect(logged).toContainEqual(expect.objectContaining({ level: 40, feed: 'mixed-up', msg: expect.stringMatching(/no level in any of them/) }));
  });
});
