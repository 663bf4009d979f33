import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FeedConfig, Settings } from '../../src/config/schema.ts';
import { pollFeed, pollFeeds, type PollDeps, type PollOutcome } from '../../src/feeds/poller.ts';
import { syncFeeds } from '../../src/feeds/repository.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { fixture, startFeedServer, type FeedServer, type Route } from '../helpers/feed-server.ts';
import { deeplyNestedFeed } from '../helpers/hostile-markup.ts';
import { ManualClock, feedConfig, pollDeps, testSettings } from '../helpers/poll.ts';

// docs/contract.md, "Change detection": a feed that fails (network, HTTP error, bad XML, an HTML page instead
// of a feed, …) is recorded as failing with the reason, never produces events,
// never loses stored state, and never stops the other feeds.

const V1 = fixture('us-embassy/us-embassy-russia-alerts_v1.xml'); // 2 alerts
const V2 = fixture('us-embassy/us-embassy-russia-alerts_v2.xml'); // the same 2 + the March 7 alert
const V1_TITLE = 'Demonstration Alert &#8211; U.S. Embassy Moscow (March 1, 2024)';

const BOT_CHECK = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Access Denied</title></head>
<body><h1>Access Denied</h1><p>You don't have permission to access this resource on this server.</p>
<p>Reference #18.6f2c1402.1709561234.1a2b3c</p></body></html>`;

