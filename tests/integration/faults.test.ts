import { execFile, spawn, type ChildProcessByStdio } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import v8 from 'node:v8';
import vm from 'node:vm';
import zlib from 'node:zlib';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { settingsSchema, type FeedConfig, type Settings } from '../../src/config/schema.ts';
import { connectDatabase, type DatabaseHandle, type DB } from '../../src/db/connect.ts';
import type { EmailSender, SmsSender } from '../../src/channels/senders.ts';
import { Dispatcher } from '../../src/delivery/dispatcher.ts';
import { linkBuilder } from '../../src/channels/links.ts';
import { fanOut } from '../../src/delivery/repository.ts';
import { pollFeed, pollFeeds, type PollDeps, type PollOutcome } from '../../src/feeds/poller.ts';
import { syncFeeds } from '../../src/feeds/repository.ts';
import { runHousekeeping } from '../../src/housekeeping/run.ts';
import { createDispatcher } from '../../src/runtime.ts';
import { systemClock } from '../../src/common/clock.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { openTestDatabase, testDbKind, type TestDatabase } from '../helpers/db.ts';
import { fixture, startFeedServer, type FeedServer } from '../helpers/feed-server.ts';
import { ManualClock, feedConfig } from '../helpers/poll.ts';
import { TestSmtpServer } from '../helpers/smtp.ts';

