import http from 'node:http';
import type { AddressInfo } from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import zlib from 'node:zlib';
import { syncFeeds } from '../../../src/feeds/repository.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import { settingsSchema, type FeedConfig, type Settings } from '../../../src/config/schema.ts';
import { pollFeeds, type PollDeps, type PollOutcome } from '../../../src/feeds/poller.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDbKind } from '../../helpers/db.ts';
import { MB, EMBASSY_V1, EMBASSY_V2, faultEnvironment } from '../../helpers/faults.ts';
import { ManualClock, feedConfig } from '../../helpers/poll.ts';

/**
 * Fault test: hostile feed servers and documents.
 * One file per failure mode; their shared environment and seeding are in
 * tests/helpers/faults.ts. Figures worth keeping (duplicates, timings, memory) are
 * printed with console.info, so a run's output carries the evidence.
 */

/** A full garbage collection, for memory figures that do not depend on when V8 last collected. */
const gc: () => void = (() => {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
})();

const LOL = `<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>`;
const ENTITY_BOMB = EMBASSY_V2.replace('<?xml version="1.0" encoding="UTF-8"?>', `<?xml version="1.0" encoding="UTF-8"?>\n${LOL}\n`).replace(
  'Security Alert &#8211; U.S. Embassy Moscow (March 7, 2024)',
  '&lol9;',
);

/** V2 with raw bytes that are not UTF-8 (a lone 0xFF, a truncated sequence, an overlong one) inside the March 7 title. */
function invalidUtf8(): Buffer {
  const [before, after] = EMBASSY_V2.split('Security Alert &#8211; U.S. Embassy Moscow (March 7, 2024)') as [string, string];
  return Buffer.concat([
    Buffer.from(`${before}Security Alert `, 'utf8'),
    Buffer.from([0xff, 0x20, 0xc3, 0x28, 0x20, 0xc0, 0xaf]),
    Buffer.from(` Moscow (March 7, 2024)${after}`, 'utf8'),
  ]);
}

/** ~1 GiB of zeros, gzip-compressed once by streaming (about 1 MB on the wire). */
async function buildGzipBomb(bytes = 1024 * MB): Promise<Buffer> {
  const gz = zlib.createGzip({ level: 9, strategy: zlib.constants.Z_RLE });
  const out: Buffer[] = [];
  gz.on('data', (c: Buffer) => out.push(c));
  const ended = new Promise<void>((resolve, reject) => {
    gz.once('end', resolve);
    gz.once('error', reject);
  });
  const chunk = Buffer.alloc(MB);
  for (let written = 0; written < bytes; written += chunk.length) {
    if (!gz.write(chunk)) await new Promise((r) => gz.once('drain', r));
  }
  gz.end();
  await ended;
  return Buffer.concat(out);
}

/** RSS with `n` items, produced in slices (never one big string). */
function* manyItems(n: number): Generator<string> {
  yield '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>Many alerts</title><link>https://example.org/</link><description>Generated</description>\n';
  for (let start = 0; start < n; start += 1000) {
    let s = '';
    for (let i = start; i < Math.min(n, start + 1000); i++) {
      s += `<item><title>Alert number ${i} for travelers in the region</title><link>https://example.org/alerts/${i}</link><guid isPermaLink="false">alert-${i}</guid><pubDate>Mon, 04 Mar 2024 14:12:09 +0000</pubDate><description>Demonstrations are expected near site ${i}; avoid the area and monitor local media.</description></item>\n`;
    }
    yield s;
  }
  yield '</channel></rss>\n';
}

/**
 * Streams its bodies chunk by chunk, respecting back-pressure, and stops when
 * the client hangs up: a 50 MB body never exists in memory at once.
 */
class StreamServer {
  private server = http.createServer((req, res) => void this.handle(req, res));
  baseUrl = '';
  readonly sent = new Map<string, number>();

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async write(res: http.ServerResponse, chunk: string | Buffer): Promise<boolean> {
    if (res.destroyed) return false;
    if (!res.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    }
    return !res.destroyed;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const p = (req.url ?? '/').split('?')[0]!;
    let bytes = 0;
    res.on('close', () => this.sent.set(p, bytes));
    if (p === '/fifty-mb') {
      // No Content-Length: only the limit on bytes actually read can stop it.
      res.writeHead(200, { 'content-type': 'application/rss+xml; charset=utf-8' });
      const head = '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>Huge</title>\n';
      const pad = Buffer.from(`<!-- ${'padding '.repeat(8180)} -->\n`);
      if (!(await this.write(res, head))) return;
      bytes += head.length;
      while (bytes < 50 * MB) {
        if (!(await this.write(res, pad))) return;
        bytes += pad.length;
      }
      res.end('</channel></rss>\n');
      return;
    }
    const many = /^\/items-(\d+)$/.exec(p);
    if (many) {
      res.writeHead(200, { 'content-type': 'application/rss+xml; charset=utf-8' });
      for (const s of manyItems(Number(many[1]))) {
        if (!(await this.write(res, s))) return;
        bytes += Buffer.byteLength(s);
      }
      res.end();
      return;
    }
    res.writeHead(404).end();
  }
}

