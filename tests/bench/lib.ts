/**
 * Shared helpers for the benchmarks (scripts, not tests):
 *
 * - a generator of WordPress-style U.S. embassy alert feeds (like
 *   tests/fixtures/us-embassy/us-embassy-russia-alerts_v2.xml), deterministic
 *   for a given feed index and generation;
 * - a feed server that runs in a child process, so its CPU time is neither
 *   spent on the event loop being measured nor counted in this process's CPU
 *   time (`process.cpuUsage()`): strong ETags, Last-Modified, 304 on
 *   If-None-Match, gzip when asked (as WordPress behind nginx does);
 * - the raw floor: the same concurrent fetches plus rss-parser `parseString`,
 *   no database;
 * - a throw-away PostgreSQL database.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import Parser from 'rss-parser';
// A well-kept fetch client (undici's, not Node's bundled copy) for the floor's conditional GETs.
import { fetch } from 'undici';
import { prng } from '../helpers/prng.ts';
import { nextMessage } from './sinks.ts';

// ---------------------------------------------------------------------------
// Feed documents

const POSTS = ['Moscow', 'Yekaterinburg', 'Vladivostok', 'Almaty', 'Astana', 'Tbilisi', 'Yerevan', 'Baku', 'Kyiv', 'Chisinau', 'Minsk', 'Tashkent'];
const ALERT_TYPES = ['Security Alert', 'Demonstration Alert', 'Message for U.S. Citizens', 'Health Alert', 'Weather Alert'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const EVENT_SENTENCES = [
  'The Embassy is monitoring reports of planned demonstrations in the city centre over the coming days.',
  'Large crowds are expected near government buildings, and police may detain participants.',
  'Local authorities have announced road closures and disruptions to public transport.',
  'U.S. citizens should be aware that even peaceful gatherings can turn confrontational and escalate into violence.',
  'There are reports of heightened security measures, including identity checks at metro stations.',
  'Severe weather is forecast for the region, with heavy snow and strong winds expected through the weekend.',
  'Flights to and from the international airport may be delayed or cancelled at short notice.',
  'The Embassy reminds U.S. citizens to carry their passport and a copy of their visa at all times.',
  'Authorities have restricted access to several districts while the situation is assessed.',
  'The Embassy continues to offer routine and emergency services to U.S. citizens by appointment.',
  'Mobile internet service may be limited or unavailable in some areas of the city.',
  'U.S. citizens who choose to travel in the region should review their personal security plans.',
];
const ACTIONS = [
  'Avoid crowds and demonstrations.',
  'Monitor local media for updates.',
  'Be aware of your surroundings.',
  'Keep a low profile.',
  'Review your personal security plans.',
  'Keep your travel documents current and easily accessible.',
  'Notify friends and family of your safety.',
  'Enroll in the <a href="https://step.state.gov/">Smart Traveler Enrollment Program (STEP)</a> to receive alerts.',
  'Follow the instructions of local authorities.',
  'Have a plan to leave that does not rely on U.S. government assistance.',
];

export interface GeneratedItem {
  postId: number;
  title: string;
  slug: string;
  pubDate: Date;
  alertType: string;
  post: string;
  contentHtml: string;
  description: string;
}

function pick<T>(rand: () => number, list: readonly T[]): T {
  return list[Math.floor(rand() * list.length)]!;
}

/** `count` distinct entries of `list`, in random order. */
function pickDistinct<T>(rand: () => number, list: readonly T[], count: number): T[] {
  const pool = [...list];
  const out: T[] = [];
  while (out.length < count && pool.length > 0) out.push(pool.splice(Math.floor(rand() * pool.length), 1)[0]!);
  return out;
}

function escapeXmlText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** WordPress typographic entities in titles: "Security Alert &#8211; U.S. Embassy …". */
function wpTitle(s: string): string {
  return escapeXmlText(s).replace(/ - /g, ' &#8211; ');
}