/**
 * Fault tests (docs/contract.md: "Change detection", "Delivery", "Scale") on a real PostgreSQL: several
 * `start` processes on one database, a process killed with SIGKILL mid-send,
 * PostgreSQL itself restarted under a running service, the SMTP server down
 * and back, hostile feeds, the SSRF guard, the per-feed poll lease and
 * retention. The process tests run the real CLI (`node src/cli/bin.mjs start`)
 * as child processes; the rest drive the same code in-process.
 *
 * Every figure worth keeping (duplicates, timings, memory) is printed with
 * console.info, so a run's output carries the evidence.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = path.join(ROOT, 'src/cli/bin.mjs');
const PRODUCT_VARS = [
  'DATABASE_URL', 'DATA_DIR', 'CONFIG_DIR', 'APP_SECRET', 'PORT', 'PUBLIC_BASE_URL', 'MAIL_FROM', 'SMTP_URL', 'ADMIN_TOKEN',
  'TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM', 'TWILIO_MESSAGING_SERVICE_SID', 'TWILIO_API_BASE_URL',
];
const APP_SECRET = 'faults-secret-0123456789abcdef';
const MB = 1024 * 1024;
const EMBASSY_V1 = fixture('us-embassy/us-embassy-russia-alerts_v1.xml'); // 2 alerts
const EMBASSY_V2 = fixture('us-embassy/us-embassy-russia-alerts_v2.xml'); // + the March 7 alert
const MARCH_7_TITLE = 'Security Alert – U.S. Embassy Moscow (March 7, 2024)';

type Child = ChildProcessByStdio<null, Readable, Readable>;
type LogLine = Record<string, unknown>;

// ---------------------------------------------------------------------------
// Waiting, processes, configuration

/** Polls `probe` until it returns a value other than undefined/false; fails with `what` after the deadline. */
async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  options: { timeoutMs?: number; everyMs?: number; dead?: () => string | undefined } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    const dead = options.dead?.();
    if (dead) throw new Error(`while waiting for ${what}: ${dead}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${options.timeoutMs ?? 120_000} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, options.everyMs ?? 100));
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

const children = new Set<ServiceProcess>();

/** A running `advisory-alerts start`: its JSON log lines (stderr) and its exit. */
class ServiceProcess {
  readonly logs: LogLine[] = [];
  stderr = '';
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly child: Child;
  private partial = '';

  constructor(
    readonly name: string,
    args: string[],
    env: Record<string, string>,
  ) {
    const base: NodeJS.ProcessEnv = { ...process.env };
    for (const v of PRODUCT_VARS) delete base[v];
    this.child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(this);
    this.child.stdout.resume();
    this.child.stderr.setEncoding('utf8').on('data', (s: string) => {
      // Keep the tail only: a long run logs a lot.
      this.stderr = (this.stderr + s).slice(-20_000);
      this.partial += s;
      const lines = this.partial.split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          // not a log line
        }
      }
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        children.delete(this);
        resolve(this.exit);
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  readonly dead = (): string | undefined => (this.exit ? `${this.name} exited (${JSON.stringify(this.exit)}); stderr:\n${this.stderr}` : undefined);

  waitForLog(what: string, match: (l: LogLine) => boolean, timeoutMs = 150_000): Promise<LogLine> {
    return waitFor(`${this.name}: ${what}`, () => this.logs.find(match), { timeoutMs, dead: this.dead });
  }

  /** SIGTERM, then SIGKILL if it has not exited by the deadline. */
  async stop(timeoutMs = 60_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.exit) return this.exit;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  async kill9(): Promise<void> {
    if (this.exit) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

async function killAll(): Promise<void> {
  await Promise.all([...children].map((c) => c.kill9()));
}

let work: string;

/** A CONFIG_DIR with feeds.yaml and settings.yaml, and a DATA_DIR (outboxes; unused with SMTP). */
function makeConfig(feedsYaml: string, settingsYaml = ''): { CONFIG_DIR: string; DATA_DIR: string } {
  const dir = mkdtempSync(path.join(work, 'cfg-'));
  const configDir = path.join(dir, 'config');
  const dataDir = path.join(dir, 'data');
  mkdirSync(configDir);
  mkdirSync(dataDir);
  writeFileSync(path.join(configDir, 'feeds.yaml'), feedsYaml);
  writeFileSync(path.join(configDir, 'settings.yaml'), settingsYaml);
  return { CONFIG_DIR: configDir, DATA_DIR: dataDir };
}

/** `url?application_name=…`: lets the test see in pg_stat_activity which process is connected. */
function withApplicationName(url: string, name: string): string {
  const u = new URL(url);
  u.searchParams.set('application_name', name);
  return u.href;
}

// ---------------------------------------------------------------------------
// Seeding deliveries

/** An embassy-style event (no level: it passes every min_level) for RU, as a poll would have recorded it. */
async function seedEvent(db: DB, now: Date, title = 'Security Alert – U.S. Embassy Moscow (seeded)'): Promise<number> {
  await db.insertInto('feeds').values({ id: 'seeded', name: 'U.S. Embassy Moscow', url: 'https://ru.usembassy.gov/category/alert/feed/', source: 'us-embassy' }).onConflict((oc) => oc.column('id').doNothing()).execute();
  const key = `k-${now.getTime()}-${Math.random()}`;
  const advisory = await db
    .insertInto('advisories')
    .values({ feed_id: 'seeded', key, countries: ['RU'], title, body: 'Avoid large gatherings.', fingerprint: key, first_seen_at: now, last_seen_at: now, changed_at: now })
    .returning('id')
    .executeTakeFirstOrThrow();
  const version = await db
    .insertInto('advisory_versions')
    .values({ advisory_id: advisory.id, fingerprint: key, countries: ['RU'], title, body: 'Avoid large gatherings.', link: 'https://ru.usembassy.gov/alert', created_at: now })
    .returning('id')
    .executeTakeFirstOrThrow();
  await db.updateTable('advisories').set({ version_id: version.id }).where('id', '=', advisory.id).execute();
  const event = await db
    .insertInto('events')
    .values({ feed_id: 'seeded', advisory_id: advisory.id, kind: 'new', countries: ['RU'], title, link: 'https://ru.usembassy.gov/alert', version_id: version.id, created_at: now })
    .returning('id')
    .executeTakeFirstOrThrow();
  return event.id;
}

/** `n` confirmed email subscribers following RU, in one INSERT…SELECT generate_series. */
async function seedSubscribers(db: DB, n: number, now: Date, prefix = 'traveler'): Promise<void> {
  await sql`
    with s as (
      insert into subscribers (email, status, created_at, confirmed_at)
      select ${prefix} || '-' || g || '@example.org', 'confirmed', ${now}::timestamptz, ${now}::timestamptz
      from generate_series(1, ${n}) g
      returning id)
    insert into subscriptions (subscriber_id, countries, channels, created_at)
    select id, '{RU}', '{email}', ${now}::timestamptz from s`.execute(db);
}

async function deliveryStatuses(db: DB): Promise<Record<string, number>> {
  const rows = await db.selectFrom('deliveries').select(['status', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('status').execute();
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

/** Makes the test SMTP server take `delay()` ms before answering each DATA (after the message is recorded). */
function slowDown(server: TestSmtpServer, delay: () => number): void {
  const original = server['onData'].bind(server);
  server['onData'] = (stream, session, cb) =>
    original(stream, session, (err, message) => {
      const ms = delay();
      if (ms > 0) setTimeout(() => cb(err, message), ms);
      else cb(err, message);
    });
}

function recipients(server: TestSmtpServer): { total: number; distinct: number; perAddress: Map<string, number> } {
  const perAddress = new Map<string, number>();
  for (const m of server.messages) for (const to of m.envelope.to) perAddress.set(to, (perAddress.get(to) ?? 0) + 1);
  return { total: server.messages.length, distinct: perAddress.size, perAddress };
}

// ---------------------------------------------------------------------------
// A private PostgreSQL cluster (for the restart test: the machine's server is shared)

const PG_BIN = (() => {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((v) => existsSync(path.join(base, v, 'bin', 'initdb')) && existsSync(path.join(base, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(base, versions[0], 'bin') : undefined;
})();
const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;
const RUNUSER = ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find((p) => existsSync(p));
const HAS_POSTGRES_USER = (() => {
  try {
    return /^postgres:/m.test(readFileSync('/etc/passwd', 'utf8'));
  } catch {
    return false;
  }
})();
const PRIVATE_PG_UNAVAILABLE = !PG_BIN
  ? 'initdb/pg_ctl not found under /usr/lib/postgresql/*/bin'
  : IS_ROOT && (!RUNUSER || !HAS_POSTGRES_USER)
    ? 'running as root without runuser or a postgres user to run initdb as (initdb refuses root)'
    : undefined;

const run = promisify(execFile);

class PrivateCluster {
  readonly dataDir: string;
  readonly log: string;
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {
    this.dataDir = path.join(dir, 'data');
    this.log = path.join(dir, 'postgres.log');
  }

  /** Runs a PostgreSQL binary as the postgres user (initdb and postgres refuse root). */
  private static async pg(bin: string, args: string[]): Promise<void> {
    const exe = path.join(PG_BIN!, bin);
    const [file, argv] = IS_ROOT ? [RUNUSER!, ['-u', 'postgres', '--', exe, ...args]] : [exe, args];
    await run(file, argv, { timeout: 120_000, cwd: '/' });
  }

  static async create(): Promise<PrivateCluster> {
    const dir = mkdtempSync(path.join(tmpdir(), 'aa-pg-'));
    if (IS_ROOT) {
      const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
      const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
      chownSync(dir, uid, gid);
    }
    const cluster = new PrivateCluster(dir, await freePort());
    await PrivateCluster.pg('initdb', ['-D', cluster.dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync']);
    await cluster.start();
    return cluster;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  async start(): Promise<void> {
    const opts = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`;
    await PrivateCluster.pg('pg_ctl', ['-D', this.dataDir, '-l', this.log, '-o', opts, '-w', '-t', '90', 'start']);
  }

  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await PrivateCluster.pg('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', '90', 'stop']);
  }

  async createDatabase(name: string): Promise<string> {
    const c = new pg.Client({ connectionString: this.url });
    await c.connect();
    try {
      await c.query(`create database ${name}`);
    } finally {
      await c.end();
    }
    return `postgres://postgres@127.0.0.1:${this.port}/${name}`;
  }

  async destroy(): Promise<void> {
    await this.stop('immediate').catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// Hostile documents

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
  return Buffer.concat([Buffer.from(`${before}Security Alert `, 'utf8'), Buffer.from([0xff, 0x20, 0xc3, 0x28, 0x20, 0xc0, 0xaf]), Buffer.from(` Moscow (March 7, 2024)${after}`, 'utf8')]);
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

// ---------------------------------------------------------------------------

const kind = testDbKind();

describe.skipIf(kind !== 'postgres')(
  'fault tests on a real PostgreSQL (skipped on PGlite: several processes on one database need a PostgreSQL server; set TEST_DATABASE_URL)',
  { timeout: 300_000 },
  () => {
    let t: TestDatabase;
    let feeds: FeedServer;
    let smtp: TestSmtpServer;
    let smtpDelayMs = 0;

    beforeAll(async () => {
      work = mkdtempSync(path.join(tmpdir(), 'aa-faults-'));
      [t, feeds, smtp] = await Promise.all([openTestDatabase(), startFeedServer(), new TestSmtpServer().start()]);
      slowDown(smtp, () => smtpDelayMs);
    }, 120_000);
    afterAll(async () => {
      await killAll();
      await Promise.all([t?.close(), feeds?.stop(), smtp?.stop()]);
      if (work) rmSync(work, { recursive: true, force: true });
    });
    beforeEach(async () => {
      await t.reset();
      smtp.reset();
      smtpDelayMs = 0;
    });
    afterEach(async () => {
      await killAll();
    });

    // -------------------------------------------------------------------------
    it('three `start --roles poll` processes: each 2-second slot of a feed is fetched once', async () => {
      // Proves (contract, "Scale") "each scheduled poll of a feed runs once across all of them": with three
      // processes scheduling the same feed every 2 s, the PostgreSQL-backed run coordinator lets
      // exactly one of them run each slot — the feed server sees at most one request per slot
      // (three without coordination), and poll_runs never has two rows for one slot.
      feeds.set('/slots', { body: EMBASSY_V1 });
      const cfg = makeConfig(
        `feeds:\n  - id: slots\n    url: ${feeds.url('/slots')}\n    source: us-embassy\n    countries: [RU]\n    schedule: "*/2 * * * * *"\n`,
        'http:\n  timeoutSeconds: 10\n',
      );
      const procs = [1, 2, 3].map((i) => new ServiceProcess(`poll-${i}`, ['start', '--roles', 'poll'], { ...cfg, ...t.env }));
      await Promise.all(procs.map((p) => p.waitForLog('feeds scheduled', (l) => l.msg === 'feeds scheduled')));
      // The baseline (first) poll done, measure the steady state over ~10 s.
      await waitFor('the baseline poll', () => feeds.count('/slots') >= 1, { dead: () => procs.map((p) => p.dead()).find(Boolean) });
      const c0 = feeds.count('/slots');
      const t0 = Date.now();
      await waitFor('a 10 s measurement window', () => Date.now() - t0 >= 10_000, { dead: () => procs.map((p) => p.dead()).find(Boolean) });
      const c1 = feeds.count('/slots');
      const t1 = Date.now();
      for (const p of procs) expect(p.exit, p.stderr).toBeUndefined();
      await Promise.all(procs.map((p) => p.stop()));

      const slotsInWindow = Math.floor(t1 / 2000) - Math.floor(t0 / 2000);
      const requests = c1 - c0;
      const runs = await t.db.selectFrom('poll_runs').select(['started_at', 'finished_at', 'status']).where('feed_id', '=', 'slots').orderBy('started_at').execute();
      const claims = await t.db.selectFrom('cron_claims').select(['key', 'owner']).where('key', 'like', 'poll:slots:%').execute();
      const byOwner = new Map<string, number>();
      for (const c of claims) byOwner.set(c.owner, (byOwner.get(c.owner) ?? 0) + 1);
      const perSlot = new Map<number, string[]>();
      for (const r of runs) {
        const slot = Math.floor(r.started_at.getTime() / 2000);
        perSlot.set(slot, [...(perSlot.get(slot) ?? []), r.started_at.toISOString()]);
      }
      const lateness = runs.map((r) => r.started_at.getTime() % 2000);
      console.info(
        `[slots] window ${t1 - t0} ms = ${slotsInWindow} slots, ${requests} requests in it; total: ${feeds.count('/slots')} requests, ${runs.length} poll_runs, ${claims.length} claimed slots; ` +
          `claims per process: ${procs.map((p) => `${p.name}=${[...byOwner].filter(([o]) => o.endsWith(`:${p.pid}`)).reduce((n, [, k]) => n + k, 0)}`).join(' ')}; ` +
          `poll start after its slot: max ${Math.max(...lateness)} ms`,
      );

      // At most one fetch per slot (±1 at the window's edges), and polling did go on.
      expect(requests).toBeLessThanOrEqual(slotsInWindow + 1);
      expect(requests).toBeGreaterThanOrEqual(2);
      // Every fetch is one poll run, every poll run came from one claimed slot, no slot has two runs.
      expect(runs).toHaveLength(feeds.count('/slots'));
      expect(runs.length).toBeLessThanOrEqual(claims.length);
      expect([...perSlot.values()].filter((v) => v.length > 1)).toEqual([]);
      // Claims came only from the three processes.
      const pids = new Set(procs.map((p) => String(p.pid)));
      for (const owner of byOwner.keys()) expect(pids.has(owner.split(':').at(-1)!)).toBe(true);
    });

    // -------------------------------------------------------------------------
    it('kill -9 of one of three `start --roles deliver` processes mid-send: all 3,000 subscribers get the alert, duplicates ≤ one batch', async () => {
      // Proves (contract, "Delivery", "Scale") "nothing is lost when a process dies mid-send", "a killed process's
      // work is picked up by the others": the killed process's leased rows come back after the
      // 3 s lease and the survivors send them; each of 3,000 subscribers gets the alert, every
      // delivery ends 'sent', and the only duplicates are sends of the killed process's one
      // in-flight batch (≤ batchSize = 100) that it could not record. Live batches that take
      // longer than the 3 s lease keep it (the dispatcher renews it), so nothing else is re-sent.
      const N = 3000;
      const BATCH = 100;
      smtpDelayMs = 5;
      const cfg = makeConfig('feeds: []\n', `delivery:\n  leaseSeconds: 3\n  batchSize: ${BATCH}\n  idlePollMs: 250\n  email:\n    ratePerSecond: 0\n`);
      const env = { ...cfg, APP_SECRET, SMTP_URL: smtp.url, PUBLIC_BASE_URL: 'https://alerts.example.org' };
      const procs = [1, 2, 3].map(
        (i) => new ServiceProcess(`deliver-${i}`, ['start', '--roles', 'deliver'], { ...env, DATABASE_URL: withApplicationName(t.env.DATABASE_URL!, `aa-faults-deliver-${i}`) }),
      );
      const anyDead = () => procs.map((p) => p.dead()).find(Boolean);
      // All three are connected (their dispatchers look for work) before the work appears.
      await waitFor(
        'all three deliver processes to connect',
        async () => {
          const r = await sql<{ n: number }>`select count(distinct application_name)::int as n from pg_stat_activity where application_name like 'aa-faults-deliver-%'`.execute(t.db);
          return r.rows[0]!.n === 3;
        },
        { timeoutMs: 150_000, everyMs: 250, dead: anyDead },
      );

      const now = new Date();
      await t.db.transaction().execute(async (tx) => {
        const eventId = await seedEvent(tx, now);
        await seedSubscribers(tx, N, now);
        expect(await fanOut(tx, [eventId], now)).toBe(N);
      });
      const started = Date.now();

      // Mid-send: a fifth of the messages are out, and the victim is in the middle of a batch
      // (it holds at least 50 leased deliveries whose messages have not reached the server yet).
      const holder = await waitFor(
        'a process in the middle of a batch, after 600 messages',
        async () => {
          if (smtp.messages.length < 600) return undefined;
          if (smtp.messages.length > N - 300) throw new Error('the sends were nearly done before a process could be caught in the middle of a batch');
          const received = new Set(smtp.messages.flatMap((m) => m.envelope.to));
          const rows = await sql<{ owner: string; email: string }>`
            select d.lease_owner as owner, s.email from deliveries d join subscribers s on s.id = d.subscriber_id where d.status = 'sending'`.execute(t.db);
          const unsent = new Map<string, number>();
          for (const row of rows.rows) {
            const pid = row.owner.split(':')[1]!;
            if (!received.has(row.email)) unsent.set(pid, (unsent.get(pid) ?? 0) + 1);
          }
          const [pid, n] = [...unsent].sort((a, b) => b[1] - a[1])[0] ?? ['', 0];
          return n >= 50 ? procs.find((p) => String(p.pid) === pid) : undefined;
        },
        { timeoutMs: 150_000, everyMs: 20, dead: anyDead },
      );
      await holder.kill9();
      const atKill = smtp.messages.length;
      const killedAfterMs = Date.now() - started;
      const survivors = procs.filter((p) => p !== holder);
      // What the dead process held (its leases run for 3 s more): the only work that may go out twice.
      const orphaned = new Set(
        (await sql<{ id: number }>`select id from deliveries where status = 'sending' and split_part(lease_owner, ':', 2) = ${String(holder.pid)}`.execute(t.db)).rows.map((r) => Number(r.id)),
      );

      await waitFor(
        `all ${N} deliveries sent`,
        async () => (await deliveryStatuses(t.db)).sent === N,
        { timeoutMs: 240_000, everyMs: 250, dead: () => survivors.map((p) => p.dead()).find(Boolean) },
      );
      const doneMs = Date.now() - started;
      await smtp.settled();
      const r = recipients(smtp);
      const duplicates = r.total - r.distinct;
      const retried = await sql<{ n: number; max: number }>`select count(*)::int as n, coalesce(max(attempts), 0)::int as max from deliveries where attempts > 1`.execute(t.db);
      const reclaimed = (await sql<{ id: number }>`select id from deliveries where attempts > 1`.execute(t.db)).rows.map((x) => Number(x.id));
      const notOrphaned = reclaimed.filter((id) => !orphaned.has(id));
      console.info(
        `[kill -9] ${N} subscribers; killed ${holder.name} (holding ${orphaned.size} leased deliveries) ` +
          `after ${killedAfterMs} ms with ${atKill} messages out; all sent after ${doneMs} ms; ${r.total} messages, ${r.distinct} distinct recipients, ` +
          `${duplicates} duplicates; ${retried.rows[0]!.n} deliveries re-claimed after the lease (${orphaned.size} orphaned by the kill, ${notOrphaned.length} others)`,
      );

      expect(await deliveryStatuses(t.db)).toEqual({ sent: N });
      expect(r.distinct).toBe(N);
      expect(duplicates).toBeLessThanOrEqual(BATCH);
      // The survivors took over the victim's claims, and only those (live batches keep their leases).
      expect(orphaned.size).toBeGreaterThan(0);
      expect(orphaned.size).toBeLessThanOrEqual(BATCH);
      expect(notOrphaned).toEqual([]);
      expect(reclaimed.length).toBe(orphaned.size);
      for (const [to, n] of r.perAddress) if (n > 2) throw new Error(`${to} got ${n} copies`);
      // The survivors are still running, and stop cleanly.
      for (const p of survivors) expect(p.exit, p.stderr).toBeUndefined();
      const exits = await Promise.all(survivors.map((p) => p.stop()));
      expect(exits).toEqual(survivors.map(() => ({ code: 0, signal: null })));
    });

    // -------------------------------------------------------------------------
    it('a batch that takes longer than its lease keeps it: no other dispatcher sends it again', async () => {
      // Proves the dispatcher renews the leases of the batch it is sending, so that only a dead
      // process's claims ever expire: with leaseSeconds 1 and a server taking 400 ms a message,
      // one batch of 6 is sent for ~2.4 s while a second dispatcher keeps claiming — it gets
      // nothing, and each delivery is sent exactly once.
      const now = new Date();
      const eventId = await seedEvent(t.db, now);
      await seedSubscribers(t.db, 6, now, 'slow');
      expect(await fanOut(t.db, [eventId], now)).toBe(6);
      const sends: string[] = [];
      const sender = (name: string): EmailSender => ({
        kind: 'file',
        async send(_message, ref) {
          sends.push(`${name}:${ref}`);
          await new Promise((r) => setTimeout(r, 400));
          return { providerId: `${name}:${ref}` };
        },
        async close() {},
      });
      const noSms: SmsSender = { kind: 'file', send: () => Promise.reject(new Error('no SMS here')), findSent: async () => null, close: async () => {} };
      const settings = settingsSchema.parse({ delivery: { leaseSeconds: 1, batchSize: 6, concurrency: 1, email: { ratePerSecond: 0 } } }).delivery;
      const dispatcher = (name: string) =>
        new Dispatcher({ db: t.db, logger: silentLogger, clock: systemClock, settings, email: sender(name), sms: noSms, links: linkBuilder('https://alerts.example.org', APP_SECRET), listId: 'alerts.example.org' });
      const [a, b] = [dispatcher('A'), dispatcher('B')];
      const started = Date.now();
      const first = a.drain();
      let done = false;
      void first.finally(() => (done = true));
      let rounds = 0;
      while (!done) {
        const r = await b.drain();
        expect(r).toEqual({ sent: 0, failed: 0, retrying: 0 });
        rounds++;
        await new Promise((res) => setTimeout(res, 100));
      }
      expect(await first).toEqual({ sent: 6, failed: 0, retrying: 0 });
      const ms = Date.now() - started;
      console.info(`[lease renewal] one batch of 6 took ${ms} ms with a 1 s lease; the other dispatcher tried ${rounds} times and claimed nothing`);
      expect(ms).toBeGreaterThan(2000);
      expect(sends).toHaveLength(6);
      expect(sends.every((x) => x.startsWith('A:'))).toBe(true);
      expect(new Set(sends).size).toBe(6);
      const rows = await t.db.selectFrom('deliveries').select(['status', 'attempts', 'lease_owner']).distinct().execute();
      expect(rows).toEqual([{ status: 'sent', attempts: 1, lease_owner: null }]);
    });

    // -------------------------------------------------------------------------
    it.skipIf(PRIVATE_PG_UNAVAILABLE !== undefined)(
      `PostgreSQL restarted under a running \`start --roles poll,deliver,web\`: it reconnects and loses no work${PRIVATE_PG_UNAVAILABLE ? ` (skipped: ${PRIVATE_PG_UNAVAILABLE})` : ''}`,
      async () => {
        // Proves "PostgreSQL restarted mid-run: the service reconnects and loses no work" on a
        // private cluster (the machine's server is shared with other tests): the database goes
        // down while the service is polling every second and sending a backlog; the process stays
        // up, /readyz says 503 during the outage and 200 after it, every subscriber still gets the
        // alert that was being sent, and a feed change published after the restart is recorded
        // and delivered.
        const K = 300;
        const cluster = await PrivateCluster.create();
        let db: DatabaseHandle | undefined;
        try {
          const url = await cluster.createDatabase('aa_restart');
          const port = await freePort();
          feeds.set('/restart', { body: EMBASSY_V1 });
          const cfg = makeConfig(
            `feeds:\n  - id: embassy\n    name: U.S. Embassy Moscow\n    url: ${feeds.url('/restart')}\n    source: us-embassy\n    countries: [RU]\n    schedule: "*/1 * * * * *"\n`,
            'http:\n  timeoutSeconds: 5\ndelivery:\n  leaseSeconds: 3\n  batchSize: 50\n  idlePollMs: 200\n  retryBaseSeconds: 1\n  retryMaxSeconds: 2\n  email:\n    ratePerSecond: 0\nbackoff:\n  baseSeconds: 1\n  maxSeconds: 2\n',
          );
          const service = new ServiceProcess('service', ['start', '--roles', 'poll,deliver,web'], {
            ...cfg,
            DATABASE_URL: url,
            APP_SECRET,
            SMTP_URL: smtp.url,
            PORT: String(port),
            PUBLIC_BASE_URL: 'https://alerts.example.org',
          });
          const base = `http://127.0.0.1:${port}`;
          const readyz = async () => {
            try {
              return (await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(15_000) })).status;
            } catch {
              return 0;
            }
          };
          await service.waitForLog('the web server', (l) => l.msg === 'web listening');
          await service.waitForLog('the baseline poll', (l) => l.msg === 'polled' && l.feed === 'embassy' && l.baseline === true);
          db = await connectDatabase({ databaseUrl: url, dataDir: '/nonexistent', role: 'command', logger: silentLogger });

          // A backlog being sent when the database goes away: K subscribers, one alert, a slow SMTP server.
          const now = new Date();
          await db.db.transaction().execute(async (tx) => {
            const eventId = await seedEvent(tx, now, 'Demonstration Alert – before the restart');
            await seedSubscribers(tx, K, now);
            expect(await fanOut(tx, [eventId], now)).toBe(K);
          });
          smtpDelayMs = 40;
          await waitFor('the backlog to start going out', () => smtp.messages.length >= 10, { dead: service.dead });
          // Slower still while the database is down: sends are certainly in flight across the outage.
          smtpDelayMs = 200;
          const pollsBefore = feeds.count('/restart');
          const stopped = Date.now();
          await cluster.stop('fast');
          const sentBeforeOutage = smtp.messages.length;
          const during = await waitFor('/readyz to report the outage', async () => ((await readyz()) === 503 ? 503 : undefined), { dead: service.dead, everyMs: 200 });
          expect(during).toBe(503);
          // Down for at least 2 s, over at least one scheduled poll.
          await waitFor('2 s of outage and a poll slot', () => Date.now() - stopped >= 2000 && feeds.count('/restart') >= pollsBefore, { dead: service.dead });
          await cluster.start();
          const restarted = Date.now();
          smtpDelayMs = 2;
          expect(sentBeforeOutage).toBeLessThan(K);

          await waitFor('/readyz 200 after the restart', async () => (await readyz()) === 200, { dead: service.dead, everyMs: 200 });
          const readyAfterMs = Date.now() - restarted;
          // The backlog: every subscriber gets the alert (a batch in flight at the outage may be doubled).
          await waitFor(`the ${K} backlog deliveries to be sent`, async () => (await deliveryStatuses(db!.db)).sent === K, { dead: service.dead, everyMs: 250 });
          const backlogAfterMs = Date.now() - restarted;

          // A change published after the restart: recorded, fanned out, delivered.
          feeds.set('/restart', { body: EMBASSY_V2 });
          const event = await waitFor(
            'the March 7 alert to be recorded',
            async () => db!.db.selectFrom('events').select(['id', 'title', 'kind']).where('feed_id', '=', 'embassy').executeTakeFirst(),
            { dead: service.dead, everyMs: 250 },
          );
          expect(event).toMatchObject({ title: MARCH_7_TITLE, kind: 'new' });
          await waitFor(`the March 7 alert to reach all ${K} subscribers`, async () => (await deliveryStatuses(db!.db)).sent === 2 * K, { dead: service.dead, everyMs: 250 });
          await smtp.settled();
          const newAfterMs = Date.now() - restarted;

          const subjects = new Map<string, Set<string>>();
          for (const m of smtp.messages) for (const to of m.envelope.to) subjects.set(to, (subjects.get(to) ?? new Set()).add(m.subject));
          const r = recipients(smtp);
          const lost = await db.db.selectFrom('deliveries').select(['status', (eb) => eb.fn.countAll<number>().as('n')]).where('status', '!=', 'sent').groupBy('status').execute();
          console.info(
            `[pg restart] ${sentBeforeOutage}/${K} sent before the outage; readyz 200 ${readyAfterMs} ms after the restart; backlog done after ${backlogAfterMs} ms; ` +
              `new alert delivered after ${newAfterMs} ms; ${r.total} messages for ${2 * K} deliveries (${r.total - 2 * K} duplicates); ` +
              `log: ${service.logs.filter((l) => l.msg === 'database connection lost').length}× "database connection lost", ` +
              `${service.logs.filter((l) => l.msg === 'dispatch batch failed; retrying shortly').length}× "dispatch batch failed", ` +
              `${service.logs.filter((l) => l.msg === 'scheduled poll crashed').length}× "scheduled poll crashed"`,
          );
          expect(lost).toEqual([]);
          expect(subjects.size).toBe(K);
          for (const [to, s] of subjects) expect(s.size, to).toBe(2);
          expect(r.total - 2 * K).toBeLessThanOrEqual(50);
          expect(service.exit, service.stderr).toBeUndefined();
          expect(await service.stop()).toEqual({ code: 0, signal: null });
        } finally {
          await killAll();
          await db?.close().catch(() => {});
          await cluster.destroy();
        }
      },
    );

    // -------------------------------------------------------------------------
    it('SMTP server down, then back on the same port: the backlog drains, nothing lost, nothing doubled', async () => {
      // Proves (contract, "Delivery") transient failures are retried: with the SMTP server gone, every send fails
      // with a connection error and the deliveries stay 'pending' (not failed) with that error;
      // once the server is back on the same port, draining sends each delivery exactly once.
      const N = 40;
      const down = await new TestSmtpServer().start();
      const port = down.port;
      await down.stop();
      const cfg = makeConfig('feeds: []\n', 'delivery:\n  retryBaseSeconds: 1\n  retryMaxSeconds: 2\n  maxAttempts: 8\n  email:\n    ratePerSecond: 0\n');
      const config = loadConfig({ ...cfg, DATABASE_URL: t.env.DATABASE_URL, APP_SECRET, SMTP_URL: `smtp://127.0.0.1:${port}`, PUBLIC_BASE_URL: 'https://alerts.example.org' });
      const clock = new ManualClock(new Date('2026-03-01T12:00:00Z'));
      const eventId = await seedEvent(t.db, clock.now());
      await seedSubscribers(t.db, N, clock.now(), 'outage');
      expect(await fanOut(t.db, [eventId], clock.now())).toBe(N);
      const { dispatcher, close } = createDispatcher(config, t.db, silentLogger, clock);
      try {
        // "Down for a minute": three rounds a minute apart, all failing.
        for (let round = 1; round <= 3; round++) {
          expect(await dispatcher.drain()).toEqual({ sent: 0, failed: 0, retrying: N });
          const rows = await t.db.selectFrom('deliveries').select(['status', 'attempts', 'last_error']).execute();
          expect(rows).toHaveLength(N);
          for (const r of rows) {
            expect(r.status).toBe('pending');
            expect(r.attempts).toBe(round);
            expect(r.last_error).toMatch(/ECONNREFUSED|ECONNECTION|ESOCKET|connect/i);
          }
          clock.advance(30_000);
        }
        const lastError = (await t.db.selectFrom('deliveries').select('last_error').executeTakeFirstOrThrow()).last_error;

        const back = new TestSmtpServer();
        back.port = port;
        await back.start();
        try {
          let rounds = 0;
          let sent = 0;
          while ((await deliveryStatuses(t.db)).sent !== N) {
            if (++rounds > 20) throw new Error(`not drained after 20 rounds: ${JSON.stringify(await deliveryStatuses(t.db))}`);
            clock.advance(30_000);
            const s = await dispatcher.drain();
            expect(s.failed).toBe(0);
            sent += s.sent;
          }
          await back.settled();
          const r = recipients(back);
          console.info(`[smtp outage] ${N} deliveries: 3 failed rounds ("${lastError}"), then ${rounds} round(s) after the server came back; ${r.total} messages, ${r.distinct} distinct`);
          expect(sent).toBe(N);
          expect(back.port).toBe(port);
          expect(r.total).toBe(N);
          expect(r.distinct).toBe(N);
          expect(await deliveryStatuses(t.db)).toEqual({ sent: N });
          const attempts = await sql<{ outcome: string; n: number }>`select outcome, count(*)::int as n from delivery_attempts group by 1 order by 1`.execute(t.db);
          expect(attempts.rows).toEqual([
            { outcome: 'retry', n: 3 * N },
            { outcome: 'sent', n: N },
          ]);
          expect(await dispatcher.drain()).toEqual({ sent: 0, failed: 0, retrying: 0 });
        } finally {
          await back.stop();
        }
      } finally {
        await close();
      }
    });

    // -------------------------------------------------------------------------
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
          url: (id) => feeds.set(`/${id}`, { body: EMBASSY_V2, drip: { bytes: 1, everyMs: 1000 } }),
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
          url: (id) => feeds.set(`/${id}`, { redirectTo: `/${id}` }),
          expect: /more than 5 redirects/,
        },
        {
          name: 'gzip bomb: 1 GiB of zeros, about 1 MB compressed',
          url: (id) => feeds.set(`/${id}`, { rawGzip: gzipBomb }),
          expect: /exceeds the limit of 5242880 bytes \(after decompression\)/,
        },
        {
          name: 'XML entity bomb (billion laughs)',
          url: (id) => feeds.set(`/${id}`, { body: ENTITY_BOMB }),
          expect: /entit/i,
        },
        {
          name: 'invalid UTF-8 bytes',
          url: (id) => feeds.set(`/${id}`, { body: invalidUtf8() }),
          expect: {
            orReason: /encoding|UTF-8|not a valid/i,
            parsed: async (out, id) => {
              expect(out).toMatchObject({ status: 'ok', new: 3 });
              const titles = (await t.db.selectFrom('advisories').select('title').where('feed_id', '=', id).execute()).map((a) => a.title);
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
              const n = await t.db.selectFrom('advisories').select((eb) => eb.fn.countAll<number>().as('n')).where('feed_id', '=', id).executeTakeFirstOrThrow();
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
        const healthy = feedConfig({ id: `healthy-${cases.indexOf(c)}`, url: feeds.set(`/healthy-${cases.indexOf(c)}`, { body: EMBASSY_V1 }), source: 'us-embassy', countries: ['RU'] });
        const settings: Settings = settingsSchema.parse(c.settings ?? {});
        const deps: PollDeps = { db: t.db, logger: silentLogger, clock: new ManualClock(), settings };
        await syncFeeds(t.db, [hostile, healthy]);

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
        const row = await t.db.selectFrom('feeds').select(['last_status', 'last_error', 'consecutive_failures']).where('id', '=', id).executeTakeFirstOrThrow();
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
          const events = await t.db.selectFrom('events').select('id').where('feed_id', '=', id).execute();
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

    // -------------------------------------------------------------------------
    it('SSRF guard: with http.allowPrivateAddresses false a loopback feed is refused; by default it is polled', async () => {
      // Proves the issue's guard: `http.allowPrivateAddresses: false` refuses loopback addresses —
      // a literal 127.0.0.1 and a name resolving to it — before any request is made, and records
      // the reason on the feed; with the default setting the same feed is polled normally.
      const literal = feedConfig({ id: 'ssrf-literal', url: feeds.set('/ssrf', { body: EMBASSY_V1 }), source: 'us-embassy', countries: ['RU'] });
      const byName = feedConfig({ id: 'ssrf-name', url: feeds.url('/ssrf').replace('127.0.0.1', 'localhost'), source: 'us-embassy', countries: ['RU'] });
      await syncFeeds(t.db, [literal, byName]);
      const guarded: PollDeps = { db: t.db, logger: silentLogger, clock: new ManualClock(), settings: settingsSchema.parse({ http: { allowPrivateAddresses: false } }) };
      const before = feeds.count('/ssrf');
      const refused = await pollFeeds(guarded, [literal, byName], { force: true });
      console.info(`[ssrf] ${refused.map((o) => `${o.feed}: "${o.error}"`).join('; ')}`);
      for (const o of refused) {
        expect(o.status).toBe('error');
        expect(o.error).toMatch(/not a public address/);
      }
      expect(refused[0]!.error).toContain('127.0.0.1');
      expect(feeds.count('/ssrf')).toBe(before);
      const rows = await t.db.selectFrom('feeds').select(['id', 'last_status', 'last_error']).where('id', 'like', 'ssrf-%').orderBy('id').execute();
      expect(rows.map((r) => r.last_status)).toEqual(['error', 'error']);
      for (const r of rows) expect(r.last_error).toMatch(/not a public address/);

      const open: PollDeps = { ...guarded, settings: settingsSchema.parse({}) };
      const allowed = await pollFeeds(open, [literal, byName], { force: true });
      expect(allowed.map((o) => [o.feed, o.status, o.new])).toEqual([
        ['ssrf-literal', 'ok', 2],
        ['ssrf-name', 'ok', 2],
      ]);
      expect(feeds.count('/ssrf')).toBe(before + 2);
    });

    // -------------------------------------------------------------------------
    it('per-feed lease: of two concurrent forced polls of one feed, one polls and the other is skipped', async () => {
      // Proves the per-feed poll lease: a manual `poll` next to a scheduled one (any process) never
      // interleave — the second, even forced, returns 'skipped' with the reason, and the feed
      // server sees a single request. Two connection pools stand for two processes.
      const url = feeds.set('/leased', { body: EMBASSY_V1, delayMs: 1000 });
      const feed = feedConfig({ id: 'leased', url, source: 'us-embassy', countries: ['RU'] });
      await syncFeeds(t.db, [feed]);
      const other = await connectDatabase({ databaseUrl: t.env.DATABASE_URL, dataDir: '/nonexistent', role: 'command', logger: silentLogger });
      try {
        const settings = settingsSchema.parse({});
        const a: PollDeps = { db: t.db, logger: silentLogger, clock: new ManualClock(), settings };
        const b: PollDeps = { db: other.db, logger: silentLogger, clock: new ManualClock(), settings };
        const outs = await Promise.all([pollFeed(a, feed, { force: true }), pollFeed(b, feed, { force: true })]);
        const polled = outs.filter((o) => o.status === 'ok');
        const skipped = outs.filter((o) => o.status === 'skipped');
        expect(polled).toHaveLength(1);
        expect(polled[0]).toMatchObject({ new: 2, baseline: true });
        expect(skipped).toHaveLength(1);
        expect(skipped[0]!.error).toBe('another poll of this feed is in progress');
        expect(feeds.count('/leased')).toBe(1);
        expect(await t.db.selectFrom('poll_runs').select('status').where('feed_id', '=', 'leased').execute()).toEqual([{ status: 'ok' }]);
        // The lease is given back: the next poll goes ahead.
        const row = await t.db.selectFrom('feeds').select(['poll_lease_owner', 'poll_lease_until']).where('id', '=', 'leased').executeTakeFirstOrThrow();
        expect(row).toEqual({ poll_lease_owner: null, poll_lease_until: null });
        feeds.set('/leased', { body: EMBASSY_V1 });
        expect(await pollFeed(b, feed, { force: true })).toMatchObject({ status: 'not-modified' });
      } finally {
        await other.close();
      }
    });

    // -------------------------------------------------------------------------
    it('housekeeping: retention deletes old sent deliveries, attempts and poll runs, and keeps pending/failed work and referenced versions', async () => {
      // Proves the retention rules (settings.retention, defaults 30/90/14/180 days): 40 days on,
      // sent deliveries (with their attempts) and poll runs past retention are gone while pending
      // and failed deliveries stay; 100 days on, a failed delivery's attempts go but not the
      // delivery; 200 days on, an orphan advisory version goes while the current version and the
      // versions events point to stay.
      const t0 = new Date('2026-01-01T00:00:00Z');
      const day = 24 * 3600 * 1000;
      const at = (d: number) => new Date(t0.getTime() + d * day);
      const db = t.db;
      await db.insertInto('feeds').values({ id: 'hk', name: 'hk', url: 'https://example.org/feed', source: 'generic' }).execute();
      const adv = await db
        .insertInto('advisories')
        .values({ feed_id: 'hk', key: 'a', countries: ['RU'], title: 'A', body: 'b', fingerprint: 'f3', first_seen_at: t0, last_seen_at: t0, changed_at: t0 })
        .returning('id')
        .executeTakeFirstOrThrow();
      const version = async (fp: string) =>
        (await db.insertInto('advisory_versions').values({ advisory_id: adv.id, fingerprint: fp, countries: ['RU'], title: fp, body: fp, created_at: t0 }).returning('id').executeTakeFirstOrThrow()).id;
      const orphan = await version('v0'); // superseded, no event points to it
      const previous = await version('v1'); // an event's previous version
      const current = await version('v2'); // the advisory's current version, and the event's new one
      await db.updateTable('advisories').set({ version_id: current }).where('id', '=', adv.id).execute();
      const event = await db
        .insertInto('events')
        .values({ feed_id: 'hk', advisory_id: adv.id, kind: 'updated', countries: ['RU'], title: 'A', version_id: current, previous_version_id: previous, created_at: t0 })
        .returning('id')
        .executeTakeFirstOrThrow();
      await seedSubscribers(db, 4, t0, 'hk');
      const subs = (await db.selectFrom('subscribers').select('id').orderBy('id').execute()).map((s) => s.id);
      const delivery = async (subscriber: number, status: 'sent' | 'pending' | 'failed', sentAt: Date | null) =>
        (
          await db
            .insertInto('deliveries')
            .values({ subscriber_id: subscriber, event_id: event.id, channel: 'email', status, attempts: 1, next_attempt_at: t0, created_at: t0, sent_at: sentAt })
            .returning('id')
            .executeTakeFirstOrThrow()
        ).id;
      const oldSent = await delivery(subs[0]!, 'sent', t0);
      const recentSent = await delivery(subs[1]!, 'sent', at(20));
      const pending = await delivery(subs[2]!, 'pending', null);
      const failed = await delivery(subs[3]!, 'failed', null);
      for (const [id, when, outcome] of [
        [oldSent, t0, 'sent'],
        [recentSent, at(20), 'sent'],
        [pending, t0, 'retry'],
        [failed, t0, 'failed'],
      ] as const) {
        await db.insertInto('delivery_attempts').values({ delivery_id: id, attempted_at: when, outcome }).execute();
      }
      for (const d of [0, 20, 39]) {
        await db.insertInto('poll_runs').values({ feed_id: 'hk', started_at: at(d), finished_at: at(d), status: 'ok', http_status: 200 }).execute();
      }
      await db.insertInto('cron_claims').values([{ key: 'poll:hk:old', owner: 'x', claimed_at: t0 }, { key: 'poll:hk:new', owner: 'x', claimed_at: at(39.5) }]).execute();

      const retention = settingsSchema.parse({}).retention;
      const housekeep = (days: number) => runHousekeeping({ db, clock: new ManualClock(at(days)), logger: silentLogger, retention });
      const ids = async (table: 'deliveries' | 'delivery_attempts' | 'advisory_versions') => (await db.selectFrom(table).select('id').orderBy('id').execute()).map((r) => r.id);
      const attemptsOf = async () => (await db.selectFrom('delivery_attempts').select('delivery_id').orderBy('delivery_id').execute()).map((r) => r.delivery_id);

      const r40 = await housekeep(40);
      expect(r40).toMatchObject({ sentDeliveries: 1, attempts: 0, pollRuns: 2, versions: 0, cronClaims: 1 });
      expect(await ids('deliveries')).toEqual([recentSent, pending, failed]);
      expect(await attemptsOf()).toEqual([recentSent, pending, failed]);
      expect((await db.selectFrom('poll_runs').select('started_at').execute()).map((r) => r.started_at)).toEqual([at(39)]);
      expect((await db.selectFrom('cron_claims').select('key').execute()).map((r) => r.key)).toEqual(['poll:hk:new']);
      expect(await ids('advisory_versions')).toEqual([orphan, previous, current]);

      const r100 = await housekeep(100);
      expect(r100).toMatchObject({ sentDeliveries: 1, attempts: 2 });
      expect(await ids('deliveries')).toEqual([pending, failed]);
      expect(await attemptsOf()).toEqual([]);
      expect(await deliveryStatuses(db)).toEqual({ pending: 1, failed: 1 });

      const r200 = await housekeep(200);
      expect(r200).toMatchObject({ versions: 1 });
      expect(await ids('advisory_versions')).toEqual([previous, current]);
      expect(await ids('deliveries')).toEqual([pending, failed]);
      // Running again changes nothing.
      expect(await housekeep(200)).toEqual({ sentDeliveries: 0, attempts: 0, pollRuns: 0, versions: 0, cronClaims: 0, tokens: 0 });
    });
  },
);
