import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ElementType, parseDocument } from 'htmlparser2';
import { describe, expect, it } from 'vitest';
import { htmlToRawText } from '../../src/advisories/html-text.ts';
import {
  MAX_DOCUMENT_START_TAGS,
  MAX_PREFIXED_NESTING,
  MAX_START_TAGS,
  MarkupError,
  htmlToText,
  referenceHtmlToText,
  refuseExcessMarkup,
  tidyEveryLine,
  tidyText,
  words,
} from '../../src/advisories/normalize.ts';
import { parseXmlFeed } from '../../src/feeds/parse-xml.ts';
import { caTravelProfile } from '../../src/feeds/profiles/ca-travel.ts';
import { itemBody, parseJsonDocument } from '../../src/feeds/profiles/common.ts';
import { genericProfile } from '../../src/feeds/profiles/generic.ts';
import { deeplyNestedFeed } from '../helpers/hostile-markup.ts';
import { prng } from '../helpers/prng.ts';

// Stored text and fingerprints come from this conversion: the fast path must give exactly the
// string html-to-text gives, or every stored advisory would read as changed after an upgrade.

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

/** Every string value of a JSON document. */
function jsonStrings(value: unknown, out: string[]): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) jsonStrings(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) jsonStrings(v, out);
  return out;
}

/** The text (character data and CDATA sections) of every element of an XML document. */
function xmlStrings(xml: string): string[] {
  const out: string[] = [];
  const visit = (nodes: ReturnType<typeof parseDocument>['children']) => {
    for (const node of nodes) {
      if (node.type === ElementType.Text) out.push(node.data);
      else if (node.type === ElementType.CDATA) for (const c of node.children) if (c.type === ElementType.Text) out.push(c.data);
      if ('children' in node && node.type !== ElementType.CDATA) visit(node.children);
    }
  };
  visit(parseDocument(xml, { xmlMode: true, decodeEntities: true }).children);
  return out;
}

/** Every string any profile could hand to the converter, from every document of the fixtures. */
async function corpus(): Promise<string[]> {
  const strings: string[] = [];
  for (const file of filesUnder(FIXTURES)) {
    const text = readFileSync(file, 'utf8');
    if (file.endsWith('.json')) jsonStrings(JSON.parse(text), strings);
    else if (/\.(xml|rss|atom)$/.test(file)) {
      strings.push(...xmlStrings(text));
      // And as the profiles read them (rss-parser's decoding).
      const feed = await parseXmlFeed(text).catch(() => undefined);
      for (const item of feed?.items ?? [])
        strings.push(...[item.title, item.summary, item.content, ...item.categories.map((c) => c.text)].filter((s) => s !== null));
    } else strings.push(...text.split('\n'));
  }
  return [...new Set(strings)];
}

