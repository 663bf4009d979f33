/**
 * Delivery benchmark (a script, not a test): `npm run bench:delivery`.
 * README "Benchmarks". Each figure is measured against a raw floor in the
 * same run, on the real PostgreSQL, in a scratch database dropped at the end.
 *
 * 1. Fan-out of one event to N matching subscribers with `fanOut`
 *    (src/delivery/repository.ts) vs a bare `INSERT INTO … SELECT` of the same
 *    rows (same columns, no matching predicates, no DISTINCT, no ON CONFLICT)
 *    into an identical empty table: `LIKE deliveries INCLUDING ALL` (the
 *    unique constraint, every index, the CHECK constraints, the identity) plus
 *    the same two foreign keys. Index and foreign-key maintenance is work any
 *    insert into `deliveries` must do, so the floor does it too; two more
 *    floors (no foreign keys; a bare heap with neither indexes nor
 *    constraints) are printed to show what that maintenance costs. Goal:
 *    floor/ours ≥ 0.5.
 *
 * 2. Email: the Dispatcher (claim → render → nodemailer pooled SMTP →
 *    record) sending M deliveries to an SMTP sink in another process
 *    (smtp-sink.mjs) vs a bare pooled nodemailer loop with the same number of
 *    connections and the same number of sends in flight, sending the same
 *    rendered message. Several connection counts are tried. Goal at each:
 *    ours/floor ≥ 0.8 (msg/s).
 *
 * 3. SMS: the Dispatcher with the twilio client (through our HTTP client,
 *    src/channels/twilio-http.ts, which sends to TWILIO_API_BASE_URL) to a
 *    Twilio-compatible sink in another process (twilio-sink.mjs) vs a bare
 *    twilio client loop with twilio's own HTTP client (its base URL rewritten
 *    the same way), same concurrency. Goal ≥ 0.8 at each concurrency tried.
 *
 * For each floor the CPU time of this process, the sink and the PostgreSQL
 * server is printed, so what limits it (a core, or the round trips) shows.
 *
 * Usage:
 *   npm run bench:delivery                        full scale (the default)
 *   npm run bench:delivery -- --scale small       10k fan-out, 2k messages: a quick check
 *   options: --fanout 100000,1000000  --messages 20000  --sms-messages 20000
 *            --connections 5,10,20,40  --sms-concurrency 20,50,100
 *            --sms-delay-ms 0 (the Twilio sink's wait before answering)
 *            --sms-floor-client twilio|ours (the floor's HTTP client: twilio's own, or ours)
 *            --inflight-per-connection 4  --repeat 2  --batch-size 200  --only fanout,email,sms
 *
 * Email and SMS: each repetition is a pair, ours and the floor back to back
 * (which goes first alternates), and the verdict is the median of the pairs'
 * ratios at each setting: on a shared machine the load drifts between runs,
 * and a pair sees about the same load on both sides where the fastest of
 * each side, taken from different moments, does not. CPU per message (this
 * process, and the PostgreSQL server's) is printed beside, the figure a busy
 * machine disturbs least.
 * Environment: DATABASE_URL or TEST_DATABASE_URL (default
 * postgres://postgres@127.0.0.1:5432/postgres): the server to create the
 * scratch database on.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import vm from 'node:vm';
import { sql } from 'kysely';
import nodemailer from 'nodemailer';
import twilio from 'twilio';
import RequestClient from 'twilio/lib/base/RequestClient.js';
import { settingsSchema } from '../../src/config/schema.ts';
import { connectDatabase, migrateToLatest, type DB } from '../../src/db/connect.ts';
import { createEmailSender, createSmsSender } from '../../src/channels/senders.ts';
import { TwilioHttpClient } from '../../src/channels/twilio-http.ts';
import { Dispatcher } from '../../src/delivery/dispatcher.ts';
import { linkBuilder } from '../../src/channels/links.ts';
import { renderEmail, renderSms, type MessageEvent } from '../../src/delivery/render.ts';
import { fanOut } from '../../src/delivery/repository.ts';
import { governmentOf } from '../../src/advisories/governments.ts';
import { systemClock } from '../../src/common/clock.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { benchDatabaseUrl, createDatabase, GeneratedFeed, machineDescription, redactUrl, table } from './lib.ts';
import { int, loadavg, memoryDescription, pct, postgresCpuSeconds, SinkProcess } from './sinks.ts';

// ---------------------------------------------------------------------------
// Options

const { values: args } = parseArgs({
  options: {
    scale: { type: 'string', default: 'full' },
    fanout: { type: 'string' },
    messages: { type: 'string' },
    'sms-messages': { type: 'string' },
    connections: { type: 'string' },
    'sms-concurrency': { type: 'string' },
    'sms-delay-ms': { type: 'string' },
    'sms-floor-client': { type: 'string' },
    'inflight-per-connection': { type: 'string' },
    repeat: { type: 'string' },
    'batch-size': { type: 'string' },
    only: { type: 'string' },
  },
});

function intList(name: string, value: string | undefined, fallback: number[]): number[] {
  if (!value) return fallback;
  const list = value.split(',').map((s) => Number(s.trim().replace(/_/g, '')));
  if (list.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`--${name} must be a comma-separated list of positive integers`);
  return list;
}

if (args.scale !== 'full' && args.scale !== 'small') throw new Error('--scale must be "full" or "small"');
const small = args.scale === 'small';
const FANOUT = intList('fanout', args.fanout, small ? [10_000] : [100_000, 1_000_000]);
const EMAILS = intList('messages', args.messages, [small ? 2_000 : 20_000])[0]!;
const SMS = intList('sms-messages', args['sms-messages'], [args.messages ? EMAILS : small ? 2_000 : 20_000])[0]!;
const CONNECTIONS = intList('connections', args.connections, small ? [5, 20] : [5, 10, 20, 40]);
const SMS_CONCURRENCY = intList('sms-concurrency', args['sms-concurrency'], small ? [20, 50] : [20, 50, 100]);
/**
 * How long the Twilio sink waits before answering (default 0: the local sink
 * answers in a few milliseconds, so the floor is bound by the twilio client's
 * CPU and ours by the commit each slot waits for). Twilio's own API answers in
 * hundreds of milliseconds; a delay shows how the two compare when the send,
 * not the bookkeeping, is the long part.
 */
