/**
 * Public pages and API under load (a script, not a test): `npm run bench:web`.
 * README "Benchmarks".
 *
 * A scratch PostgreSQL database (dropped after the run) seeded set-based
 * (INSERT … SELECT generate_series, seconds not minutes):
 *
 * - 250 countries × 6 governments (U.S., UK, Canada, Australia, Germany,
 *   Japan): 1,500 current advisories, each with a level history;
 * - 100,000 events (one advisory version each) over the last two years, and
 *   500 U.S. embassy alerts for Russia (the country page's alert list);
 * - 10,000 confirmed subscribers with a subscription each.
 *
 * The real web server (tests/bench/web-server.ts: loadConfig, webDepsFor,
 * buildWebServer, as `start --roles web` builds it) runs in a child process;
 * autocannon drives it from this one, `--connections` (50) concurrent clients
 * for `--duration` (10) seconds per route:
 *
 *   /countries, /countries/RU, /api/events (first page, the default 50 events),
 *   /api/events?cursor=… (a page in the middle), and /api/events over 2,000
 *   distinct cursor × limit (10–100) combinations (pages nobody asked for
 *   before: the database's work, not the in-memory answer cache's).
 *
 * Rows 6 and 7 ask for /countries and the first /api/events page with
 * `Accept-Encoding: gzip`, as browsers do (the cached gzip representation).
 *
 * The floor for each route: `GET /__floor/<bytes>` on the same server, a static
 * body of the same size (bytes on the wire) held in memory — the same Fastify instance with the
 * same plugins and hooks, no work. Also printed: the first (cold) answer of
 * each route, rendered from the database.
 *
 * Also per route: the server process's CPU time per answer (from /proc), ours
 * and the floor's — a figure a loaded machine inflates far less than latency.
 *
 * Percentiles come from every response's own time (autocannon's per-response
 * event), not from autocannon's summary, which has no 95th percentile. The
 * load generator only counts the bytes of each body; `--decode-bodies` makes it
 * decode them to strings as autocannon does by default (see `load`).
 *
 * Usage: npm run bench:web [-- --connections 50 --duration 10 --events 100000 --subscribers 10000 --countries 250 --routes 1,2,3,4,5,6,7]
 *        npm run bench:web -- --seed-only, then npm run bench:web -- --database <the URL it printed> (no seeding; drop it yourself)
 * BENCH_CPU_PROFILE=<dir> writes a V8 CPU profile of the server process there.
 * Environment: DATABASE_URL or TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { sql } from 'kysely';
import { stringify } from 'yaml';
import { LEVEL_NAMES } from '../../src/advisories/overview.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { allCountries } from '../../src/common/countries.ts';
import { loadFeeds } from '../../src/config/load.ts';
import { connectDatabase, migrateToLatest, type DB } from '../../src/db/connect.ts';
import { syncFeeds } from '../../src/feeds/repository.ts';
import { encodeCursor } from '../../src/web/public.ts';
import { benchDatabaseUrl, createDatabase, machineDescription, redactUrl, table } from './lib.ts';
import { loadavg, nextMessage, processCpuSeconds } from './sinks.ts';
import type { WebServerMessage } from './web-server.ts';

const { values: args } = parseArgs({
  options: {
    connections: { type: 'string', default: '50' },
    duration: { type: 'string', default: '10' },
    events: { type: 'string', default: '100000' },
    subscribers: { type: 'string', default: '10000' },
    countries: { type: 'string', default: '250' },
    /** Only these routes of the load table, by number (1–7): `--routes 4,5`. */
    routes: { type: 'string', default: '1,2,3,4,5,6,7' },
    /** Seed only, print the database's URL and keep it (for EXPLAIN); drop it yourself. */
    'seed-only': { type: 'boolean', default: false },
    /** A database a `--seed-only` run kept: no seeding, and it is kept again (repeated runs while profiling). */
    database: { type: 'string' },
    /**
     * Decode every answer's body to a string in the load generator, as autocannon does by
     * default (see \`load\`): off unless asked, to compare with figures measured that way.
     */
    'decode-bodies': { type: 'boolean', default: false },
  },
});
const CONNECTIONS = Number(args.connections);
const DURATION = Number(args.duration);
const EVENTS = Number(args.events);
const SUBSCRIBERS = Number(args.subscribers);
const COUNTRIES = Number(args.countries);

