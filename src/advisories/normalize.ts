import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as HtmlToText from 'html-to-text';
import { LRUCache } from 'lru-cache';
import { AppError, errorMessage } from '../common/errors.ts';
import { htmlToRawText } from './html-text.ts';
import { BULLET } from './text-blocks.ts';
import { words } from './words.ts';

// Block elements become line breaks and inline markup disappears, so the same
// words re-flowed into different markup yield the same text. Links keep only
// their words: a tracking parameter added to an href is not a change of meaning.
const HTML_TO_TEXT_OPTIONS = {
  wordwrap: false as const,
  preserveNewlines: false,
  decodeEntities: true,
  // html-to-text's default also counts U+200B (zero-width space) as a word break,
  // which turned "Rus&#8203;sia" into "Rus sia"; leave it to tidyText to drop.
  whitespaceCharacters: ' \t\r\n\f',
  selectors: [
    { selector: 'a', options: { ignoreHref: true } },
    { selector: 'img', format: 'skip' },
    { selector: 'script', format: 'skip' },
    { selector: 'style', format: 'skip' },
    { selector: 'h1', options: { uppercase: false } },
    { selector: 'h2', options: { uppercase: false } },
    { selector: 'h3', options: { uppercase: false } },
    { selector: 'h4', options: { uppercase: false } },
    { selector: 'h5', options: { uppercase: false } },
    { selector: 'h6', options: { uppercase: false } },
    { selector: 'table', format: 'dataTable' },
    { selector: 'ul', options: { itemPrefix: BULLET } },
  ],
};

// Compiled once: `convert(html, options)` re-merges the options and rebuilds the
// selector decision tree on every call, which cost ~90% of the conversion time.
// html-to-text and its parsers (a dozen packages, ~40 ms to load) are required at the first
// markup html-text.ts leaves to it: a poll of feeds without tables or <pre> never loads them.
const requireCjs = createRequire(import.meta.url);
let convert: ((html: string) => string) | undefined;

/**
 * html-to-text's text of `html` with the options above: what stored text is. html-text.ts
 * gives the same string for the markup feeds publish, several times faster, and falls back
 * here for the rest (tables, <pre>).
 */
export function referenceHtmlToText(html: string): string {
  convert ??= (requireCjs('html-to-text') as typeof HtmlToText).compile(HTML_TO_TEXT_OPTIONS);
  return convert(html);
}

/** An item's HTML that cannot be converted to text: its feed's poll fails with this, and stores nothing. */
export class MarkupError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    // Permanent for this document, like one that does not parse.
    super(message, 'permanent', options);
  }
}

/**
 * The most start tags an item's HTML may hold. Both converters parse with htmlparser2, whose
 * time grows with the square of the nesting depth (0.06 s at 20,000 nested elements, ~100 s
 * for a 5 MB body of nothing but `<div>`), and nesting is never deeper than the number of start
 * tags, so counting them first bounds that cost whatever the markup (quotes and lists, whose
 * text grows faster with depth, have their own bound, MAX_PREFIXED_NESTING). It was 10,000
 * until 2026-11-30; 2,000 keeps the stack-deep shapes out of both converters. The largest item of the real feeds in
 * tests/fixtures holds 375 (a US State Department advisory, nested 4 deep), a fifth of this.
 */
export const MAX_START_TAGS = 2_000;

/**
 * The most start tags the HTML of one document may hold altogether. The per-item limit bounds
 * one conversion, not a document of many: 5 MB of items each nested 1,000–2,500 deep (under that
 * limit and the converters' stacks) took 0.45–0.6 s of CPU to read, on every poll, as a server
 * can change its document each time so that no converted text is cached. Converting costs about
 * 0.5–2 µs a start tag by shape: at this bound, 0.02–0.07 s for nested inline elements
 * (tests/bench/markup.bench.ts, at load 5–7 on 2 cores); 25 items of 1,990 nested blockquotes
 * took 0.03–0.04 s a parse before MAX_PREFIXED_NESTING refused them outright. The largest real document in
 * tests/fixtures, the State Department's 210 advisories (861 KB), holds 8,457 (titles,
 * descriptions, categories), a sixth of this: a document as dense with markup would reach the
 * bound only at about the 5 MB body limit.
 */
export const MAX_DOCUMENT_START_TAGS = 50_000;

/** The start tags of `html` ('<' and a letter, as htmlparser2 reads one), counted up to `limit` + 1. */
function startTags(html: string, limit: number): number {
  let count = 0;
  for (let i = html.indexOf('<'); i !== -1 && count <= limit; i = html.indexOf('<', i + 1)) {
    // Lower-cased ASCII; past the end, NaN | 0x20 is no letter.
    const next = html.charCodeAt(i + 1) | 0x20;
    if (next >= 0x61 && next <= 0x7a) count++;
  }
  return count;
}

/** Whether `html` holds more than MAX_START_TAGS start tags. */
function tooManyStartTags(html: string): boolean {
  // A start tag takes at least two characters: short markup cannot have too many.
  return html.length > 2 * MAX_START_TAGS && startTags(html, MAX_START_TAGS) > MAX_START_TAGS;
}

/**
 * Refuses (MarkupError) a document whose strings — every one a profile may convert to text —
 * hold more than MAX_DOCUMENT_START_TAGS start tags altogether. Called on the parsed document
 * before any of it is converted, so a refused one costs its parse and this count (which stops
 * at the bound), never a conversion.
 */