describe('htmlToRawText gives what html-to-text gives', () => {
  it('on every string of every fixture document', async () => {
    const strings = await corpus();
    let fast = 0;
    let withMarkup = 0;
    for (const s of strings) {
      const expected = referenceHtmlToText(s);
      const got = htmlToRawText(s);
      if (got !== undefined) {
        fast++;
        if (s.includes('<')) withMarkup++;
        expect(got, s).toBe(expected);
      }
      expect(htmlToText(s), s).toBe(tidyText(expected));
    }
    // The corpus is big and the fast path takes nearly all of it (else this proves little).
    expect(strings.length).toBeGreaterThan(5000);
    expect(withMarkup).toBeGreaterThan(200);
    expect(fast / strings.length).toBeGreaterThan(0.95);
  });

  it("on every cut of the fixtures' markup (unclosed elements, half entities) and on pairs of it", async () => {
    const markup = (await corpus()).filter((s) => s.includes('<'));
    const rand = prng(1);
    for (const [i, s] of markup.entries()) {
      const variants = [markup[(i + 1) % markup.length]! + s, s.replace(/>\s+</g, '><'), s.replace(/\n/g, '\r\n')];
      for (let k = 0; k < 8; k++) variants.push(s.slice(0, Math.floor(rand() * s.length)), s.slice(Math.floor(rand() * s.length)));
      for (const v of variants) {
        const got = htmlToRawText(v);
        if (got !== undefined) expect(got, v).toBe(referenceHtmlToText(v));
      }
    }
  });

  it('on generated markup: blocks, lists, entities, whitespace, broken nesting', () => {
    const rand = prng(20261130);
    let fast = 0;
    for (let i = 0; i < 4000; i++) {
      const html = randomHtml(rand, 4);
      const got = htmlToRawText(html);
      if (got === undefined) continue;
      fast++;
      expect(got, html).toBe(referenceHtmlToText(html));
    }
    expect(fast).toBeGreaterThan(3000);
  });

  it.each([
    ['an empty list', '<p>a</p><ul>\n  </ul><p>b</p>'],
    ['a list holding a comment and stray text', '<ul><!-- c --><li>x</li>text<p>para</p></ul>'],
    ['nested lists', '<ul><li>a<ul><li>b</li><li>c<ol><li>d</li></ol></li></ul></li></ul>'],
    ['ordered lists with a start', '<ol start="7"><li>a</li><li>b</li></ol><ol><li>x</li></ol>'],
    ['a body picked out of a document', '<html><head><title>T</title></head><body><p>only this</p></body></html>'],
    ['two bodies', 'before<body>a</body><div><body>b</body></div>after'],
    ['blockquote and hr', '<blockquote><p>q1</p><p>q2</p></blockquote><hr>after'],
    ['headings', '<h1>one</h1>x<h4>four</h4><h3></h3>y'],
    ['script, style, img', '<p>a<script>x</script><style>p{}</style><img src="i.png" alt="alt">b</p>'],
    ['br runs and empty paragraphs', 'a<br><br><br>b<p></p><p> </p>c'],
  ])('%s', (_name, html) => {
    expect(htmlToRawText(html)).toBe(referenceHtmlToText(html));
  });

  it('converts an element html-to-text fails on (named like an Object property) as inline markup', () => {
    expect(() => referenceHtmlToText('<constructor>a</constructor><p>b</p>')).toThrow();
    expect(htmlToRawText('<constructor>a</constructor><p>b</p>')).toBe('a\n\nb');
  });

  it('leaves markup nested deeper than its stack to html-to-text, whose stack overflows too; htmlToText never gets that deep', () => {
    // Deeper than either converter's stack reaches (html-text.ts's: ~3,000 levels cold, ~5,600 warm).
    const deep = `${'<div>'.repeat(8_000)}x`;
    expect(htmlToRawText(deep)).toBeUndefined();
    expect(() => referenceHtmlToText(deep)).toThrow(RangeError);
    // MAX_START_TAGS is below both stacks: such markup is refused uncounted-further, unparsed.
    expect(MAX_START_TAGS).toBeLessThan(3_000);
    expect(() => htmlToText(deep)).toThrow(`an item's HTML has more than ${MAX_START_TAGS.toLocaleString('en-US')} tags`);
  });

  it('leaves tables, <pre> and unusual ordered lists to html-to-text', () => {
    for (const html of ['<table><tr><td>a</td></tr></table>', '<pre>  x\n y</pre>', '<ol type="i"><li>a</li></ol>', '<ol start="-1"><li>a</li></ol>']) {
      expect(htmlToRawText(html)).toBeUndefined();
      expect(htmlToText(html)).toBe(tidyText(referenceHtmlToText(html)));
    }
  });
});

describe('an item holding more than MAX_START_TAGS start tags', () => {
  const refusal = `an item's HTML has more than ${MAX_START_TAGS.toLocaleString('en-US')} tags, more than is converted to text`;
  const thrown = (html: string): unknown => {
    try {
      return htmlToText(html);
    } catch (e) {
      return e;
    }
  };

  it('is refused with a typed, permanent error before either converter parses it', () => {
    // A 5 MB body of nothing but <div> (a million levels: minutes of parsing), and a flat one just over the limit.
    for (const html of [`${'<div>'.repeat(1_000_000)}x`, `${'<I>x</I>'.repeat(MAX_START_TAGS)}<i>`]) {
      const err = thrown(html);
      expect(err).toBeInstanceOf(MarkupError);
      expect((err as MarkupError).message).toBe(refusal);
      expect((err as MarkupError).retryable).toBe(false);
      // No converter failed on it: it was refused unparsed.
      expect((err as MarkupError).cause).toBeUndefined();
    }
  });

  it('is converted as before at the limit: only "<" and a letter count (not end tags, comments or a lone "<")', () => {
    const html = `${'<b>x</b> <!-- y --> 1 < 2 <3 '.repeat(MAX_START_TAGS)}<`;
    expect(htmlToRawText(html)).toBe(referenceHtmlToText(html));
    expect(htmlToText(html)).toBe(tidyText(referenceHtmlToText(html)));
    expect(thrown(`${html}b>`)).toBeInstanceOf(MarkupError);
  });
});

