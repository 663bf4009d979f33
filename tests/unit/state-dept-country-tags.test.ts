import { readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import { STATE_DEPT_COUNTRY_TAGS, stateDeptTagToIso } from '../../src/feeds/profiles/state-dept-country-tags.ts';

const FIXTURE = new URL('../fixtures/us-state-dept/TAsTWs_2021-03-01.xml', import.meta.url);

function decodeEntities(s: string): string {
  return s
    .replace(/&#x([0-9a-f]+);/gi, (_m, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_m, dec: string) => String.fromCodePoint(parseInt(dec, 10)))
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

interface FeedItem {
  tag: string;
  destination: string;
}

function readItems(): FeedItem[] {
  const xml = readFileSync(FIXTURE, 'utf8');
  const items: FeedItem[] = [];
  for (const m of xml.matchAll(/<item>([\s\S]*?)<\/item>/g)) {
    const body = m[1] ?? '';
    const title = /<title>([\s\S]*?)<\/title>/.exec(body)?.[1];
    const tags = [...body.matchAll(/<category domain='Country-Tag'>([^<]*)<\/category>/g)].map((t) => (t[1] ?? '').trim());
    if (title === undefined) throw new Error('item without <title>');
    // "Russia - Level 4: Do Not Travel", "Kenya  - Level 3: ...", "Worldwide Caution - Caution"
    const dest = /^(.*?)\s+-\s+(?:Level \d\b.*|Caution)$/.exec(decodeEntities(title).trim())?.[1];
    if (dest === undefined) throw new Error(`unexpected title: ${title}`);
    expect(tags, `Country-Tag count for ${dest}`).toHaveLength(1);
    items.push({ tag: tags[0] ?? '', destination: dest.trim() });
  }
  return items;
}

// Independent expectation, keyed by the destination name as it appears in the item title.
const EXPECTED_BY_DESTINATION: Readonly<Record<string, readonly string[]>> = {
  Afghanistan: ['AF'],
  Albania: ['AL'],
  Algeria: ['DZ'],
  Andorra: ['AD'],
  Angola: ['AO'],
  Anguilla: ['AI'],
  Antarctica: ['AQ'],
  'Antigua and Barbuda': ['AG'],
  Argentina: ['AR'],
  Armenia: ['AM'],
  Aruba: ['AW'],
  Australia: ['AU'],
  Austria: ['AT'],
  Azerbaijan: ['AZ'],
  Bahrain: ['BH'],
  Bangladesh: ['BD'],
  Barbados: ['BB'],
  Belarus: ['BY'],
  Belgium: ['BE'],
  Belize: ['BZ'],
  Benin: ['BJ'],
  Bermuda: ['BM'],
  Bhutan: ['BT'],
  Bolivia: ['BO'],
  'Bonaire, Sint Eustatius, and Saba': ['BQ'],
  'Bosnia and Herzegovina': ['BA'],
  Botswana: ['BW'],
  Brazil: ['BR'],
  'British Virgin Islands': ['VG'],
  Brunei: ['BN'],
  Bulgaria: ['BG'],
  'Burkina Faso': ['BF'],
  'Burma (Myanmar)': ['MM'],
  Burundi: ['BI'],
  'Cabo Verde': ['CV'],
  Cambodia: ['KH'],
  Cameroon: ['CM'],
  Canada: ['CA'],
  'Cayman Islands': ['KY'],
  'Central African Republic': ['CF'],
  Chad: ['TD'],
  Chile: ['CL'],
  China: ['CN'],
  Colombia: ['CO'],
  Comoros: ['KM'],
  'Costa Rica': ['CR'],
  'Cote d Ivoire': ['CI'],
  Croatia: ['HR'],
  Cuba: ['CU'],
  Curaçao: ['CW'],
  Cyprus: ['CY'],
  'Czech Republic': ['CZ'],
  'Democratic Republic of the Congo': ['CD'],
  Denmark: ['DK'],
  Djibouti: ['DJ'],
  Dominica: ['DM'],
  'Dominican Republic': ['DO'],
  Ecuador: ['EC'],
  Egypt: ['EG'],
  'El Salvador': ['SV'],
  'Equatorial Guinea': ['GQ'],
  Eritrea: ['ER'],
  Estonia: ['EE'],
  Eswatini: ['SZ'],
  Ethiopia: ['ET'],
  Fiji: ['FJ'],
  Finland: ['FI'],
  France: ['FR'],
  'French Guiana': ['GF'],
  'French Polynesia': ['PF'],
  'French West Indies': ['GP', 'MQ', 'BL', 'MF'],
  Gabon: ['GA'],
  Georgia: ['GE'],
  Germany: ['DE'],
  Ghana: ['GH'],
  Greece: ['GR'],
  Grenada: ['GD'],
  Guatemala: ['GT'],
  Guinea: ['GN'],
  'Guinea-Bissau': ['GW'],
  Guyana: ['GY'],
  Haiti: ['HT'],
  Honduras: ['HN'],
  'Hong Kong': ['HK'],
  Hungary: ['HU'],
  Iceland: ['IS'],
  India: ['IN'],
  Indonesia: ['ID'],
  Iran: ['IR'],
  Iraq: ['IQ'],
  Ireland: ['IE'],
  'Israel, The West Bank and Gaza': ['IL', 'PS'],
  Italy: ['IT'],
  Jamaica: ['JM'],
  Japan: ['JP'],
  Jordan: ['JO'],
  Kazakhstan: ['KZ'],
  Kenya: ['KE'],
  Kiribati: ['KI'],
  Kosovo: ['XK'],
  Kuwait: ['KW'],
  Kyrgyzstan: ['KG'],
  Laos: ['LA'],
  Latvia: ['LV'],
  Lebanon: ['LB'],
  Lesotho: ['LS'],
  Liberia: ['LR'],
  Libya: ['LY'],
  Liechtenstein: ['LI'],
  Lithuania: ['LT'],
  Luxembourg: ['LU'],
  Macau: ['MO'],
  Madagascar: ['MG'],
  Malawi: ['MW'],
  Malaysia: ['MY'],
  Maldives: ['MV'],
  Mali: ['ML'],
  Malta: ['MT'],
  'Marshall Islands': ['MH'],
  Mauritania: ['MR'],
  Mauritius: ['MU'],
  Mexico: ['MX'],
  Micronesia: ['FM'],
  Moldova: ['MD'],
  Mongolia: ['MN'],
  Montenegro: ['ME'],
  Montserrat: ['MS'],
  Morocco: ['MA'],
  Mozambique: ['MZ'],
  Namibia: ['NA'],
  Nauru: ['NR'],
  Nepal: ['NP'],
  Netherlands: ['NL'],
  'New Caledonia': ['NC'],
  'New Zealand': ['NZ'],
  Nicaragua: ['NI'],
  Niger: ['NE'],
  Nigeria: ['NG'],
  'North Korea': ['KP'],
  'North Macedonia': ['MK'],
  Norway: ['NO'],
  Oman: ['OM'],
  Pakistan: ['PK'],
  Palau: ['PW'],
  Panama: ['PA'],
  'Papua New Guinea': ['PG'],
  Paraguay: ['PY'],
  Peru: ['PE'],
  Philippines: ['PH'],
  Poland: ['PL'],
  Portugal: ['PT'],
  Qatar: ['QA'],
  'Republic of the Congo': ['CG'],
  Romania: ['RO'],
  Russia: ['RU'],
  Rwanda: ['RW'],
  'Saint Kitts and Nevis': ['KN'],
  'Saint Lucia': ['LC'],
  'Saint Vincent and the Grenadines': ['VC'],
  Samoa: ['WS'],
  'Sao Tome and Principe': ['ST'],
  'Saudi Arabia': ['SA'],
  Senegal: ['SN'],
  Serbia: ['RS'],
  Seychelles: ['SC'],
  'Sierra Leone': ['SL'],
  Singapore: ['SG'],
  'Sint Maarten': ['SX'],
  Slovakia: ['SK'],
  Slovenia: ['SI'],
  'Solomon Islands': ['SB'],
  Somalia: ['SO'],
  'South Africa': ['ZA'],
  'South Korea': ['KR'],
  'South Sudan': ['SS'],
  Spain: ['ES'],
  'Sri Lanka': ['LK'],
  Sudan: ['SD'],
  Suriname: ['SR'],
  Sweden: ['SE'],
  Switzerland: ['CH'],
  Syria: ['SY'],
  Taiwan: ['TW'],
  Tajikistan: ['TJ'],
  Tanzania: ['TZ'],
  Thailand: ['TH'],
  'The Bahamas': ['BS'],
  'The Gambia': ['GM'],
  'Timor-Leste': ['TL'],
  Togo: ['TG'],
  Tonga: ['TO'],
  'Trinidad and Tobago': ['TT'],
  Tunisia: ['TN'],
  Turkey: ['TR'],
  Turkmenistan: ['TM'],
  'Turks and Caicos Islands': ['TC'],
  Tuvalu: ['TV'],
  Uganda: ['UG'],
  Ukraine: ['UA'],
  'United Arab Emirates': ['AE'],
  'United Kingdom': ['GB'],
  Uruguay: ['UY'],
  Uzbekistan: ['UZ'],
  Vanuatu: ['VU'],
  Venezuela: ['VE'],
  Vietnam: ['VN'],
  'Worldwide Caution': [],
  Yemen: ['YE'],
  Zambia: ['ZM'],
  Zimbabwe: ['ZW'],
};

// ISO 3166-1 alpha-2 officially assigned codes (249), plus XK (Kosovo, user-assigned, in common use).
const ISO_3166_1_ALPHA2 = new Set(
  `
  AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE
  BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD
  CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
  DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF
  GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU
  ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
  KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME
  MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
  NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
  PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI
  SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK
  TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
  VN VU WF WS YE YT ZA ZM ZW
  XK`
    .trim()
    .split(/\s+/),
);

describe('STATE_DEPT_COUNTRY_TAGS', () => {
  const items = readItems();

  it('reads all 210 items of the 2021-03-01 snapshot, one item per tag', () => {
    expect(items).toHaveLength(210);
    expect(new Set(items.map((i) => i.tag)).size).toBe(210);
    expect(new Set(items.map((i) => i.destination)).size).toBe(210);
  });

  it('maps every Country-Tag found in the feed', () => {
    const unknown = items.filter((i) => stateDeptTagToIso(i.tag) === undefined).map((i) => i.tag);
    expect(unknown).toEqual([]);
  });

  it('maps every item to the ISO codes expected for its destination name', () => {
    expect(Object.keys(EXPECTED_BY_DESTINATION).sort()).toEqual(items.map((i) => i.destination).sort());
    for (const { tag, destination } of items) {
      expect(stateDeptTagToIso(tag), `${tag} | ${destination}`).toEqual(EXPECTED_BY_DESTINATION[destination]);
    }
  });

  it('produces only valid, unique, uppercase ISO 3166-1 alpha-2 codes', () => {
    for (const [tag, codes] of Object.entries(STATE_DEPT_COUNTRY_TAGS)) {
      expect(new Set(codes).size, `duplicates for ${tag}`).toBe(codes.length);
      for (const code of codes) {
        expect(code, `tag ${tag}`).toMatch(/^[A-Z]{2}$/);
        expect(ISO_3166_1_ALPHA2.has(code), `tag ${tag} -> ${code}`).toBe(true);
      }
      if (tag !== 'caution') {
        expect(tag).toMatch(/^[A-Z0-9]{2}$/);
        expect(codes.length, `tag ${tag}`).toBeGreaterThan(0);
      }
    }
  });

  it('spot checks the FIPS-style codes that collide with ISO', () => {
    expect(stateDeptTagToIso('RS')).toEqual(['RU']);
    expect(stateDeptTagToIso('RI')).toEqual(['RS']);
    expect(stateDeptTagToIso('BO')).toEqual(['BY']);
    expect(stateDeptTagToIso('BL')).toEqual(['BO']);
    expect(stateDeptTagToIso('UP')).toEqual(['UA']);
    expect(stateDeptTagToIso('SF')).toEqual(['ZA']);
    expect(stateDeptTagToIso('SR')).toEqual(['CH']);
    expect(stateDeptTagToIso('UC')).toEqual(['CW']);
    expect(stateDeptTagToIso('BM')).toEqual(['MM']);
    expect(stateDeptTagToIso('CT')).toEqual(['CF']);
    expect(stateDeptTagToIso('caution')).toEqual([]);
    expect(stateDeptTagToIso('A3')).toEqual(['GP', 'MQ', 'BL', 'MF']);
    expect(stateDeptTagToIso('IS')).toEqual(['IL', 'PS']);
    expect(stateDeptTagToIso('A1')).toEqual(['BQ']);
  });

  it('covers common FIPS codes absent from the 2021 snapshot', () => {
    expect(stateDeptTagToIso('VT')).toEqual(['VA']);
    expect(stateDeptTagToIso('MN')).toEqual(['MC']);
    expect(stateDeptTagToIso('SM')).toEqual(['SM']);
    expect(stateDeptTagToIso('GL')).toEqual(['GL']);
    expect(stateDeptTagToIso('FO')).toEqual(['FO']);
  });

  it('is case-insensitive for two-letter tags and undefined for unknown tags', () => {
    expect(stateDeptTagToIso('rs')).toEqual(['RU']);
    expect(stateDeptTagToIso('Up')).toEqual(['UA']);
    expect(stateDeptTagToIso('a3')).toEqual(['GP', 'MQ', 'BL', 'MF']);
    expect(stateDeptTagToIso('QQ')).toBeUndefined();
    expect(stateDeptTagToIso('RQ')).toBeUndefined(); // Puerto Rico: U.S., no advisory
    expect(stateDeptTagToIso('')).toBeUndefined();
    expect(stateDeptTagToIso('constructor')).toBeUndefined();
    expect(stateDeptTagToIso('toString')).toBeUndefined();
  });
});