export function refuseExcessMarkup(strings: Iterable<string | null>): void {
  let left = MAX_DOCUMENT_START_TAGS;
  for (const s of strings) {
    if (s === null || s.length < 2) continue;
    left -= startTags(s, left);
    if (left < 0) {
      throw new MarkupError(`the document's HTML has more than ${MAX_DOCUMENT_START_TAGS.toLocaleString('en-US')} tags in all, more than is converted to text`);
    }
  }
}

/**
 * How deep an item may nest the elements whose every line of text is prefixed once per level
 * (quotes with "> ", lists with their indent). Their text grows with the square of the depth,
 * whatever the tag count: 25 items of 2,000 nested blockquotes, each level with a few words,
 * under both start-tag bounds, made ~100 MB of text and took minutes a poll (2026-11-30). Real
 * items nest them 1–3 deep (the fixtures: at most 2).
 */
export const MAX_PREFIXED_NESTING = 20;

/** Whether `html` nests blockquote, ul or ol more than MAX_PREFIXED_NESTING deep (opening tags minus closing ones). */
function nestsPrefixedTooDeep(html: string): boolean {
  let depth = 0;
  for (const m of html.matchAll(/<(\/?)(?:blockquote|ul|ol)\b/gi)) {
    depth = m[1] ? Math.max(0, depth - 1) : depth + 1;
    if (depth > MAX_PREFIXED_NESTING) return true;
  }
  return false;
}

/** The raw text of `html`: html-text.ts's, or html-to-text's for the markup html-text.ts leaves to it. */
function rawText(html: string): string {
  if (tooManyStartTags(html)) {
    throw new MarkupError(`an item's HTML has more than ${MAX_START_TAGS.toLocaleString('en-US')} tags, more than is converted to text`);
  }
  if (nestsPrefixedTooDeep(html)) {
    throw new MarkupError(`an item's HTML nests quotes or lists more than ${MAX_PREFIXED_NESTING} deep, more than is converted to text`);
  }
  const fast = htmlToRawText(html);
  if (fast !== undefined) return fast;
  try {
    return referenceHtmlToText(html);
  } catch (err) {
    // html-to-text recurses once per element: a few thousand nested ones exhaust the stack.
    if (err instanceof RangeError) throw new MarkupError("an item's HTML is nested too deeply to convert to text", { cause: err });
    throw new MarkupError(`an item's HTML could not be converted to text: ${errorMessage(err)}`, { cause: err });
  }
}

// Every Unicode space separator (NBSP, narrow NBSP `&#8239;` seen in the State
// Department feed, …) and zero-width characters become plain spaces or nothing.
const SPACES = /[\t\v\f\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+/g;
// Soft hyphens (U+00AD) are invisible hints too: a CMS adding one is not a change.
const ZERO_WIDTH = /[\u00ad\u200b-\u200d\u2060\ufeff]/g;

// Anything tidyText would change: a character it replaces, removes or trims (String.prototype.trim's
// white space and line terminators), two spaces, a space at either end of a line, a blank-line
// run, a line break at either end. Converted HTML is mostly tidy already.
// Built from SPACES and ZERO_WIDTH, so a character added to either is never left untidied.
const UNTIDY = new RegExp(`[\\r\\u2028\\u2029]|${SPACES.source.replace(/\+$/, '')}|${ZERO_WIDTH.source}| {2}| \\n|\\n | $|\\n{3}|^[ \\n]|\\n$`);

/** Tidy plain text: one space between words, no blank-line runs, trimmed lines. */
export function tidyText(text: string): string {
  return UNTIDY.test(text) ? tidyEveryLine(text) : text;
}

/** tidyText without its shortcut for text that is tidy already (the tests hold the two to the same result). */
export function tidyEveryLine(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(ZERO_WIDTH, '')
    .replace(SPACES, ' ')
    .split('\n')
    .map((line) => line.replace(/ {2,}/g, ' ').trim())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

// A running service polls the same items again and again: the text of markup seen recently
// is remembered, keyed by a hash of the markup and bounded by size (16 M characters of text,
// about 1,000 feeds of 10 posts), so an unchanged item in a changed document, or a feed
// without validators, is not converted again. Short strings (titles, categories, excerpts)
// convert in about the time hashing them takes, so they skip the cache.
const converted = new LRUCache<string, string>({ maxSize: 16 * 2 ** 20, sizeCalculation: (text, key) => Math.max(1, text.length + key.length) });
const CACHED_FROM_LENGTH = 256;

/** HTML (or text that may hold markup and entities) to tidy plain text. */
export function htmlToText(html: string | null | undefined): string {
  if (!html) return '';
  if (html.length < CACHED_FROM_LENGTH) return tidyText(rawText(html));
  const key = createHash('sha1').update(html).digest('base64');
  const known = converted.get(key);
  if (known !== undefined) return known;
  const text = tidyText(rawText(html));
  converted.set(key, text);
  return text;
}

/** A one-line string (titles): entities decoded, markup dropped, whitespace collapsed. */
export function oneLine(text: string | null | undefined): string {
  return words(htmlToText(text));
}

// The words alone (what a fingerprint compares) live in words.ts, which loads no HTML
// converter: the renderers use them too, and a `dispatch` need not load html-to-text.
export { words };

/** Identity of the meaning of an advisory version; see change detection. */
export function fingerprint(parts: { title: string; body: string; level: number | null; levelText: string | null }): string {
  return createHash('sha256')
    .update(JSON.stringify([words(parts.title), words(parts.body), parts.level, words(parts.levelText ?? '')]))
    .digest('base64url');
}

export function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 22);
}
