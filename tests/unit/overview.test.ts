import { describe, expect, it } from 'vitest';
import { countryOverviews, levelSeries, orderGovernments, selectOverviews } from '../../src/advisories/overview.ts';
import type { CurrentAdvice, LevelPoint } from '../../src/advisories/repository.ts';
import { decodeCursor, encodeCursor } from '../../src/web/public.ts';

const at = (iso: string) => new Date(`${iso}T00:00:00Z`);

function advice(country: string, government: string, level: number, updated: string, feedId = government.toLowerCase().replace(/\s/g, '-')): CurrentAdvice {
  return {
    country,
    feedId,
    feedName: `${government} feed`,
    source: 'generic',
    government,
    level,
    levelText: null,
    title: `${country} ${level}`,
    link: null,
    updatedAt: at(updated),
    publishedAt: null,
  };
}

describe('countryOverviews', () => {
  it('puts each government’s level side by side and marks a spread of two levels or more', () => {
    const [fr, ru] = countryOverviews([
      advice('RU', 'United States', 4, '2026-03-10'),
      advice('RU', 'United Kingdom', 2, '2026-01-01'),
      advice('FR', 'United States', 2, '2026-02-01'),
      advice('FR', 'Canada', 1, '2026-04-01'),
    ]);
    expect(ru).toMatchObject({ country: 'RU', name: 'Russia', highestLevel: 4, lowestLevel: 2, disagree: true, lastChange: at('2026-03-10') });
    expect(Object.keys(ru!.governments)).toEqual(['United States', 'United Kingdom']);
    expect(fr).toMatchObject({ country: 'FR', highestLevel: 2, lowestLevel: 1, disagree: false, lastChange: at('2026-04-01') });
  });

  it('lets one government with several advisories for a country speak with its highest level', () => {
    const [ru] = countryOverviews([
      advice('RU', 'United States', 2, '2026-03-10', 'a'),
      advice('RU', 'United States', 3, '2026-01-01', 'b'),
      advice('RU', 'United States', 3, '2026-02-01', 'c'),
    ]);
    expect(ru!.governments['United States']).toMatchObject({ level: 3, feedId: 'c' });
    expect(ru!.disagree).toBe(false);
  });
});

describe('orderGovernments', () => {
  it('lists the known governments first in a fixed order, then others by name', () => {
    expect(orderGovernments(['Zeta feed', 'Canada', 'United States', 'Alpha feed', 'Canada', 'Japan'])).toEqual([
      'United States',
      'Canada',
      'Japan',
      'Alpha feed',
      'Zeta feed',
    ]);
  });
});

describe('selectOverviews', () => {
  const list = countryOverviews([
    advice('CI', 'Canada', 3, '2026-10-01'),
    advice('FR', 'Canada', 2, '2026-05-01'),
    advice('RU', 'Canada', 3, '2026-03-01'),
    advice('RU', 'United States', 1, '2026-03-01'),
  ]);
  const names = (l: { country: string }[]) => l.map((c) => c.country);

  it('filters by name ignoring case and accents, or by exact code', () => {
    expect(names(selectOverviews(list, { query: 'CÔTE' }))).toEqual(['CI']);
    expect(names(selectOverviews(list, { query: 'cote d' }))).toEqual(['CI']);
    expect(names(selectOverviews(list, { query: 'fr' }))).toEqual(['FR']);
    expect(names(selectOverviews(list, { query: 'ru' }))).toEqual(['RU']);
    expect(names(selectOverviews(list, { query: '  ' }))).toEqual(['CI', 'FR', 'RU']);
  });

  it('sorts by level (disagreement first among equals), last change or name', () => {
    expect(names(selectOverviews(list, { sort: 'level' }))).toEqual(['RU', 'CI', 'FR']);
    expect(names(selectOverviews(list, { sort: 'changed' }))).toEqual(['CI', 'FR', 'RU']);
    expect(names(selectOverviews(list, { sort: 'name' }))).toEqual(['CI', 'FR', 'RU']);
  });
});

describe('levelSeries', () => {
  const window = { from: at('2025-12-01'), to: at('2026-12-01') };
  const point = (government: string, advisoryId: number, iso: string, level: number): LevelPoint => ({ government, advisoryId, at: at(iso), level });

  it('starts at the level held before the window and steps at each change', () => {
    const [us] = levelSeries(
      [point('United States', 1, '2024-05-01', 3), point('United States', 1, '2026-03-10', 4), point('United States', 1, '2026-06-01', 4)],
      window,
    );
    expect(us).toEqual({
      government: 'United States',
      steps: [
        { from: at('2025-12-01'), to: at('2026-03-10'), level: 3 },
        { from: at('2026-03-10'), to: at('2026-12-01'), level: 4 },
      ],
    });
  });

  it('starts a government first heard of inside the window where it was first seen', () => {
    const [ca] = levelSeries([point('Canada', 5, '2026-02-01', 2)], window);
    expect(ca!.steps).toEqual([{ from: at('2026-02-01'), to: at('2026-12-01'), level: 2 }]);
  });

  it('takes the highest of a government’s advisories at each moment', () => {
    const [us] = levelSeries(
      [point('United States', 1, '2026-01-01', 2), point('United States', 2, '2026-02-01', 4), point('United States', 2, '2026-03-01', 1)],
      window,
    );
    expect(us!.steps.map((s) => [s.from, s.level])).toEqual([
      [at('2026-01-01'), 2],
      [at('2026-02-01'), 4],
      [at('2026-03-01'), 2],
    ]);
  });

  it('keeps only the last of several levels before the window, and orders governments', () => {
    const series = levelSeries(
      [
        point('Canada', 3, '2025-01-01', 4),
        point('United States', 1, '2025-02-01', 1),
        point('Canada', 3, '2025-06-01', 2),
        point('United States', 1, '2025-07-01', 2),
      ],
      window,
    );
    expect(series.map((s) => [s.government, s.steps])).toEqual([
      ['United States', [{ from: window.from, to: window.to, level: 2 }]],
      ['Canada', [{ from: window.from, to: window.to, level: 2 }]],
    ]);
  });
});

describe('event cursors', () => {
  it('round-trip a keyset position and refuse anything else', () => {
    const p = { createdAt: new Date('2026-03-10T09:00:00.123Z'), id: 42 };
    expect(decodeCursor(encodeCursor(p))).toEqual(p);
    expect(decodeCursor('bogus')).toBeNull();
    expect(decodeCursor(Buffer.from('1.2.3').toString('base64url'))).toBeNull();
  });
});