describe.skipIf(testDbKind() !== 'postgres')('fault: hostile feed servers and documents (PostgreSQL only; set TEST_DATABASE_URL)', { timeout: 300_000 }, () => {
  const fault = faultEnvironment();

  describe('hostile feeds, each polled in one pollFeeds call next to a healthy feed', () => {
    let stream: StreamServer;
    let gzipBomb: Buffer;
    beforeAll(async () => {
      stream = await new StreamServer().start();
      gzipBomb = await buildGzipBomb();
    }, 120_000);
    afterAll(async () => {
      await stream?.stop();
    });

    interface Hostile {
      name: string;
      /** The hostile feed's URL (routes set on the feed servers). */
      url: (id: string) => string;
      feed?: Partial<FeedConfig>;
      settings?: Record<string, unknown>;
      /** The reason a failing poll must give; `parsed` for documents that may also be accepted. */
      expect: RegExp | { parsed: (out: PollOutcome, id: string) => Promise<void>; orReason: RegExp };
      /** Upper bound on the poll's wall time. */
      maxMs?: number;
      /** Upper bound on the RSS peak above the starting point (default 300 MB). */
      maxPeakMb?: number;
    }

    const cases: Hostile[] = [
      {
        name: 'slow drip: one byte a second, timeoutSeconds 2',
        url: (id) => fault.feeds.set(`/${id}`, { body: EMBASSY_V2, drip: { bytes: 1, everyMs: 1000 } }),
        feed: { timeoutSeconds: 2 },
        expect: /timed out after 2 s/,
        maxMs: 15_000,
      },
      {
        name: '50 MB body (streamed, no Content-Length)',
        url: () => `${stream.baseUrl}/fifty-mb`,
        expect: /exceeds the limit of 5242880 bytes/,
      },
      {
        name: 'redirect loop',
        url: (id) => fault.feeds.set(`/${id}`, { redirectTo: `/${id}` }),
        expect: /more than 5 redirects/,
      },
      {
        name: 'gzip bomb: 1 GiB of zeros, about 1 MB compressed',
        url: (id) => fault.feeds.set(`/${id}`, { rawGzip: gzipBomb }),
        expect: /exceeds the limit of 5242880 bytes \(after decompression\)/,
      },
      {
        name: 'XML entity bomb (billion laughs)',
        url: (id) => fault.feeds.set(`/${id}`, { body: ENTITY_BOMB }),
        expect: /entit/i,
      },
      {
        name: 'invalid UTF-8 bytes',
        url: (id) => fault.feeds.set(`/${id}`, { body: invalidUtf8() }),
        expect: {
          orReason: /encoding|UTF-8|not a valid/i,
          parsed: async (out, id) => {
            expect(out).toMatchObject({ status: 'ok', new: 3 });
            const titles = (await fault.t.db.selectFrom('advisories').select('title').where('feed_id', '=', id).execute()).map((a) => a.title);
            const broken = titles.find((x) => x.includes('Moscow (March 7, 2024)'));
            expect(broken).toContain('\uFFFD');
            expect(broken).toMatch(/^Security Alert \uFFFD/);
          },
        },
      },
      {
        name: 'a feed of 100,000 items (about 30 MB) with the default 5 MB limit',
        url: () => `${stream.baseUrl}/items-100000`,
        expect: /exceeds the limit of 5242880 bytes/,
      },
      {
        name: 'a feed of 100,000 items with maxBodyBytes raised to 50 MB',
        url: () => `${stream.baseUrl}/items-100000`,
        settings: { http: { maxBodyBytes: 50 * MB } },
        expect: {
          orReason: /./,
          parsed: async (out, id) => {
            expect(out).toMatchObject({ status: 'ok', new: 100_000, baseline: true, events: 0 });
            const n = await fault.t.db
              .selectFrom('advisories')
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .where('feed_id', '=', id)
              .executeTakeFirstOrThrow();
            expect(Number(n.n)).toBe(100_000);
          },
        },
        maxMs: 180_000,
        // Parsing builds the whole document tree (rss-parser / xml2js): memory follows the
        // body limit the admin raised — about 14× the 31 MB document at its peak (~430 MB
        // measured), all of it garbage afterwards.
        maxPeakMb: 700,
      },
    ];

    it.each(cases)('$name', async (c) => {
      // Proves (contract, "Change detection") "a feed that fails … is recorded as failing with the reason … the other
      // feeds go on" for a hostile server or document: the poll ends within bounds, memory stays
      // bounded (RSS peak < 300 MB above the start, except where the admin raised the body
      // limit tenfold; nothing retained after a GC), feeds.last_error says why (or the document
      // is accepted, where that is legitimate), and the healthy feed polled in the same
      // pollFeeds call succeeds — the process is this test's own, and it stays up.
      const id = `hostile-${cases.indexOf(c)}`;
      const hostile = feedConfig({ id, url: c.url(id), source: 'us-embassy', countries: ['RU'], ...c.feed });
      const healthy = feedConfig({
        id: `healthy-${cases.indexOf(c)}`,
        url: fault.feeds.set(`/healthy-${cases.indexOf(c)}`, { body: EMBASSY_V1 }),
        source: 'us-embassy',
        countries: ['RU'],
      });
      const settings: Settings = settingsSchema.parse(c.settings ?? {});
      const deps: PollDeps = { db: fault.t.db, logger: silentLogger, clock: new ManualClock(), settings };
      await syncFeeds(fault.t.db, [hostile, healthy]);

      gc();
      const before = process.memoryUsage();
      const rssBefore = before.rss;
      let peak = rssBefore;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
      const started = performance.now();
      let outcomes: PollOutcome[];
      try {
        outcomes = await pollFeeds(deps, [hostile, healthy], { force: true });
      } finally {
        clearInterval(sampler);
      }
      const ms = performance.now() - started;
      peak = Math.max(peak, process.memoryUsage().rss);
      // What stays after a full collection: nothing of the hostile document may be retained.
      gc();
      const after = process.memoryUsage();
      const rssAfter = after.rss;
      const [out, good] = outcomes as [PollOutcome, PollOutcome];
      const row = await fault.t.db
        .selectFrom('feeds')
        .select(['last_status', 'last_error', 'consecutive_failures'])
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      console.info(
        `[hostile] ${c.name}: ${out.status}${out.error ? ` "${out.error}"` : ''} in ${Math.round(ms)} ms; RSS ${Math.round(rssBefore / MB)} → peak ${Math.round(peak / MB)} → ${Math.round(rssAfter / MB)} MB (heap ${Math.round(before.heapUsed / MB)} → ${Math.round(after.heapUsed / MB)} MB, external ${Math.round(before.external / MB)} → ${Math.round(after.external / MB)} MB)` +
          (stream.sent.size ? `; streamed ${[...stream.sent].map(([p, b]) => `${p}: ${Math.round(b / MB)} MB`).join(', ')}` : ''),
      );
      stream.sent.clear();

      // The healthy feed in the same call is unaffected.
      expect(good).toMatchObject({ feed: healthy.id, status: 'ok', new: 2, baseline: true });
      // Bounded time and memory.
      expect(ms).toBeLessThan(c.maxMs ?? 30_000);
      expect(peak - rssBefore).toBeLessThan((c.maxPeakMb ?? 300) * MB);
      // Nothing is retained (the allocator may keep the RSS itself for later).
      expect(after.heapUsed + after.external - (before.heapUsed + before.external)).toBeLessThan(50 * MB);
      if (c.expect instanceof RegExp) {
        expect(out.status).toBe('error');
        expect(out.error).toMatch(c.expect);
        expect(row).toEqual({ last_status: 'error', last_error: out.error, consecutive_failures: 1 });
        const events = await fault.t.db.selectFrom('events').select('id').where('feed_id', '=', id).execute();
        expect(events).toEqual([]);
      } else if (out.status === 'ok') {
        await c.expect.parsed(out, id);
        expect(row).toMatchObject({ last_status: 'ok', last_error: null });
      } else {
        expect(out.status).toBe('error');
        expect(out.error).toMatch(c.expect.orReason);
        expect(row).toEqual({ last_status: 'error', last_error: out.error, consecutive_failures: 1 });
      }
    });
  });
});