/** One feed per government, as the shipped feeds.yaml names them. */
const FEEDS = [
  { id: 'us-state-dept', source: 'us-state-dept', name: 'U.S. State Department travel advisories' },
  { id: 'uk-fcdo', source: 'uk-fcdo', name: 'UK FCDO foreign travel advice' },
  { id: 'ca-travel', source: 'ca-travel', name: 'Canada travel advice and advisories' },
  { id: 'au-smartraveller', source: 'au-smartraveller', name: 'Smartraveller (Australia)' },
  { id: 'de-aa', source: 'de-aa', name: 'Auswärtiges Amt Reisewarnungen' },
  { id: 'jp-mofa', source: 'jp-mofa', name: 'MOFA 海外安全情報' },
];
const EMBASSY = { id: 'us-embassy-russia', source: 'us-embassy', name: 'U.S. Embassy & Consulates in Russia — alerts', countries: ['RU'] };
const EMBASSY_ALERTS = 500;

// ---------------------------------------------------------------------------
// Seeding, set-based

async function seed(db: DB, codes: readonly string[]): Promise<void> {
  const feedIds = FEEDS.map((f) => f.id);
  const levelTexts = [1, 2, 3, 4].map((l) => LEVEL_NAMES[l]!);
  const spanSeconds = 2 * 365 * 24 * 3600;
  // Text of the size governments publish (~1.5 KB), different per version.
  const body = (seedExpr: string) =>
    `'Summary. ' || repeat('Travellers should monitor local media, follow the advice of local authorities and keep travel documents at hand. ', 8) || md5(${seedExpr})`;
  await sql
    .raw(
      `insert into advisories (feed_id, key, countries, level, level_text, title, body, link, fingerprint, first_seen_at, last_seen_at, changed_at)
       select f.id, c.cc, array[c.cc], 1, null, c.cc || ' travel advice', '', 'https://example.org/' || f.id || '/' || lower(c.cc), 'seed',
              now() - interval '3 years', now(), now() - interval '3 years'
       from unnest(array[${codes.map((c) => `'${c}'`).join(',')}]::text[]) as c(cc)
       cross join unnest(array[${feedIds.map((f) => `'${f}'`).join(',')}]::text[]) as f(id)`,
    )
    .execute(db);
  // Versions: a baseline per advisory, then one per event, spread evenly over two
  // years and over the advisories; a level holds for about five versions. Times to
  // the millisecond, as the service writes them (a JS Date): a cursor holds
  // milliseconds, and microseconds would repeat an event at each page's start.
  await sql
    .raw(
      `with a as (select id, row_number() over (order by id) - 1 as i, count(*) over () as n, countries, link from advisories)
       insert into advisory_versions (advisory_id, fingerprint, countries, level, level_text, title, body, link, published_at, created_at)
       select a.id, md5(a.id || ':' || s.k), a.countries, lv.level, (array[${levelTexts.map((t) => `'${t}'`).join(',')}])[lv.level],
              'Travel advice for ' || a.countries[1] || ' (version ' || s.k || ')', ${body(`a.id || ':' || s.k`)}, a.link, s.at, s.at
       from a
       cross join lateral (
         select 0 as k, date_trunc('milliseconds', now() - interval '3 years') as at
         union all
         select g, date_trunc('milliseconds', now() - make_interval(secs => ${spanSeconds} * (1 - (((g - 1) * a.n + a.i)::float8 / ${EVENTS}))))
         from generate_series(1, ceil((${EVENTS} - a.i)::float8 / a.n)::int) g
       ) s
       cross join lateral (select 1 + abs(hashtext(a.id || ':' || (s.k / 5))) % 4 as level) lv
       order by s.at`,
    )
    .execute(db);
  await sql
    .raw(
      `insert into events (feed_id, advisory_id, kind, countries, level, previous_level, title, link, version_id, previous_version_id, created_at, urgency)
       select a.feed_id, v.advisory_id,
              case when v.level > v.prev_level then 'level-raised' when v.level < v.prev_level then 'level-lowered' else 'updated' end,
              v.countries, v.level, v.prev_level, v.title, v.link, v.id, v.prev_id, v.created_at,
              case when v.level > v.prev_level and v.level >= 3 then 'urgent' else 'routine' end
       from (select v.*, lag(v.level) over w as prev_level, lag(v.id) over w as prev_id
             from advisory_versions v window w as (partition by v.advisory_id order by v.created_at, v.id)) v
       join advisories a on a.id = v.advisory_id
       where v.prev_id is not null
       order by v.created_at, v.id`,
    )
    .execute(db);
  await sql
    .raw(
      `update advisories a set version_id = v.id, level = v.level, level_text = v.level_text, title = v.title, body = v.body,
              fingerprint = v.fingerprint, changed_at = v.created_at
       from (select distinct on (advisory_id) * from advisory_versions order by advisory_id, created_at desc, id desc) v
       where v.advisory_id = a.id`,
    )
    .execute(db);
  // The embassy's alerts for Russia: one advisory, version and 'new' event each.
  await sql
    .raw(
      `with a as (
         insert into advisories (feed_id, key, countries, level, level_text, title, body, link, guid, fingerprint, first_seen_at, last_seen_at, changed_at)
         select '${EMBASSY.id}', 'alert-' || g, array['RU'], null, 'Security Alert', 'Security Alert — U.S. Embassy Moscow (' || g || ')',
                ${body(`'alert' || g`)}, 'https://ru.usembassy.gov/alert-' || g || '/', 'alert-' || g, md5('alert' || g),
                date_trunc('milliseconds', now() - make_interval(hours => g * 24)), now(), date_trunc('milliseconds', now() - make_interval(hours => g * 24))
         from generate_series(1, ${EMBASSY_ALERTS}) g
         returning id, countries, level_text, title, body, link, changed_at),
       v as (
         insert into advisory_versions (advisory_id, fingerprint, countries, level, level_text, title, body, link, published_at, created_at)
         select id, md5(id::text), countries, null, level_text, title, body, link, changed_at, changed_at from a
         returning id, advisory_id, countries, title, link, created_at)
       insert into events (feed_id, advisory_id, kind, countries, level, previous_level, title, link, version_id, previous_version_id, created_at, urgency)
       select '${EMBASSY.id}', advisory_id, 'new', countries, null, null, title, link, id, null, created_at, 'urgent' from v`,
    )
    .execute(db);
  await sql
    .raw(
      `update advisories a set version_id = v.id from advisory_versions v where v.advisory_id = a.id and a.version_id is null;
       insert into subscribers (email, status, confirmed_at)
       select 'traveler' || g || '@example.org', 'confirmed', now() from generate_series(1, ${SUBSCRIBERS}) g;
       insert into subscriptions (subscriber_id, countries, min_level)
       select s.id, array[(array[${codes.map((c) => `'${c}'`).join(',')}])[1 + s.id % ${codes.length}]], 1 + s.id % 4 from subscribers s;
       analyze`,
    )
    .execute(db);
}

