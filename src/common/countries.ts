// The library without its locales: the package's main entry registers all 78 of them
// (78 JSON files, about 0.1 s of CPU in every command); we use English names only.
import countries from 'i18n-iso-countries/index.js';
import en from 'i18n-iso-countries/langs/en.json' with { type: 'json' };

countries.registerLocale(en);

/** Lower-case, accents stripped, punctuation as spaces, "St" as "Saint", no leading "the". */
function key(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/&/g, ' and ')
    .replace(/[^a-z0-9]+/g, ' ')
    .replace(/\bst\b/g, 'saint')
    .replace(/^the /, '')
    .trim();
}

// Names governments use that the ISO/CLDR lists don't carry (seen in GOV.UK
// slugs, State Department titles, Smartraveller destinations).
const ALIASES: Record<string, string> = {
  laos: 'LA',
  burma: 'MM',
  'burma myanmar': 'MM',
  syria: 'SY',
  brunei: 'BN',
  moldova: 'MD',
  micronesia: 'FM',
  'vatican city': 'VA',
  'holy see': 'VA',
  'occupied palestinian territories': 'PS',
  'palestinian territories': 'PS',
  'israel the west bank and gaza': 'IL',
  'israel and the palestinian territories': 'IL',
  'united states of america': 'US',
  'east timor': 'TL',
  swaziland: 'SZ',
  'cote d ivoire': 'CI',
  'ivory coast': 'CI',
  curacao: 'CW',
  'falkland islands': 'FK',
  'pitcairn island': 'PN',
  'pitcairn islands': 'PN',
  'south georgia and south sandwich islands': 'GS',
  usa: 'US',
  uk: 'GB',
  'democratic republic of congo': 'CD',
  'republic of the congo': 'CG',
  'republic of congo': 'CG',
  'cabo verde': 'CV',
  macau: 'MO',
  'north korea': 'KP',
  'south korea': 'KR',
  russia: 'RU',
  'czech republic': 'CZ',
  'bonaire saint eustatius and saba': 'BQ',
  'saint maarten': 'SX',
  'sint maarten': 'SX',
  'saint martin': 'MF',
  'saint barthelemy': 'BL',
  'turks and caicos': 'TC',
  'british virgin islands': 'VG',
  'us virgin islands': 'VI',
  kosovo: 'XK',
};

const BY_NAME = new Map<string, string>();
for (const [code, names] of Object.entries(countries.getNames('en', { select: 'all' }))) {
  for (const n of names) BY_NAME.set(key(n), code);
}
for (const [alias, code] of Object.entries(ALIASES)) BY_NAME.set(key(alias), code);

/** ISO 3166-1 alpha-2 (plus XK, Kosovo) for a country name as governments write it. */
export function countryCodeFromName(name: string): string | undefined {
  const attempts = [name, name.replace(/\s*\([^)]*\)\s*/g, ' '), /\(([^)]+)\)/.exec(name)?.[1] ?? ''];
  for (const attempt of attempts) {
    const k = key(attempt);
    if (!k) continue;
    const code = BY_NAME.get(k) ?? BY_NAME.get(k.replace(/ travel advice$/, ''));
    if (code) return code;
  }
  return undefined;
}

export function isCountryCode(code: string): boolean {
  return /^[A-Z]{2}$/.test(code) && countries.isValid(code);
}

// Names as people say and sort them, where the CLDR short name is an
// abbreviation ("UK", "UAE"), inverted ("Korea, Republic of") or starts with
// "The" (which would file the Netherlands under T).
const PLAIN_NAMES: Record<string, string> = {
  GB: 'United Kingdom',
  AE: 'United Arab Emirates',
  KR: 'South Korea',
  KP: 'North Korea',
  LA: 'Laos',
  SY: 'Syria',
  MD: 'Moldova',
  FM: 'Micronesia',
  NL: 'Netherlands',
  GM: 'Gambia',
  VA: 'Vatican City',
  FK: 'Falkland Islands',
  VG: 'British Virgin Islands',
  VI: 'U.S. Virgin Islands',
  MF: 'Saint Martin',
  SX: 'Sint Maarten',
  CC: 'Cocos (Keeling) Islands',
};

// Short names ("Russia", not "Russian Federation"), except where two codes
// share one short name (CD and CG are both "Congo"): those keep the official name.
const SHORT_NAMES = (() => {
  const short = countries.getNames('en', { select: 'alias' });
  const counts = new Map<string, number>();
  for (const n of Object.values(short)) counts.set(n, (counts.get(n) ?? 0) + 1);
  const official = countries.getNames('en', { select: 'official' });
  return new Map(Object.entries(short).map(([code, n]) => [code, PLAIN_NAMES[code] ?? ((counts.get(n) ?? 0) > 1 ? (official[code] ?? n) : n)]));
})();

export function countryName(code: string): string {
  return SHORT_NAMES.get(code) ?? code;
}

/** Every code with an English name, for pickers. */
export function allCountries(): { code: string; name: string }[] {
  return [...SHORT_NAMES.entries()].map(([code, name]) => ({ code, name })).sort((a, b) => a.name.localeCompare(b.name, 'en'));
}

const ALL_NAMES = countries.getNames('en', { select: 'all' });
const ALIASES_BY_CODE = new Map<string, string[]>();
for (const [alias, code] of Object.entries(ALIASES)) ALIASES_BY_CODE.set(code, [...(ALIASES_BY_CODE.get(code) ?? []), alias]);

/**
 * Every name a person might type to find a country in a filter box ("Holland"
 * is not one, "UK", "Burma", "Congo", "Russian Federation" and the code are),
 * normalised as `key` does: lower case, no accents, no leading "the".
 */
export function countrySearchNames(code: string): string[] {
  const names = [countryName(code), ...(ALL_NAMES[code] ?? []), ...(ALIASES_BY_CODE.get(code) ?? []), code];
  return [...new Set(names.map(key))];
}

export function countryCodeFromAlpha3(code: string): string | undefined {
  return countries.alpha3ToAlpha2(code.toUpperCase()) ?? undefined;
}

/**
 * What someone probably meant by a country that is not an ISO code: "UK" → GB,
 * "Russia" → RU (names as governments and people write them). For hints in
 * refusals, and to resolve whole names typed where a code is expected.
 */
export function countryCodeSuggestion(input: string): string | undefined {
  const t = input.trim();
  const code = countryCodeFromName(t) ?? (/^[A-Za-z]{3}$/.test(t) ? countryCodeFromAlpha3(t) : undefined);
  return code && code !== t.toUpperCase() ? code : undefined;
}

/** "unknown country code: UK (did you mean GB, United Kingdom?)" — the reason for a refused code. */
export function unknownCountryMessage(inputs: readonly string[]): string {
  const hints = inputs.map((i) => {
    const s = countryCodeSuggestion(i);
    const shown = i.length <= 3 ? i.toUpperCase() : i;
    return s ? `${shown} (did you mean ${s}, ${countryName(s)}?)` : shown;
  });
  return `unknown country code${inputs.length > 1 ? 's' : ''}: ${hints.join(', ')}`;
}