function htmlToPlain(html: string): string {
  return html
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** One alert post: ~1–2 KB of HTML content, as WordPress would publish it. */
export function generateItem(feedIndex: number, postId: number, pubDate: Date): GeneratedItem {
  const rand = prng(feedIndex * 7919 + postId * 104729);
  const post = pick(rand, POSTS);
  const alertType = pick(rand, ALERT_TYPES);
  const date = `${MONTHS[pubDate.getUTCMonth()]} ${pubDate.getUTCDate()}, ${pubDate.getUTCFullYear()}`;
  const title = `${alertType} - U.S. Embassy ${post} (${date})`;
  const slug = title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
  const sentences = pickDistinct(rand, EVENT_SENTENCES, 3 + Math.floor(rand() * 4));
  const actions = pickDistinct(rand, ACTIONS, 3 + Math.floor(rand() * 4));
  const contentHtml = [
    `<p><strong>Location:</strong> ${post}, Post ${feedIndex}</p>`,
    `<p><strong>Event:</strong> ${sentences.join(' ')}</p>`,
    `<p><strong>Actions to Take:</strong></p>`,
    `<ul>\n${actions.map((a) => `<li>${a}</li>`).join('\n')}\n</ul>`,
    `<p><strong>Assistance:</strong></p>`,
    `<ul>`,
    `<li>U.S. Embassy ${post}, Post ${feedIndex}, Consular Section, reference ${postId}</li>`,
    `<li>Phone: +7 (495) 728-${String(5000 + (postId % 5000)).padStart(4, '0')}</li>`,
    `<li>Email: <a href="mailto:${post.toLowerCase()}acs@state.gov">${post.toLowerCase()}acs@state.gov</a></li>`,
    `<li>Website: <a href="https://example${feedIndex}.usembassy.gov/">example${feedIndex}.usembassy.gov</a></li>`,
    `<li>State Department &#8211; Consular Affairs: 888-407-4747 or 202-501-4444</li>`,
    `<li>Follow us on <a href="https://www.facebook.com/travelgov">Facebook</a> and <a href="https://twitter.com/TravelGov">Twitter</a>.</li>`,
    `</ul>`,
  ].join('\n');
  const plain = htmlToPlain(contentHtml);
  const description = `${plain.slice(0, 240).replace(/\s\S*$/, '')} &#8230;`;
  return { postId, title, slug, pubDate, alertType, post, contentHtml, description };
}

export function renderFeed(feedIndex: number, items: readonly GeneratedItem[], lastBuild: Date): string {
  const host = `example${feedIndex}.usembassy.gov`;
  const out: string[] = [
    `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"`,
    `\txmlns:content="http://purl.org/rss/1.0/modules/content/"`,
    `\txmlns:wfw="http://wellformedweb.org/CommentAPI/"`,
    `\txmlns:dc="http://purl.org/dc/elements/1.1/"`,
    `\txmlns:atom="http://www.w3.org/2005/Atom"`,
    `\txmlns:sy="http://purl.org/rss/1.0/modules/syndication/"`,
    `\txmlns:slash="http://purl.org/rss/1.0/modules/slash/"`,
    `\t>`,
    ``,
    `<channel>`,
    `\t<title>Alert &#8211; U.S. Embassy &amp; Consulates, post ${feedIndex}</title>`,
    `\t<atom:link href="https://${host}/category/alert/feed/" rel="self" type="application/rss+xml" />`,
    `\t<link>https://${host}</link>`,
    `\t<description></description>`,
    `\t<lastBuildDate>${lastBuild.toUTCString().replace('GMT', '+0000')}</lastBuildDate>`,
    `\t<language>en-US</language>`,
    `\t<sy:updatePeriod>\n\thourly\t</sy:updatePeriod>`,
    `\t<sy:updateFrequency>\n\t1\t</sy:updateFrequency>`,
    `\t<generator>https://wordpress.org/?v=6.4.3</generator>`,
  ];
  for (const it of items) {
    out.push(
      `\t<item>`,
      `\t\t<title>${wpTitle(it.title)}</title>`,
      `\t\t<link>https://${host}/${it.slug}/</link>`,
      `\t\t<dc:creator><![CDATA[wm${it.post.toLowerCase()}]]></dc:creator>`,
      `\t\t<pubDate>${it.pubDate.toUTCString().replace('GMT', '+0000')}</pubDate>`,
      `\t\t<category><![CDATA[Alert]]></category>`,
      `\t\t<category><![CDATA[${it.alertType}]]></category>`,
      `\t\t<guid isPermaLink="false">https://${host}/?p=${it.postId}</guid>`,
      `\t\t<description><![CDATA[${it.description}]]></description>`,
      `\t\t<content:encoded><![CDATA[${it.contentHtml}\n]]></content:encoded>`,
      `\t</item>`,
    );
  }
  out.push(`\t</channel>`, `</rss>`, ``);
  return out.join('\n');
}

/** A feed's posts: `ITEMS_PER_FEED` most recent, newest first, as WordPress lists them. */
export const ITEMS_PER_FEED = 10;
const EPOCH = Date.UTC(2024, 2, 7, 19, 0, 0);

export class GeneratedFeed {
  items: GeneratedItem[];
  nextPostId: number;
  updated: Date;
  constructor(readonly index: number) {
    this.items = Array.from({ length: ITEMS_PER_FEED }, (_, i) => generateItem(index, 30000 + ITEMS_PER_FEED - i, new Date(EPOCH - i * 86_400_000 * 3)));
    this.nextPostId = 30000 + ITEMS_PER_FEED + 1;
    this.updated = new Date(EPOCH);
  }

  /**
   * An editor updates one post (its text changes) and publishes a new one;
   * as WordPress shows a fixed number of posts, the oldest falls off the feed.
   */
  change(): void {
    const edited = this.items[2]!;
    this.items[2] = {
      ...edited,
      contentHtml: edited.contentHtml.replace(
        '<p><strong>Actions to Take:</strong></p>',
        '<p><strong>Update:</strong> The situation has changed; see below.</p>\n<p><strong>Actions to Take:</strong></p>',
      ),
    };
    this.updated = new Date(this.updated.getTime() + 3_600_000);
    this.items.unshift(generateItem(this.index, this.nextPostId++, this.updated));
    this.items.length = ITEMS_PER_FEED;
  }

  render(): string {
    return renderFeed(this.index, this.items, this.updated);
  }
}

export function feedPath(index: number): string {
  return `/feeds/${String(index).padStart(5, '0')}/alert/feed/`;
}

// ---------------------------------------------------------------------------
// The feed server, in a child process

type ServerRequest = { type: 'load'; count: number } | { type: 'change'; fraction: number } | { type: 'stats' };
type ServerReply =
  | { type: 'listening'; port: number }
  | { type: 'loaded'; bytes: number }
  | { type: 'changed'; indexes: number[] }
  | { type: 'stats'; requests: number; ok: number; notModified: number };

/** A feed document as the bench feed servers keep it: its bytes, gzipped too, and its validators. */
export interface Served {
  body: Buffer;
  gzip: Buffer;
  etag: string;
  lastModified: string;
}

export function servedDocument(feed: GeneratedFeed): Served {
  const body = Buffer.from(feed.render(), 'utf8');
  return {
    body,
    gzip: gzipSync(body),
    etag: `"${createHash('sha1').update(body).digest('hex')}"`,
    lastModified: feed.updated.toUTCString(),
  };
}

/**
 * A government server's answer to a feed GET: 404 for an unknown path, 304 when the
 * client's If-None-Match names the document's ETag, otherwise the document (gzipped
 * when the client accepts it) with its validators.
 */
export function answerFeedRequest(req: http.IncomingMessage, res: http.ServerResponse, doc: Served | undefined): 'not-found' | 'not-modified' | 'ok' {
  if (!doc) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    return 'not-found';
  }
  const inm = req.headers['if-none-match'];
  if (inm?.split(/\s*,\s*/).includes(doc.etag)) {
    res.writeHead(304, { etag: doc.etag, 'last-modified': doc.lastModified }).end();
    return 'not-modified';
  }
  const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  const payload = gzip ? doc.gzip : doc.body;
  res
    .writeHead(200, {
      'content-type': 'application/rss+xml; charset=UTF-8',
      etag: doc.etag,
      'last-modified': doc.lastModified,
      vary: 'Accept-Encoding',
      'content-length': String(payload.length),
      ...(gzip ? { 'content-encoding': 'gzip' } : {}),
    })
    .end(payload);
  return 'ok';
}