// ---------------------------------------------------------------------------
// Load

interface Figures {
  requests: number;
  non2xx: number;
  errors: number;
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  bytes: number;
  /** The server process's CPU time (user + system) per answer: what the load average does not inflate much. */
  cpuMsPerRequest: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** `paths` are requested round-robin per client (one path: the same request every time). */
async function load(base: string, serverPid: number, paths: readonly string[], headers: Record<string, string> = {}): Promise<Figures> {
  const times: number[] = [];
  const cpuBefore = processCpuSeconds(serverPid) ?? Number.NaN;
  let bytes = 0;
  let next = 0;
  const result = await autocannon({
    url: base,
    connections: CONNECTIONS,
    duration: DURATION,
    headers,
    requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: paths[next++ % paths.length]! }) }],
    setupClient: (client) => {
      // autocannon decodes each body into a string nobody reads. That costs the load generator, on
      // the same two cores as the server, CPU in proportion to the bytes — and 3–4× more for a body
      // with any non-ASCII character (every level's "—" in /countries) than for the floor's ASCII
      // bytes: /countries ran at a third of the floor's rate while the server idled. Only counted.
      if (!args['decode-bodies']) (client as unknown as { pipelinedRequests: { addBody(data: Buffer): void } }).pipelinedRequests.addBody = () => {};
      client.on('response', (_status, resBytes, responseTime) => {
        times.push(responseTime);
        bytes += resBytes;
      });
    },
  });
  times.sort((a, b) => a - b);
  const cpu = (processCpuSeconds(serverPid) ?? Number.NaN) - cpuBefore;
  return {
    cpuMsPerRequest: times.length ? (cpu * 1000) / times.length : Number.NaN,
    requests: times.length,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    rps: times.length / DURATION,
    p50: percentile(times, 50),
    p95: percentile(times, 95),
    p99: percentile(times, 99),
    bytes: times.length ? Math.round(bytes / times.length) : 0,
  };
}

