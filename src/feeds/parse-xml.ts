import Parser from 'rss-parser';
import rssParserUtils from 'rss-parser/lib/utils.js';
import { refuseExcessMarkup } from '../advisories/normalize.ts';
import { AppError } from '../common/errors.ts';

/** The document could not be understood: bad XML, not a feed, wrong shape. */
export class FeedParseError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    // Permanent for this document; the next poll fetches a new one anyway.
    super(message, 'permanent', options);
  }
}

export interface RawCategory {
  text: string;
  domain: string | null;
}

/** The fields of an RSS item or Atom entry that the profiles read. */
export interface RawItem {
  title: string | null;
  link: string | null;
  guid: string | null;
  pubDate: string | null;
  /** RSS description / Atom summary. */
  summary: string | null;
  /** content:encoded / Atom content. */
  content: string | null;
  categories: RawCategory[];
  dcIdentifier: string | null;
}

export interface RawFeed {
  title: string | null;
  link: string | null;
  items: RawItem[];
}

type CustomItem = {
  'content:encoded'?: string;
  'dc:identifier'?: string;
  rawCategories?: unknown[];
  id?: string;
  summary?: string;
  description?: string;
};

// rss-parser makes a plain-text `contentSnippet` of every item's content (and `…Snippet` of
// other fields) with the regexes /<(?:.|\n)*?>/ and /([^\n])<\/?(h|br|p|…)(?:.|\n)*?>([^\n])/,
// which take quadratic time on '<' without a closing '>': a 40 KB description of "1<1<1<…"
// took 1.26 s to parse, and 5 MB (http.maxBodyBytes) would take hours of CPU a poll — before
// any limit of ours sees the document. We never read the snippets (an item's text comes from
// src/advisories/html-text.ts), so the function that makes them makes nothing. It is looked up
// on the shared module object at each call (parser.js: `utils.getSnippet(…)`), so replacing it
// there takes effect; the check fails loudly if an rss-parser upgrade moves it.
if (typeof rssParserUtils.getSnippet !== 'function')
  throw new Error('rss-parser/lib/utils.js has no getSnippet: review the snippet bypass in src/feeds/parse-xml.ts');
rssParserUtils.getSnippet = () => '';

/**
 * A new parser for every document: rss-parser keeps one xml2js parser, and
 * xml2js keeps its half-built tree after an error, so the next document parsed
 * by the same instance can fail or come out with fields missing (a malformed
 * feed alternated error / "ok" with descriptions dropped, which read as an
 * update). Building one costs microseconds next to the parse itself.
 */
function newParser() {
  return new Parser<Record<string, never>, CustomItem>({
    customFields: {
      item: ['content:encoded', 'dc:identifier', ['category', 'rawCategories', { keepArray: true }], 'id', 'description'],
    },
    // xml2js (sax) in strict mode: it does not expand DTD-declared entities, so an
    // entity-expansion ("billion laughs") document fails instead of exhausting memory.
    xml2js: { strict: true },
  });
}

function str(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && '_' in v && typeof (v as { _: unknown })._ === 'string') return (v as { _: string })._;
  return null;
}

function categories(raw: unknown[] | undefined, fallback: unknown): RawCategory[] {
  const list = raw ?? (Array.isArray(fallback) ? fallback : []);
  const out: RawCategory[] = [];
  for (const c of list) {
    if (typeof c === 'string') out.push({ text: c.trim(), domain: null });
    else if (c && typeof c === 'object') {
      const o = c as { _?: unknown; $?: { domain?: unknown; term?: unknown } };
      const text = typeof o._ === 'string' ? o._ : typeof o.$?.term === 'string' ? o.$.term : null;
      if (text !== null) out.push({ text: text.trim(), domain: typeof o.$?.domain === 'string' ? o.$.domain : null });
    }
  }
  return out;
}

/** The corpus has a GDACS copy whose BOM was double-encoded to "ï»¿"; any junk before `<` is refused by sax. */
function stripBom(xml: string): string {
  return xml.replace(/^\uFEFF/, '');
}

const ENTITY_DECLARATION = /<!ENTITY/iy;

/**
 * Feeds have no business declaring entities; refusing them up front gives a
 * clear reason rather than sax's "Invalid character entity".
 */
export function refuseEntityDeclarations(xml: string): void {
  // Looks only where a "<!" is (CDATA sections, a DOCTYPE): a case-insensitive search
  // through the whole head cost about a tenth of what sax takes to parse a WordPress feed.
  const end = Math.min(xml.length, 64 * 1024);
  for (let i = xml.indexOf('<!'); i !== -1 && i < end; i = xml.indexOf('<!', i + 2)) {
    ENTITY_DECLARATION.lastIndex = i;
    if (i + 8 <= end && ENTITY_DECLARATION.test(xml)) {
      throw new FeedParseError('refused: the document declares XML entities (possible entity-expansion attack)');
    }
  }
}

/**
 * The items of an RSS or Atom document, as the profiles read them. Refused when it is not one
 * (FeedParseError), and when its items' HTML holds more tags altogether than a document may
 * (normalize.ts's MarkupError).
 */
export async function parseXmlFeed(xml: string): Promise<RawFeed> {
  refuseEntityDeclarations(xml);
  // Seen in a GDACS copy: the whole file was decoded as Latin-1 and re-encoded,
  // turning the BOM into "ï»¿". Say so rather than "Non-whitespace before first tag".
  if (xml.startsWith('\u00ef\u00bb\u00bf')) {
    throw new FeedParseError('not a valid RSS/Atom document: it starts with a double-encoded byte-order mark ("ï»¿"); the publisher mis-encoded it');
  }
  let feed: Awaited<ReturnType<ReturnType<typeof newParser>['parseString']>>;
  try {
    feed = await newParser().parseString(stripBom(xml));
  } catch (err) {
    const msg = (err as Error).message.split('\n').slice(0, 3).join(' ').trim();
    throw new FeedParseError(`not a valid RSS/Atom document: ${msg}`, { cause: err });
  }
  if (!Array.isArray(feed.items)) throw new FeedParseError('not an RSS/Atom document: no items');
  const items = feed.items.map((it): RawItem => {
    const i = it as typeof it & CustomItem;
    return {
      title: str(i.title),
      link: str(i.link),
      guid: str(i.guid) ?? str(i.id),
      pubDate: str(i.pubDate) ?? str((i as { isoDate?: unknown }).isoDate),
      summary: str(i.description) ?? str(i.summary) ?? null,
      content: str(i['content:encoded']) ?? str(i.content),
      categories: categories(i.rawCategories, i.categories),
      dcIdentifier: str(i['dc:identifier']),
    };
  });
  // The document's markup as a whole is bounded before any profile converts a word of it.
  refuseExcessMarkup(convertedStrings(items));
  return { title: feed.title ?? null, link: feed.link ?? null, items };
}

/**
 * The strings of `items` a profile may convert to text. A description that is also the content
 * (rss-parser's content of an RSS item without content:encoded) counts once: its text is
 * converted once and then cached, or, under 256 characters, converted again at little cost.
 */
function* convertedStrings(items: readonly RawItem[]): Generator<string | null> {
  for (const item of items) {
    yield item.title;
    yield item.content;
    if (item.summary !== item.content) yield item.summary;
    for (const category of item.categories) yield category.text;
  }
}
