import type { AdvisoryItem } from '../../advisories/model.ts';
import { aaLevel } from '../../advisories/wording.ts';
import { isCountryCode } from '../../common/countries.ts';
import { FeedParseError } from '../parse-xml.ts';
import { oneLine, parseJsonDocument } from './common.ts';
import type { SourceProfileImpl } from './types.ts';

// Germany's Federal Foreign Office (Auswärtiges Amt), open-data list endpoint
// `/opendata/travelwarning`: `{"response": {"<contentId>": {...}, "contentList": [...],
// "lastModified": N}}`, one entry per country with four warning flags and no
// advice text (that lives at `/travelwarning/<contentId>`). Quirks:
// - `lastModified` / `effective` churn on many entries every day with no flag
//   change, so they are dates, never part of the meaning;
// - they are Unix seconds in practice, milliseconds in the API's own docs;
// - the API answers `{}` when it fails or is switched off: that is a failed
//   poll, never "every advisory withdrawn".

/** The page people read; per-country pages have slugs the list does not carry. */
export const AA_ADVICE_PAGE = 'https://www.auswaertiges-amt.de/de/ReiseUndSicherheit/reise-und-sicherheitshinweise';

interface AaEntry {
  title?: unknown;
  countryCode?: unknown;
  countryName?: unknown;
  lastModified?: unknown;
  warning?: unknown;
  partialWarning?: unknown;
  situationWarning?: unknown;
  situationPartWarning?: unknown;
}

/** Seconds or milliseconds since the epoch (anything past 1e11 s would be the year 5138). */
export function epochToDate(v: unknown): Date | null {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n) || n <= 0) return null;
  return new Date(n >= 1e11 ? n : n * 1000);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export const deAaProfile: SourceProfileImpl = {
  async parse(body) {
    const doc = parseJsonDocument(body);
    if (isObject(doc) && Object.keys(doc).length === 0) {
      throw new FeedParseError('the Auswärtiges Amt API answered with an empty object ({}), its way of failing or being switched off');
    }
    const response = isObject(doc) ? doc.response : undefined;
    if (!isObject(response)) {
      throw new FeedParseError('not the Auswärtiges Amt travel-warning list: no "response" object');
    }
    const items: AdvisoryItem[] = [];
    for (const [contentId, raw] of Object.entries(response)) {
      if (!isObject(raw) || typeof raw.countryCode !== 'string') continue; // contentList, lastModified
      const entry = raw as AaEntry;
      const iso = String(entry.countryCode).trim().toUpperCase();
      if (!isCountryCode(iso)) continue;
      const reading = aaLevel({
        warning: entry.warning === true,
        partialWarning: entry.partialWarning === true,
        situationWarning: entry.situationWarning === true,
        situationPartWarning: entry.situationPartWarning === true,
      });
      const name = typeof entry.countryName === 'string' ? oneLine(entry.countryName) : '';
      const title = (typeof entry.title === 'string' ? oneLine(entry.title) : '') || `${name || iso}: ${reading.wording}`;
      items.push({
        key: `iso:${iso}`,
        guid: contentId,
        link: AA_ADVICE_PAGE,
        title,
        // The list carries no advice text: the flags in force are its whole meaning.
        body: reading.flags.length ? `${reading.flags.join('; ')}.` : 'Keine Reisewarnung oder Teilreisewarnung.',
        countries: [iso],
        level: reading.level,
        levelText: reading.wording,
        publishedAt: epochToDate(entry.lastModified),
      });
    }
    if (items.length === 0) {
      // An answer without a single country is the API failing, like `{}`.
      throw new FeedParseError('the Auswärtiges Amt travel-warning list has no country entries');
    }
    return items;
  },
};