const ENTITIES = `<!DOCTYPE rss [
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
/** V2 with a DTD in front and its new alert's title replaced by the bomb. */
function entityBomb(prefix = ''): string {
  return V2.replace('<?xml version="1.0" encoding="UTF-8"?>', `<?xml version="1.0" encoding="UTF-8"?>${prefix}\n${ENTITIES}\n`).replace(
    'Security Alert &#8211; U.S. Embassy Moscow (March 7, 2024)',
    '&lol9;',
  );
}
const XXE = V2.replace(
  '<?xml version="1.0" encoding="UTF-8"?>',
  '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n',
).replace('Security Alert &#8211; U.S. Embassy Moscow (March 7, 2024)', '&xxe;');
/** V2 padded to more than 10,000 bytes (and well compressible). */
const PADDED_V2 = V2.replace('<channel>', `<channel>\n<!--${' padding'.repeat(1500)} -->`);

let t: TestDatabase;
let server: FeedServer;
let gzipBomb: Buffer;
beforeAll(async () => {
  [t, server] = await Promise.all([openTestDatabase(), startFeedServer()]);
  gzipBomb = gzipSync(Buffer.alloc(50 * 1024 * 1024), { level: 9 });
});
afterAll(async () => {
  await Promise.all([t?.close(), server?.stop()]);
});
beforeEach(async () => {
  await t.reset();
});

// ---------------------------------------------------------------------------

const num = (v: unknown): number => Number(v);

async function countRows(table: 'events' | 'advisory_versions'): Promise<number> {
  const r = await t.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll().as('n'))
    .executeTakeFirstOrThrow();
  return num(r.n);
}

async function activeAdvisories(feedId: string): Promise<number> {
  const r = await t.db
    .selectFrom('advisories')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('feed_id', '=', feedId)
    .where('removed_at', 'is', null)
    .executeTakeFirstOrThrow();
  return num(r.n);
}

async function feedRow(id: string) {
  return t.db.selectFrom('feeds').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

async function pollRuns(id: string) {
  return t.db.selectFrom('poll_runs').selectAll().where('feed_id', '=', id).orderBy('id').execute();
}

/** Everything a failed poll must leave alone, plus what it must change. */
async function snapshot(id: string) {
  return {
    feed: await feedRow(id),
    advisories: await t.db
      .selectFrom('advisories')
      .select(['key', 'fingerprint', 'title', 'body', 'level_text', 'version_id', 'last_seen_at', 'changed_at', 'removed_at'])
      .where('feed_id', '=', id)
      .orderBy('key')
      .execute(),
    active: await activeAdvisories(id),
    versions: await countRows('advisory_versions'),
    events: await countRows('events'),
    runs: await pollRuns(id),
  };
}
type Snapshot = Awaited<ReturnType<typeof snapshot>>;

interface Baselined {
  feed: FeedConfig;
  deps: PollDeps;
  clock: ManualClock;
  path: string;
  before: Snapshot;
}

/** A feed with a successful baseline of V1 (2 alerts), its clock moved on 15 minutes. */
async function baselined(id: string, options: { feed?: Partial<FeedConfig>; settings?: Settings; route?: Route } = {}): Promise<Baselined> {
  const path = `/${id}/feed`;
  const url = server.set(path, { body: V1, lastModified: new Date('2024-03-04T14:12:09Z'), ...options.route });
  const feed = feedConfig({ id, url, source: 'us-embassy', countries: ['RU'], ...options.feed });
  const clock = new ManualClock();
  const deps = pollDeps(t.db, clock, options.settings ?? testSettings());
  await syncFeeds(t.db, [feed]);
  const first = await pollFeed(deps, feed);
  expect(first).toMatchObject({ status: 'ok', baseline: true, new: 2, events: 0 });
  clock.advance(15 * 60_000);
  const before = await snapshot(id);
  expect(before.active).toBe(2);
  if (!options.route?.noEtag) expect(before.feed.etag).toMatch(/^"[0-9a-f]{40}"$/);
  expect(before.feed.last_modified).toBe('Mon, 04 Mar 2024 14:12:09 GMT');
  return { feed, deps, clock, path, before };
}

async function expectFailureRecorded(b: Baselined, out: PollOutcome, reason: RegExp, httpStatus: number | null): Promise<Snapshot> {
  expect(out.status).toBe('error');
  expect(out.error).toMatch(reason);
  expect(out).toMatchObject({ new: 0, updated: 0, events: 0, httpStatus });
  expect(out.notBefore).toBeInstanceOf(Date);
  expect(out.notBefore!.getTime()).toBeGreaterThan(b.clock.now().getTime());

  const after = await snapshot(b.feed.id);
  // The failure is recorded on the feed, with its reason …
  expect(after.feed.last_status).toBe('error');
  expect(after.feed.last_error).toBe(out.error);
  expect(after.feed.consecutive_failures).toBe(b.before.feed.consecutive_failures + 1);
  expect(after.feed.not_before).toEqual(out.notBefore);
  expect(after.feed.last_polled_at).toEqual(b.clock.now());
  // … and in the poll history.
  expect(after.runs).toHaveLength(b.before.runs.length + 1);
  expect(after.runs.at(-1)).toMatchObject({ status: 'error', error: out.error, http_status: httpStatus, events_count: 0, new_count: 0 });
  // Nothing else moved: validators, baseline, stored advisories and their versions; no events.
  expect(after.feed.etag).toBe(b.before.feed.etag);
  expect(after.feed.last_modified).toBe(b.before.feed.last_modified);
  expect(after.feed.baseline_at).toEqual(b.before.feed.baseline_at);
  expect(after.feed.last_success_at).toEqual(b.before.feed.last_success_at);
  expect(after.active).toBe(2);
  expect(after.advisories).toEqual(b.before.advisories);
  expect(after.versions).toBe(b.before.versions);
  expect(after.events).toBe(0);
  return after;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

// ---------------------------------------------------------------------------

interface FaultCase {
  name: string;
  /** The misbehaviour, served at the feed's own path after its baseline. */
  route: (path: string) => Route;
  reason: RegExp;
  httpStatus: number | null;
  feed?: Partial<FeedConfig>;
  settings?: () => Settings;
  /** Lower bound on the poll's duration (timeouts must really wait for the deadline). */
  minMs?: number;
  /** Requests the poll makes (default 1). */
  requests?: number;
}

const faults: FaultCase[] = [
  {
    name: 'timeout: the server answers after 6 s, the feed allows 1 s',
    route: () => ({ body: V2, delayMs: 6000 }),
    feed: { timeoutSeconds: 1 },
    reason: /timed out after 1 s/,
    httpStatus: null,
    minMs: 900,
  },
  {
    name: 'slow drip: headers at once, then 1 byte every 200 ms (the deadline covers the body)',
    route: () => ({ body: V2, drip: { bytes: 1, everyMs: 200 } }),
    feed: { timeoutSeconds: 1 },
    reason: /timed out after 1 s/,
    httpStatus: null,
    minMs: 900,
  },
  { name: 'HTTP 500', route: () => ({ status: 500, body: 'Internal Server Error', contentType: 'text/plain' }), reason: /^HTTP 500$/, httpStatus: 500 },
  { name: 'HTTP 404', route: () => ({ status: 404, body: 'Not Found', contentType: 'text/plain' }), reason: /^HTTP 404$/, httpStatus: 404 },
  {
    name: 'HTTP 503 without Retry-After, with an HTML error page',
    route: () => ({ status: 503, body: BOT_CHECK, contentType: 'text/html' }),
    reason: /^HTTP 503$/,
    httpStatus: 503,
  },
  {
    name: 'HTML bot-check page served as 200 text/html',
    route: () => ({ body: BOT_CHECK, contentType: 'text/html; charset=utf-8' }),
    reason: /an HTML page was served instead of a feed \("Access Denied"\)/,
    httpStatus: 200,
  },
  {
    name: 'HTML page served as 200 application/rss+xml',
    route: () => ({ body: BOT_CHECK, contentType: 'application/rss+xml' }),
    reason: /HTML page/,
    httpStatus: 200,
  },
  {
    name: 'truncated XML (the new document cut in half)',
    route: () => ({ body: V2.slice(0, Math.floor(V2.length / 2)) }),
    reason: /not a valid RSS\/Atom document/,
    httpStatus: 200,
  },
  { name: 'empty 200 body', route: () => ({ body: '' }), reason: /not a valid RSS\/Atom document/, httpStatus: 200 },
  {
    name: 'well-formed XML that is not a feed',
    route: () => ({ body: '<?xml version="1.0"?><error><code>Throttled</code></error>', contentType: 'application/xml' }),
    reason: /not a valid RSS\/Atom document/,
    httpStatus: 200,
  },
  {
    name: 'oversized body with Content-Length (refused before reading)',
    route: () => ({ body: PADDED_V2 }),
    settings: () => testSettings({ http: { maxBodyBytes: 10_000, timeoutSeconds: 5 } }),
    reason: /exceeds the limit of 10000/,
    httpStatus: 200,
  },
  {
    name: 'oversized body, gzip-encoded (small on the wire, large decompressed)',
    route: () => ({ body: PADDED_V2, gzip: true }),
    settings: () => testSettings({ http: { maxBodyBytes: 10_000, timeoutSeconds: 5 } }),
    reason: /exceeds the limit of 10000 bytes \(after decompression\)/,
    httpStatus: 200,
  },
  {
    name: 'oversized body, chunked without Content-Length',
    route: () => ({ body: PADDED_V2, drip: { bytes: 2048, everyMs: 1 } }),
    settings: () => testSettings({ http: { maxBodyBytes: 10_000, timeoutSeconds: 5 } }),
    reason: /exceeds the limit of 10000 bytes/,
    httpStatus: 200,
  },
  {
    name: 'gzip bomb (50 MB of zeros, ~50 KB on the wire)',
    route: () => ({ rawGzip: gzipBomb }),
    reason: /exceeds the limit of 5242880 bytes \(after decompression\)/,
    httpStatus: 200,
  },
  { name: 'XML entity-expansion bomb ("billion laughs")', route: () => ({ body: entityBomb() }), reason: /declares XML entities/, httpStatus: 200 },
  {
    name: 'entity bomb whose DTD hides behind 70 KB of comment (past the up-front check)',
    route: () => ({ body: entityBomb(`\n<!--${' '.repeat(70_000)}-->`) }),
    reason: /entit/i,
    httpStatus: 200,
  },
  { name: 'external entity (XXE)', route: () => ({ body: XXE }), reason: /entit/i, httpStatus: 200 },
  {
    // Under both tag bounds, but each level prefixes every line inside it: the text would grow with the square of the depth.
    name: 'an item whose HTML nests blockquotes 1,000 deep, with words at each level',
    route: () => ({ body: V2.replace('<content:encoded><![CDATA[', `<content:encoded><![CDATA[${'<blockquote>level '.repeat(1_000)}`) }),
    reason: /^an item's HTML nests quotes or lists more than 20 deep, more than is converted to text$/,
    httpStatus: 200,
  },
  {
    // Over the per-item limit, in a document under its own: the item's limit refuses it, before either converter parses it.
    name: 'an item whose HTML holds 20,000 nested elements (more tags than an item may hold)',
    route: () => ({ body: V2.replace('<content:encoded><![CDATA[', `<content:encoded><![CDATA[${'<div>'.repeat(20_000)}`) }),
    reason: /^an item's HTML has more than 2,000 tags, more than is converted to text$/,
    httpStatus: 200,
  },
  {
    // Just under the 5 MB body limit: parsing its million levels would take minutes, counting its tags does not.
    name: 'an item whose HTML holds 1,000,000 nested elements (more tags than a whole document may hold)',
    route: () => ({ body: V2.replace('<content:encoded><![CDATA[', `<content:encoded><![CDATA[${'<div>'.repeat(1_000_000)}`) }),
    reason: /^the document's HTML has more than 50,000 tags in all, more than is converted to text$/,
    httpStatus: 200,
  },
  {
    // Each item under the per-item limit and within the converters' stacks: reading them all took 0.45–0.6 s of CPU.
    name: 'a 5 MB document of items each nested 1,000–2,000 elements deep (more tags in all than a document may hold)',
    route: () => ({ body: deeplyNestedFeed({ bytes: 5_000_000, minDepth: 1_000, maxDepth: 2_000 }) }),
    reason: /^the document's HTML has more than 50,000 tags in all, more than is converted to text$/,
    httpStatus: 200,
  },
  // settings.http.maxRedirects defaults to 5: the first request and 5 redirects, then stop.
  {
    name: 'redirect loop (a route redirecting to itself)',
    route: (path) => ({ redirectTo: path }),
    reason: /more than 5 redirects/,
    httpStatus: 302,
    requests: 6,
  },
  { name: 'redirect to a non-http(s) URL', route: () => ({ redirectTo: 'file:///etc/passwd' }), reason: /redirect to a non-http\(s\) URL/, httpStatus: 302 },
];

describe('a fault after a successful baseline is recorded and changes nothing else', () => {
  it.each(faults)('$name', async (c) => {
    const b = await baselined(`fault-${faults.indexOf(c)}`, { feed: c.feed ?? {}, ...(c.settings ? { settings: c.settings() } : {}) });
    server.set(b.path, c.route(b.path));
    const requestsBefore = server.count(b.path);

    const started = performance.now();
    const out = await pollFeed(b.deps, b.feed);
    const elapsed = performance.now() - started;

    await expectFailureRecorded(b, out, c.reason, c.httpStatus);
    // Bounded: never waits for a slow server (6 s) or a drip (~15 min), yet a timeout really waits its 1 s.
    expect(elapsed).toBeLessThan(5000);
    if (c.minMs) expect(elapsed).toBeGreaterThanOrEqual(c.minMs);
    expect(server.count(b.path) - requestsBefore).toBe(c.requests ?? 1);
  });

  it('a gzip bomb is refused with bounded memory', async () => {
    const b = await baselined('bomb-memory');
    server.set(b.path, { rawGzip: gzipBomb });
    expect(gzipBomb.length).toBeLessThan(200_000);
    const base = process.memoryUsage().arrayBuffers;
    let peak = base;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    }, 1);
    try {
      const out = await pollFeed(b.deps, b.feed);
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
      await expectFailureRecorded(b, out, /exceeds the limit/, 200);
    } finally {
      clearInterval(sampler);
    }
    // 50 MB decompressed would show; the 5 MB limit (plus stream buffers) must not.
    expect(peak - base).toBeLessThan(25 * 1024 * 1024);
  });

  it('consecutive failures count up, with exponential back-off', async () => {
    const b = await baselined('repeated-500');
    server.set(b.path, { status: 500, body: 'oops', contentType: 'text/plain' });
    const delays: number[] = [];
    for (let i = 1; i <= 3; i++) {
      const out = await pollFeed(b.deps, b.feed, { force: true });
      expect(out.status).toBe('error');
      delays.push(out.notBefore!.getTime() - b.clock.now().getTime());
      expect((await feedRow(b.feed.id)).consecutive_failures).toBe(i);
      b.clock.advance(10 * 60_000);
    }
    // settings.backoff.baseSeconds defaults to 60.
    expect(delays).toEqual([60_000, 120_000, 240_000]);
    expect(await activeAdvisories(b.feed.id)).toBe(2);
    expect(await countRows('events')).toBe(0);
    expect((await pollRuns(b.feed.id)).map((r) => r.status)).toEqual(['ok', 'error', 'error', 'error']);
  });
});

describe('429 with Retry-After', () => {
  it('stores not_before 120 s after the poll; until then a scheduled poll is skipped without a request', async () => {
    const b = await baselined('rate-limited');
    server.set(b.path, { status: 429, body: 'Too Many Requests', contentType: 'text/plain', headers: { 'retry-after': '120' } });
    const polledAt = b.clock.now();

    const out = await pollFeed(b.deps, b.feed);
    await expectFailureRecorded(b, out, /^HTTP 429 \(retry after 120 s\)$/, 429);
    // Longer than the first back-off step (60 s), so Retry-After wins.
    expect(out.notBefore).toEqual(new Date(polledAt.getTime() + 120_000));
    expect((await feedRow(b.feed.id)).not_before).toEqual(new Date(polledAt.getTime() + 120_000));
    const requests = server.count(b.path);

    b.clock.advance(60_000);
    const skipped = await pollFeed(b.deps, b.feed);
    expect(skipped).toMatchObject({ status: 'skipped', notBefore: new Date(polledAt.getTime() + 120_000), events: 0 });
    b.clock.advance(59_000);
    expect((await pollFeed(b.deps, b.feed)).status).toBe('skipped');
    expect(server.count(b.path)).toBe(requests);
    expect(await pollRuns(b.feed.id)).toHaveLength(2); // a skip is not a poll
    expect((await feedRow(b.feed.id)).consecutive_failures).toBe(1);

    // Once the window has passed, the scheduled poll goes out again (with the stored validators).
    b.clock.advance(2_000);
    server.set(b.path, { body: V1, lastModified: new Date('2024-03-04T14:12:09Z') });
    const again = await pollFeed(b.deps, b.feed);
    expect(again.status).toBe('not-modified');
    expect(server.count(b.path)).toBe(requests + 1);
    expect(server.requests.at(-1)?.headers['if-none-match']).toBe(b.before.feed.etag);
    expect(await feedRow(b.feed.id)).toMatchObject({ consecutive_failures: 0, not_before: null, last_status: 'not-modified', last_error: null });
  });

  it('an HTTP-date Retry-After is measured from the poll clock; a forced poll ignores the window', async () => {
    const b = await baselined('rate-limited-date');
    const polledAt = b.clock.now();
    const retryAt = new Date(polledAt.getTime() + 300_000);
    server.set(b.path, { status: 503, body: '', contentType: 'text/plain', headers: { 'retry-after': retryAt.toUTCString() } });
    const out = await pollFeed(b.deps, b.feed);
    await expectFailureRecorded(b, out, /^HTTP 503 \(retry after 300 s\)$/, 503);
    expect(out.notBefore).toEqual(retryAt);

    b.clock.advance(10_000);
    expect((await pollFeed(b.deps, b.feed)).status).toBe('skipped');
    const requests = server.count(b.path);
    // An admin's explicit `poll` goes out anyway.
    const forced = await pollFeed(b.deps, b.feed, { force: true });
    expect(forced.status).toBe('error');
    expect(server.count(b.path)).toBe(requests + 1);
    expect((await feedRow(b.feed.id)).consecutive_failures).toBe(2);
  });

  it('a Retry-After shorter than the back-off does not shorten it', async () => {
    const b = await baselined('rate-limited-short');
    server.set(b.path, { status: 429, body: '', contentType: 'text/plain', headers: { 'retry-after': '0' } });
    const out = await pollFeed(b.deps, b.feed);
    await expectFailureRecorded(b, out, /HTTP 429/, 429);
    expect(out.notBefore!.getTime() - b.clock.now().getTime()).toBe(60_000);
  });
});

describe('recovery and first polls', () => {
  it('a feed that recovers (304) after failures resets consecutive_failures to 0', async () => {
    const b = await baselined('recovers-304');
    server.set(b.path, { status: 502, body: 'Bad Gateway', contentType: 'text/plain' });
    for (let i = 0; i < 3; i++) await pollFeed(b.deps, b.feed, { force: true });
    expect(await feedRow(b.feed.id)).toMatchObject({ consecutive_failures: 3, last_status: 'error', last_error: 'HTTP 502' });

    server.set(b.path, { body: V1, lastModified: new Date('2024-03-04T14:12:09Z') });
    const out = await pollFeed(b.deps, b.feed, { force: true });
    expect(out.status).toBe('not-modified');
    expect(await feedRow(b.feed.id)).toMatchObject({
      consecutive_failures: 0,
      not_before: null,
      last_error: null,
      last_status: 'not-modified',
      etag: b.before.feed.etag,
    });
    expect(await countRows('events')).toBe(0);
  });

  it('a feed that recovers with a changed document diffs against the state kept through the failures', async () => {
    const b = await baselined('recovers-changed');
    server.set(b.path, { body: V2.slice(0, 1500) });
    await pollFeed(b.deps, b.feed, { force: true });
    server.set(b.path, { body: BOT_CHECK, contentType: 'text/html' });
    await pollFeed(b.deps, b.feed, { force: true });
    expect((await feedRow(b.feed.id)).consecutive_failures).toBe(2);

    server.set(b.path, { body: V2 });
    const out = await pollFeed(b.deps, b.feed, { force: true });
    // Exactly the one new alert: not a second baseline (0 events), not three "new" events.
    expect(out).toMatchObject({ status: 'ok', baseline: false, new: 1, unchanged: 2, events: 1 });
    expect(await feedRow(b.feed.id)).toMatchObject({ consecutive_failures: 0, not_before: null, last_error: null, last_status: 'ok' });
    const events = await t.db.selectFrom('events').select(['kind', 'title']).execute();
    expect(events).toEqual([{ kind: 'new', title: 'Security Alert – U.S. Embassy Moscow (March 7, 2024)' }]);
  });

  it('a failing first poll records no baseline; the first successful one does, silently', async () => {
    const url = server.set('/first-fails/feed', { status: 500, body: 'x', contentType: 'text/plain' });
    const feed = feedConfig({ id: 'first-fails', url, source: 'us-embassy', countries: ['RU'] });
    const deps = pollDeps(t.db, new ManualClock());
    await syncFeeds(t.db, [feed]);
    const out = await pollFeed(deps, feed);
    expect(out).toMatchObject({ status: 'error', error: 'HTTP 500' });
    expect(await feedRow('first-fails')).toMatchObject({ baseline_at: null, etag: null, consecutive_failures: 1, last_status: 'error' });
    expect(await activeAdvisories('first-fails')).toBe(0);

    server.set('/first-fails/feed', { body: V2 });
    const ok = await pollFeed(deps, feed, { force: true });
    expect(ok).toMatchObject({ status: 'ok', baseline: true, new: 3, events: 0 });
    expect((await feedRow('first-fails')).baseline_at).not.toBeNull();
    expect(await countRows('events')).toBe(0);
  });
});

describe('the news that a poll recorded events (the in-process dispatcher wakes on it)', () => {
  it('comes once the events are committed, so another connection sees them; not for a poll without events, nor one rolled back', async () => {
    const b = await baselined('events-committed');
    // What the dispatcher's claim would see, read at the moment of the news (on PostgreSQL
    // through another pooled connection than the poll's transaction).
    const seen: Promise<number>[] = [];
    const deps: PollDeps = { ...b.deps, afterEventsCommitted: () => seen.push(countRows('events')) };
    // Idle pooled connections, so that read goes out at once rather than after a connect.
    await Promise.all([countRows('events'), countRows('events'), countRows('events')]);

    server.set(b.path, { body: V2 });
    expect(await pollFeed(deps, b.feed, { force: true })).toMatchObject({ status: 'ok', events: 1 });
    expect(await Promise.all(seen)).toEqual([1]);

    b.clock.advance(15 * 60_000);
    expect(await pollFeed(deps, b.feed, { force: true })).toMatchObject({ events: 0 });
    expect(seen).toHaveLength(1);

    // The fan-out fails inside the transaction: nothing commits, and nobody is told.
    server.set(b.path, { body: V2.replace('Security Alert &#8211; U.S. Embassy Moscow (March 7, 2024)', 'Security Alert (updated)') });
    const failing: PollDeps = {
      ...deps,
      onEvents: async () => {
        throw new Error('fan-out failed');
      },
    };
    expect(await pollFeed(failing, b.feed, { force: true })).toMatchObject({ status: 'error', events: 0 });
    expect(seen).toHaveLength(1);
    expect(await countRows('events')).toBe(1);
  });
});

describe('a feed taken away by a feeds sync while a service runs', () => {
  it.each(['removed', 'disabled', 'changed'])(
    '%s in the database: the service’s scheduled poll skips it, fetches nothing, records no event, and says why',
    async (how) => {
      const b = await baselined(`taken-${how}`);
      server.set(b.path, { body: V2 });
      // Another feeds.yaml synced since the service loaded its own (which still lists the feed).
      await syncFeeds(t.db, how === 'removed' ? [] : how === 'disabled' ? [{ ...b.feed, enabled: false }] : [{ ...b.feed, url: server.url('/elsewhere') }]);
      const requests = server.count(b.path);
      const out = await pollFeed(b.deps, b.feed);
      expect(out).toMatchObject({ status: 'skipped' });
      expect(out.error).toMatch(
        new RegExp(`^${how} in the database's feeds since this process loaded feeds\\.yaml: not polled; a reload \\(SIGHUP\\) or restart writes`),
      );
      expect(server.count(b.path)).toBe(requests);
      expect(await countRows('events')).toBe(0);
      expect((await feedRow(b.feed.id)).poll_lease_owner).toBeNull();

      // Listed again (the service reloaded, or the file was synced back): polled as before.
      await syncFeeds(t.db, [b.feed]);
      expect(await pollFeed(b.deps, b.feed)).toMatchObject({ status: 'ok', events: 1 });
    },
  );

  it('a feed disabled in feeds.yaml and in the database is still polled when an admin names it (poll --feed)', async () => {
    const b = await baselined('paused-on-purpose');
    const paused = { ...b.feed, enabled: false };
    await syncFeeds(t.db, [paused]);
    server.set(b.path, { body: V2 });
    expect(await pollFeed(b.deps, paused)).toMatchObject({ status: 'ok', events: 1 });
  });
});

describe('one failing feed never stops the others', () => {
  function goodFeed(id: string): FeedConfig {
    return feedConfig({ id, url: server.set(`/${id}/feed`, { body: V1 }), source: 'us-embassy', countries: ['RU'] });
  }

  it('pollFeeds over [good, failing, good] one at a time: both good feeds succeed', async () => {
    const feeds = [
      goodFeed('good-a'),
      feedConfig({ id: 'bad-500', url: server.set('/bad-500/feed', { status: 500, body: 'x', contentType: 'text/plain' }), source: 'us-embassy' }),
      goodFeed('good-b'),
    ];
    const deps = pollDeps(t.db, new ManualClock());
    await syncFeeds(t.db, feeds);
    const out = await pollFeeds(deps, feeds, { concurrency: 1 });
    expect(out.map((o) => [o.feed, o.status])).toEqual([
      ['good-a', 'ok'],
      ['bad-500', 'error'],
      ['good-b', 'ok'],
    ]);
    expect(out[1]!.error).toBe('HTTP 500');
    expect(await activeAdvisories('good-a')).toBe(2);
    expect(await activeAdvisories('good-b')).toBe(2);
    expect(await feedRow('good-b')).toMatchObject({ last_status: 'ok', consecutive_failures: 0 });
    expect(await feedRow('bad-500')).toMatchObject({ last_status: 'error', consecutive_failures: 1 });
  });

  it('concurrently, with a refused connection, a timeout, an HTML page and a feed missing from the database', async () => {
    const port = await freePort();
    const feeds = [
      goodFeed('good-1'),
      feedConfig({ id: 'refused', url: `http://127.0.0.1:${port}/feed`, source: 'us-embassy' }),
      goodFeed('good-2'),
      feedConfig({ id: 'slow', url: server.set('/slow/feed', { body: V1, delayMs: 6000 }), source: 'us-embassy', timeoutSeconds: 1 }),
      feedConfig({ id: 'bot-check', url: server.set('/bot-check/feed', { body: BOT_CHECK, contentType: 'text/html' }), source: 'us-embassy' }),
      goodFeed('good-3'),
    ];
    const unsynced = goodFeed('not-synced');
    const deps = pollDeps(t.db, new ManualClock());
    await syncFeeds(t.db, feeds);
    const started = performance.now();
    const out = await pollFeeds(deps, [...feeds, unsynced], { concurrency: 4 });
    expect(performance.now() - started).toBeLessThan(5000); // the slow feed (6 s) is cut off at 1 s
    const byFeed = Object.fromEntries(out.map((o) => [o.feed, o]));
    for (const id of ['good-1', 'good-2', 'good-3']) expect(byFeed[id]).toMatchObject({ status: 'ok', new: 2, error: null });
    expect(byFeed['refused']).toMatchObject({ status: 'error', error: expect.stringMatching(/^network error: /) });
    expect(byFeed['slow']).toMatchObject({ status: 'error', error: 'timed out after 1 s' });
    expect(byFeed['bot-check']).toMatchObject({ status: 'error', error: expect.stringMatching(/HTML page/) });
    expect(byFeed['not-synced']).toMatchObject({ status: 'error', error: expect.stringMatching(/not in the database/) });
    for (const id of ['good-1', 'good-2', 'good-3']) expect(await activeAdvisories(id)).toBe(2);
    for (const id of ['refused', 'slow', 'bot-check']) expect(await feedRow(id)).toMatchObject({ last_status: 'error', consecutive_failures: 1 });
  });
});

describe('encodings', () => {
  const latin1Title = 'Demonstration Alert &#8211; Curaçao and Türkiye (March 1, 2024)';
  const latin1Text = V1.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
    .replace(V1_TITLE, latin1Title)
    .replaceAll('Maryino district', 'Maryino district near São Tomé Street');

  it('an ISO-8859-1 feed served as application/rss+xml without charset keeps its accents', async () => {
    const body = Buffer.from(latin1Text, 'latin1');
    expect(body.includes(Buffer.from([0x43, 0x75, 0x72, 0x61, 0xe7, 0x61, 0x6f]))).toBe(true); // "Curaçao" in latin1
    expect(body.includes(Buffer.from('ç', 'utf8'))).toBe(false);
    const url = server.set('/latin1/feed', { body, contentType: 'application/rss+xml' });
    const feed = feedConfig({ id: 'latin1', url, source: 'us-embassy', countries: ['CW'] });
    const deps = pollDeps(t.db, new ManualClock());
    await syncFeeds(t.db, [feed]);
    const out = await pollFeed(deps, feed);
    expect(out).toMatchObject({ status: 'ok', new: 2 });
    const rows = await t.db.selectFrom('advisories').select(['title', 'body']).where('feed_id', '=', 'latin1').orderBy('title').execute();
    expect(rows.map((r) => r.title)).toEqual([
      'Demonstration Alert – Curaçao and Türkiye (March 1, 2024)',
      'Security Alert – U.S. Embassy Moscow (February 16, 2024)',
    ]);
    expect(rows[0]!.body).toContain('São Tomé Street');
    for (const r of rows) expect(`${r.title}${r.body}`).not.toMatch(/[\uFFFD\u0080-\u009f]|Ã/);
  });

  it('the same document re-encoded from UTF-8 to ISO-8859-1 is not a change', async () => {
    const utf8Text = latin1Text.replace('encoding="ISO-8859-1"', 'encoding="UTF-8"');
    const url = server.set('/reencoded/feed', { body: utf8Text, contentType: 'application/rss+xml; charset=UTF-8' });
    const feed = feedConfig({ id: 'reencoded', url, source: 'us-embassy', countries: ['CW'] });
    const deps = pollDeps(t.db, new ManualClock());
    await syncFeeds(t.db, [feed]);
    expect(await pollFeed(deps, feed)).toMatchObject({ status: 'ok', baseline: true, new: 2 });

    server.set('/reencoded/feed', { body: Buffer.from(latin1Text, 'latin1'), contentType: 'application/rss+xml' });
    const out = await pollFeed(deps, feed, { force: true });
    expect(out).toMatchObject({ status: 'ok', new: 0, updated: 0, unchanged: 2, events: 0 });
    expect(await countRows('events')).toBe(0);
  });

  it('an "ISO-8859-1" feed with windows-1252 punctuation (’ – “ ”) decodes it as the UTF-8 twin does', async () => {
    // Bytes 0x92 0x96 0x93 0x94: what such feeds really contain. latin1-encoding U+0092 etc. writes exactly those bytes.
    const title = 'Demonstration Alert \u0096 C\u00f4te d\u0092Ivoire \u0093update\u0094 (March 1, 2024)';
    const cp1252 = Buffer.from(V1.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').replace(V1_TITLE, title), 'latin1');
    expect(cp1252.includes(Buffer.from([0x64, 0x92, 0x49]))).toBe(true);
    const expectedTitle = 'Demonstration Alert – Côte d’Ivoire “update” (March 1, 2024)';
    const utf8Twin = V1.replace(V1_TITLE, expectedTitle);

    const url = server.set('/cp1252/feed', { body: utf8Twin });
    const feed = feedConfig({ id: 'cp1252', url, source: 'us-embassy', countries: ['CI'] });
    const deps = pollDeps(t.db, new ManualClock());
    await syncFeeds(t.db, [feed]);
    expect(await pollFeed(deps, feed)).toMatchObject({ status: 'ok', baseline: true, new: 2 });

    server.set('/cp1252/feed', { body: cp1252, contentType: 'text/xml' });
    const out = await pollFeed(deps, feed, { force: true });
    expect(out).toMatchObject({ status: 'ok', updated: 0, unchanged: 2, events: 0 });
    const titles = (await t.db.selectFrom('advisories').select('title').where('feed_id', '=', 'cp1252').execute()).map((r) => r.title);
    expect(titles).toContain(expectedTitle);
  });

  it('a UTF-8 feed with a BOM served with a wrong charset=iso-8859-1 header still parses', async () => {
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(V1.replace(V1_TITLE, 'Demonstration Alert – Curaçao'), 'utf8')]);
    const url = server.set('/bom/feed', { body, contentType: 'application/rss+xml; charset=iso-8859-1' });
    const feed = feedConfig({ id: 'bom', url, source: 'us-embassy', countries: ['CW'] });
    const deps = pollDeps(t.db, new ManualClock());
    await syncFeeds(t.db, [feed]);
    const out = await pollFeed(deps, feed);
    expect(out).toMatchObject({ status: 'ok', new: 2 });
    const titles = (await t.db.selectFrom('advisories').select('title').where('feed_id', '=', 'bom').execute()).map((r) => r.title);
    expect(titles).toContain('Demonstration Alert – Curaçao');
  });

  it('a gzip-encoded feed is decompressed and parsed', async () => {
    const url = server.set('/gzipped/feed', { body: V2, gzip: true });
    const feed = feedConfig({ id: 'gzipped', url, source: 'us-embassy', countries: ['RU'] });
    const deps = pollDeps(t.db, new ManualClock());
    await syncFeeds(t.db, [feed]);
    const out = await pollFeed(deps, feed);
    // The server only compresses when the request accepts gzip.
    expect(server.requests.at(-1)?.headers['accept-encoding']).toMatch(/\bgzip\b/);
    expect(out).toMatchObject({ status: 'ok', new: 3 });
    const titles = (await t.db.selectFrom('advisories').select('title').where('feed_id', '=', 'gzipped').orderBy('title').execute()).map((r) => r.title);
    expect(titles).toEqual([
      'Demonstration Alert – U.S. Embassy Moscow (March 1, 2024)',
      'Security Alert – U.S. Embassy Moscow (February 16, 2024)',
      'Security Alert – U.S. Embassy Moscow (March 7, 2024)',
    ]);
  });

  it.each<[string, string, (b: Buffer) => Buffer]>([
    ['deflate (zlib-wrapped, as specified)', 'deflate', (b) => deflateSync(b)],
    ['deflate sent raw (what some servers do)', 'deflate', (b) => deflateRawSync(b)],
    ['br', 'br', (b) => brotliCompressSync(b)],
    ['x-gzip', 'x-gzip', (b) => gzipSync(b)],
    ['gzip, then br (decoded in reverse order)', 'gzip, br', (b) => brotliCompressSync(gzipSync(b))],
  ])('a %s body is decoded', async (name, encoding, encode) => {
    const id = `encoded-${name.replace(/[^a-z]+/g, '-')}`;
    const url = server.set(`/${id}/feed`, { body: encode(Buffer.from(V2, 'utf8')), headers: { 'content-encoding': encoding } });
    const feed = feedConfig({ id, url, source: 'us-embassy', countries: ['RU'] });
    await syncFeeds(t.db, [feed]);
    expect(await pollFeed(pollDeps(t.db, new ManualClock()), feed)).toMatchObject({ status: 'ok', new: 3 });
  });

  it('a body over the limit once decoded is refused whatever the encoding (brotli)', async () => {
    const url = server.set('/br-bomb/feed', { body: brotliCompressSync(Buffer.alloc(20 * 1024 * 1024)), headers: { 'content-encoding': 'br' } });
    const feed = feedConfig({ id: 'br-bomb', url, source: 'us-embassy', countries: ['RU'] });
    await syncFeeds(t.db, [feed]);
    const out = await pollFeed(pollDeps(t.db, new ManualClock()), feed);
    expect(out).toMatchObject({ status: 'error', httpStatus: 200 });
    expect(out.error).toMatch(/exceeds the limit of 5242880 bytes \(after decompression\)/);
  });
});

