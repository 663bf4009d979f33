import { catalogueEntryFor, fillPattern } from './catalogue.ts';
import type { FeedConfig } from '../config/schema.ts';

/** Profiles whose items carry no country of their own: the feed's `countries` say where they apply. */
const ALERT_PROFILES = new Set(['us-embassy', 'generic']);

/**
 * Valid but probably not what the admin meant: `config check` prints these as
 * warnings (exit 0). An alert feed without `countries` is valid (worldwide
 * news), but its alerts reach only subscribers who follow every destination.
 */
export function feedWarnings(feeds: readonly FeedConfig[]): string[] {
  return feeds.flatMap((f, i) => {
    if (!f.enabled) return [];
    const where = `feeds.yaml: feeds[${i}] (${f.id})`;
    const out: string[] = [];
    if (ALERT_PROFILES.has(f.source) && f.countries.length === 0) {
      out.push(`${where}: a ${f.source} feed without countries: its alerts reach only subscribers who follow every destination; set countries: [CC, …]`);
    }
    // A known government's URL read with another government's profile parses
    // (an RSS item is an RSS item) but yields advisories without level or country.
    const match = catalogueEntryFor(f.url);
    const known = match && fillPattern(match.entry, match.values);
    if (known && known.source !== f.source) {
      out.push(`${where}: source: ${f.source}, but this URL is ${known.name} (${known.id}), read with source: ${known.source}`);
    }
    return out;
  });
}
