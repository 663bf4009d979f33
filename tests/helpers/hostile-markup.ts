import { prng } from './prng.ts';

/** Inline and block elements that nest inside themselves (a <p> would close the one before it). */
const NESTING_TAGS = ['div', 'span', 'b', 'em', 'section', 'font'];

/**
 * An RSS feed of many items whose HTML each nests `minDepth`–`maxDepth` elements deep, filled
 * to about `bytes` (or with `items` items, if fewer fit): each item is under the per-item limit on start tags, and, nested no deeper
 * than the converters' stacks reach, converts — the document as a whole is what costs. The
 * same arguments give the same document.
 */
export function deeplyNestedFeed(options: { bytes: number; minDepth: number; maxDepth: number; items?: number; seed?: number }): string {
  const rand = prng(options.seed ?? 1);
  const head = `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Deep</title><link>https://deep.example/</link><description>nested markup</description>
`;
  const tail = '</channel></rss>\n';
  const parts = [head];
  let length = head.length + tail.length;
  for (let i = 0; i < (options.items ?? Number.POSITIVE_INFINITY); i++) {
    const depth = options.minDepth + Math.floor(rand() * (options.maxDepth - options.minDepth + 1));
    const tag = NESTING_TAGS[i % NESTING_TAGS.length]!;
    const item = `<item><title>Alert ${i}</title><guid>https://deep.example/${i}</guid><content:encoded><![CDATA[${`<${tag}>`.repeat(depth)}Alert ${i}]]></content:encoded></item>\n`;
    if (length + item.length > options.bytes) break;
    parts.push(item);
    length += item.length;
  }
  parts.push(tail);
  return parts.join('');
}
