import { describe, expect, it } from 'vitest';
import { canadaLevel, fcdoLevel, smartravellerLevel } from '../../src/advisories/wording.ts';

/**
 * The wording → level rules (docs/contract.md, "Sources and advisories"), one table per government. Sentences
 * follow the governments' published phrasing (GOV.UK summaries, Smartraveller
 * headlines); `wording` is the sentence the level was read from.
 */

interface FcdoCase {
  name: string;
  text: string;
  country: string | null;
  level: number;
  wording: string | null;
}

const FCDO: FcdoCase[] = [
  {
    name: 'against all travel to the whole country → 4',
    text: 'FCDO advises against all travel to Russia.',
    country: 'Russia',
    level: 4,
    wording: 'FCDO advises against all travel to Russia.',
  },
  {
    name: '"The FCDO advise" (older GOV.UK style), with "the" before the country → 4',
    text: 'The FCO advise against all travel to the Central African Republic.',
    country: 'Central African Republic',
    level: 4,
    wording: 'The FCO advise against all travel to the Central African Republic.',
  },
  {
    name: 'against all travel to "the whole of" the country → 4',
    text: 'The FCDO advises against all travel to the whole of Syria.',
    country: 'Syria',
    level: 4,
    wording: 'The FCDO advises against all travel to the whole of Syria.',
  },
  {
    name: 'against all but essential travel to the whole country → 3',
    text: 'FCDO advises against all but essential travel to Iran.',
    country: 'Iran',
    level: 3,
    wording: 'FCDO advises against all but essential travel to Iran.',
  },
  {
    name: 'against all travel "to parts of" the country → one lower (3)',
    text: 'FCDO advises against all travel to parts of Ukraine.',
    country: 'Ukraine',
    level: 3,
    wording: 'FCDO advises against all travel to parts of Ukraine.',
  },
  {
    name: 'against all but essential travel "to parts of" the country → one lower (2)',
    text: 'FCDO advises against all but essential travel to parts of Mexico.',
    country: 'Mexico',
    level: 2,
    wording: 'FCDO advises against all but essential travel to parts of Mexico.',
  },
  {
    name: 'against all travel to a border zone → 3',
    text: 'FCDO advises against all travel to within 10km of the border with Syria.',
    country: 'Turkey',
    level: 3,
    wording: 'FCDO advises against all travel to within 10km of the border with Syria.',
  },
  {
    name: 'against all but essential travel to named areas → 2',
    text: 'FCDO advises against all but essential travel to the areas of Zulia, Tachira and Apure states bordering Colombia.',
    country: 'Venezuela',
    level: 2,
    wording: 'FCDO advises against all but essential travel to the areas of Zulia, Tachira and Apure states bordering Colombia.',
  },
  {
    name: 'against all but essential travel to a list of regions (headline ends in a colon) → 2',
    text: 'FCDO advises against all but essential travel to:\n• the Far North region\n• the North West and South West regions',
    country: 'Cameroon',
    level: 2,
    wording: 'FCDO advises against all but essential travel to:',
  },
  {
    name: 'a place that is not the country (a city) counts as part of it → 3',
    text: 'FCDO advises against all travel to the city of Diyarbakir.',
    country: 'Turkey',
    level: 3,
    wording: 'FCDO advises against all travel to the city of Diyarbakir.',
  },
  {
    name: 'parts at level 4 and the whole country at 3: the highest reading (3) wins, first sentence kept on a tie',
    text: 'FCDO advises against all travel to within 5km of the border with Syria. FCDO advises against all but essential travel to Lebanon.',
    country: 'Lebanon',
    level: 3,
    wording: 'FCDO advises against all travel to within 5km of the border with Syria.',
  },
  {
    name: 'parts first, then the whole country against all travel → 4 with the whole-country sentence',
    text: 'FCDO advises against all but essential travel to parts of the north. FCDO advises against all travel to Afghanistan.',
    country: 'Afghanistan',
    level: 4,
    wording: 'FCDO advises against all travel to Afghanistan.',
  },
  {
    name: 'whole country in one paragraph, parts in another → the highest (4)',
    text: 'Latest update: changes to the Safety and security section.\n\nFCDO advises against all travel to Haiti.\n\nFCDO advises against all but essential travel to the border areas with the Dominican Republic.',
    country: 'Haiti',
    level: 4,
    wording: 'FCDO advises against all travel to Haiti.',
  },
  {
    name: 'the change note before the headline (the Atom entry summary) does not hide it',
    text: 'Latest update: Information on the presidential election on 15 to 17 March 2024 (‘Political situation’ section). FCDO advises against all travel to Russia.',
    country: 'Russia',
    level: 4,
    wording: 'FCDO advises against all travel to Russia.',
  },
  {
    name: 'the real Turkey summary of February 2017 (all travel to a border zone and a city; all but essential to provinces) → 3',
    text:
      'The Foreign and Commonwealth Office (FCO) advise against all travel to within 10 km of the border with Syria and to the city of Diyarbakir.\n\n' +
      'The FCO advise against all but essential travel to:\n\n' +
      '• the remaining areas of Sirnak, Mardin, Sanliurfa, Gaziantep, Diyarbakir, Kilis and Hatay provinces\n' +
      '• the provinces of Siirt, Tunceli and Hakkari',
    country: 'Turkey',
    level: 3,
    wording: 'The Foreign and Commonwealth Office (FCO) advise against all travel to within 10 km of the border with Syria and to the city of Diyarbakir.',
  },
  {
    name: 'no advise-against sentence → 1, no wording',
    text: 'Over 80,000 British nationals visit Albania every year. Most visits are trouble-free. Take extra care and avoid political rallies.',
    country: 'Albania',
    level: 1,
    wording: null,
  },
  {
    name: 'empty text → 1',
    text: '',
    country: 'France',
    level: 1,
    wording: null,
  },
  {
    name: 'wording is case-insensitive ("Advises Against All Travel")',
    text: 'The FCDO Advises Against All Travel to Sudan.',
    country: 'Sudan',
    level: 4,
    wording: 'The FCDO Advises Against All Travel to Sudan.',
  },
];

