import { describe, expect, it } from 'vitest';
import { changeKind, diffAdvisories, type Diff, type StoredAdvisory } from '../../src/advisories/detect.ts';
import type { AdvisoryItem } from '../../src/advisories/model.ts';
import { fingerprint } from '../../src/advisories/normalize.ts';
import type { EventKind } from '../../src/db/types.ts';

function item(key: string, over: Partial<AdvisoryItem> = {}): AdvisoryItem {
  return {
    key,
    guid: `http://travel.state.gov/${key}.html`,
    link: `http://travel.state.gov/${key}.html`,
    title: `${key} - Level 2: Exercise Increased Caution`,
    body: `Exercise increased caution in ${key} due to crime.`,
    countries: [key.toUpperCase()],
    level: 2,
    levelText: 'Exercise Increased Caution',
    publishedAt: new Date('2021-02-16T00:00:00Z'),
    ...over,
  };
}

let nextId = 1;
/** What the repository would hold after storing `it` (optionally since removed). */
function stored(it: AdvisoryItem, over: Partial<StoredAdvisory> = {}): StoredAdvisory {
  const id = nextId++;
  return {
    id,
    key: it.key,
    fingerprint: fingerprint(it),
    level: it.level,
    link: it.link,
    guid: it.guid,
    countries: [...it.countries],
    publishedAt: it.publishedAt,
    removed: false,
    versionId: id * 10,
    ...over,
  };
}

/** A compact, comparable summary of a diff. */
function summary(d: Diff) {
  return {
    added: d.added.map((a) => [a.item.key, a.event] as const),
    changed: d.changed.map((c) => [c.stored.key, c.kind] as const),
    unchanged: d.unchanged.map((u) => [u.stored.key, u.refresh] as const),
    removed: d.removed.map((r) => r.key),
    duplicates: d.duplicates,
  };
}

const EMPTY = { added: [], changed: [], unchanged: [], removed: [], duplicates: 0 };

describe('changeKind', () => {
  it.each<[number | null, number | null, EventKind]>([
    [2, 3, 'level-raised'],
    [1, 4, 'level-raised'],
    [4, 3, 'level-lowered'],
    [3, 1, 'level-lowered'],
    [3, 3, 'updated'],
    [null, 3, 'updated'],
    [3, null, 'updated'],
    [null, null, 'updated'],
  ])('%s → %s is %s', (prev, next, kind) => {
    expect(changeKind(prev, next)).toBe(kind);
  });
});

