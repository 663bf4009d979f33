/**
 * Poll benchmark (a script, not a test): `npm run bench:poll`.
 *
 * N local WordPress-style embassy alert feeds (~10 posts, ~1–2 KB of HTML each)
 * are served from a child process. For each N and each fetch concurrency, on a
 * fresh database on the real PostgreSQL, three full cycles of `pollFeeds` are
 * timed — first poll (baseline), all-304, 25 % of the feeds changed (one post
 * edited, one published, the oldest falling off) — and, in the same run, the
 * raw floor of each cycle: the same concurrent fetches (conditional where the
 * floor has seen an ETag) plus rss-parser `parseString`, with no database.
 *
 * Environment:
 *   DATABASE_URL / TEST_DATABASE_URL  server to create throw-away databases on
 *                                     (default postgres://postgres@127.0.0.1:5432/postgres)
 *   BENCH_FEEDS=200,1000              feed counts
 *   BENCH_CONCURRENCY=16,32,64        fetch concurrencies to try (settings.http.concurrency)
 *   BENCH_REPEAT=3                    runs per (N, concurrency); for each cycle the fastest of
 *                                     ours and, separately, of the floor is kept (the machine
 *                                     may be shared: the minimum is the least disturbed figure)
 *   BENCH_POOL_SIZE                   database pool size (default: what the service uses)
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import { settingsSchema, feedSchema, type FeedConfig } from '../../src/config/schema.ts';
import { connectDatabase, migrateToLatest } from '../../src/db/connect.ts';
import { fanOut } from '../../src/delivery/repository.ts';
import { pollFeeds, type PollDeps, type PollOutcome } from '../../src/feeds/poller.ts';
import { syncFeeds } from '../../src/feeds/repository.ts';
import { systemClock } from '../../src/common/clock.ts';
import { silentLogger } from '../../src/common/logger.ts';
import {
  benchDatabaseUrl,
  createDatabase,
  FeedServerProcess,
  ITEMS_PER_FEED,
  machineDescription,
  rawFloorCycle,
  redactUrl,
  table,
  type FloorResult,
} from './lib.ts';

const CYCLES = ['first poll', 'all 304', '25% changed'] as const;
type Cycle = (typeof CYCLES)[number];
const CHANGED_FRACTION = 0.25;

/** rss2email on the same 200-feed workload, same machine kind. */
const RSS2EMAIL_200: Record<Cycle, number> = { 'first poll': 6.7, 'all 304': 0.9, '25% changed': 7.2 };
const GOAL_RATIO = 2;
const GOAL_304_1000_S = 1;
const GOAL_SPEEDUP = 5;

function listEnv(name: string, fallback: number[]): number[] {
  const v = process.env[name];
  if (!v) return fallback;
  const list = v.split(',').map((s) => Number(s.trim()));
  if (list.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`${name} must be a comma-separated list of positive integers`);
  return list;
}

const FEED_COUNTS = listEnv('BENCH_FEEDS', [200, 1000]);
const CONCURRENCIES = listEnv('BENCH_CONCURRENCY', [16, 32, 64]);
const REPEAT = listEnv('BENCH_REPEAT', [3])[0]!;
const POOL_SIZE = process.env.BENCH_POOL_SIZE ? listEnv('BENCH_POOL_SIZE', [])[0] : undefined;

interface CycleResult {
  ours: number;
  floor: number;
  /** CPU seconds of this process (the feed server runs in another one). */
  oursCpu: number;
  floorCpu: number;
}
type RunResult = Record<Cycle, CycleResult>;

// A full collection before each timed section, so garbage left by the previous
// one is not collected on its successor's clock.
v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

/** Wall-clock and CPU seconds of `fn`. */
async function timed<T>(fn: () => Promise<T>): Promise<[T, number, number]> {
  collectGarbage();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return [value, wall, (cpu.user + cpu.system) / 1e6];
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(`benchmark sanity check failed: ${message}`);
}

function summarize(outcomes: PollOutcome[]): string {
  const counts = new Map<string, number>();
  for (const o of outcomes) counts.set(o.status, (counts.get(o.status) ?? 0) + 1);
  const firstError = outcomes.find((o) => o.error)?.error;
  return `${[...counts].map(([k, v]) => `${k}=${v}`).join(' ')}${firstError ? ` (first error: ${firstError})` : ''}`;
}

/** Databases to drop should the run be interrupted (Ctrl-C). */
const liveDatabases = new Set<() => Promise<void>>();
process.once('SIGINT', () => {
  console.error('interrupted: dropping the benchmark database(s)');
  void Promise.allSettled([...liveDatabases].map((drop) => drop())).then(() => process.exit(130));
});

