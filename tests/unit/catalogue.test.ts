import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadFeeds } from '../../src/config/load.ts';
import { SOURCE_PROFILES } from '../../src/config/schema.ts';
import { cli } from '../helpers/cli.ts';
import { CATALOGUE, catalogueEntryFor, catalogueRows, fillPattern, isPattern } from '../../src/feeds/catalogue.ts';

/**
 * The catalogue of known feeds, the `feeds catalogue` command, and the shipped
 * config/feeds.yaml checked against the catalogue (so neither drifts).
 */

const SHIPPED = loadFeeds(fileURLToPath(new URL('../../config/', import.meta.url)));

// No configuration at all: the catalogue is the product's own knowledge.
const NO_CONFIG = { CONFIG_DIR: '/nonexistent/config', DATA_DIR: '/nonexistent/data' };

describe('the catalogue', () => {
  it('has one government-wide feed per government-wide profile and a pattern for embassies and GOV.UK countries', () => {
    const wide = CATALOGUE.filter((e) => e.scope === 'government-wide')
      .map((e) => e.source)
      .sort();
    expect(wide).toEqual(['au-smartraveller', 'ca-travel', 'de-aa', 'jp-mofa', 'us-state-dept']);
    expect(CATALOGUE.filter(isPattern).map((e) => e.url)).toEqual([
      'https://<cc>.usembassy.gov/category/alert/feed/',
      'https://www.gov.uk/foreign-travel-advice/<slug>.atom',
    ]);
    // Every profile but `generic` has a feed to read.
    expect(new Set(CATALOGUE.map((e) => e.source))).toEqual(new Set(SOURCE_PROFILES.filter((p) => p !== 'generic')));
    expect(new Set(CATALOGUE.map((e) => e.id)).size).toBe(CATALOGUE.length);
  });

  it('names each government', () => {
    expect(Object.fromEntries(catalogueRows().map((r) => [r.id, r.government]))).toEqual({
      'us-state-dept': 'United States',
      'ca-travel': 'Canada',
      'au-smartraveller': 'Australia',
      'de-aa': 'Germany',
      'jp-mofa': 'Japan',
      'us-embassy-<cc>': 'United States',
      'uk-fcdo-<slug>': 'United Kingdom',
    });
  });

  it('fills a pattern in and recognises the URL it makes', () => {
    const embassy = CATALOGUE.find((e) => e.source === 'us-embassy')!;
    const tokyo = fillPattern(embassy, { cc: 'jp' });
    expect(tokyo).toMatchObject({ id: 'us-embassy-jp', url: 'https://jp.usembassy.gov/category/alert/feed/', countries: ['JP'] });
    expect(catalogueEntryFor(tokyo.url)).toEqual({ entry: embassy, values: { cc: 'jp' } });
    expect(catalogueEntryFor('https://www.gov.uk/foreign-travel-advice/south-korea.atom')?.values).toEqual({ slug: 'south-korea' });
    expect(catalogueEntryFor('https://example.org/feed.xml')).toBeUndefined();
    expect(catalogueEntryFor('https://evil.example/x.usembassy.gov/category/alert/feed/')).toBeUndefined();
  });
});

describe('the shipped config/feeds.yaml', () => {
  it('enables every government-wide feed of the catalogue, as catalogued', () => {
    for (const entry of CATALOGUE.filter((e) => e.scope === 'government-wide')) {
      const feed = SHIPPED.find((f) => f.url === entry.url);
      expect(feed, entry.id).toBeDefined();
      expect(feed).toMatchObject({ id: entry.id, source: entry.source, enabled: true, schedule: entry.schedule });
      expect(feed!.headers).toMatchObject(entry.headers ?? {});
    }
  });

  it('holds only catalogued feeds: the Moscow embassy and FCDO Russia from the patterns, with the headers their sites need', () => {
    const instances = SHIPPED.filter((f) => isPattern(catalogueEntryFor(f.url)!.entry));
    expect(instances.map((f) => [f.id, f.url])).toEqual([
      ['us-embassy-russia', 'https://ru.usembassy.gov/category/alert/feed/'],
      ['uk-fcdo-russia', 'https://www.gov.uk/foreign-travel-advice/russia.atom'],
    ]);
    for (const feed of SHIPPED) {
      const match = catalogueEntryFor(feed.url);
      expect(match, feed.id).toBeDefined();
      const filled = fillPattern(match!.entry, match!.values);
      expect(feed.source, feed.id).toBe(filled.source);
      expect(feed.headers, feed.id).toMatchObject(filled.headers ?? {});
      if (filled.countries) expect(feed.countries, feed.id).toEqual(filled.countries);
    }
    expect(SHIPPED.find((f) => f.id === 'uk-fcdo-russia')!.countries).toEqual(['RU']);
  });
});

describe('feeds catalogue (CLI)', () => {
  it('--json: every entry with id, name, government, profile, URL or pattern, coverage — no configuration needed', async () => {
    const r = await cli(['feeds', 'catalogue', '--json'], NO_CONFIG);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const rows = JSON.parse(r.stdout) as Record<string, unknown>[];
    expect(rows).toEqual(JSON.parse(JSON.stringify(catalogueRows())));
    for (const row of rows) expect(Object.keys(row)).toEqual(expect.arrayContaining(['id', 'name', 'government', 'profile', 'url', 'coverage']));
  });

  it('a table for people, URL patterns included', async () => {
    const r = await cli(['feeds', 'catalogue'], NO_CONFIG);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^id\s+government\s+profile\s+url\s+coverage$/);
    expect(lines).toHaveLength(CATALOGUE.length + 1);
    expect(r.stdout).toContain('https://<cc>.usembassy.gov/category/alert/feed/');
    expect(r.stdout).toContain('https://www.gov.uk/foreign-travel-advice/<slug>.atom');
    expect(lines.find((l) => l.startsWith('jp-mofa '))).toMatch(
      /\bJapan\s+jp-mofa\s+https:\/\/www\.ezairyu\.mofa\.go\.jp\/opendata\/area\/newarrivalL\.xml\s+danger-level/,
    );
  });
});