describe('diffAdvisories', () => {
  const ru = item('ru', { level: 4, levelText: 'Do Not Travel', title: 'Russia - Level 4: Do Not Travel' });
  const bt = item('bt');
  const fr = item('fr');

  interface Case {
    name: string;
    stored: StoredAdvisory[];
    items: AdvisoryItem[];
    baseline?: boolean;
    expected: Partial<ReturnType<typeof summary>>;
  }

  const cases: Case[] = [
    {
      name: 'baseline: everything added, no event',
      stored: [],
      items: [ru, bt, fr],
      baseline: true,
      expected: {
        added: [
          ['ru', null],
          ['bt', null],
          ['fr', null],
        ],
      },
    },
    {
      name: 'first appearance after the baseline is "new"',
      stored: [stored(ru), stored(bt)],
      items: [ru, bt, fr],
      expected: {
        added: [['fr', 'new']],
        unchanged: [
          ['ru', false],
          ['bt', false],
        ],
      },
    },
    {
      name: 'same document again: all unchanged, nothing to refresh',
      stored: [stored(ru), stored(bt), stored(fr)],
      items: [ru, bt, fr],
      expected: {
        unchanged: [
          ['ru', false],
          ['bt', false],
          ['fr', false],
        ],
      },
    },
    {
      name: 'a changed sentence is "updated"',
      stored: [stored(ru), stored(bt)],
      items: [ru, { ...bt, body: `${bt.body} Avoid the border region.` }],
      expected: { changed: [['bt', 'updated']], unchanged: [['ru', false]] },
    },
    {
      name: 'a changed title is "updated"',
      stored: [stored(bt)],
      items: [{ ...bt, title: 'Kingdom of Bhutan - Level 2: Exercise Increased Caution' }],
      expected: { changed: [['bt', 'updated']] },
    },
    {
      name: 'a changed level wording alone is "updated"',
      stored: [stored(bt)],
      items: [{ ...bt, levelText: 'Exercise Caution' }],
      expected: { changed: [['bt', 'updated']] },
    },
    {
      name: 'level 2 → 3 is "level-raised"',
      stored: [stored(bt)],
      items: [{ ...bt, level: 3, levelText: 'Reconsider Travel', title: 'bt - Level 3: Reconsider Travel' }],
      expected: { changed: [['bt', 'level-raised']] },
    },
    {
      name: 'level 4 → 3 is "level-lowered"',
      stored: [stored(ru)],
      items: [{ ...ru, level: 3, levelText: 'Reconsider Travel', title: 'Russia - Level 3: Reconsider Travel' }],
      expected: { changed: [['ru', 'level-lowered']] },
    },
    {
      name: 'a level change with identical words is still a level change',
      stored: [stored(bt)],
      items: [{ ...bt, level: 1 }],
      expected: { changed: [['bt', 'level-lowered']] },
    },
    {
      name: 'level null → 3 is "updated" (no level to compare with)',
      stored: [stored(item('xx', { level: null, levelText: null }))],
      items: [item('xx', { level: 3, levelText: 'Reconsider Travel' })],
      expected: { changed: [['xx', 'updated']] },
    },
    {
      name: 'level 3 → null is "updated"',
      stored: [stored(item('xx', { level: 3 }))],
      items: [item('xx', { level: null })],
      expected: { changed: [['xx', 'updated']] },
    },
    {
      name: 'reordered items: nothing',
      stored: [stored(ru), stored(bt), stored(fr)],
      items: [fr, ru, bt],
      expected: {
        unchanged: [
          ['fr', false],
          ['ru', false],
          ['bt', false],
        ],
      },
    },
    {
      name: 'duplicate keys are counted and the first one wins',
      stored: [stored(ru)],
      items: [ru, { ...ru, body: 'a different text under the same key' }, bt, bt],
      expected: { unchanged: [['ru', false]], added: [['bt', 'new']], duplicates: 2 },
    },
    {
      name: 'duplicates on a baseline are counted too',
      stored: [],
      items: [bt, bt, bt],
      baseline: true,
      expected: { added: [['bt', null]], duplicates: 2 },
    },
    {
      name: 'an item that drops out is listed in removed, never as an event',
      stored: [stored(ru), stored(bt), stored(fr)],
      items: [ru, fr],
      expected: {
        unchanged: [
          ['ru', false],
          ['fr', false],
        ],
        removed: ['bt'],
      },
    },
    {
      name: 'an item already removed is not removed again',
      stored: [stored(ru), stored(bt, { removed: true })],
      items: [ru],
      expected: { unchanged: [['ru', false]] },
    },
    {
      name: 'a removed item reappearing unchanged is unchanged with refresh',
      stored: [stored(ru), stored(bt, { removed: true })],
      items: [ru, bt],
      expected: {
        unchanged: [
          ['ru', false],
          ['bt', true],
        ],
      },
    },
    {
      name: 'a removed item reappearing changed is a change',
      stored: [stored(bt, { removed: true })],
      items: [{ ...bt, level: 3 }],
      expected: { changed: [['bt', 'level-raised']] },
    },
    {
      name: 'link and guid moved, same meaning: unchanged with refresh',
      stored: [stored(ru)],
      items: [
        {
          ...ru,
          link: 'https://travel.state.gov/content/tsg_aem/us/en/home/international-travel/travel-advisories/destination.rus.html',
          guid: 'https://travel.state.gov/content/tsg_aem/us/en/home/international-travel/travel-advisories/destination.rus.html',
        },
      ],
      expected: { unchanged: [['ru', true]] },
    },
    {
      name: 'guid alone changed: unchanged with refresh',
      stored: [stored(ru)],
      items: [{ ...ru, guid: 'urn:x-ru' }],
      expected: { unchanged: [['ru', true]] },
    },
    {
      name: 'pubDate alone changed: unchanged with refresh',
      stored: [stored(ru)],
      items: [{ ...ru, publishedAt: new Date('2021-03-01T00:00:00Z') }],
      expected: { unchanged: [['ru', true]] },
    },
    {
      name: 'pubDate dropped: unchanged with refresh',
      stored: [stored(ru)],
      items: [{ ...ru, publishedAt: null }],
      expected: { unchanged: [['ru', true]] },
    },
    {
      name: 'countries changed with the same meaning: unchanged with refresh',
      stored: [stored(item('is', { countries: ['IL'] }))],
      items: [item('is', { countries: ['IL', 'PS'] })],
      expected: { unchanged: [['is', true]] },
    },
    {
      name: 'an empty document removes everything and alerts nothing',
      stored: [stored(ru), stored(bt)],
      items: [],
      expected: { removed: ['ru', 'bt'] },
    },
    {
      name: 'mixed: new, raised, lowered, updated, unchanged, removed in one document',
      stored: [stored(ru), stored(bt), stored(fr), stored(item('de'))],
      items: [{ ...fr, body: 'Exercise increased caution in France due to terrorism.' }, item('jp'), { ...ru, level: 3 }, { ...bt, level: 3 }],
      expected: {
        added: [['jp', 'new']],
        changed: [
          ['fr', 'updated'],
          ['ru', 'level-lowered'],
          ['bt', 'level-raised'],
        ],
        removed: ['de'],
      },
    },
  ];

  it.each(cases)('$name', ({ stored: s, items, baseline, expected }) => {
    const diff = diffAdvisories(s, items, { baseline: baseline ?? false });
    expect(summary(diff)).toEqual({ ...EMPTY, ...expected });
  });

  it('every item of the document ends in exactly one bucket (except duplicates)', () => {
    for (const { stored: s, items, baseline } of cases) {
      const diff = diffAdvisories(s, items, { baseline: baseline ?? false });
      const keys = new Set(items.map((i) => i.key));
      expect(diff.added.length + diff.changed.length + diff.unchanged.length).toBe(keys.size);
      expect(diff.duplicates).toBe(items.length - keys.size);
    }
  });

  it('added and changed items carry the fingerprint of their meaning', () => {
    const changedBt = { ...bt, level: 3 };
    const diff = diffAdvisories([stored(bt)], [changedBt, fr], { baseline: false });
    expect(diff.changed[0]?.item.fingerprint).toBe(fingerprint(changedBt));
    expect(diff.added[0]?.item.fingerprint).toBe(fingerprint(fr));
    expect(diff.changed[0]?.stored.versionId).not.toBeNull();
  });

  it('a changed item carries the stored advisory it replaces (for previous level / version)', () => {
    const s = stored(ru);
    const diff = diffAdvisories([s], [{ ...ru, level: 2 }], { baseline: false });
    expect(diff.changed).toHaveLength(1);
    expect(diff.changed[0]?.stored).toBe(s);
    expect(diff.changed[0]?.item.level).toBe(2);
  });

  it('does not mutate its inputs', () => {
    const s = [stored(ru), stored(bt)];
    const items = [{ ...ru, level: 3 }, fr];
    const before = JSON.stringify([s, items]);
    diffAdvisories(s, items, { baseline: false });
    expect(JSON.stringify([s, items])).toBe(before);
  });
});