describe('an item nesting quotes or lists more than MAX_PREFIXED_NESTING deep', () => {
  // Each level prefixes every line inside it ("> ", an indent), so the text grows with the square of the depth.
  const nested = (tag: string, depth: number) => `${`<${tag}>level `.repeat(depth)}x${`</${tag}>`.repeat(depth)}`;
  const refusal = `an item's HTML nests quotes or lists more than ${MAX_PREFIXED_NESTING} deep, more than is converted to text`;

  it('is refused with a typed, permanent error, whatever the mix of blockquote, ul and ol and their case', () => {
    const mixed = `${'<BLOCKQUOTE>a <ul><li>b <ol><li>c '.repeat(7)}x`;
    for (const html of [nested('blockquote', MAX_PREFIXED_NESTING + 1), nested('ul', 2_000), mixed]) {
      expect(() => htmlToText(html)).toThrow(refusal);
    }
  });

  it('converts up to the limit, and siblings (closed before the next opens) do not add up', () => {
    expect(htmlToText(nested('blockquote', MAX_PREFIXED_NESTING))).toContain('x');
    const siblings = '<blockquote>a</blockquote><ul><li>b</li></ul>'.repeat(500);
    expect(htmlToText(siblings)).toContain('b');
  });
});

describe('a document whose HTML holds more than MAX_DOCUMENT_START_TAGS start tags in all', () => {
  const refusal = `the document's HTML has more than ${MAX_DOCUMENT_START_TAGS.toLocaleString('en-US')} tags in all, more than is converted to text`;
  const rejection = async (parsing: Promise<unknown>): Promise<unknown> =>
    parsing.then(
      () => undefined,
      (e: unknown) => e,
    );
  const expectRefused = (err: unknown) => {
    expect(err).toBeInstanceOf(MarkupError);
    expect((err as MarkupError).message).toBe(refusal);
    expect((err as MarkupError).retryable).toBe(false);
  };
  /** An RSS item whose description (and, when given, content) is `html`. */
  const rssItem = (i: number, description: string, content?: string) =>
    `<item><title>Alert ${i}</title><guid>g${i}</guid><description><![CDATA[${description}]]></description>${content === undefined ? '' : `<content:encoded><![CDATA[${content}]]></content:encoded>`}</item>`;
  const rss = (items: string[]) =>
    `<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>T</title>${items.join('')}</channel></rss>`;

  it('counts the start tags of all the strings together, up to the bound exactly', () => {
    const half = MAX_DOCUMENT_START_TAGS / 2;
    // End tags, comments and a lone '<' are no start tags; nulls are skipped.
    const strings = [`${'<b>x</b> <!-- y --> 1 < 2 '.repeat(half)}<`, null, '<I>'.repeat(half), ''];
    expect(() => refuseExcessMarkup(strings)).not.toThrow();
    let err: unknown;
    try {
      refuseExcessMarkup([...strings, 'a<p>']);
    } catch (e) {
      err = e;
    }
    expectRefused(err);
  });

  it('refuses a feed of many deep items, each under the per-item limit and convertible, as a whole', async () => {
    const hostile = deeplyNestedFeed({ bytes: 1_000_000, minDepth: 1_000, maxDepth: 2_000 });
    // Each item alone converts: under MAX_START_TAGS and within the converters' stacks.
    const htmls = [...hostile.matchAll(/<!\[CDATA\[(.*?)\]\]>/g)].map((m) => m[1]!);
    expect(htmls.length).toBeGreaterThan(100);
    expect(htmls.map((html) => htmlToText(html))).toEqual(htmls.map((_, i) => `Alert ${i}`));
    expectRefused(await rejection(parseXmlFeed(hostile)));
    expectRefused(await rejection(genericProfile.parse(hostile, { id: 'deep', countries: [] })));
  });

  it('counts a description that is also the content (rss-parser gives it as both) once', async () => {
    const html = '<p><b>x</b></p>'.repeat(2_000);
    const items = Array.from({ length: (MAX_DOCUMENT_START_TAGS / 4_000) | 0 }, (_, i) => i);
    expect((await parseXmlFeed(rss(items.map((i) => rssItem(i, `${html}${i}`))))).items).toHaveLength(items.length);
    // The same markup once more in each item, as content:encoded: twice the tags.
    expectRefused(await rejection(parseXmlFeed(rss(items.map((i) => rssItem(i, `${html}${i}`, `${html}${i}.`))))));
  });

  it('counts every string of a JSON document, however deep it nests', async () => {
    const entry = (i: number) => ({ eng: { name: `${'<span>'.repeat(2_000)}Land ${i}`, 'advisory-text': 'Exercise normal security precautions' } });
    const hostile = { data: Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`RU-${i}`, entry(i)])) };
    expectRefused(await rejection(caTravelProfile.parse(JSON.stringify(hostile), { id: 'ca', countries: [] })));
    // Under the bound, the same entries convert.
    const within = { data: Object.fromEntries(Array.from({ length: 24 }, (_, i) => [`RU-${i}`, entry(i)])) };
    expect(await caTravelProfile.parse(JSON.stringify(within), { id: 'ca', countries: [] })).toHaveLength(24);
    // Nested far deeper than a recursive walk could go.
    const deep = `${'['.repeat(200_000)}"${'<i>'.repeat(MAX_DOCUMENT_START_TAGS + 1)}"${']'.repeat(200_000)}`;
    let err: unknown;
    try {
      parseJsonDocument(deep);
    } catch (e) {
      err = e;
    }
    expectRefused(err);
  });

  it('is far above the markup of every real document of the fixtures', async () => {
    const tags = (s: string | null) => (s?.match(/<[a-z]/gi) ?? []).length;
    const totals = new Map<string, number>();
    for (const file of filesUnder(FIXTURES)) {
      const text = readFileSync(file, 'utf8');
      let total = 0;
      if (file.endsWith('.json')) total = jsonStrings(parseJsonDocument(text), []).reduce((n, s) => n + tags(s), 0);
      else if (/\.(xml|rss|atom)$/.test(file)) {
        const feed = await parseXmlFeed(text).catch((e: unknown) => {
          // The fixtures that are no RSS/Atom (MOFA's list, a mis-encoded GDACS copy) fail for that, not for their markup.
          expect(e).not.toBeInstanceOf(MarkupError);
          return { items: [] };
        });
        for (const item of feed.items)
          total +=
            tags(item.title) +
            tags(item.content) +
            (item.summary === item.content ? 0 : tags(item.summary)) +
            item.categories.reduce((n, c) => n + tags(c.text), 0);
      } else continue;
      totals.set(file.slice(FIXTURES.length), total);
    }
    const largest = Math.max(...totals.values());
    // The figure normalize.ts gives for MAX_DOCUMENT_START_TAGS: the State Department's feed.
    expect([...totals].find(([, n]) => n === largest)).toEqual(['us-state-dept/TAsTWs_2021-03-01.xml', 8_457]);
    expect(largest).toBeLessThan(MAX_DOCUMENT_START_TAGS / 5);
  });
});

