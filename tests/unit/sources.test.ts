import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { AdvisoryItem } from '../../src/advisories/model.ts';
import { profileFor } from '../../src/feeds/profiles/index.ts';

/**
 * The uk-fcdo, ca-travel and au-smartraveller profiles on real documents
 * (GOV.UK content API examples, the constructed FCDO Atom pair, Canada's
 * index-alpha-eng.json of 2014) and on the constructed Smartraveller feed.
 * Expectations are read from the documents themselves wherever possible.
 */

function fixture(relative: string): string {
  return readFileSync(new URL(`../fixtures/${relative}`, import.meta.url), 'utf8');
}

const FEED = { id: 'test', countries: [] as string[] };
const parse = (source: string, text: string): Promise<AdvisoryItem[]> => profileFor(source).parse(text, FEED);

/** Any HTML/XML entity left undecoded. */
const ENTITY = /&(?:[a-z][a-z0-9]*|#\d+|#x[0-9a-f]+);/i;

interface GovukDoc {
  title: string;
  base_path: string;
  public_updated_at: string;
  details: { change_description: string; country: { slug: string; name: string }; summary: string };
}

describe('uk-fcdo profile on the GOV.UK content API (real 2017 examples)', () => {
  const cases = [
    { file: 'govuk/foreign-travel-advice_turkey_2017-02-17_example.json', iso: 'TR', slug: 'turkey' },
    { file: 'govuk/foreign-travel-advice_albania_2017-02-17_example.json', iso: 'AL', slug: 'albania' },
  ];

  it.each(cases)('$slug: one advisory, the change note in the body, ISO $iso, the GOV.UK link', async ({ file, iso, slug }) => {
    const text = fixture(file);
    const doc = JSON.parse(text) as GovukDoc;
    const items = await parse('uk-fcdo', text);
    expect(items).toHaveLength(1);
    const [item] = items;
    expect(item).toMatchObject({
      key: `country:${slug}`,
      countries: [iso],
      link: `https://www.gov.uk/foreign-travel-advice/${slug}`,
      title: doc.title,
      guid: null,
    });
    // The official change note ("Latest update: Summary – …") opens the body, then the summary.
    const note = doc.details.change_description.trim();
    expect(note).toMatch(/^Latest update: Summary – /);
    expect(item!.body.startsWith(`${note}\n\n`)).toBe(true);
    expect(item!.body).not.toMatch(/<[a-z]/i);
    expect(item!.body).not.toMatch(ENTITY);
    expect(item!.publishedAt).toEqual(new Date(doc.public_updated_at));
    expect(item!.level).toEqual(expect.any(Number));
  });

  it('Turkey: level 3, read from "advise against all travel to within 10 km of the border with Syria and to the city of Diyarbakir" (parts of the country, one lower than 4)', async () => {
    const [turkey] = await parse('uk-fcdo', fixture(cases[0]!.file));
    expect(turkey!.level).toBe(3);
    expect(turkey!.levelText).toBe(
      'The Foreign and Commonwealth Office (FCO) advise against all travel to within 10 km of the border with Syria and to the city of Diyarbakir.',
    );
    // Entities (&rsquo;) in the summary decoded.
    expect(turkey!.body).toContain('There’s also a larger than usual number of police checkpoints');
  });

  it('Albania: level 1 (no advise-against sentence), no wording', async () => {
    const [albania] = await parse('uk-fcdo', fixture(cases[1]!.file));
    expect(albania).toMatchObject({ level: 1, levelText: null });
    expect(albania!.body).toContain('Over 80,000 British nationals visit Albania every year.');
  });

  it('the live API serves minified JSON: the same advisory as the pretty-printed example', async () => {
    for (const { file } of cases) {
      const text = fixture(file);
      expect(await parse('uk-fcdo', JSON.stringify(JSON.parse(text)))).toEqual(await parse('uk-fcdo', text));
    }
  });
});

describe('uk-fcdo profile on the constructed Russia Atom feed', () => {
  it('v1 and v2 each give one advisory for RU at level 4, same identity, different change note', async () => {
    const [v1] = await parse('uk-fcdo', fixture('uk-fcdo/uk-fcdo-russia_v1.atom'));
    const [v2] = await parse('uk-fcdo', fixture('uk-fcdo/uk-fcdo-russia_v2.atom'));
    for (const v of [v1, v2]) {
      expect(v).toMatchObject({
        key: 'country:russia',
        countries: ['RU'],
        level: 4,
        levelText: 'FCDO advises against all travel to Russia.',
        link: 'https://www.gov.uk/foreign-travel-advice/russia',
        title: 'Russia travel advice',
      });
    }
    expect(v1!.body).toBe(
      'Latest update: Information on the presidential election on 15 to 17 March 2024 (‘Political situation’ section). FCDO advises against all travel to Russia.',
    );
    expect(v2!.body).toContain('Crocus City Hall');
    expect(v1!.publishedAt).toEqual(new Date('2024-02-28T11:41:05Z'));
    expect(v2!.publishedAt).toEqual(new Date('2024-03-22T21:37:40Z'));
    expect((await parse('uk-fcdo', fixture('uk-fcdo/uk-fcdo-russia_v1.atom'))).length).toBe(1);
    expect((await parse('uk-fcdo', fixture('uk-fcdo/uk-fcdo-russia_v2.atom'))).length).toBe(1);
  });
});

interface CaEntry {
  'advisory-state': number;
  eng: { name: string; 'advisory-text': string; 'recent-updates': string };
  fra: { name: string };
}
interface CaDoc {
  data: Record<string, CaEntry>;
}

describe('ca-travel profile on index-alpha-eng.json (real, 2014)', () => {
  const files = ['canada/index-alpha-eng_2014-03-02.json', 'canada/index-alpha-eng_2014-10-02.json'];

  it.each(files)('%s: 229 advisories keyed by the country key, levels = advisory-state + 1', async (file) => {
    const text = fixture(file);
    const doc = JSON.parse(text) as CaDoc;
    const items = await parse('ca-travel', text);
    expect(Object.keys(doc.data)).toHaveLength(229);
    expect(items).toHaveLength(229);
    expect(new Set(items.map((i) => i.key))).toEqual(new Set(Object.keys(doc.data).map((k) => `iso:${k}`)));
    for (const item of items) {
      const entry = doc.data[item.key.slice('iso:'.length)]!;
      expect(item.level, item.key).toBe(entry['advisory-state'] + 1);
      expect(item.level).toBeGreaterThanOrEqual(1);
      expect(item.level).toBeLessThanOrEqual(4);
      expect(item.countries, item.key).toHaveLength(1);
      expect(item.countries[0]).toMatch(/^[A-Z]{2}$/);
      expect(`${item.title}\n${item.body}\n${item.levelText}`, item.key).not.toMatch(ENTITY);
      expect(item.guid).toBeNull();
    }
    // Plain ISO keys are their own country.
    for (const item of items.filter((i) => /^iso:[A-Z]{2}$/.test(i.key) && i.key !== 'iso:IC')) {
      expect(item.countries).toEqual([item.key.slice(4)]);
    }
  });

  it('reads the English strings only, with HTML entities decoded (&amp; &ccedil; &ndash; &nbsp;)', async () => {
    const text = fixture(files[1]!);
    // The raw document really carries the entities inside JSON strings.
    expect(text).toContain('The Laws &amp; Culture tab was updated - overview of the criminal law system.');
    expect(text).toContain('no Canadian office in Cura&ccedil;ao');
    expect(text).toContain('The&nbsp;Advisories tab was updated &ndash; Exercise a high degree of caution.');
    const byKey = new Map((await parse('ca-travel', text)).map((i) => [i.key, i]));

    expect(byKey.get('iso:KR')!.body).toContain('The Laws & Culture tab was updated - overview of the criminal law system.');
    expect(byKey.get('iso:CW')!.body).toContain('no Canadian office in Curaçao, contact the Embassy of Canada in Caracas');
    expect(byKey.get('iso:BS')!.body).toContain('The Advisories tab was updated – Exercise a high degree of caution.');
    expect(byKey.get('iso:CW')!.title).toBe('Curaçao: Exercise normal security precautions');
    expect(byKey.get('iso:VC')!.title).toBe('Saint Vincent & the Grenadines: Exercise normal security precautions');

    const russia = byKey.get('iso:RU')!;
    expect(russia).toMatchObject({
      countries: ['RU'],
      level: 2,
      levelText: 'Exercise a high degree of caution; see also regional advisories.',
      title: 'Russia: Exercise a high degree of caution; see also regional advisories.',
      link: 'https://travel.gc.ca/destinations/russia',
    });
    // The French strings ("Russie", "Faites preuve d'une grande prudence") are not read.
    for (const item of byKey.values()) expect(`${item.title} ${item.body}`).not.toMatch(/Russie|Faites preuve|&eacute;/);
  });

  it('the Iraq advice in the government’s words, on the 1–4 scale', async () => {
    const byKey = new Map((await parse('ca-travel', fixture(files[1]!))).map((i) => [i.key, i]));
    expect(byKey.get('iso:IQ')).toMatchObject({ level: 4, levelText: 'AVOID ALL TRAVEL; see also regional advisories.' });
    expect(byKey.get('iso:SD')).toMatchObject({ level: 3, levelText: 'AVOID NON-ESSENTIAL TRAVEL; see also regional advisories.' });
  });

  it('PT-20 (the Azores, an ISO 3166-2 subdivision) is its own advisory filed under PT; IC (Canary Islands) under ES', async () => {
    const items = await parse('ca-travel', fixture(files[0]!));
    const azores = items.find((i) => i.key === 'iso:PT-20');
    expect(azores).toMatchObject({ countries: ['PT'], level: 1, title: 'Azores: Exercise normal security precautions' });
    expect(items.find((i) => i.key === 'iso:PT')).toMatchObject({ countries: ['PT'], title: 'Portugal: Exercise normal security precautions' });
    expect(items.find((i) => i.key === 'iso:IC')).toMatchObject({ countries: ['ES'] });
  });

  it('pretty-printed and minified serialisations of one document give the same advisories', async () => {
    const minified = fixture(files[1]!);
    expect(minified).not.toContain('\n');
    const pretty = JSON.stringify(JSON.parse(minified), null, 2);
    expect(await parse('ca-travel', pretty)).toEqual(await parse('ca-travel', minified));
  });
});

describe('au-smartraveller profile on the constructed feed', () => {
  it('v1: one advisory per destination with its ISO code, level and headline wording', async () => {
    const items = await parse('au-smartraveller', fixture('au-smartraveller/index_v1.rss'));
    expect(items.map((i) => ({ key: i.key, countries: i.countries, level: i.level, title: i.title }))).toEqual([
      { key: 'iso:RU', countries: ['RU'], level: 4, title: 'Russia' },
      { key: 'iso:KR', countries: ['KR'], level: 1, title: 'South Korea (Republic of Korea)' },
      { key: 'iso:IL', countries: ['IL'], level: 3, title: 'Israel and the Palestinian Territories' },
      { key: 'iso:TH', countries: ['TH'], level: 2, title: 'Thailand' },
      { key: 'iso:US', countries: ['US'], level: 1, title: 'United States of America' },
    ]);
    const byKey = new Map(items.map((i) => [i.key, i]));
    expect(byKey.get('iso:RU')!.levelText).toBe('Do not travel to Russia due to the security situation and the impacts of the military conflict with Ukraine.');
    expect(byKey.get('iso:TH')!.levelText).toBe('Exercise a high degree of caution in Thailand overall.');
    expect(byKey.get('iso:IL')!.levelText).toBe(
      'Reconsider your need to travel to Israel overall due to the volatile security situation and the risk of military conflict.',
    );
    expect(byKey.get('iso:US')!.levelText).toBe('Exercise normal safety precautions in the United States of America.');
    expect(byKey.get('iso:RU')).toMatchObject({
      link: 'https://www.smartraveller.gov.au/destinations/europe/russia',
      guid: 'https://www.smartraveller.gov.au/destinations/europe/russia',
      publishedAt: new Date('2024-09-19T01:02:11Z'),
    });
    for (const i of items) expect(i.body).not.toMatch(ENTITY);
    expect(byKey.get('iso:RU')!.body).toContain('If you’re in Russia');
    expect(byKey.get('iso:TH')!.body).toContain('Thailand–Cambodia border');
  });

  it('v2: Israel raised to 4; the USA differs only by its pubDate; the rest is identical', async () => {
    const v1 = await parse('au-smartraveller', fixture('au-smartraveller/index_v1.rss'));
    const v2 = await parse('au-smartraveller', fixture('au-smartraveller/index_v2.rss'));
    const one = new Map(v1.map((i) => [i.key, i]));
    const two = new Map(v2.map((i) => [i.key, i]));
    expect([...two.keys()]).toEqual([...one.keys()]);
    expect(two.get('iso:IL')).toMatchObject({
      level: 4,
      levelText: 'Do not travel to Israel due to the volatile security situation and the risk of military conflict and terrorism in the region.',
    });
    const { publishedAt: usAt2, ...us2 } = two.get('iso:US')!;
    const { publishedAt: usAt1, ...us1 } = one.get('iso:US')!;
    expect(us2).toEqual(us1);
    expect(usAt2).not.toEqual(usAt1);
    for (const key of ['iso:RU', 'iso:KR', 'iso:TH']) expect(two.get(key)).toEqual(one.get(key));
  });
});
