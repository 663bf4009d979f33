import { governmentOf } from '../advisories/governments.ts';
import type { SourceProfile } from '../config/schema.ts';

/**
 * Every feed the product knows how to read: one per government-wide source,
 * and URL patterns for the per-post / per-country feeds (one U.S. embassy's
 * alerts, one country's GOV.UK advice). `feeds catalogue` prints it so an admin
 * can copy an entry into feeds.yaml; the shipped feeds.yaml is checked against
 * it in the tests, so the two cannot drift apart.
 *
 * A pattern's placeholders: `<cc>` the lower-case ISO 3166-1 alpha-2 code in a
 * host name (`ru.usembassy.gov`), `<CC>` the same code upper-case (the feed's
 * `countries`), `<slug>` GOV.UK's country slug (`russia`, `south-korea`).
 */

// usembassy.gov (CloudFront) answers non-browser User-Agents with an HTML error
// page and state.gov sites with a bot check, so these feeds need a browser's
// User-Agent to be served the feed at all.
const BROWSER_USER_AGENT = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
export const BROWSER_HEADERS_WHY = 'the site serves an HTML error or bot-check page to non-browser User-Agents';

export interface CatalogueEntry {
  /** The id to use in feeds.yaml (with the pattern's placeholders filled in). */
  id: string;
  name: string;
  source: SourceProfile;
  /** A URL, or a URL pattern with placeholders. */
  url: string;
  /** Government-wide feeds cover every destination; per-country ones one country or post each. */
  scope: 'government-wide' | 'per-country';
  /** What it covers, in a sentence. */
  coverage: string;
  /** A polite schedule for it (node-cron). */
  schedule: string;
  /** ISO codes the feed speaks for, when the documents do not say (pattern: `<CC>`). */
  countries?: string[];
  /** Headers the site needs from a non-browser client, and why. */
  headers?: Record<string, string>;
  headersWhy?: string;
}

export const CATALOGUE: readonly CatalogueEntry[] = [
  {
    id: 'us-state-dept',
    name: 'U.S. State Department travel advisories',
    source: 'us-state-dept',
    url: 'https://travel.state.gov/_res/rss/TAsTWs.xml',
    scope: 'government-wide',
    coverage: 'every destination, Levels 1–4, plus the Worldwide Caution',
    schedule: '*/15 * * * *',
    headers: { 'User-Agent': BROWSER_USER_AGENT },
    headersWhy: BROWSER_HEADERS_WHY,
  },
  {
    id: 'ca-travel',
    name: 'Government of Canada travel advisories',
    source: 'ca-travel',
    url: 'https://data.international.gc.ca/travel-voyage/index-alpha-eng.json',
    scope: 'government-wide',
    coverage: 'every destination (and some regions: the Azores, the Canary Islands), advisory-state 0–3',
    schedule: '0 * * * *',
  },
  {
    id: 'au-smartraveller',
    name: 'Australia Smartraveller destinations',
    source: 'au-smartraveller',
    url: 'https://www.smartraveller.gov.au/countries/documents/index.rss',
    scope: 'government-wide',
    coverage: 'every destination, the four Smartraveller advice levels',
    schedule: '5 * * * *',
  },
  {
    id: 'de-aa',
    name: 'Auswärtiges Amt — Reise- und Sicherheitshinweise',
    source: 'de-aa',
    url: 'https://www.auswaertiges-amt.de/opendata/travelwarning',
    scope: 'government-wide',
    coverage: 'every country (about 200), travel-warning flags; German wording',
    schedule: '20 * * * *',
  },
  {
    id: 'jp-mofa',
    name: 'Japan MOFA overseas safety — new arrivals',
    source: 'jp-mofa',
    url: 'https://www.ezairyu.mofa.go.jp/opendata/area/newarrivalL.xml',
    scope: 'government-wide',
    coverage:
      'danger-level notices (危険情報) for every country as they are issued, and embassies’ consular e-mails; Japanese text; a rolling window of recent items',
    schedule: '*/15 * * * *',
  },
  {
    id: 'us-embassy-<cc>',
    name: 'U.S. Embassy in <CC> — alerts',
    source: 'us-embassy',
    url: 'https://<cc>.usembassy.gov/category/alert/feed/',
    scope: 'per-country',
    coverage: 'one U.S. embassy’s security, demonstration and weather alerts and messages for U.S. citizens (a few posts use other hosts)',
    schedule: '*/10 * * * *',
    countries: ['<CC>'],
    headers: { 'User-Agent': BROWSER_USER_AGENT },
    headersWhy: BROWSER_HEADERS_WHY,
  },
  {
    id: 'uk-fcdo-<slug>',
    name: 'UK FCDO — <slug> travel advice',
    source: 'uk-fcdo',
    url: 'https://www.gov.uk/foreign-travel-advice/<slug>.atom',
    scope: 'per-country',
    coverage: 'one country’s FCDO travel advice: the latest change and whether the FCDO advises against (all but essential) travel',
    schedule: '*/30 * * * *',
  },
];

export function isPattern(entry: CatalogueEntry): boolean {
  return /<(?:cc|CC|slug)>/.test(entry.url);
}

export interface CatalogueRow {
  id: string;
  name: string;
  government: string;
  profile: SourceProfile;
  url: string;
  pattern: boolean;
  scope: CatalogueEntry['scope'];
  coverage: string;
  schedule: string;
  countries: string[];
  headers: Record<string, string>;
}

/** The catalogue as `feeds catalogue` lists it. */
export function catalogueRows(): CatalogueRow[] {
  return CATALOGUE.map((e) => ({
    id: e.id,
    name: e.name,
    government: governmentOf(e.source, e.name),
    profile: e.source,
    url: e.url,
    pattern: isPattern(e),
    scope: e.scope,
    coverage: e.coverage,
    schedule: e.schedule,
    countries: e.countries ?? [],
    headers: e.headers ?? {},
  }));
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Each entry's URL as a pattern and the placeholders it captures; built once (every poll checks every feed). */
let urlPatterns: { entry: CatalogueEntry; re: RegExp; names: string[] }[] | undefined;

/** The entry a feed's URL comes from, with the placeholders it filled in; undefined for an unknown feed. */
export function catalogueEntryFor(url: string): { entry: CatalogueEntry; values: Record<string, string> } | undefined {
  urlPatterns ??= CATALOGUE.map((entry) => {
    const names: string[] = [];
    const re = escapeRegExp(entry.url).replace(/<(cc|CC|slug)>/g, (_m, name: string) => {
      names.push(name);
      return name === 'slug' ? '([a-z0-9-]+)' : '([a-z]{2})';
    });
    return { entry, re: new RegExp(`^${re}$`), names };
  });
  for (const { entry, re, names } of urlPatterns) {
    const m = re.exec(url);
    if (m) return { entry, values: Object.fromEntries(names.map((n, i) => [n, m[i + 1]!])) };
  }
  return undefined;
}

/** A pattern entry with its placeholders filled in (`{ cc: 'ru' }`, `{ slug: 'russia' }`). */
export function fillPattern(entry: CatalogueEntry, values: { cc?: string; slug?: string }): CatalogueEntry {
  const fill = (s: string) =>
    s
      .replace(/<cc>/g, values.cc?.toLowerCase() ?? '<cc>')
      .replace(/<CC>/g, values.cc?.toUpperCase() ?? '<CC>')
      .replace(/<slug>/g, values.slug ?? '<slug>');
  return { ...entry, id: fill(entry.id), name: fill(entry.name), url: fill(entry.url), ...(entry.countries ? { countries: entry.countries.map(fill) } : {}) };
}