/** Characters that white-space handling tells apart: JavaScript's \s, the converter's spaces, zero-width ones, others. */
const SPACE_ALPHABET = ['a', 'b', '•', ' ', ' ', '  ', '\n', '\n', '\r', '\t', '\v', '\f'].concat([
  '\u00a0',
  '\u00ad',
  '\u1680',
  '\u2003',
  '\u200b',
  '\u2028',
  '\u2029',
  '\u202f',
  '\u3000',
  '\ufeff',
  '\u180e',
  '\u0085',
]);

/** Short strings drawn from SPACE_ALPHABET. */
function spaceStrings(seed: number): string[] {
  const rand = prng(seed);
  return Array.from({ length: 20000 }, () => {
    let s = '';
    for (let n = Math.floor(rand() * 12); n > 0; n--) s += pick(rand, SPACE_ALPHABET);
    return s;
  });
}

describe('tidyText', () => {
  it('returns text untouched only when tidying it would change nothing: on the fixtures and on generated text', async () => {
    for (const s of await corpus()) {
      expect(tidyText(s), s).toBe(tidyEveryLine(s));
      const raw = htmlToRawText(s) ?? referenceHtmlToText(s);
      expect(tidyText(raw), raw).toBe(tidyEveryLine(raw));
    }
    for (const s of spaceStrings(3)) expect(tidyText(s), JSON.stringify(s)).toBe(tidyEveryLine(s));
  });
});

describe('words', () => {
  it('is what /\\s+/g → one space, trimmed, gives: on the fixtures and on generated text', async () => {
    const collapsed = (text: string) => text.replace(/\s+/g, ' ').trim();
    for (const s of await corpus()) {
      expect(words(s), s).toBe(collapsed(s));
      expect(words(htmlToText(s))).toBe(collapsed(htmlToText(s)));
    }
    for (const s of spaceStrings(5)) expect(words(s), JSON.stringify(s)).toBe(collapsed(s));
  });
});