function runServerProcess(): void {
  const port = { postMessage: (m: ServerReply) => process.send!(m) };
  // Stop with the parent, whatever way it ends.
  process.on('disconnect', () => process.exit(0));
  let feeds: GeneratedFeed[] = [];
  const served = new Map<string, Served>();
  let stats = { requests: 0, ok: 0, notModified: 0 };

  const server = http.createServer((req, res) => {
    stats.requests++;
    const outcome = answerFeedRequest(req, res, served.get(req.url ?? ''));
    if (outcome === 'ok') stats.ok++;
    else if (outcome === 'not-modified') stats.notModified++;
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    port.postMessage({ type: 'listening', port: (server.address() as AddressInfo).port } satisfies ServerReply);
  });

  process.on('message', (msg: ServerRequest) => {
    if (msg.type === 'load') {
      feeds = Array.from({ length: msg.count }, (_, i) => new GeneratedFeed(i));
      served.clear();
      let bytes = 0;
      for (const f of feeds) {
        const s = servedDocument(f);
        bytes += s.body.length;
        served.set(feedPath(f.index), s);
      }
      stats = { requests: 0, ok: 0, notModified: 0 };
      port.postMessage({ type: 'loaded', bytes } satisfies ServerReply);
    } else if (msg.type === 'change') {
      // Every k-th feed, so changed feeds are spread over the whole list.
      const step = Math.round(1 / msg.fraction);
      const indexes = feeds.filter((f) => f.index % step === 0).map((f) => f.index);
      for (const i of indexes) {
        const f = feeds[i]!;
        f.change();
        served.set(feedPath(i), servedDocument(f));
      }
      port.postMessage({ type: 'changed', indexes } satisfies ServerReply);
    } else if (msg.type === 'stats') {
      port.postMessage({ type: 'stats', ...stats } satisfies ServerReply);
    }
  });
}