const SMS_DELAY_MS = args['sms-delay-ms'] === undefined ? 0 : intList('sms-delay-ms', args['sms-delay-ms'], [0])[0]!;
/**
 * The HTTP client of the SMS floor's twilio client: `twilio` (the default) is twilio's own
 * (axios), as anyone using the bare client gets it; `ours` is the one the product sends
 * through (src/channels/twilio-http.ts), so the ratio shows the dispatcher's bookkeeping alone.
 */
const SMS_FLOOR_CLIENT = args['sms-floor-client'] ?? 'twilio';
if (SMS_FLOOR_CLIENT !== 'twilio' && SMS_FLOOR_CLIENT !== 'ours') throw new Error('--sms-floor-client must be "twilio" or "ours"');
const INFLIGHT_PER_CONNECTION = intList('inflight-per-connection', args['inflight-per-connection'], [4])[0]!;
const REPEAT = intList('repeat', args.repeat, [small ? 1 : 2])[0]!;
/** Deliveries the dispatcher claims per round trip: the shipped default unless --batch-size says otherwise. */
const BATCH = intList('batch-size', args['batch-size'], [settingsSchema.parse({}).delivery.batchSize])[0]!;
const ONLY = new Set((args.only ?? 'fanout,email,sms').split(',').map((s) => s.trim()));
for (const o of ONLY) if (!['fanout', 'email', 'sms'].includes(o)) throw new Error(`--only: unknown part "${o}"`);

const GOAL_FANOUT = 0.5;
/** A goal met (true), missed (false), or a figure for information (null). */
type Goal = [boolean | null, string];
const GOAL_EMAIL = 0.8;
const GOAL_SMS = 0.8;

/** Sends in flight for `connections` SMTP connections (ours and the floor alike). */
const inflightFor = (connections: number) => Math.min(1000, Math.max(20, connections * INFLIGHT_PER_CONNECTION));

const MAIL_FROM = 'Advisory Alerts <alerts@localhost>';
const PUBLIC_BASE = 'https://alerts.example.org';
const SECRET = 'bench-secret-bench-secret-bench-secret';
const TWILIO_SID = `AC${'0123456789abcdef'.repeat(2)}`;
const TWILIO_TOKEN = 'bench-token-0123456789';
const TWILIO_FROM = '+15005550006';

// ---------------------------------------------------------------------------
// Measurement

v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

interface Timed<T> {
  value: T;
  wall: number;
  /** CPU seconds of this process. */
  cpu: number;
  /** CPU seconds of every `postgres` process on the machine. */
  pgCpu: number;
  /** One-minute load average at the end. */
  load: number;
}

async function timed<T>(fn: () => Promise<T>): Promise<Timed<T>> {
  collectGarbage();
  const pg0 = postgresCpuSeconds();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { value, wall, cpu: (cpu.user + cpu.system) / 1e6, pgCpu: postgresCpuSeconds() - pg0, load: os.loadavg()[0]! };
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(`benchmark sanity check failed: ${message}`);
}

/** Runs fn(0..count-1) with at most `inflight` calls pending. */
async function forEachConcurrent(count: number, inflight: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(inflight, count) }, worker));
}

