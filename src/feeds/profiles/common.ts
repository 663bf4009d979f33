import { htmlToText, oneLine, refuseExcessMarkup, shortHash } from '../../advisories/normalize.ts';
import { FeedParseError, type RawItem } from '../parse-xml.ts';

export function parseDate(value: string | null | undefined): Date | null {
  if (!value) return null;
  const trimmed = value.trim();
  // Date-only RFC 822 dates ("Tue, 16 Feb 2021", the State Department's) would
  // parse as *local* midnight: pin them to UTC so results don't depend on TZ.
  const dateOnly = /^(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{4}$/.test(trimmed);
  const ms = Date.parse(dateOnly ? `${trimmed} 00:00:00 GMT` : trimmed);
  return Number.isNaN(ms) ? null : new Date(ms);
}

export function cleanUrl(value: string | null | undefined): string | null {
  const v = value?.trim();
  if (!v) return null;
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}

/**
 * A JSON document's value. Refused when it does not parse (FeedParseError), and when its strings
 * hold more tags altogether than a document may (normalize.ts's MarkupError): every string
 * counts, as a profile converts a few fields of each entry and a document can hold any number
 * of entries.
 */
export function parseJsonDocument(body: string): unknown {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (err) {
    throw new FeedParseError(`not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  refuseExcessMarkup(jsonStrings(doc));
  return doc;
}

/** The string values of a parsed JSON document, walked without recursion (it may nest deeper than the stack). */
function* jsonStrings(value: unknown): Generator<string> {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const v = pending.pop();
    if (typeof v === 'string') yield v;
    else if (typeof v === 'object' && v !== null) for (const child of Object.values(v)) pending.push(child);
  }
}

/** The richest body an item offers: full content over the summary. */
export function itemBody(item: RawItem): string {
  const content = htmlToText(item.content);
  // Text without markup never grows when converted (entities decode to fewer characters,
  // spaces only collapse), so a summary like that no longer than the content's text cannot
  // win, and converting it (a WordPress excerpt on every post) is skipped.
  if (!item.summary || (!item.summary.includes('<') && item.summary.length <= content.length)) return content;
  const summary = htmlToText(item.summary);
  return content.length >= summary.length ? content : summary;
}

/** Generic identity: guid, else link, else a hash of title and content (docs/contract.md, "Sources and advisories"). */
export function genericKey(item: RawItem, title: string, body: string): string {
  const guid = item.guid?.trim();
  if (guid) return `guid:${guid}`;
  const link = cleanUrl(item.link);
  if (link) return `link:${link}`;
  return `hash:${shortHash(`${title}\n${body}`)}`;
}

export { htmlToText, oneLine };
