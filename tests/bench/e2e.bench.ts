/**
 * End-to-end scale-out benchmark (a script, not a test): `npm run bench:e2e`.
 * README "Benchmarks".
 *
 * Real processes against one PostgreSQL: `node src/cli/bin.mjs start --roles
 * poll,deliver` × 3, then the same run with × 1 for comparison. Each run gets
 * a fresh scratch database (dropped after it) and:
 *
 * - 1,000 WordPress-style embassy alert feeds served locally (strong ETags,
 *   304 on If-None-Match, gzip), each feed for one country, feed 0 for RU;
 *   the services poll every feed on a 10-second schedule (node-cron slots,
 *   each run once across the processes);
 * - the baseline taken beforehand with the `poll` command (no alerts);
 * - 100,000 confirmed subscribers following RU by email;
 * - an SMTP sink in a separate process (smtp-sink.mjs) that takes 15 ms a
 *   message before answering 250;
 * - email ratePerSecond 0 (unlimited: with the shipped 50/s the run would
 *   measure the rate limit), the shipped SMTP connections (5) and send
 *   concurrency (20) per process unless --connections / --concurrency say
 *   otherwise.
 *
 * Once all processes are up and polling, one feed (feed 0) publishes a new
 * post — one 'new' event, one email per subscriber — two seconds before a
 * schedule slot. Measured: time from that change to the first and to the last
 * email accepted by the sink, peak RSS of each service process (VmHWM from
 * /proc/<pid>/status), CPU of each process, of the sink and of PostgreSQL;
 * then the scale-out ratio (time with 1 process / time with 3).
 *
 * The floor for the sending phase, measured in the same run right before each
 * service run (so both see about the same load): a bare pooled
 * nodemailer loop (no database, one message rendered once) with processes ×
 * connections connections and processes × concurrency sends in flight, to the
 * same 15-ms sink, on up to 20,000 emails; floor = emails / its rate. Also
 * printed: the bound the sink's delay alone sets, emails × 15 ms /
 * (processes × connections), which ignores SMTP round trips and CPU.
 *
 * Usage:
 *   npm run bench:e2e                                       full scale (the default)
 *   npm run bench:e2e -- --subscribers 2000 --feeds 50      a quick trial
 *   options: --subscribers N  --feeds N  --processes 3  --delay-ms 15
 *            --connections 5  --concurrency 20  --batch-size 200  --schedule-seconds 10
 *            --keep-logs (print where the service logs are; they are deleted otherwise)
 * Environment: DATABASE_URL or TEST_DATABASE_URL (default
 * postgres://postgres@127.0.0.1:5432/postgres).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import countries from 'i18n-iso-countries';
import { sql } from 'kysely';
import nodemailer from 'nodemailer';
import { stringify } from 'yaml';
import { connectDatabase, migrateToLatest } from '../../src/db/connect.ts';
import { linkBuilder } from '../../src/channels/links.ts';
import { renderEmail } from '../../src/delivery/render.ts';
import { governmentOf } from '../../src/advisories/governments.ts';
import { silentLogger } from '../../src/common/logger.ts';
import {
  answerFeedRequest,
  benchDatabaseUrl,
  createDatabase,
  feedPath,
  GeneratedFeed,
  generateItem,
  ITEMS_PER_FEED,
  machineDescription,
  redactUrl,
  servedDocument,
  table,
  type Served,
} from './lib.ts';
import { int, loadavg, memoryDescription, pct, postgresCpuSeconds, processCpuSeconds, procStatusMiB, SinkProcess } from './sinks.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = path.join(ROOT, 'src/cli/bin.mjs');

const { values: args } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '100000' },
    feeds: { type: 'string', default: '1000' },
    processes: { type: 'string', default: '3' },
    'delay-ms': { type: 'string', default: '15' },
    connections: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '20' },
    'batch-size': { type: 'string', default: '200' },
    'schedule-seconds': { type: 'string', default: '10' },
    'keep-logs': { type: 'boolean', default: false },
  },
});

function positive(name: string, v: string): number {
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer`);
  return n;
}

const SUBSCRIBERS = positive('subscribers', args.subscribers);
const FEEDS = positive('feeds', args.feeds);
const PROCESSES = positive('processes', args.processes);
const DELAY_MS = positive('delay-ms', args['delay-ms']);
const CONNECTIONS = positive('connections', args.connections);
const CONCURRENCY = positive('concurrency', args.concurrency);
const BATCH = positive('batch-size', args['batch-size']);
const SCHEDULE_S = positive('schedule-seconds', args['schedule-seconds']);
if (60 % SCHEDULE_S !== 0) throw new Error('--schedule-seconds must divide 60');
const APP_SECRET = 'bench-app-secret-0123456789abcdef';
const GOAL_RSS_MIB = 250;
const GOAL_FIRST_S = 5;
const GOAL_FLOOR = 0.9;

// ---------------------------------------------------------------------------
// The feeds, served from this process (the services poll them over HTTP)

class FeedServer {
  readonly feeds: GeneratedFeed[];
  private served = new Map<string, Served>();
  private server: http.Server;
  stats = { requests: 0, ok: 0, notModified: 0 };
  baseUrl = '';

  constructor(count: number) {
    this.feeds = Array.from({ length: count }, (_, i) => new GeneratedFeed(i));
    for (const f of this.feeds) this.serve(f);
    this.server = http.createServer((req, res) => {
      this.stats.requests++;
      const outcome = answerFeedRequest(req, res, this.served.get(req.url ?? ''));
      if (outcome === 'ok') this.stats.ok++;
      else if (outcome === 'not-modified') this.stats.notModified++;
    });
    this.server.keepAliveTimeout = 60_000;
  }

  private serve(feed: GeneratedFeed): void {
    this.served.set(feedPath(feed.index), servedDocument(feed));
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  url(i: number): string {
    return `${this.baseUrl}${feedPath(i)}`;
  }

  /** The embassy publishes one new post (the oldest falls off the feed): one 'new' event. */
  publish(i: number): void {
    const f = this.feeds[i]!;
    f.updated = new Date(f.updated.getTime() + 3_600_000);
    f.items.unshift(generateItem(i, f.nextPostId++, f.updated));
    f.items.length = ITEMS_PER_FEED;
    this.serve(f);
  }

  /** Back to generation 0 for the next run. */
  reset(): void {
    for (let i = 0; i < this.feeds.length; i++) {
      this.feeds[i] = new GeneratedFeed(i);
      this.serve(this.feeds[i]!);
    }
    this.stats = { requests: 0, ok: 0, notModified: 0 };
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** ISO codes for the feeds: feed 0 is RU, the others cycle through every other country. */
function feedCountries(n: number): string[] {
  const others = Object.keys(countries.getAlpha2Codes())
    .filter((c) => c !== 'RU')
    .sort();
  return Array.from({ length: n }, (_, i) => (i === 0 ? 'RU' : others[(i - 1) % others.length]!));
}

// ---------------------------------------------------------------------------
// One run

interface RunResult {
  processes: number;
  expected: number;
  accepted: number;
  duplicates: number;
  changeToEvent: number;
  changeToFirst: number;
  changeToLast: number;
  sendPhase: number;
  peakRss: number[];
  cpu: number[];
  sinkCpu: number;
  pgCpu: number;
  window: number;
  exitCodes: (number | string)[];
  statuses: Record<string, number>;
  baselineSeconds: number;
  /** One-minute load average when the last email was in. */
  load: number;
  /** Peak RSS of each process before the change (start-up, baseline polls), MiB. */
  rssBefore: number[];
  /** Seconds from the change to the fan-out's end, as the polling process logged it (before its commit). */
  changeToFannedOut: number;
}

function writeConfig(dir: string, server: FeedServer): void {
  const codes = feedCountries(FEEDS);
  const feeds = Array.from({ length: FEEDS }, (_, i) => ({
    id: `embassy-${String(i).padStart(5, '0')}`,
    name: `U.S. Embassy, post ${i}`,
    url: server.url(i),
    source: 'us-embassy',
    countries: [codes[i]!],
  }));
  writeFileSync(path.join(dir, 'feeds.yaml'), stringify({ feeds }));
  writeFileSync(
    path.join(dir, 'settings.yaml'),
    stringify({
      defaultSchedule: `*/${SCHEDULE_S} * * * * *`,
      logLevel: 'info',
      publicBaseUrl: 'https://alerts.example.org',
      delivery: { batchSize: BATCH, concurrency: CONCURRENCY, email: { ratePerSecond: 0, connections: CONNECTIONS } },
    }),
  );
}

function childEnv(databaseUrl: string, configDir: string, dataDir: string, smtpUrl: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of [
    'DATABASE_URL',
    'TEST_DATABASE_URL',
    'SMTP_URL',
    'TWILIO_ACCOUNT_SID',
    'TWILIO_AUTH_TOKEN',
    'TWILIO_FROM',
    'TWILIO_MESSAGING_SERVICE_SID',
    'TWILIO_API_BASE_URL',
    'PORT',
  ])
    delete env[k];
  return { ...env, DATABASE_URL: databaseUrl, APP_SECRET, CONFIG_DIR: configDir, DATA_DIR: dataDir, SMTP_URL: smtpUrl };
}