const cores = os.availableParallelism();

/**
 * What limits a run, from where its CPU went: one process on a full core, all
 * cores busy, or neither (waiting on round trips). On a machine loaded by
 * other work, CPU shares say little: then that is the verdict.
 */
function limitOf(t: { wall: number; load: number }, parts: Record<string, number>): string {
  const total = Object.values(parts).reduce((a, b) => a + b, 0);
  const busiest = Object.entries(parts).sort((a, b) => b[1] - a[1])[0]!;
  // This benchmark itself keeps about three processes busy (bench, sink, PostgreSQL).
  if (t.load > cores + 3) return `unknown: machine loaded (load ${t.load.toFixed(1)} on ${cores} cores)`;
  if (busiest[1] / t.wall >= 0.85) return `${busiest[0]} CPU (one core)`;
  if (total / t.wall >= 0.85 * cores) return `machine CPU (${cores} cores)`;
  return 'latency (no core saturated)';
}

// ---------------------------------------------------------------------------
// Fixtures

function plain(html: string): string {
  return html
    .replace(/<\/(p|li|ul)>/g, '\n')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#8211;/g, '–')
    .replace(/[ \t]+/g, ' ')
    .replace(/ *\n+ */g, '\n\n')
    .trim();
}

/**
 * One feed, one advisory with two versions and one 'updated' event on RU
 * (an embassy alert edited after publication: the email lists the sentences
 * added and removed, the heavier of the two usual renderings).
 */