async function startServer(env: NodeJS.ProcessEnv): Promise<{ base: string; child: ChildProcess }> {
  const child = fork(fileURLToPath(new URL('./web-server.ts', import.meta.url)), [], {
    // BENCH_CPU_PROFILE=<dir>: a V8 CPU profile of the server for the whole run (open it in Chrome DevTools).
    execArgv: ['--import', 'tsx', ...(process.env.BENCH_CPU_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROFILE}`] : [])],
    env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const msg = await nextMessage<WebServerMessage>(child, 'web server');
  return { base: `http://127.0.0.1:${msg.port}`, child };
}

async function timed(url: string): Promise<{ ms: number; bytes: number; status: number; body: string }> {
  const t0 = performance.now();
  const res = await fetch(url);
  const body = await res.text();
  return { ms: performance.now() - t0, bytes: Buffer.byteLength(body), status: res.status, body };
}

const ms = (n: number) => n.toFixed(1);

async function main(): Promise<void> {
  console.log('bench:web — public pages and API under load');
  for (const line of machineDescription()) console.log(line);
  console.log(`Load:   ${loadavg()} (1/5/15 min) at start`);
  const base = benchDatabaseUrl();
  console.log(`PostgreSQL: ${redactUrl(base)} (a scratch database is created and dropped)`);

  const kept = args.database;
  const scratch = kept ? { url: kept, drop: async () => {} } : await createDatabase(base, 'web_bench');
  const configDir = mkdtempSync(path.join(os.tmpdir(), 'aa-bench-web-'));
  let child: ChildProcess | undefined;
  const handle = await connectDatabase({ databaseUrl: scratch.url, dataDir: configDir, role: 'command', logger: silentLogger });
  try {
    if (!kept) await migrateToLatest(handle.db, silentLogger);
    writeFileSync(path.join(configDir, 'feeds.yaml'), stringify({ feeds: [...FEEDS, EMBASSY].map((f) => ({ ...f, url: `https://example.org/${f.id}.xml` })) }));
    writeFileSync(path.join(configDir, 'settings.yaml'), stringify({ logLevel: 'warn' }));
    if (!kept) await syncFeeds(handle.db, loadFeeds(configDir));
    const codes = allCountries()
      .map((c) => c.code)
      .filter((c) => c !== 'RU')
      .slice(0, COUNTRIES - 1)
      .concat('RU');
    const t0 = performance.now();
    if (!kept) await seed(handle.db, codes);
    const counts = await sql<{ a: number; e: number; s: number }>`
      select (select count(*) from advisories)::int as a, (select count(*) from events)::int as e, (select count(*) from subscribers)::int as s`.execute(
      handle.db,
    );
    const c = counts.rows[0]!;
    console.log(
      `${kept ? 'Reused' : 'Seeded'} ${codes.length} countries × ${FEEDS.length} governments: ${c.a} advisories, ${c.e} events, ${c.s} subscribers in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );

    if (args['seed-only']) {
      console.log(`Kept: ${redactUrl(scratch.url)}`);
      return;
    }

    // A cursor in the middle of the events, and 2,000 distinct pages for the uncached run.
    const positions = await sql<{ created_at: Date; id: string }>`
      select created_at, id from events order by created_at, id offset ${Math.floor(c.e / 2)} limit 1`.execute(handle.db);
    const mid = positions.rows[0]!;
    const midCursor = encodeCursor({ createdAt: mid.created_at, id: Number(mid.id) });
    const walk = await sql<{ created_at: Date; id: string }>`
      select created_at, id from (select created_at, id, row_number() over (order by created_at, id) as n from events) e
      where n % ${Math.max(1, Math.floor(c.e / 2000))} = 0 limit 2000`.execute(handle.db);
    const walkPaths = walk.rows.map(
      (r, i) => `/api/events?cursor=${encodeCursor({ createdAt: r.created_at, id: Number(r.id) })}&limit=${[100, 50, 20, 10][i % 4]}`,
    );

    const server = await startServer({
      ...process.env,
      DATABASE_URL: scratch.url,
      CONFIG_DIR: configDir,
      DATA_DIR: configDir,
      APP_SECRET: randomBytes(32).toString('base64url'),
      PORT: '0',
    });
    child = server.child;

    const routes: { name: string; paths: string[]; goal: number; headers?: Record<string, string> }[] = [
      { name: '/countries', paths: ['/countries'], goal: 50 },
      { name: '/countries/RU', paths: ['/countries/RU'], goal: 50 },
      { name: '/api/events (first page, 50 events)', paths: ['/api/events'], goal: 30 },
      { name: '/api/events?cursor= (middle page, 50 events)', paths: [`/api/events?cursor=${midCursor}`], goal: 30 },
      { name: '/api/events, 2,000 distinct pages of 10–100 (uncached)', paths: walkPaths, goal: 30 },
      // As browsers and most HTTP clients ask: the cached gzip representation.
      { name: '/countries, Accept-Encoding: gzip', paths: ['/countries'], goal: 50, headers: { 'accept-encoding': 'gzip, deflate, br' } },
      { name: '/api/events (first page, 50 events), gzip', paths: ['/api/events'], goal: 30, headers: { 'accept-encoding': 'gzip, deflate, br' } },
    ];

    // The first answer of each route: rendered from the database (nothing cached yet).
    const cold: string[][] = [];
    for (const r of routes.slice(0, 4)) {
      const first = await timed(`${server.base}${r.paths[0]}`);
      if (first.status !== 200) throw new Error(`${r.paths[0]}: HTTP ${first.status}: ${first.body.slice(0, 300)}`);
      const again = await timed(`${server.base}${r.paths[0]}`);
      cold.push([r.name, ms(first.ms), ms(again.ms), first.bytes.toLocaleString('en-US')]);
    }
    console.log(`\nSingle requests, one at a time (ms): the first renders from the database, the second is served from memory\n`);
    console.log(table(['route', 'first', 'second', 'bytes'], cold));

    const rows: string[][] = [];
    const chosen = new Set(args.routes.split(',').map(Number));
    for (const r of routes.filter((_, i) => chosen.has(i + 1))) {
      const loadBefore = loadavg().split(' ')[0]!;
      const ours = await load(server.base, child.pid!, r.paths, r.headers);
      const floor = await load(server.base, child.pid!, [`/__floor/${ours.bytes}`]);
      if (ours.non2xx || ours.errors) console.warn(`${r.name}: ${ours.non2xx} non-2xx answers, ${ours.errors} errors/timeouts`);
      rows.push([
        r.name,
        ours.bytes.toLocaleString('en-US'),
        ms(ours.p50),
        `${ms(ours.p95)}${ours.p95 < r.goal ? '' : ' (!)'}`,
        ms(ours.p99),
        Math.round(ours.rps).toLocaleString('en-US'),
        ms(floor.p95),
        Math.round(floor.rps).toLocaleString('en-US'),
        (ours.p95 / floor.p95).toFixed(2),
        (floor.rps / ours.rps).toFixed(2),
        ours.cpuMsPerRequest.toFixed(2),
        floor.cpuMsPerRequest.toFixed(2),
        `< ${r.goal}`,
        loadBefore,
      ]);
    }
    console.log(`\n${CONNECTIONS} concurrent clients, ${DURATION} s per route; floor = a static body of the same size from the same server\n`);
    console.log(
      table(
        [
          'route',
          'bytes',
          'p50 ms',
          'p95 ms',
          'p99 ms',
          'req/s',
          'floor p95',
          'floor req/s',
          'p95 ÷ floor',
          'floor ÷ req/s',
          'CPU ms/req',
          'floor CPU',
          'goal p95',
          'load',
        ],
        rows,
      ),
    );
    console.log(`\nLoad:   ${loadavg()} (1/5/15 min) at end. (!) marks a p95 over its goal.`);
  } finally {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.disconnect();
      await exited;
    }
    await handle.close();
    if (!args['seed-only']) await scratch.drop();
    rmSync(configDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
