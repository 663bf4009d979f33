import type { AdvisoryItem } from '../advisories/model.ts';
import type { SourceProfile } from '../config/schema.ts';

/**
 * Profiles whose documents give every advisory a level, and read the country
 * from the document itself. Pointed at another government's document (say
 * `source: us-state-dept` on the Smartraveller feed) they still find items —
 * an RSS item is an RSS item — but none with a level or a country: valid
 * polls that silently store nothing useful. `jp-mofa` mixes levelled notices
 * with alerts, so only its countries are checked.
 */
const LEVELLED: ReadonlySet<SourceProfile> = new Set(['us-state-dept', 'uk-fcdo', 'ca-travel', 'au-smartraveller', 'de-aa']);
const COUNTRY_FROM_DOCUMENT: ReadonlySet<SourceProfile> = new Set([...LEVELLED, 'jp-mofa']);

/**
 * Why a successful parse looks like the wrong profile for the document, or null
 * when the profile understood it. Pure: `poll` prints it, the poller logs it.
 */
export function understandingWarning(source: SourceProfile, items: readonly AdvisoryItem[]): string | null {
  const hint = `is this document really a ${source} one? (\`feeds catalogue\` lists the profile of each known feed)`;
  if (COUNTRY_FROM_DOCUMENT.has(source) && items.length === 0) return `the ${source} profile found no advisory in the document; ${hint}`;
  if (items.length === 0) return null;
  const n = `${items.length} item${items.length === 1 ? '' : 's'}`;
  if (LEVELLED.has(source) && items.every((i) => i.level === null)) return `the ${source} profile read ${n} but no level in any of them; ${hint}`;
  if (COUNTRY_FROM_DOCUMENT.has(source) && items.every((i) => i.countries.length === 0)) {
    return `the ${source} profile read ${n} but no country in any of them; ${hint}`;
  }
  return null;
}