async function waitFor<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined> | T | undefined, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${(timeoutMs / 1000).toFixed(0)} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Runs `node args…` to completion without blocking this event loop. */
function runCommand(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

/** When a service logged "events fanned out" (pino's epoch-ms `time`), the earliest; NaN if none did. */
function fannedOutTime(log: string): number {
  let at = Number.NaN;
  for (const line of log.split('\n')) {
    if (!line.includes('"msg":"events fanned out"')) continue;
    const t = (JSON.parse(line) as { time?: number }).time;
    if (typeof t === 'number' && !(t >= at)) at = t;
  }
  return at;
}

/**
 * What bounded a run's sending (or the floor's): the sink's delay when the time is within
 * 15% of it; else a core, when one process (or all of them together, the machine's
 * cores) was busy at least 85% of the time; else waiting on round trips.
 */
function limitOf(seconds: number, sinkBound: number, cpuSeconds: Record<string, number>, load: number): string {
  if (seconds <= sinkBound * 1.15) return 'sink delay';
  const parts = Object.entries(cpuSeconds);
  const total = parts.reduce((a, [, c]) => a + c, 0);
  const busiest = parts.sort((a, b) => b[1] - a[1])[0];
  const cores = os.availableParallelism();
  if (busiest && busiest[1] / seconds >= 0.85) return `CPU (${busiest[0]}, one core)`;
  if (total / seconds >= 0.85 * cores) return `CPU (all ${cores} cores)`;
  return load > cores ? `waiting (no core saturated; load ${load.toFixed(1)})` : 'waiting (no core saturated)';
}

function exitOf(child: ChildProcess): Promise<number | string> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  if (child.signalCode !== null) return Promise.resolve(child.signalCode);
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
}