/** One fresh database, three cycles, each measured for ours and the floor. */
async function run(server: FeedServerProcess, baseUrl: string, n: number, concurrency: number): Promise<RunResult> {
  await server.load(n);
  const database = await createDatabase(baseUrl);
  liveDatabases.add(database.drop);
  try {
    const handle = await connectDatabase({
      databaseUrl: database.url,
      dataDir: '/nonexistent',
      role: 'service',
      logger: silentLogger,
      ...(POOL_SIZE ? { poolSize: POOL_SIZE } : {}),
    });
    try {
      await migrateToLatest(handle.db, silentLogger);
      const settings = settingsSchema.parse({ logLevel: 'silent', http: { concurrency } });
      const feeds: FeedConfig[] = Array.from({ length: n }, (_, i) =>
        feedSchema.parse({ id: `embassy-${String(i).padStart(5, '0')}`, url: server.url(i), source: 'us-embassy', countries: ['RU'] }),
      );
      await syncFeeds(handle.db, feeds);
      // As the service wires it (src/runtime.ts pollDepsFor): events fan out to
      // deliveries inside the poll's transaction (there are no subscribers here).
      const deps: PollDeps = {
        db: handle.db,
        logger: silentLogger,
        clock: systemClock,
        settings,
        onEvents: async (tx, eventIds) => {
          await fanOut(tx, eventIds, systemClock.now());
        },
      };
      const urls = feeds.map((f) => f.url);
      const floorHeaders = {
        'user-agent': settings.http.userAgent,
        accept: 'application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5',
        'accept-encoding': 'gzip, deflate, br',
      };
      const floorEtags = new Map<string, string>();
      const result = {} as RunResult;

      const measure = async (cycle: Cycle, verify: (outcomes: PollOutcome[], floor: FloorResult) => void) => {
        const [floor, floorS, floorCpu] = await timed(() => rawFloorCycle(urls, concurrency, floorEtags, floorHeaders));
        const [outcomes, oursS, oursCpu] = await timed(() => pollFeeds(deps, feeds));
        verify(outcomes, floor);
        result[cycle] = { ours: oursS, floor: floorS, oursCpu, floorCpu };
      };

      await measure('first poll', (outcomes, floor) => {
        check(floor.ok === n && floor.items === n * ITEMS_PER_FEED, `floor first poll: ${JSON.stringify(floor)}`);
        check(
          outcomes.every((o) => o.status === 'ok' && o.baseline && o.new === ITEMS_PER_FEED && o.events === 0),
          `first poll: ${summarize(outcomes)}`,
        );
      });
      await measure('all 304', (outcomes, floor) => {
        check(floor.notModified === n, `floor all-304: ${JSON.stringify(floor)}`);
        check(
          outcomes.every((o) => o.status === 'not-modified'),
          `all-304 poll: ${summarize(outcomes)}`,
        );
      });
      const changed = new Set(await server.change(CHANGED_FRACTION));
      await measure('25% changed', (outcomes, floor) => {
        check(floor.ok === changed.size && floor.notModified === n - changed.size, `floor 25%: ${JSON.stringify(floor)}`);
        check(
          outcomes.every((o, i) =>
            changed.has(i)
              ? o.status === 'ok' && o.new === 1 && o.updated === 1 && o.removed === 1 && o.unchanged === ITEMS_PER_FEED - 2 && o.events === 2
              : o.status === 'not-modified',
          ),
          `25% changed poll: ${summarize(outcomes)}`,
        );
      });
      return result;
    } finally {
      await handle.close();
    }
  } finally {
    liveDatabases.delete(database.drop);
    await database.drop();
  }
}

const fmt = (s: number) => s.toFixed(3);
const HEADER = ['N', 'cycle', 'concurrency', 'ours (s)', 'floor (s)', 'ours/floor', 'ours CPU (s)', 'floor CPU (s)'];
const row = (n: number, cycle: Cycle, concurrency: number, r: CycleResult) => [
  String(n),
  cycle,
  String(concurrency),
  fmt(r.ours),
  fmt(r.floor),
  (r.ours / r.floor).toFixed(2),
  fmt(r.oursCpu),
  fmt(r.floorCpu),
];
const loadavg = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const total = (r: RunResult) => CYCLES.reduce((sum, c) => sum + r[c].ours, 0);