async function insertEvent(db: DB): Promise<{ eventId: number; message: MessageEvent }> {
  const feed = new GeneratedFeed(0);
  const before = feed.items[2]!;
  feed.change();
  const after = feed.items[3]!;
  check(after.postId === before.postId, 'generated feed: the edited post moved');
  const now = new Date();
  const link = `https://example0.usembassy.gov/${after.slug}/`;
  const title = after.title.replace(/ - /g, ' – ');
  const feedName = 'U.S. Embassy & Consulates in Russia';
  await db
    .insertInto('feeds')
    .values({ id: 'bench-embassy', name: feedName, url: 'https://example0.usembassy.gov/category/alert/feed/', source: 'us-embassy' })
    .execute();
  const adv = await db
    .insertInto('advisories')
    .values({
      feed_id: 'bench-embassy',
      key: `guid:${after.postId}`,
      countries: ['RU'],
      level: null,
      level_text: after.alertType,
      title,
      body: plain(after.contentHtml),
      link,
      guid: `https://example0.usembassy.gov/?p=${after.postId}`,
      published_at: after.pubDate,
      fingerprint: 'after',
      first_seen_at: now,
      last_seen_at: now,
      changed_at: now,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const version = (fingerprint: string, body: string) =>
    db
      .insertInto('advisory_versions')
      .values({
        advisory_id: adv.id,
        fingerprint,
        countries: ['RU'],
        level: null,
        level_text: after.alertType,
        title,
        body,
        link,
        published_at: after.pubDate,
        created_at: now,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
  const v0 = await version('before', plain(before.contentHtml));
  const v1 = await version('after', plain(after.contentHtml));
  const ev = await db
    .insertInto('events')
    .values({
      feed_id: 'bench-embassy',
      advisory_id: adv.id,
      kind: 'updated',
      countries: ['RU'],
      level: null,
      previous_level: null,
      title,
      link,
      version_id: v1.id,
      previous_version_id: v0.id,
      created_at: now,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return {
    eventId: ev.id,
    message: {
      id: ev.id,
      kind: 'updated',
      feedName,
      government: governmentOf('us-embassy', feedName),
      countries: ['RU'],
      level: null,
      previousLevel: null,
      levelText: after.alertType,
      previousLevelText: after.alertType,
      title,
      body: plain(after.contentHtml),
      previousBody: plain(before.contentHtml),
      link,
      publishedAt: after.pubDate,
    },
  };
}

/** n confirmed subscribers following RU on `channels`, with verified phones; fast, set-based. */
async function insertSubscribers(db: DB, n: number, channels: readonly ('email' | 'sms')[]): Promise<void> {
  await sql`truncate subscribers restart identity cascade`.execute(db);
  await sql`
    insert into subscribers (email, phone, phone_verified, status, confirmed_at, created_at)
    select 'traveler' || g || '@example.org', '+1202' || lpad(g::text, 7, '0'), true, 'confirmed', now(), now()
    from generate_series(1, ${n}::int) g`.execute(db);
  await sql`
    insert into subscriptions (subscriber_id, countries, feeds, min_level, keywords, channels, created_at)
    select id, '{RU}', null, 1, '{}', ${sql.val([...channels])}::text[], now() from subscribers`.execute(db);
  await sql`vacuum analyze subscribers`.execute(db);
  await sql`vacuum analyze subscriptions`.execute(db);
}

async function checkpoint(db: DB): Promise<void> {
  // Dirty buffers left by the setup are written now, not on the clock of the next statement.
  await sql`checkpoint`.execute(db);
}

// ---------------------------------------------------------------------------
// 1. Fan-out

interface FanoutResult {
  n: number;
  ours: Timed<number>;
  floor: Timed<number>;
  floorNoFk: Timed<number>;
  floorHeap: Timed<number>;
}

const FLOOR_TABLES = ['deliveries_floor', 'deliveries_floor_nofk', 'deliveries_floor_heap'] as const;

async function createFloorTables(db: DB): Promise<void> {
  // Identical to deliveries: columns, defaults, identity, CHECKs, the unique
  // constraint and every index (LIKE … INCLUDING ALL), and the same foreign keys.
  await sql`create table deliveries_floor (like deliveries including all)`.execute(db);
  await sql`alter table deliveries_floor
    add foreign key (subscriber_id) references subscribers(id) on delete cascade,
    add foreign key (event_id) references events(id)`.execute(db);
  // For comparison only: the same without foreign keys; and a bare heap.
  await sql`create table deliveries_floor_nofk (like deliveries including all)`.execute(db);
  await sql`create table deliveries_floor_heap (like deliveries including defaults including identity)`.execute(db);
}

async function fanoutRun(db: DB, n: number, eventId: number, order: number): Promise<FanoutResult> {
  const now = new Date();
  const floorInto = (t: (typeof FLOOR_TABLES)[number]) => async () => {
    await sql`truncate ${sql.table(t)} restart identity`.execute(db);
    await checkpoint(db);
    return timed(async () => {
      const r = await sql`
        insert into ${sql.table(t)} (subscriber_id, event_id, channel, next_attempt_at, created_at)
        select s.id, ${eventId}::bigint, 'email', ${now}::timestamptz, ${now}::timestamptz from subscribers s`.execute(db);
      return Number(r.numAffectedRows ?? 0);
    });
  };
  const ours = async () => {
    await sql`truncate deliveries restart identity cascade`.execute(db);
    await checkpoint(db);
    return timed(() => fanOut(db, [eventId], now));
  };
  // Alternate which goes first, so neither always runs on a warmer cache.
  const out: Partial<FanoutResult> = { n };
  const steps: [keyof FanoutResult, () => Promise<Timed<number>>][] = [
    ['ours', ours],
    ['floor', floorInto('deliveries_floor')],
  ];
  if (order % 2 === 1) steps.reverse();
  steps.push(['floorNoFk', floorInto('deliveries_floor_nofk')], ['floorHeap', floorInto('deliveries_floor_heap')]);
  for (const [key, step] of steps) {
    const r = await step();
    check(r.value === n, `${key}: ${r.value} rows for ${n} subscribers`);
    (out as Record<string, unknown>)[key] = r;
  }
  // Leave nothing behind for the next N's setup to wade through.
  for (const t of FLOOR_TABLES) await sql`truncate ${sql.table(t)}`.execute(db);
  await sql`truncate deliveries cascade`.execute(db);
  return out as FanoutResult;
}

async function benchFanout(db: DB, eventId: number): Promise<{ rows: string[][]; goals: Goal[] }> {
  await createFloorTables(db);
  const rows: string[][] = [];
  const goals: Goal[] = [];
  for (const n of FANOUT) {
    const tSetup = performance.now();
    await insertSubscribers(db, n, ['email']);
    console.error(`  fan-out N=${int(n)}: ${int(n)} subscribers inserted in ${((performance.now() - tSetup) / 1000).toFixed(1)} s`);
    let best: FanoutResult | undefined;
    for (let r = 0; r < REPEAT; r++) {
      const res = await fanoutRun(db, n, eventId, r);
      console.error(
        `  fan-out N=${int(n)} run ${r + 1}/${REPEAT}: ours ${res.ours.wall.toFixed(2)} s, floor ${res.floor.wall.toFixed(2)} s, ` +
          `floor without FKs ${res.floorNoFk.wall.toFixed(2)} s, bare heap ${res.floorHeap.wall.toFixed(2)} s`,
      );
      if (!best) best = res;
      else
        for (const k of ['ours', 'floor', 'floorNoFk', 'floorHeap'] as const) {
          if (res[k].wall < best[k].wall) best[k] = res[k];
        }
    }
    const b = best!;
    const ratio = b.floor.wall / b.ours.wall;
    const row = (what: string, t: Timed<number>, vsOurs: boolean) => [
      int(n),
      what,
      t.wall.toFixed(2),
      int(n / t.wall),
      vsOurs ? ratio.toFixed(2) : (t.wall / b.ours.wall).toFixed(2),
      t.pgCpu.toFixed(1),
    ];
    rows.push(row('ours: fanOut()', b.ours, false));
    rows.push(row('floor: INSERT…SELECT, same table + FKs', b.floor, true));
    rows.push(row('  (info) same, no foreign keys', b.floorNoFk, false));
    rows.push(row('  (info) bare heap, no index/constraint', b.floorHeap, false));
    goals.push([
      ratio >= GOAL_FANOUT,
      `fan-out to ${int(n)}: ours ${b.ours.wall.toFixed(2)} s, floor ${b.floor.wall.toFixed(2)} s, floor/ours = ${ratio.toFixed(2)} (goal ≥ ${GOAL_FANOUT})`,
    ]);
    const noFk = b.floorNoFk.wall / b.ours.wall;
    goals.push([
      null,
      `fan-out to ${int(n)} against the floor without foreign keys (${b.floorNoFk.wall.toFixed(2)} s), a stricter reading of "bare": floor/ours = ${noFk.toFixed(2)}`,
    ]);
  }
  await sql`truncate subscribers restart identity cascade`.execute(db);
  return { rows, goals };
}

// ---------------------------------------------------------------------------
// 2. Email

/** One pair: ours and the floor at one setting, back to back. */
interface DispatchPair {
  ours: Timed<unknown>;
  floor: Timed<unknown>;
  oursSink: number;
  floorSink: number;
}

interface DispatchResult {
  knob: number;
  inflight: number;
  pairs: DispatchPair[];
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** REPEAT pairs at one setting; the first of each pair alternates, so neither side always runs on a warmer machine. */
async function pairedRuns(
  label: string,
  count: number,
  floorRun: () => Promise<[Timed<unknown>, number]>,
  oursRun: () => Promise<[Timed<unknown>, number]>,
): Promise<DispatchPair[]> {
  const pairs: DispatchPair[] = [];
  for (let r = 0; r < REPEAT; r++) {
    const first = r % 2 === 0 ? floorRun : oursRun;
    const second = first === floorRun ? oursRun : floorRun;
    const a = await first();
    const b = await second();
    const [floor, ours] = first === floorRun ? [a, b] : [b, a];
    const pair = { ours: ours[0], floor: floor[0], oursSink: ours[1], floorSink: floor[1] };
    pairs.push(pair);
    console.error(
      `  ${label} pair ${r + 1}/${REPEAT} (${first === floorRun ? 'floor' : 'ours'} first, load ${pair.ours.load.toFixed(1)}): ` +
        `ours ${int(count / pair.ours.wall)} msg/s, floor ${int(count / pair.floor.wall)} msg/s, ours/floor ${(pair.floor.wall / pair.ours.wall).toFixed(2)}`,
    );
  }
  return pairs;
}

async function prepareDeliveries(db: DB, eventId: number, channel: 'email' | 'sms', m: number): Promise<void> {
  await sql`truncate deliveries restart identity cascade`.execute(db);
  await sql`truncate rate_limits`.execute(db);
  await sql`update subscriptions set channels = ${sql.val([channel])}::text[]`.execute(db);
  // Texts go to subscribers who take every event by SMS (the default is urgent events only;
  // the benchmark's event is routine).
  if (channel === 'sms') await sql`update subscribers set sms_urgency = 'all'`.execute(db);
  const n = await fanOut(db, [eventId], new Date(Date.now() - 1000));
  check(n === m, `${channel}: fan-out made ${n} deliveries for ${m} subscribers`);
  await sql`vacuum analyze deliveries`.execute(db);
  await checkpoint(db);
}

function dispatcherFor(db: DB, options: { connections: number; batchSize: number; concurrency: number; smtpUrl?: string; twilioBase?: string }) {
  const settings = settingsSchema.parse({
    logLevel: 'silent',
    delivery: {
      batchSize: options.batchSize,
      concurrency: options.concurrency,
      email: { ratePerSecond: 0, connections: options.connections },
      sms: { ratePerSecond: 0 },
    },
  });
  const email = createEmailSender({
    smtpUrl: options.smtpUrl ?? 'smtp://127.0.0.1:9',
    from: MAIL_FROM,
    outboxDir: '/nonexistent',
    connections: options.connections,
  });
  const sms = createSmsSender({
    accountSid: TWILIO_SID,
    authToken: TWILIO_TOKEN,
    from: TWILIO_FROM,
    messagingServiceSid: undefined,
    apiBaseUrl: options.twilioBase ?? 'http://127.0.0.1:9',
    outboxDir: '/nonexistent',
  });
  const dispatcher = new Dispatcher({
    db,
    logger: silentLogger,
    clock: systemClock,
    settings: settings.delivery,
    email,
    sms,
    links: linkBuilder(PUBLIC_BASE, SECRET),
    listId: new URL(PUBLIC_BASE).hostname,
  });
  return { dispatcher, close: async () => void (await Promise.all([email.close(), sms.close()])) };
}

async function sinkDelta<T>(sink: SinkProcess, expected: number, fn: () => Promise<Timed<T>>): Promise<[Timed<T>, number]> {
  await sink.reset();
  const before = (await sink.stats()).cpu;
  const r = await fn();
  const after = await sink.stats();
  check(after.accepted === expected, `the sink accepted ${after.accepted} messages, expected ${expected}`);
  check(after.duplicates === 0, `the sink saw ${after.duplicates} duplicate recipients`);
  return [r, after.cpu - before];
}

async function benchEmail(db: DB, eventId: number, message: MessageEvent): Promise<{ rows: string[][]; goals: Goal[]; notes: string[] }> {
  const sink = await SinkProcess.start('smtp-sink.mjs', { SINK_TRACK_RECIPIENTS: '1' });
  const smtpUrl = `smtp://127.0.0.1:${sink.port}`;
  try {
    await insertSubscribers(db, EMAILS, ['email']);
    const links = linkBuilder(PUBLIC_BASE, SECRET);
    const mail = renderEmail(
      message,
      { manage: links.manage(1, 0), unsubscribe: links.unsubscribe(1, 0), unsubscribeOneClick: links.unsubscribe(1, 0) },
      { listId: new URL(PUBLIC_BASE).hostname },
    );

    const floorRun = async (connections: number, inflight: number, count: number) => {
      // The same transport options as src/channels/senders.ts.
      const transport = nodemailer.createTransport({
        url: smtpUrl,
        pool: true,
        maxConnections: connections,
        maxMessages: Infinity,
        connectionTimeout: 10_000,
        greetingTimeout: 10_000,
        socketTimeout: 30_000,
      } as unknown as string);
      try {
        return await sinkDelta(sink, count, () =>
          timed(() =>
            forEachConcurrent(count, inflight, async (i) => void (await transport.sendMail({ from: MAIL_FROM, to: `traveler${i + 1}@example.org`, ...mail }))),
          ),
        );
      } finally {
        transport.close();
      }
    };
    const oursRun = async (connections: number, inflight: number, count: number) => {
      await prepareDeliveries(db, eventId, 'email', EMAILS);
      const d = dispatcherFor(db, { connections, batchSize: BATCH, concurrency: inflight, smtpUrl });
      try {
        const result = await sinkDelta(sink, count, () => timed(() => d.dispatcher.drain()));
        const s = result[0].value;
        check(s.sent === count && s.failed === 0 && s.retrying === 0, `dispatcher: ${JSON.stringify(s)}`);
        return result;
      } finally {
        await d.close();
      }
    };

    // Warm-up (not reported): JIT, the sink, the database's caches.
    await floorRun(CONNECTIONS[0]!, inflightFor(CONNECTIONS[0]!), Math.min(500, EMAILS));
    await oursRun(CONNECTIONS[0]!, inflightFor(CONNECTIONS[0]!), EMAILS);

    const results: DispatchResult[] = [];
    for (const c of CONNECTIONS) {
      const inflight = inflightFor(c);
      const pairs = await pairedRuns(
        `email connections=${c} in flight=${inflight}`,
        EMAILS,
        () => floorRun(c, inflight, EMAILS),
        () => oursRun(c, inflight, EMAILS),
      );
      results.push({ knob: c, inflight, pairs });
    }
    return summarizeDispatch('email', 'connections', EMAILS, results, GOAL_EMAIL);
  } finally {
    await sink.stop();
  }
}

function summarizeDispatch(
  channel: string,
  knob: string,
  count: number,
  results: DispatchResult[],
  goal: number,
): { rows: string[][]; goals: Goal[]; notes: string[] } {
  const rows: string[][] = [];
  const goals: Goal[] = [];
  const notes: string[] = [];
  const perMsg = (seconds: number) => ((seconds * 1000) / count).toFixed(2);
  for (const r of results) {
    const ratios = r.pairs.map((p) => p.floor.wall / p.ours.wall);
    const ratio = median(ratios);
    // The pair whose ratio is the median (the lower middle one for an even count) speaks for the setting.
    const mid = r.pairs[ratios.indexOf([...ratios].sort((a, b) => a - b)[(ratios.length - 1) >> 1]!)]!;
    for (const who of ['ours', 'floor'] as const) {
      const runs = r.pairs.map((p) => ({ t: p[who], sink: who === 'ours' ? p.oursSink : p.floorSink }));
      const t = mid[who];
      rows.push([
        String(r.knob),
        String(r.inflight),
        who,
        int(median(runs.map((x) => count / x.t.wall))),
        who === 'ours' ? `${ratio.toFixed(2)} (${ratios.map((x) => x.toFixed(2)).join(' ')})` : '',
        perMsg(median(runs.map((x) => x.t.cpu))),
        perMsg(median(runs.map((x) => x.t.pgCpu))),
        pct(t.cpu, t.wall),
        pct(who === 'ours' ? mid.oursSink : mid.floorSink, t.wall),
        limitOf(t, { bench: t.cpu, sink: who === 'ours' ? mid.oursSink : mid.floorSink, postgres: t.pgCpu }),
      ]);
    }
    goals.push([
      ratio >= goal,
      `${channel}: at ${knob}=${r.knob}, median of ${r.pairs.length} paired runs: ours/floor = ${ratio.toFixed(2)} ` +
        `(ours ${int(median(r.pairs.map((p) => count / p.ours.wall)))} msg/s, floor ${int(median(r.pairs.map((p) => count / p.floor.wall)))} msg/s; goal ≥ ${goal})`,
    ]);
  }
  const loads = results.flatMap((r) => r.pairs.flatMap((p) => [p.ours.load, p.floor.load]));
  notes.push(
    `${channel}: msg/s and CPU per message are medians over the pairs; CPU %, sink % and "limited by" are of the median pair; ` +
      `one-minute load during the runs ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} ` +
      `(PG ms/msg counts every PostgreSQL process on the machine, other users' included).`,
  );
  return { rows, goals, notes };
}

// ---------------------------------------------------------------------------
// 3. SMS

/** twilio's own HTTP client (axios), sending to the sink instead of https://api.twilio.com. */
class BaseUrlRequestClient extends RequestClient {
  constructor(private readonly baseUrl: string) {
    super({ keepAlive: true, autoRetry: false, timeout: 15_000 });
  }
  override request<T>(opts: RequestClient.RequestOptions<T>) {
    return super.request({ ...opts, uri: opts.uri.replace(/^https:\/\/[a-z.]*twilio\.com/, this.baseUrl.replace(/\/+$/, '')) });
  }
}

async function benchSms(db: DB, eventId: number, message: MessageEvent): Promise<{ rows: string[][]; goals: Goal[]; notes: string[] }> {
  const sink = await SinkProcess.start('twilio-sink.mjs', {
    SINK_ACCOUNT_SID: TWILIO_SID,
    SINK_AUTH_TOKEN: TWILIO_TOKEN,
    SINK_TRACK_RECIPIENTS: '1',
    SINK_DELAY_MS: String(SMS_DELAY_MS),
  });
  const base = `http://127.0.0.1:${sink.port}`;
  try {
    await insertSubscribers(db, SMS, ['sms']);
    const body = renderSms(message, { link: `${PUBLIC_BASE}/`, maxSegments: 2 });
    const httpClient =
      SMS_FLOOR_CLIENT === 'ours' ? (new TwilioHttpClient({ baseUrl: base, timeoutMs: 15_000 }) as unknown as RequestClient) : new BaseUrlRequestClient(base);
    const client = twilio(TWILIO_SID, TWILIO_TOKEN, { httpClient, autoRetry: false });

    const floorRun = (concurrency: number, count: number) =>
      sinkDelta(sink, count, () =>
        timed(() =>
          forEachConcurrent(count, concurrency, async (i) => {
            await client.messages.create({ to: `+1202${String(i + 1).padStart(7, '0')}`, body, from: TWILIO_FROM });
          }),
        ),
      );
    const oursRun = async (concurrency: number, count: number) => {
      await prepareDeliveries(db, eventId, 'sms', SMS);
      const d = dispatcherFor(db, { connections: 5, batchSize: BATCH, concurrency, twilioBase: base });
      try {
        const result = await sinkDelta(sink, count, () => timed(() => d.dispatcher.drain()));
        const s = result[0].value;
        check(s.sent === count && s.failed === 0 && s.retrying === 0, `dispatcher: ${JSON.stringify(s)}`);
        return result;
      } finally {
        await d.close();
      }
    };

    await floorRun(SMS_CONCURRENCY[0]!, Math.min(500, SMS));
    await oursRun(SMS_CONCURRENCY[0]!, SMS);

    const results: DispatchResult[] = [];
    for (const k of SMS_CONCURRENCY) {
      const pairs = await pairedRuns(
        `sms concurrency=${k}`,
        SMS,
        () => floorRun(k, SMS),
        () => oursRun(k, SMS),
      );
      results.push({ knob: k, inflight: k, pairs });
    }
    return summarizeDispatch('sms', 'concurrency', SMS, results, GOAL_SMS);
  } finally {
    await sink.stop();
  }
}

// ---------------------------------------------------------------------------

/** Databases to drop should the run be interrupted (Ctrl-C). */
let dropOnInterrupt: (() => Promise<void>) | undefined;
process.once('SIGINT', () => {
  console.error('interrupted: dropping the benchmark database');
  void (dropOnInterrupt?.() ?? Promise.resolve()).finally(() => process.exit(130));
});

async function main(): Promise<void> {
  const baseUrl = benchDatabaseUrl();
  console.log('advisory-alerts delivery benchmark');
  for (const line of machineDescription()) console.log(line);
  console.log(`Memory now: ${memoryDescription()}`);
  console.log(`PostgreSQL: ${redactUrl(baseUrl)} (a scratch database, dropped at the end)`);
  console.log(
    `Scale: ${args.scale}; fan-out to ${FANOUT.map(int).join(' and ')} subscribers; ${int(EMAILS)} emails (SMTP connections tried: ${CONNECTIONS.join(', ')}; ` +
      `${INFLIGHT_PER_CONNECTION} sends in flight per connection, at least 20); ${int(SMS)} SMS (concurrency tried: ${SMS_CONCURRENCY.join(', ')}); ` +
      `fan-out runs: ${REPEAT} (the fastest of each kept); dispatch: ${REPEAT} ours/floor pairs per setting (median ratio), batch size ${BATCH}`,
  );
  console.log(`Load average before: ${loadavg()} (other work on the machine skews the figures)`);
  console.log('');

  const database = await createDatabase(baseUrl);
  dropOnInterrupt = database.drop;
  const handle = await connectDatabase({ databaseUrl: database.url, dataDir: '/nonexistent', role: 'service', logger: silentLogger });
  const goals: Goal[] = [];
  const sections: string[] = [];
  try {
    await migrateToLatest(handle.db, silentLogger);
    const serverVersion = await sql<{ v: string }>`select current_setting('server_version') as v`.execute(handle.db);
    console.log(`PostgreSQL server ${serverVersion.rows[0]!.v}`);
    const { eventId, message } = await insertEvent(handle.db);

    if (ONLY.has('fanout')) {
      const f = await benchFanout(handle.db, eventId);
      goals.push(...f.goals);
      sections.push(
        [
          'Fan-out of one event (seconds; rows/s; ratio = floor/ours for the floor line, time relative to ours for the others; PG CPU = CPU seconds of the PostgreSQL server):',
          table(['N', 'what', 'time (s)', 'rows/s', 'ratio', 'PG CPU (s)'], f.rows),
          'The floor has the same unique constraint, indexes and foreign keys as deliveries: that maintenance is part of writing any delivery row,',
          'so leaving it out would make the ratio measure the schema, not fanOut(). The (info) lines show what it costs.',
        ].join('\n'),
      );
    }
    if (ONLY.has('email')) {
      const e = await benchEmail(handle.db, eventId, message);
      goals.push(...e.goals);
      sections.push(
        [
          `Email to an SMTP sink in another process, ${int(EMAILS)} messages (CPU ms/msg = this process's CPU per message, PG ms/msg = the PostgreSQL server's; bench and sink CPU = % of one core over the median pair's run):`,
          table(
            ['connections', 'in flight', 'who', 'msg/s', 'ours/floor: median (pairs)', 'CPU ms/msg', 'PG ms/msg', 'bench CPU', 'sink CPU', 'limited by'],
            e.rows,
          ),
          ...e.notes,
        ].join('\n'),
      );
    }
    if (ONLY.has('sms')) {
      const s = await benchSms(handle.db, eventId, message);
      goals.push(...s.goals);
      sections.push(
        [
          `SMS to a Twilio-compatible sink in another process, ${int(SMS)} messages, floor through ${SMS_FLOOR_CLIENT === 'ours' ? 'our' : "twilio's own"} HTTP client (CPU as above):`,
          table(
            ['concurrency', 'in flight', 'who', 'msg/s', 'ours/floor: median (pairs)', 'CPU ms/msg', 'PG ms/msg', 'bench CPU', 'sink CPU', 'limited by'],
            s.rows,
          ),
          ...s.notes,
        ].join('\n'),
      );
    }
  } finally {
    await handle.close();
    await database.drop();
    dropOnInterrupt = undefined;
  }

  console.log(`Load average after: ${loadavg()}`);
  console.log('');
  for (const s of sections) console.log(`${s}\n`);
  console.log('Goals:');
  for (const [ok, text] of goals) console.log(`  [${ok === null ? 'info' : ok ? 'pass' : 'MISS'}] ${text}`);
  const missed = goals.filter(([ok]) => ok === false).length;
  console.log('');
  console.log(
    missed === 0 ? 'All goals met.' : `${missed} goal(s) missed (the script still exits 0: figures are for the report; a loaded machine skews them).`,
  );
}

await main();