async function run(baseUrl: string, processes: number, server: FeedServer, sink: SinkProcess, workDir: string): Promise<RunResult> {
  server.reset();
  const runDir = mkdtempSync(path.join(workDir, `p${processes}-`));
  const configDir = path.join(runDir, 'config');
  const dataDir = path.join(runDir, 'data');
  mkdirSync(configDir, { recursive: true });
  mkdirSync(dataDir, { recursive: true });
  writeConfig(configDir, server);
  const database = await createDatabase(baseUrl);
  dropOnInterrupt.add(database.drop);
  const children: ChildProcess[] = [];
  try {
    const env = childEnv(database.url, configDir, dataDir, `smtp://127.0.0.1:${sink.port}`);
    const handle = await connectDatabase({ databaseUrl: database.url, dataDir, role: 'command', logger: silentLogger, poolSize: 2 });
    try {
      await migrateToLatest(handle.db, silentLogger);

      // Baseline with the `poll` command: every feed's current posts are recorded, no alert.
      const t0 = Date.now();
      // Asynchronously: the feeds are served from this process's event loop.
      const poll = await runCommand([BIN, 'poll', '--json'], env);
      const baselineSeconds = (Date.now() - t0) / 1000;
      if (poll.status !== 0) throw new Error(`poll (baseline) exited ${poll.status}: ${poll.stderr.slice(-2000)}`);
      const outcomes = JSON.parse(poll.stdout) as { status: string; events: number }[];
      const notOk = outcomes.filter((o) => o.status !== 'ok');
      if (outcomes.length !== FEEDS || notOk.length > 0 || outcomes.some((o) => o.events !== 0))
        throw new Error(`baseline poll: ${outcomes.length} feeds, ${notOk.length} not ok: ${JSON.stringify(notOk.slice(0, 3))}`);
      console.error(`  [${processes} process(es)] baseline poll of ${FEEDS} feeds: ${baselineSeconds.toFixed(1)} s`);

      await sql`
        insert into subscribers (email, status, confirmed_at, created_at)
        select 'traveler' || g || '@example.org', 'confirmed', now(), now() from generate_series(1, ${SUBSCRIBERS}::int) g`.execute(handle.db);
      await sql`
        insert into subscriptions (subscriber_id, countries, feeds, min_level, keywords, channels, created_at)
        select id, '{RU}', null, 1, '{}', '{email}', now() from subscribers`.execute(handle.db);
      await sql`vacuum analyze`.execute(handle.db);

      // The services.
      const logs: string[] = [];
      for (let i = 0; i < processes; i++) {
        const log = path.join(runDir, `service-${i}.log`);
        logs.push(log);
        const fd = openSync(log, 'a');
        // The bin as npm's link and npx run it: its own first line chooses node's flags.
        children.push(spawn(BIN, ['start', '--roles', 'poll,deliver'], { env, cwd: ROOT, stdio: ['ignore', fd, fd] }));
        closeSync(fd);
      }
      await waitFor('every service to schedule its feeds', 120_000, () => {
        for (const [i, c] of children.entries()) {
          if (c.exitCode !== null) throw new Error(`service ${i} exited ${c.exitCode}; see ${logs[i]}:\n${readFileSync(logs[i]!, 'utf8').slice(-2000)}`);
        }
        return logs.every((l) => readFileSync(l, 'utf8').includes('"msg":"feeds scheduled"')) ? true : undefined;
      });
      // One full slot with every process up (all 304), then publish 2 s before the next slot.
      const period = SCHEDULE_S * 1000;
      const nextSlot = (t: number) => Math.ceil((t + 1) / period) * period;
      const slotAfterReady = nextSlot(Date.now());
      await sleep(nextSlot(slotAfterReady) - 2000 - Date.now());

      await sink.reset();
      const sink0 = await sink.stats();
      const rssBefore = children.map((c) => procStatusMiB(c.pid!, 'VmHWM') ?? NaN);
      const cpu0 = children.map((c) => processCpuSeconds(c.pid!) ?? 0);
      const pg0 = postgresCpuSeconds();
      const changeAt = Date.now();
      server.publish(0);

      const bound = (SUBSCRIBERS * DELAY_MS) / (processes * CONNECTIONS);
      const timeoutMs = 120_000 + 4 * bound;
      let lastReport = Date.now();
      const final = await waitFor(
        `${int(SUBSCRIBERS)} emails at the sink`,
        timeoutMs,
        async () => {
          for (const [i, c] of children.entries()) {
            if (c.exitCode !== null || c.signalCode !== null) throw new Error(`service ${i} died (${c.exitCode ?? c.signalCode}); see ${logs[i]}`);
          }
          const s = await sink.stats();
          if (Date.now() - lastReport >= 10_000) {
            lastReport = Date.now();
            console.error(
              `  [${processes} process(es)] ${((Date.now() - changeAt) / 1000).toFixed(0)} s after the change: ${int(s.accepted)} / ${int(SUBSCRIBERS)} emails accepted`,
            );
          }
          return s.accepted >= SUBSCRIBERS ? s : undefined;
        },
        250,
      );
      // Everything recorded as sent (the sink may answer before the dispatcher's completion is written).
      const statuses = await waitFor('every delivery to be recorded', 60_000, async () => {
        const rows = await sql<{ status: string; n: number }>`select status, count(*)::int as n from deliveries group by status`.execute(handle.db);
        const m = Object.fromEntries(rows.rows.map((r) => [r.status, r.n]));
        return (m.sent ?? 0) >= SUBSCRIBERS ? m : undefined;
      });
      const window = (Date.now() - changeAt) / 1000;
      const load = os.loadavg()[0]!;
      const cpu = children.map((c, i) => (processCpuSeconds(c.pid!) ?? 0) - cpu0[i]!);
      const pgCpu = postgresCpuSeconds() - pg0;
      const peakRss = children.map((c) => procStatusMiB(c.pid!, 'VmHWM') ?? NaN);
      const sinkAfter = await sink.stats();
      const ev = await sql<{ at: Date | null }>`select min(created_at) as at from events`.execute(handle.db);
      const eventAt = ev.rows[0]?.at?.getTime() ?? NaN;
      const fannedOutAt = Math.min(...logs.map((l) => fannedOutTime(readFileSync(l, 'utf8'))).filter(Number.isFinite));

      // SIGTERM: graceful stop, exit 0 expected.
      for (const c of children) c.kill('SIGTERM');
      const exitCodes = await Promise.all(children.map((c) => Promise.race([exitOf(c), sleep(60_000).then(() => 'still running after 60 s')])));
      if (args['keep-logs']) console.error(`  [${processes} process(es)] service logs: ${logs.join(', ')}`);
      return {
        processes,
        expected: SUBSCRIBERS,
        accepted: final.accepted,
        duplicates: sinkAfter.duplicates,
        changeToEvent: (eventAt - changeAt) / 1000,
        changeToFirst: (final.firstAt - changeAt) / 1000,
        changeToLast: (final.lastAt - changeAt) / 1000,
        sendPhase: (final.lastAt - final.firstAt) / 1000,
        peakRss,
        cpu,
        sinkCpu: sinkAfter.cpu - sink0.cpu,
        pgCpu,
        window,
        exitCodes,
        statuses,
        baselineSeconds,
        load,
        rssBefore,
        changeToFannedOut: (fannedOutAt - changeAt) / 1000,
      };
    } finally {
      await handle.close();
    }
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(children.map(exitOf));
    dropOnInterrupt.delete(database.drop);
    await database.drop();
    if (!args['keep-logs']) rmSync(runDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// The floor: a bare pooled nodemailer loop to the same sink, no database

const FLOOR_SAMPLE = 20_000;

/**
 * Emails per second a bare pooled nodemailer transport reaches against the
 * same slow sink with `connections` connections and `inflight` sends in
 * flight, sending a message like the service's (rendered once). Measured on
 * up to FLOOR_SAMPLE messages: the rate is steady, so the floor for N emails
 * is N / rate.
 */
async function floorRate(
  sink: SinkProcess,
  connections: number,
  inflight: number,
): Promise<{ rate: number; cpu: number; sinkCpu: number; sample: number; limit: string }> {
  const item = generateItem(0, 99_999, new Date());
  const feedName = 'U.S. Embassy, post 0';
  const links = linkBuilder('https://alerts.example.org', APP_SECRET);
  const mail = renderEmail(
    {
      id: 1,
      kind: 'new',
      feedName,
      government: governmentOf('us-embassy', feedName),
      countries: ['RU'],
      level: null,
      previousLevel: null,
      levelText: item.alertType,
      previousLevelText: null,
      title: item.title,
      body: item.contentHtml
        .replace(/<[^>]+>/g, ' ')
        .replace(/\s+/g, ' ')
        .trim(),
      previousBody: null,
      link: `https://example0.usembassy.gov/${item.slug}/`,
      publishedAt: item.pubDate,
    },
    { manage: links.manage(1, 0), unsubscribe: links.unsubscribe(1, 0), unsubscribeOneClick: links.unsubscribe(1, 0) },
    { listId: 'alerts.example.org' },
  );
  const sample = Math.min(SUBSCRIBERS, FLOOR_SAMPLE);
  // The same transport options as src/channels/senders.ts.
  const transport = nodemailer.createTransport({
    url: `smtp://127.0.0.1:${sink.port}`,
    pool: true,
    maxConnections: connections,
    maxMessages: Infinity,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  } as unknown as string);
  try {
    await sink.reset();
    const s0 = await sink.stats();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < sample) {
        const i = next++;
        await transport.sendMail({ from: 'Advisory Alerts <alerts@localhost>', to: `traveler${i + 1}@example.org`, ...mail });
      }
    };
    await Promise.all(Array.from({ length: Math.min(inflight, sample) }, worker));
    const wall = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const s1 = await sink.stats();
    if (s1.accepted !== sample) throw new Error(`floor: the sink accepted ${s1.accepted} of ${sample}`);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const limit = limitOf(wall, (sample * DELAY_MS) / connections / 1000, { floor: cpuSeconds, sink: s1.cpu - s0.cpu }, os.loadavg()[0]!);
    return { rate: sample / wall, cpu: cpuSeconds / wall, sinkCpu: (s1.cpu - s0.cpu) / wall, sample, limit };
  } finally {
    transport.close();
  }
}

// ---------------------------------------------------------------------------

const dropOnInterrupt = new Set<() => Promise<void>>();
process.once('SIGINT', () => {
  console.error('interrupted: dropping the benchmark database(s)');
  void Promise.allSettled([...dropOnInterrupt].map((d) => d())).then(() => process.exit(130));
});

async function main(): Promise<void> {
  const baseUrl = benchDatabaseUrl();
  console.log('advisory-alerts end-to-end scale-out benchmark');
  for (const line of machineDescription()) console.log(line);
  console.log(`Memory now: ${memoryDescription()}`);
  console.log(`PostgreSQL: ${redactUrl(baseUrl)} (a scratch database per run, dropped after it)`);
  console.log(
    `Workload: ${int(FEEDS)} local embassy feeds polled every ${SCHEDULE_S} s; ${int(SUBSCRIBERS)} confirmed subscribers following RU by email; ` +
      `SMTP sink in another process taking ${DELAY_MS} ms a message; per service process: ${CONNECTIONS} SMTP connections, ${CONCURRENCY} sends in flight, ` +
      `batches of ${BATCH}, email rate unlimited; one feed publishes one post (one event) 2 s before a slot`,
  );
  console.log(`Load average before: ${loadavg()} (other work on the machine skews the figures)`);
  console.log('');

  const workDir = mkdtempSync(path.join(os.tmpdir(), 'aa-bench-e2e-'));
  const server = new FeedServer(FEEDS);
  await server.start();
  const sink = await SinkProcess.start('smtp-sink.mjs', { SINK_DELAY_MS: String(DELAY_MS), SINK_TRACK_RECIPIENTS: '1' });
  const results: RunResult[] = [];
  const floors = new Map<number, Awaited<ReturnType<typeof floorRate>>>();
  const counts = PROCESSES === 1 ? [1] : [PROCESSES, 1];
  try {
    // Each floor right before its run: on a shared machine the load drifts, and a floor
    // taken minutes apart from the run it is compared with would measure the drift.
    for (const p of counts) {
      const f = await floorRate(sink, p * CONNECTIONS, p * CONCURRENCY);
      console.error(`  floor with ${p * CONNECTIONS} connections, ${p * CONCURRENCY} in flight: ${int(f.rate)} emails/s (${int(f.sample)} sent)`);
      floors.set(p, f);
      const r = await run(baseUrl, p, server, sink, workDir);
      console.error(`  [${p} process(es)] change → last email ${r.changeToLast.toFixed(1)} s`);
      results.push(r);
    }
  } finally {
    await sink.stop();
    await server.stop();
    if (!args['keep-logs']) rmSync(workDir, { recursive: true, force: true });
  }

  console.log(`Load average after: ${loadavg()}`);
  console.log('');
  const rows = results.map((r) => {
    const bound = (r.expected * DELAY_MS) / (r.processes * CONNECTIONS) / 1000;
    const floor = r.expected / floors.get(r.processes)!.rate;
    // CPU over the send phase is not measured apart from the run's window: the window's CPU, scaled to the phase.
    const scale = r.sendPhase / r.window;
    const cpu = Object.fromEntries([
      ...r.cpu.map((c, i) => [`service ${i}`, c * scale] as const),
      ['sink', r.sinkCpu * scale] as const,
      ['PostgreSQL', r.pgCpu * scale] as const,
    ]);
    return [
      String(r.processes),
      int(r.accepted),
      r.changeToEvent.toFixed(1),
      r.changeToFannedOut.toFixed(1),
      r.changeToFirst.toFixed(1),
      r.changeToLast.toFixed(1),
      r.sendPhase.toFixed(1),
      int(r.expected / r.sendPhase),
      floor.toFixed(1),
      (floor / r.sendPhase).toFixed(2),
      bound.toFixed(1),
      limitOf(r.sendPhase, bound, cpu, r.load),
      r.rssBefore.map((m) => m.toFixed(0)).join(' / '),
      r.peakRss.map((m) => m.toFixed(0)).join(' / '),
      r.cpu.map((c) => pct(c, r.window)).join(' / '),
      pct(r.sinkCpu, r.window),
      pct(r.pgCpu, r.window),
      String(r.duplicates),
      r.exitCodes.join(' '),
      r.load.toFixed(1),
    ];
  });
  console.log(
    "Times in seconds from the feed change (the sink's clock); → event: the event row's time (the poll's clock); → fanned out: the polling process's log line after the fan-out, before its transaction commits; CPU as % of one core over the run.",
  );
  console.log(
    "send limited by: the sink's delay when the send phase is within 15% of the bound below; else a core (one process ≥ 85% busy, or all processes together filling the machine's cores); else waiting (round trips, or other work on the machine).",
  );
  console.log(
    `send floor = the emails at the rate of a bare pooled nodemailer loop (no database) with processes × ${CONNECTIONS} connections and processes × ${CONCURRENCY} sends in flight, to the same sink;`,
  );
  console.log(`15-ms bound = emails × ${DELAY_MS} ms / (processes × ${CONNECTIONS} connections): the sink's delay alone, with no round trip or CPU.`);
  console.log(
    table(
      [
        'processes',
        'emails',
        '→ event',
        '→ fanned out',
        '→ first email',
        '→ last email',
        'send phase',
        'emails/s',
        'send floor',
        'floor/send',
        `${DELAY_MS}-ms bound`,
        'send limited by',
        'peak RSS MiB before change',
        'peak RSS MiB (each)',
        'CPU (each)',
        'sink CPU',
        'PG CPU',
        'dups',
        'exit',
        'load',
      ],
      rows,
    ),
  );
  for (const [p, f] of floors) {
    console.log(
      `  floor for ${p} process(es): ${int(f.rate)} emails/s over ${int(f.sample)} emails; its CPU ${(100 * f.cpu).toFixed(0)}% of a core, the sink's ${(100 * f.sinkCpu).toFixed(0)}%; limited by ${f.limit}`,
    );
  }
  for (const r of results) {
    console.log(
      `  ${r.processes} process(es): deliveries by status ${JSON.stringify(r.statuses)}; baseline poll (the \`poll\` command, not timed above) ${r.baselineSeconds.toFixed(1)} s`,
    );
  }
  const many = results.find((r) => r.processes === PROCESSES && PROCESSES > 1);
  const one = results.find((r) => r.processes === 1);
  console.log('');
  console.log('Goals (no fixed number for the scale-out ratio; the ideal is the process count):');
  if (many && one) {
    const total = one.changeToLast / many.changeToLast;
    const send = one.sendPhase / many.sendPhase;
    console.log(
      `  scale-out, change → last email: 1 process ${one.changeToLast.toFixed(1)} s, ${PROCESSES} processes ${many.changeToLast.toFixed(1)} s: ${total.toFixed(2)}× (ideal ${PROCESSES.toFixed(2)}×)`,
    );
    console.log(
      `  scale-out, sending phase only:  1 process ${one.sendPhase.toFixed(1)} s, ${PROCESSES} processes ${many.sendPhase.toFixed(1)} s: ${send.toFixed(2)}× (ideal ${PROCESSES.toFixed(2)}×)`,
    );
  }
  const mark = (ok: boolean) => (ok ? 'pass' : 'MISS');
  for (const r of results) {
    const ok = r.duplicates === 0 && r.accepted === r.expected && r.exitCodes.every((c) => c === 0);
    console.log(`  [${mark(ok)}] ${r.processes} process(es): every subscriber got one email, no duplicate, every process exited 0 on SIGTERM`);
    const rss = Math.max(...r.peakRss);
    console.log(
      `  [${mark(rss <= GOAL_RSS_MIB)}] ${r.processes} process(es): peak RSS per process ≤ ${GOAL_RSS_MIB} MiB: ${r.peakRss.map((m) => m.toFixed(0)).join(' / ')} MiB ` +
        `(before the change: ${r.rssBefore.map((m) => m.toFixed(0)).join(' / ')})`,
    );
    console.log(
      `  [${mark(r.changeToFirst < GOAL_FIRST_S)}] ${r.processes} process(es): change → first email < ${GOAL_FIRST_S} s: ${r.changeToFirst.toFixed(1)} s`,
    );
    const ratio = r.expected / floors.get(r.processes)!.rate / r.sendPhase;
    console.log(
      `  [${mark(ratio >= GOAL_FLOOR)}] ${r.processes} process(es): send phase ≥ ${GOAL_FLOOR} of the bare nodemailer floor at the same connections: ${ratio.toFixed(2)}`,
    );
  }
}

await main();