describe('polite requests', () => {
  it('conditional GET sends the stored ETag and Last-Modified; a 304 is "not-modified" and changes nothing', async () => {
    const b = await baselined('conditional');
    const first = server.requests.filter((r) => r.path === b.path);
    expect(first).toHaveLength(1);
    expect(first[0]!.headers['if-none-match']).toBeUndefined();
    expect(first[0]!.headers['if-modified-since']).toBeUndefined();

    const out = await pollFeed(b.deps, b.feed);
    const sent = server.requests.at(-1)!;
    expect(sent.path).toBe(b.path);
    expect(sent.headers['if-none-match']).toBe(b.before.feed.etag);
    expect(sent.headers['if-modified-since']).toBe(b.before.feed.last_modified);
    expect(out).toMatchObject({ status: 'not-modified', httpStatus: 304, new: 0, events: 0 });
    expect(await feedRow(b.feed.id)).toMatchObject({ last_status: 'not-modified', etag: b.before.feed.etag, consecutive_failures: 0 });
    expect((await pollRuns(b.feed.id)).map((r) => [r.status, r.http_status])).toEqual([
      ['ok', 200],
      ['not-modified', 304],
    ]);
    expect(await activeAdvisories(b.feed.id)).toBe(2);
    expect(await countRows('events')).toBe(0);
  });

  it('the validators come from the database, not from memory', async () => {
    const b = await baselined('validators-db');
    await t.db.updateTable('feeds').set({ etag: '"from-the-db"', last_modified: 'Tue, 05 Mar 2024 00:00:00 GMT' }).where('id', '=', b.feed.id).execute();
    const out = await pollFeed(b.deps, b.feed);
    const sent = server.requests.at(-1)!;
    expect(sent.headers['if-none-match']).toBe('"from-the-db"');
    expect(sent.headers['if-modified-since']).toBe('Tue, 05 Mar 2024 00:00:00 GMT');
    // The stale ETag does not match, so the full document comes back: unchanged, no events, real ETag stored.
    expect(out).toMatchObject({ status: 'ok', unchanged: 2, events: 0 });
    expect((await feedRow(b.feed.id)).etag).toBe(b.before.feed.etag);
  });

  it('Last-Modified alone (no ETag) is enough for a 304', async () => {
    const b = await baselined('last-modified-only', { route: { noEtag: true } });
    expect(b.before.feed.etag).toBeNull();
    const out = await pollFeed(b.deps, b.feed);
    const sent = server.requests.at(-1)!;
    expect(sent.headers['if-none-match']).toBeUndefined();
    expect(sent.headers['if-modified-since']).toBe('Mon, 04 Mar 2024 14:12:09 GMT');
    expect(out.status).toBe('not-modified');
  });

  it('sends the configured User-Agent and the feed’s own headers (which may override it)', async () => {
    const settings = testSettings({ http: { userAgent: 'advisory-alerts-test/9.9 (+mailto:ops@example.org)', timeoutSeconds: 5 } });
    const deps = pollDeps(t.db, new ManualClock(), settings);
    const plain = feedConfig({
      id: 'ua-plain',
      url: server.set('/ua-plain/feed', { body: V1 }),
      source: 'us-embassy',
      headers: { 'X-Feed-Token': 'abc123', 'Accept-Language': 'en-US' },
    });
    const custom = feedConfig({
      id: 'ua-custom',
      url: server.set('/ua-custom/feed', { body: V1 }),
      source: 'us-embassy',
      headers: { 'User-Agent': 'Mozilla/5.0 (compatible; special-feed)' },
    });
    await syncFeeds(t.db, [plain, custom]);
    expect((await pollFeed(deps, plain)).status).toBe('ok');
    expect((await pollFeed(deps, custom)).status).toBe('ok');

    const plainReq = server.requests.find((r) => r.path === '/ua-plain/feed')!;
    expect(plainReq.headers['user-agent']).toBe('advisory-alerts-test/9.9 (+mailto:ops@example.org)');
    expect(plainReq.headers['x-feed-token']).toBe('abc123');
    expect(plainReq.headers['accept-language']).toBe('en-US');
    expect(plainReq.headers.accept).toMatch(/application\/rss\+xml/);
    const customReq = server.requests.find((r) => r.path === '/ua-custom/feed')!;
    expect(customReq.headers['user-agent']).toBe('Mozilla/5.0 (compatible; special-feed)');
    expect(customReq.headers['x-feed-token']).toBeUndefined();
  });
});
