import type { AdvisoryItem } from '../../advisories/model.ts';
import { canadaLevel } from '../../advisories/wording.ts';
import { isCountryCode } from '../../common/countries.ts';
import { FeedParseError } from '../parse-xml.ts';
import { oneLine, parseJsonDocument } from './common.ts';
import type { SourceProfileImpl } from './types.ts';

// Government of Canada `index-alpha-eng.json`: one object keyed by ISO code.
// The whole document is re-published with new timestamps for every country and
// sometimes re-serialised (pretty-printed vs minified), so only the parsed
// values count. Strings carry HTML entities (`&eacute;`, `&nbsp;`) inside JSON.

interface CaEntry {
  'advisory-state'?: unknown;
  'date-published'?: { timestamp?: unknown };
  eng?: { name?: unknown; 'url-slug'?: unknown; 'advisory-text'?: unknown; 'recent-updates'?: unknown };
}

// Keys that are not ISO 3166-1 countries but parts of one: ISO 3166-2
// subdivisions ("PT-20", the Azores) and exceptionally reserved codes (IC, the
// Canary Islands). They stay separate advisories, filed under their country.
const RESERVED: Record<string, string> = { IC: 'ES', EA: 'ES' };

function countriesOf(code: string): string[] | null {
  if (isCountryCode(code)) return [code];
  const parent = RESERVED[code] ?? /^([A-Z]{2})-[A-Z0-9]{1,3}$/.exec(code)?.[1];
  return parent && isCountryCode(parent) ? [parent] : null;
}

function text(v: unknown): string {
  return typeof v === 'string' ? oneLine(v) : '';
}

export const caTravelProfile: SourceProfileImpl = {
  async parse(body) {
    const doc = parseJsonDocument(body) as { data?: unknown } | null;
    if (!doc || typeof doc.data !== 'object' || doc.data === null || Array.isArray(doc.data)) {
      throw new FeedParseError('not the Canada travel advisory index: no "data" object keyed by country code');
    }
    const items: AdvisoryItem[] = [];
    for (const [code, raw] of Object.entries(doc.data as Record<string, CaEntry>)) {
      const iso = code.toUpperCase();
      const countries = countriesOf(iso);
      if (!countries || !raw || typeof raw !== 'object') continue;
      const name = text(raw.eng?.name) || iso;
      const advice = text(raw.eng?.['advisory-text']);
      const updates = text(raw.eng?.['recent-updates']);
      const slug = text(raw.eng?.['url-slug']);
      const ts = raw['date-published']?.timestamp;
      items.push({
        key: `iso:${iso}`,
        guid: null,
        link: slug ? `https://travel.gc.ca/destinations/${encodeURIComponent(slug)}` : null,
        title: advice ? `${name}: ${advice}` : name,
        body: [advice, updates].filter(Boolean).join('\n\n'),
        countries,
        level: canadaLevel(raw['advisory-state']),
        levelText: advice || null,
        publishedAt: typeof ts === 'number' ? new Date(ts * 1000) : null,
      });
    }
    return items;
  },
};
