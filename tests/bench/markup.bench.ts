/**
 * Markup benchmark (a script, not a test): `npx tsx tests/bench/markup.bench.ts`.
 *
 * The CPU time (user + system, `process.cpuUsage()`) one poll spends reading a document with
 * its profile — parsing, counting, converting its HTML to text — for hostile feeds of many
 * deeply nested items (tests/helpers/hostile-markup.ts, 5 MB, just under the default body
 * limit), the same document without markup (what reading any 5 MB document costs), the
 * costliest markup found just under normalize.ts's MAX_DOCUMENT_START_TAGS, and the largest
 * real feed of the fixtures. Each run gets a
 * document no run has seen (its titles and text changed), so the text cache never answers: a
 * hostile server can change its document as often as it is polled.
 *
 * Environment:
 *   BENCH_REPEAT=7   runs per document; the median and the fastest are printed
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { profileFor } from '../../src/feeds/profiles/index.ts';
import { deeplyNestedFeed } from '../helpers/hostile-markup.ts';

const REPEAT = Number(process.env.BENCH_REPEAT ?? 7);
const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

interface Case {
  name: string;
  source: string;
  document: string;
  /** The same document made new for run `i` (so no conversion is cached). */
  fresh: (document: string, i: number) => string;
}

const renamed = (document: string, i: number) => document.replaceAll('Alert ', `Alert ${i}-`);
const cases: Case[] = [
  {
    name: 'hostile: 5 MB of items nested 1,000–5,000 deep',
    source: 'generic',
    document: deeplyNestedFeed({ bytes: 5_000_000, minDepth: 1_000, maxDepth: 5_000 }),
    fresh: renamed,
  },
  {
    // Items no deeper than either converter's stack reaches: every one converts.
    name: 'hostile: 5 MB of items nested 1,000–2,500 deep',
    source: 'generic',
    document: deeplyNestedFeed({ bytes: 5_000_000, minDepth: 1_000, maxDepth: 2_500 }),
    fresh: renamed,
  },
  {
    // What any 5 MB document costs: the same items, their tags made text (`<b>` → `[b]`).
    name: 'floor: the same 5 MB without markup',
    source: 'generic',
    document: deeplyNestedFeed({ bytes: 5_000_000, minDepth: 1_000, maxDepth: 2_500 }).replace(/<(div|span|b|em|section|font)>/g, '[$1]'),
    fresh: renamed,
  },
  {
    // The costliest markup measured per tag: each level quotes the text of the levels inside it again.
    name: 'under the bound: 100 items of 499 nested blockquotes (49,900 tags)',
    source: 'generic',
    document: deeplyNestedFeed({ bytes: 5_000_000, minDepth: 499, maxDepth: 499, items: 100 }).replace(/<(div|span|b|em|section|font)>/g, '<blockquote>'),
    fresh: renamed,
  },
  {
    name: 'real: us-state-dept/TAsTWs_2021-03-01.xml',
    source: 'us-state-dept',
    document: readFileSync(`${FIXTURES}us-state-dept/TAsTWs_2021-03-01.xml`, 'utf8'),
    fresh: (document, i) => document.replaceAll('</p>', ` ${i}</p>`),
  },
];

const feed = { id: 'bench', countries: [] };
for (const c of cases) {
  const profile = profileFor(c.source);
  const runs: number[] = [];
  let result = '';
  for (let i = 0; i < REPEAT; i++) {
    const document = c.fresh(c.document, i);
    const started = process.cpuUsage();
    try {
      result = `${(await profile.parse(document, feed)).length} items`;
    } catch (err) {
      result = `refused: ${(err as Error).message}`;
    }
    const used = process.cpuUsage(started);
    runs.push((used.user + used.system) / 1000);
  }
  const sorted = [...runs].sort((a, b) => a - b);
  console.log(
    `${c.name} (${(c.document.length / 1e6).toFixed(2)} MB): median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)} ms, fastest ${sorted[0]!.toFixed(0)} ms of CPU [${runs.map((r) => r.toFixed(0)).join(', ')}]; ${result}`,
  );
}