const SERVER_ROLE_ENV = 'ADVISORY_ALERTS_BENCH_FEED_SERVER';
if (process.env[SERVER_ROLE_ENV] === '1' && process.send) runServerProcess();

export class FeedServerProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly baseUrl: string,
  ) {}

  static async start(): Promise<FeedServerProcess> {
    // This very module, run again in a child process under tsx.
    const child = fork(fileURLToPath(import.meta.url), [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, [SERVER_ROLE_ENV]: '1' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const reply = await nextMessage<ServerReply>(child, 'feed server');
    if (reply.type !== 'listening') throw new Error(`feed server: unexpected ${reply.type}`);
    return new FeedServerProcess(child, `http://127.0.0.1:${reply.port}`);
  }

  private async request<T extends ServerReply['type']>(msg: ServerRequest, expect: T): Promise<Extract<ServerReply, { type: T }>> {
    const p = nextMessage<ServerReply>(this.child, 'feed server');
    this.child.send(msg);
    const reply = await p;
    if (reply.type !== expect) throw new Error(`feed server: expected ${expect}, got ${reply.type}`);
    return reply as Extract<ServerReply, { type: T }>;
  }

  /** (Re)generates `count` feeds at their first generation; returns the total body size. */
  async load(count: number): Promise<number> {
    return (await this.request({ type: 'load', count }, 'loaded')).bytes;
  }

  /** Changes `fraction` of the feeds; returns their indexes. */
  async change(fraction: number): Promise<number[]> {
    return (await this.request({ type: 'change', fraction }, 'changed')).indexes;
  }

  async stats(): Promise<{ requests: number; ok: number; notModified: number }> {
    const { type: _, ...s } = await this.request({ type: 'stats' }, 'stats');
    return s;
  }

  url(index: number): string {
    return `${this.baseUrl}${feedPath(index)}`;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.disconnect();
    await exited;
  }
}

// ---------------------------------------------------------------------------
// The raw floor: concurrent fetches + parseString, nothing else

/** Runs `fn` over `items` with at most `concurrency` in flight (the same scheme as pollFeeds). */
export async function forEachConcurrent<T>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
}

const floorParser = new Parser();

export interface FloorResult {
  ok: number;
  notModified: number;
  items: number;
}

/**
 * Fetches every URL (conditionally when `etags` holds a validator for it, and
 * remembering the new ones) and parses each body with rss-parser.
 */
export async function rawFloorCycle(
  urls: readonly string[],
  concurrency: number,
  etags: Map<string, string>,
  headers: Record<string, string>,
): Promise<FloorResult> {
  const result: FloorResult = { ok: 0, notModified: 0, items: 0 };
  await forEachConcurrent(urls, concurrency, async (url) => {
    const etag = etags.get(url);
    const res = await fetch(url, { headers: etag ? { ...headers, 'if-none-match': etag } : headers });
    if (res.status === 304) {
      await res.body?.cancel();
      result.notModified++;
      return;
    }
    if (res.status !== 200) throw new Error(`floor: ${url} answered ${res.status}`);
    const text = await res.text();
    const feed = await floorParser.parseString(text);
    result.items += feed.items.length;
    result.ok++;
    const newEtag = res.headers.get('etag');
    if (newEtag) etags.set(url, newEtag);
  });
  return result;
}

// ---------------------------------------------------------------------------
// A throw-away PostgreSQL database

export function benchDatabaseUrl(): string {
  return process.env.DATABASE_URL || process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
}

/** A scratch database named `<prefix>_<random>` (a prefix per bench, so whose it is shows in `\l`). */
export async function createDatabase(base: string, prefix = 'aa_bench'): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    drop: async () => {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      try {
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** Hides the password of a connection URL for printing. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.href;
  } catch {
    return url;
  }
}

// ---------------------------------------------------------------------------
// Reporting

export function machineDescription(): string[] {
  const cpus = os.cpus();
  return [
    `CPU:    ${cpus[0]?.model ?? 'unknown'} × ${cpus.length} cores (os.availableParallelism() = ${os.availableParallelism()})`,
    `Memory: ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `Node:   ${process.version} (${os.platform()} ${os.release()} ${os.arch()})`,
  ];
}

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 || i === 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
