import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AdvisoryItem } from '../../src/advisories/model.ts';
import { FeedParseError } from '../../src/feeds/parse-xml.ts';
import { profileFor } from '../../src/feeds/profiles/index.ts';

function fixture(relative: string): string {
  return readFileSync(new URL(`../fixtures/${relative}`, import.meta.url), 'utf8');
}

/** Minimal XML/HTML entity decoding for expectations read straight from the documents. */
function decode(s: string): string {
  return s
    .replace(/&#x([0-9a-f]+);/gi, (_m, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_m, dec: string) => String.fromCodePoint(parseInt(dec, 10)))
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

interface RawXmlItem {
  title: string;
  guid: string | null;
  link: string | null;
  categories: { domain: string | null; text: string }[];
}

/** The items of an RSS document read with regular expressions, independently of rss-parser. */
function rawItems(xml: string): RawXmlItem[] {
  return [...xml.matchAll(/<item>([\s\S]*?)<\/item>/g)].map((m) => {
    const body = m[1] ?? '';
    const field = (name: string) => {
      const v = new RegExp(`<${name}(?:\\s[^>]*)?>([\\s\\S]*?)</${name}>`).exec(body)?.[1];
      return v === undefined ? null : decode(v.replace(/^<!\[CDATA\[([\s\S]*)\]\]>$/, '$1')).trim();
    };
    const categories = [...body.matchAll(/<category(?:\s+domain=['"]([^'"]*)['"])?\s*>([\s\S]*?)<\/category>/g)].map((c) => ({
      domain: c[1] ?? null,
      text: decode((c[2] ?? '').replace(/^<!\[CDATA\[([\s\S]*)\]\]>$/, '$1')).trim(),
    }));
    return { title: field('title') ?? '', guid: field('guid'), link: field('link'), categories };
  });
}

describe('us-state-dept profile on TAsTWs_2021-03-01.xml', () => {
  const xml = fixture('us-state-dept/TAsTWs_2021-03-01.xml');
  const raw = rawItems(xml);
  let items: AdvisoryItem[] = [];
  beforeAll(async () => {
    items = await profileFor('us-state-dept').parse(xml, { id: 'us', countries: [] });
  });
  const byTitle = (prefix: string) => {
    const found = items.filter((i) => i.title.startsWith(prefix));
    expect(found, `items titled "${prefix}…"`).toHaveLength(1);
    return found[0]!;
  };

  it('reads every item (210, as counted in the document)', () => {
    expect(raw).toHaveLength(210);
    expect(items).toHaveLength(raw.length);
  });

  it('Russia: key iso:RU, country RU (tag RS), level 4 "Do Not Travel"', () => {
    const ru = byTitle('Russia ');
    expect(ru).toMatchObject({ key: 'iso:RU', countries: ['RU'], level: 4, levelText: 'Do Not Travel', title: 'Russia - Level 4: Do Not Travel' });
    expect(ru.guid).toBe('http://travel.state.gov/content/travel/en/traveladvisories/traveladvisories/russia-travel-advisory.html');
    expect(ru.link).toBe(ru.guid);
    expect(ru.publishedAt?.toISOString()).toBe('2020-08-06T00:00:00.000Z');
    expect(ru.body).toMatch(
      /^Do not travel to Russia due to COVID-19\. Exercise increased caution due to terrorism, harassment, and the arbitrary enforcement of local laws\./,
    );
    expect(ru.body).not.toMatch(/<|&[a-z#0-9]+;/i);
  });

  it('Curaçao: the numeric character reference in the title is decoded', () => {
    const cw = byTitle('Cura');
    expect(cw.title).toBe('Curaçao - Level 3: Reconsider Travel');
    expect(cw).toMatchObject({ key: 'iso:CW', countries: ['CW'], level: 3 });
  });

  it('Worldwide Caution: key "worldwide", no countries, no level', () => {
    const ww = byTitle('Worldwide Caution');
    expect(ww).toMatchObject({ key: 'worldwide', countries: [], level: null });
  });

  it('titles carry no markup or entities', () => {
    for (const i of items) expect(i.title).not.toMatch(/<|>|&[a-z#0-9]+;|\s{2}/i);
  });

  it('keys are unique', () => {
    expect(new Set(items.map((i) => i.key)).size).toBe(items.length);
  });

  it('every item has the level of its Threat-Level category, except the Worldwide Caution', () => {
    const withoutLevel = items.filter((i) => i.level === null);
    expect(withoutLevel.map((i) => i.key)).toEqual(['worldwide']);
    // Items are in document order; compare with the category read by regex.
    for (const [n, r] of raw.entries()) {
      const threat = r.categories.find((c) => c.domain === 'Threat-Level')?.text ?? '';
      const m = /^Level (\d): (.+)$/.exec(threat);
      const it = items[n]!;
      expect(it.title).toBe(decode(r.title).replace(/\s+/g, ' ').trim());
      if (m) {
        expect(it.level, it.title).toBe(Number(m[1]));
        expect(it.levelText, it.title).toBe(m[2]);
      } else {
        expect(threat).toBe('Caution');
        expect(it.level).toBeNull();
      }
    }
    const counts = new Map<number | null, number>();
    for (const i of items) counts.set(i.level, (counts.get(i.level) ?? 0) + 1);
    expect(Object.fromEntries(counts)).toEqual({ 1: 3, 2: 26, 3: 150, 4: 30, null: 1 });
  });

  it('every item but the Worldwide Caution has countries and an ISO key built from them', () => {
    for (const i of items) {
      if (i.key === 'worldwide') continue;
      expect(i.countries.length, i.title).toBeGreaterThan(0);
      for (const c of i.countries) expect(c).toMatch(/^[A-Z]{2}$/);
      expect(i.key).toBe(`iso:${[...i.countries].sort().join(',')}`);
    }
  });

  it('identity does not depend on the link: every guid/link is the document’s http:// URL', () => {
    for (const [n, r] of raw.entries()) {
      expect(items[n]!.guid).toBe(r.guid);
      expect(items[n]!.link).toBe(r.link);
      expect(items[n]!.key).not.toContain('http');
    }
  });

  it('is pure: the same text gives the same items', async () => {
    const again = await profileFor('us-state-dept').parse(xml, { id: 'us', countries: [] });
    expect(again).toEqual(items);
  });
});

describe('us-embassy profile', () => {
  it.each(['us-embassy-russia-alerts_v1.xml', 'us-embassy-russia-alerts_v2.xml'])('%s: guid keys, alert type, configured countries', async (file) => {
    const xml = fixture(`us-embassy/${file}`);
    const raw = rawItems(xml);
    expect(raw.length).toBeGreaterThan(0);
    const items = await profileFor('us-embassy').parse(xml, { id: 'ru', countries: ['RU'] });
    expect(items).toHaveLength(raw.length);
    for (const [n, r] of raw.entries()) {
      const it = items[n]!;
      expect(r.guid).toMatch(/^https:\/\/ru\.usembassy\.gov\/\?p=\d+$/);
      expect(it.key).toBe(`guid:${r.guid}`);
      expect(it.guid).toBe(r.guid);
      expect(it.link).toBe(r.link);
      expect(it.title).toBe(decode(r.title));
      expect(it.countries).toEqual(['RU']);
      expect(it.level).toBeNull();
      const type = r.categories.map((c) => c.text).find((c) => c !== 'Alert');
      expect(type).toMatch(/^(Security|Demonstration) Alert$/);
      expect(it.levelText).toBe(type);
      expect(it.body).not.toMatch(/<|&[a-z#0-9]+;/i);
    }
    expect(new Set(items.map((i) => i.levelText))).toEqual(new Set(raw.map((r) => r.categories.find((c) => c.text !== 'Alert')?.text)));
  });

  it('uses content:encoded over the truncated description', async () => {
    const items = await profileFor('us-embassy').parse(fixture('us-embassy/us-embassy-russia-alerts_v2.xml'), { id: 'ru', countries: ['RU'] });
    const demo = items.find((i) => i.levelText === 'Demonstration Alert');
    expect(demo?.body).toContain('Assistance: U.S. Embassy Moscow, Bolshoy Deviatinsky Pereulok No. 8');
    expect(demo?.body).not.toContain('…');
  });

  it('countries come from the feed config, not the document', async () => {
    const items = await profileFor('us-embassy').parse(fixture('us-embassy/us-embassy-russia-alerts_v1.xml'), { id: 'x', countries: ['BY', 'RU'] });
    for (const i of items) expect(i.countries).toEqual(['BY', 'RU']);
    const none = await profileFor('us-embassy').parse(fixture('us-embassy/us-embassy-russia-alerts_v1.xml'), { id: 'x', countries: [] });
    for (const i of none) expect(i.countries).toEqual([]);
  });
});

describe('generic profile on GDACS', () => {
  it.each(['gdacs-rss-24h_2019-07-17T1007Z.xml', 'gdacs-rss-24h_2019-12-30T0022Z.xml', 'gdacs-rss_2019-12-30T0135Z.xml'])(
    '%s: identity is the guid',
    async (file) => {
      const xml = fixture(`gdacs/${file}`);
      const raw = rawItems(xml);
      const items = await profileFor('generic').parse(xml, { id: 'gdacs', countries: [] });
      expect(items).toHaveLength(raw.length);
      expect(raw.length).toBeGreaterThan(10);
      for (const [n, r] of raw.entries()) {
        const it = items[n]!;
        expect(r.guid).toMatch(/^[A-Z]{2}\d+$/);
        expect(it.key).toBe(`guid:${r.guid}`);
        expect(it.guid).toBe(r.guid);
        expect(it.title).toBe(decode(r.title).replace(/\s+/g, ' ').trim());
        expect(it.level).toBeNull();
        expect(it.countries).toEqual([]);
        expect(it.publishedAt).toBeInstanceOf(Date);
      }
      expect(new Set(items.map((i) => i.key)).size).toBe(items.length);
    },
  );

  it('decodes &amp; in titles and links (DR1013280, report.aspx?…&eventid=)', async () => {
    const items = await profileFor('generic').parse(fixture('gdacs/gdacs-rss-24h_2019-12-30T0022Z.xml'), { id: 'gdacs', countries: [] });
    const dr = items.find((i) => i.guid === 'DR1013280');
    expect(dr?.title).toMatch(/^Drought is on going in Bosnia & Herzegovina, /);
    expect(dr?.link).toBe('http://www.gdacs.org/report.aspx?eventtype=DR&eventid=1013280');
  });

  it('the feed countries are applied to every item', async () => {
    const items = await profileFor('generic').parse(fixture('gdacs/gdacs-rss_2019-12-30T0135Z.xml'), { id: 'gdacs', countries: ['PH'] });
    for (const i of items) expect(i.countries).toEqual(['PH']);
  });

  it('refuses the double-encoded (mojibake BOM) GDACS copy with a FeedParseError', async () => {
    const text = fixture('gdacs/gdacs-rss_2024-12-10T2115Z_mojibake-bom.xml');
    expect(text.startsWith('\u00ef\u00bb\u00bf<?xml')).toBe(true); // the damage described in the corpus notes
    const err: unknown = await profileFor('generic')
      .parse(text, { id: 'gdacs', countries: [] })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(FeedParseError);
    expect((err as FeedParseError).message).toMatch(/not a valid RSS\/Atom document/);
    // The reason points at the start of the document (sax: "Non-whitespace before first tag").
    expect((err as FeedParseError).message).toMatch(/before first tag|byte.order mark|\bBOM\b/i);
    expect((err as FeedParseError).message.length).toBeLessThan(300);
    // …and it is exactly those 6 bytes: without them the document parses (74 items).
    const repaired = await profileFor('generic').parse(text.slice(3), { id: 'gdacs', countries: [] });
    expect(repaired).toHaveLength(rawItems(text).length);
    expect(repaired).toHaveLength(74);
  });
});