describe('fcdoLevel: UK FCDO wording → level', () => {
  it.each(FCDO)('$name', ({ text, country, level, wording }) => {
    expect(fcdoLevel(text, country)).toEqual({ level, wording });
  });

  it('the same sentence with another country named is about part of this one (one lower)', () => {
    expect(fcdoLevel('FCDO advises against all travel to Gaza.', 'Israel').level).toBe(3);
  });
});

interface SmartravellerCase {
  name: string;
  text: string;
  level: number | null;
  wording?: string;
}

const SMARTRAVELLER: SmartravellerCase[] = [
  {
    name: '"Exercise normal safety precautions" → 1',
    text: 'Exercise normal safety precautions in Japan.',
    level: 1,
    wording: 'Exercise normal safety precautions in Japan.',
  },
  {
    name: '"Exercise a high degree of caution" → 2',
    text: 'Exercise a high degree of caution in India.',
    level: 2,
    wording: 'Exercise a high degree of caution in India.',
  },
  {
    name: '"Reconsider your need to travel" → 3',
    text: 'Reconsider your need to travel to Nigeria.',
    level: 3,
    wording: 'Reconsider your need to travel to Nigeria.',
  },
  {
    name: '"Do not travel" → 4',
    text: 'Do not travel to Russia due to the security situation and the impacts of the military conflict with Ukraine.',
    level: 4,
    wording: 'Do not travel to Russia due to the security situation and the impacts of the military conflict with Ukraine.',
  },
  {
    name: 'phrases are case-insensitive ("DO NOT TRAVEL")',
    text: 'DO NOT TRAVEL to Afghanistan.',
    level: 4,
  },
  {
    name: '"overall" wins over a regional "Do not travel to X provinces"',
    text: 'Exercise a high degree of caution in Thailand overall. Do not travel to Narathiwat, Yala, Pattani and Songkhla provinces due to the high threat of violence.',
    level: 2,
    wording: 'Exercise a high degree of caution in Thailand overall.',
  },
  {
    name: '"overall" wins even when it comes after the regional sentence',
    text: 'Do not travel to Gaza. Reconsider your need to travel to Israel overall due to the volatile security situation.',
    level: 3,
    wording: 'Reconsider your need to travel to Israel overall due to the volatile security situation.',
  },
  {
    name: '"to parts of" the country → one lower',
    text: 'Do not travel to parts of Mali.',
    level: 3,
    wording: 'Do not travel to parts of Mali.',
  },
  {
    name: '"in parts of" the country → one lower',
    text: 'Reconsider your need to travel in parts of Colombia.',
    level: 2,
  },
  {
    name: 'a regional sentence alone (provinces) → one lower',
    text: 'Do not travel to Narathiwat, Yala, Pattani and Songkhla provinces.',
    level: 3,
  },
  {
    name: 'a border area alone → one lower',
    text: 'Do not travel to the border with Afghanistan.',
    level: 3,
  },
  {
    name: 'parts of the lowest level stay at 1',
    text: 'Exercise normal safety precautions in parts of Norway.',
    level: 1,
  },
  {
    name: 'without "overall", the highest reading wins (whole country 3 over parts 4 → 3)',
    text: 'Reconsider your need to travel to Pakistan. Do not travel to parts of Balochistan province.',
    level: 3,
    wording: 'Reconsider your need to travel to Pakistan.',
  },
  {
    name: 'the headline of an HTML-derived body with a title in front ("Russia. Do not travel …")',
    text: 'Russia. Do not travel to Russia due to the security situation.\n\nIf you are in Russia, consider leaving.',
    level: 4,
    wording: 'Do not travel to Russia due to the security situation.',
  },
  {
    name: 'a country whose name holds "States" is the whole country, not a region ("United States of America")',
    text: 'Exercise a high degree of caution in the United States of America.',
    level: 2,
    wording: 'Exercise a high degree of caution in the United States of America.',
  },
  {
    name: 'a country whose name holds "States" at level 4 ("Federated States of Micronesia")',
    text: 'Do not travel to the Federated States of Micronesia.',
    level: 4,
  },
  {
    name: 'a region named in the reason ("due to … in the region") does not make the advice regional',
    text: 'Do not travel to Lebanon due to the volatile security situation and the risk of military conflict in the region.',
    level: 4,
  },
  {
    name: 'the states of a federation are regions → one lower',
    text: 'Do not travel to the northern states of Mexico.',
    level: 3,
  },
  {
    name: 'none of the four phrases → null',
    text: 'Read our general advice for travellers.',
    level: null,
  },
];

describe('smartravellerLevel: Australia Smartraveller wording → level', () => {
  it.each(SMARTRAVELLER)('$name', ({ text, level, wording }) => {
    const reading = smartravellerLevel(text);
    if (level === null) {
      expect(reading).toBeNull();
      return;
    }
    expect(reading?.level).toBe(level);
    if (wording !== undefined) expect(reading?.wording).toBe(wording);
    else expect(reading?.wording).toEqual(expect.any(String));
  });
});

describe('canadaLevel: advisory-state 0–3 → 1–4', () => {
  it.each([
    [0, 1],
    [1, 2],
    [2, 3],
    [3, 4],
    ['0', 1],
    ['3', 4],
  ] as const)('advisory-state %j → %i', (state, level) => {
    expect(canadaLevel(state)).toBe(level);
  });

  it.each([[-1], [4], [1.5], [Number.NaN], ['12'], [''], ['two'], [' 2'], [null], [undefined], [true], [{}], [[2]]] as const)('junk %j → null', (state) => {
    expect(canadaLevel(state)).toBeNull();
  });
});