describe('itemBody', () => {
  it('skips converting a summary that cannot be longer than the content, and picks as before', async () => {
    const strings = (await corpus()).filter((s) => !s.includes('<'));
    // Converting never lengthens text without markup: what lets itemBody skip the summary.
    for (const s of strings) expect(htmlToText(s).length, s).toBeLessThanOrEqual(s.length);
    const rand = prng(7);
    for (let i = 0; i < 300; i++) {
      const content = rand() < 0.2 ? null : randomHtml(rand, 2);
      const summary = rand() < 0.2 ? null : rand() < 0.5 ? randomHtml(rand, 1) : randomText(rand);
      const item = { title: null, link: null, guid: null, pubDate: null, summary, content, categories: [], dcIdentifier: null };
      const c = htmlToText(content);
      const s = htmlToText(summary);
      expect(itemBody(item)).toBe(c.length >= s.length ? c : s);
    }
  });
});

// ---------------------------------------------------------------------------
// Generated markup

const pick = <T>(rand: () => number, list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;

const WORDS = ['Russia', 'Do', 'not', 'travel', 'Level 4:', 'U.S.', 'citizens', 'State’s', 'Curaçao', 'ロシア', '危険', 'a', 'x-y', '—'];
const SPACES = [' ', '  ', '\n', '\n\n', '\t', '\r\n', '\f', '', '', '\u00a0', '&nbsp;', '&#8203;', '\u200b', '&#8239;', ' \n '];
const ENTITIES = ['&amp;', '&lt;', '&gt;', '&quot;', '&#8211;', '&#x2019;', '&eacute;', '&amp', '&copy', '&nosuch;', '&', '&#0;', '&#128;'];
const INLINE = ['b', 'i', 'strong', 'em', 'span', 'a href="https://x.example/?a=1&amp;b=2"', 'a', 'u', 'small', 'sup', 'font color="red"', 'abbr', 'wbr'];
const BLOCK = [
  'p',
  'div',
  'section',
  'article',
  'header',
  'footer',
  'nav',
  'aside',
  'main',
  'form',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'blockquote',
  'li',
  'body',
  'html',
  'head',
];
const VOID = ['br', 'br/', 'hr', 'img src="a.png" alt="A picture"', 'img', 'wbr', 'input'];

function randomText(rand: () => number): string {
  let s = '';
  const n = 1 + Math.floor(rand() * 5);
  for (let i = 0; i < n; i++) s += pick(rand, SPACES) + (rand() < 0.15 ? pick(rand, ENTITIES) : pick(rand, WORDS)) + pick(rand, SPACES);
  return s;
}

function randomHtml(rand: () => number, depth: number): string {
  const parts: string[] = [];
  const n = 1 + Math.floor(rand() * 5);
  for (let i = 0; i < n; i++) {
    const r = rand();
    if (depth <= 0 || r < 0.3) parts.push(randomText(rand));
    else if (r < 0.45) {
      const tag = pick(rand, INLINE);
      parts.push(`<${tag}>${randomHtml(rand, depth - 1)}</${tag.split(' ')[0]}>`);
    } else if (r < 0.65) {
      const tag = pick(rand, BLOCK);
      // Sometimes left open, as real feeds do (`<p>` and `<li>` without their end tags).
      parts.push(`<${tag}${rand() < 0.3 ? ' class="x"' : ''}>${randomHtml(rand, depth - 1)}${rand() < 0.85 ? `</${tag}>` : ''}`);
    } else if (r < 0.8) {
      const tag = rand() < 0.6 ? 'ul' : rand() < 0.5 ? 'ol' : `ol start="${Math.floor(rand() * 12)}"`;
      const items = Array.from({ length: Math.floor(rand() * 4) }, () =>
        rand() < 0.8
          ? `${pick(rand, SPACES)}<li>${randomHtml(rand, depth - 1)}${rand() < 0.8 ? '</li>' : ''}`
          : rand() < 0.5
            ? '<!-- note -->'
            : randomText(rand),
      );
      parts.push(`<${tag}>${items.join(pick(rand, SPACES))}</${tag.split(' ')[0]}>`);
    } else if (r < 0.9) parts.push(`<${pick(rand, VOID)}>`);
    else if (r < 0.93)
      parts.push(pick(rand, ['<!-- comment -->', '<![CDATA[x]]>', '<!DOCTYPE html>', '<script>var a = "<p>";</script>', '<style>p { x: 1 }</style>']));
    else if (r < 0.99) parts.push(pick(rand, ['</p>', '</li>', '</div>', '</ul>', '</b>', '</br>']));
    else parts.push(pick(rand, ['<table><tr><td>cell</td></tr></table>', '<pre> a\n  b</pre>', '<ol type="a"><li>x</li></ol>']));
  }
  return parts.join('');
}