async function main(): Promise<number> {
  const baseUrl = benchDatabaseUrl();
  console.log('advisory-alerts poll benchmark');
  for (const line of machineDescription()) console.log(line);
  console.log(`PostgreSQL: ${redactUrl(baseUrl)} (a fresh database per run, dropped after it)`);
  console.log(
    `Workload: ${FEED_COUNTS.join(' and ')} local us-embassy feeds × ${ITEMS_PER_FEED} posts (WordPress RSS, gzip, ETag); ` +
      `concurrency tried: ${CONCURRENCIES.join(', ')}; runs per setting: ${REPEAT}` +
      (POOL_SIZE ? `; database pool size ${POOL_SIZE}` : ''),
  );
  console.log(`Load average before: ${loadavg()} (other work on the machine skews the figures)`);
  console.log('');

  const server = await FeedServerProcess.start();
  try {
    // Warm-up (not reported): JIT, connection pools, the database server's caches.
    await run(server, baseUrl, 50, CONCURRENCIES[0]!);

    const best = new Map<number, { concurrency: number; result: RunResult }>();
    const all: string[][] = [];
    for (const n of FEED_COUNTS) {
      for (const concurrency of CONCURRENCIES) {
        let kept: RunResult | undefined;
        for (let r = 0; r < REPEAT; r++) {
          const result = await run(server, baseUrl, n, concurrency);
          if (!kept) kept = result;
          else
            for (const c of CYCLES) {
              const k = kept[c];
              const r = result[c];
              kept[c] = {
                ...(r.ours < k.ours ? { ours: r.ours, oursCpu: r.oursCpu } : { ours: k.ours, oursCpu: k.oursCpu }),
                ...(r.floor < k.floor ? { floor: r.floor, floorCpu: r.floorCpu } : { floor: k.floor, floorCpu: k.floorCpu }),
              };
            }
        }
        const result = kept!;
        for (const c of CYCLES) {
          all.push(row(n, c, concurrency, result[c]));
        }
        console.error(
          `  N=${n} concurrency=${concurrency}: ${CYCLES.map((c) => `${c} ${fmt(result[c].ours)} s / floor ${fmt(result[c].floor)} s`).join('; ')}`,
        );
        const b = best.get(n);
        if (!b || total(result) < total(b.result)) best.set(n, { concurrency, result });
      }
    }

    console.log(`Load average after: ${loadavg()}`);
    console.log('');
    console.log('All runs (seconds; CPU = user + system time of this process, the feed server excluded):');
    console.log(table(HEADER, all));
    console.log('');

    console.log('Best concurrency per N (lowest total time of our three cycles):');
    const rows: string[][] = [];
    for (const [n, { concurrency, result }] of best) {
      for (const c of CYCLES) {
        rows.push(row(n, c, concurrency, result[c]));
      }
    }
    console.log(table(HEADER, rows));
    console.log('');

    let failed = 0;
    const goal = (ok: boolean, text: string) => {
      if (!ok) failed++;
      console.log(`  [${ok ? 'pass' : 'FAIL'}] ${text}`);
    };
    console.log('Goals:');
    for (const [n, { result }] of best) {
      for (const c of CYCLES) {
        const ratio = result[c].ours / result[c].floor;
        goal(ratio <= GOAL_RATIO, `N=${n} ${c}: ${fmt(result[c].ours)} s is ${ratio.toFixed(2)}× the raw floor (goal ≤ ${GOAL_RATIO}×)`);
      }
    }
    const b1000 = best.get(1000);
    if (b1000) {
      const s = b1000.result['all 304'].ours;
      goal(s < GOAL_304_1000_S, `N=1000 all 304: ${fmt(s)} s (goal < ${GOAL_304_1000_S} s)`);
    }
    const b200 = best.get(200);
    if (b200) {
      console.log('');
      console.log('Against rss2email on the same 200-feed workload (same machine kind):');
      for (const c of CYCLES) {
        const ours = b200.result[c].ours;
        const speedup = RSS2EMAIL_200[c] / ours;
        goal(
          speedup >= GOAL_SPEEDUP,
          `${c}: rss2email ${RSS2EMAIL_200[c].toFixed(1)} s, ours ${fmt(ours)} s — ${speedup.toFixed(1)}× faster (goal ≥ ${GOAL_SPEEDUP}×)`,
        );
      }
    }
    console.log('');
    console.log(failed === 0 ? 'All goals met.' : `${failed} goal(s) missed.`);
    return failed === 0 ? 0 : 1;
  } finally {
    await server.stop();
  }
}

process.exitCode = await main();
