/**
 * Whole-command poll cycles against rss2email (a script, not a test):
 * `npm run bench:commands [-- --feeds 200 --rounds 3 --changed 0.25]`.
 *
 * As an admin running both from cron would: each figure is a whole process started
 * from the shell, on real PostgreSQL (a throw-away database per round). N local
 * WordPress-style U.S. embassy alert feeds are served from a child process
 * (tests/bench/lib.ts), and an SMTP sink takes the emails in another. Three cycles,
 * each run by both tools against the same feed documents:
 *
 *   first poll   `advisory-alerts poll`           vs `r2e run --no-send` (both record
 *                                                    what is there, neither sends)
 *   all 304      `advisory-alerts poll`           vs `r2e run`, and a floor: a bare Node
 *                                                    script sending the same conditional
 *                                                    GETs (conditional-gets.mjs)
 *   changed      `advisory-alerts poll` then      vs `r2e run` (sends to the same sink)
 *                `advisory-alerts dispatch`
 *
 * In the changed cycle a quarter of the feeds (every 4th) publishes a post and edits
 * another. One confirmed subscriber follows the feeds' country, so advisory-alerts
 * sends one email per event (the new post and the edited one: 2 per changed feed);
 * rss2email sends one per new entry (it keys entries by guid, so the edit is not
 * mailed). The emails each tool handed to the sink are printed.
 *
 * Rounds are interleaved: in each round both tools run each cycle one after the
 * other (who goes first alternates), so load from other work on the machine hits
 * both alike; the figure to read is the median of each round's ratio. Times come
 * from /usr/bin/time (wall, user + system CPU, peak RSS of the process).
 *
 * rss2email (Debian's `rss2email`, the `r2e` command) is installed with apt-get when
 * missing and the script runs as root; otherwise its column is left out.
 * Our settings: the shipped defaults except `http.allowPrivateAddresses` (the feeds
 * are on 127.0.0.1) and `delivery.email.ratePerSecond: 0` (rss2email has no rate
 * limit; the shipped 50/s would make the changed cycle wait on purpose).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compiledEntry } from '../../src/cli/compiled.mjs';
import { settingsSchema } from '../../src/config/schema.ts';
import { benchDatabaseUrl, createDatabase, FeedServerProcess, machineDescription, redactUrl, table } from './lib.ts';
import { loadavg, SinkProcess } from './sinks.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = path.join(ROOT, 'src/cli/bin.mjs');
const FLOOR_304 = fileURLToPath(new URL('./conditional-gets.mjs', import.meta.url));
/** The shipped `http.concurrency`: the floor keeps as many connections as a poll does. */
const HTTP_CONCURRENCY = settingsSchema.parse({}).http.concurrency;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} wants a positive number`);
  return v;
}

const FEEDS = arg('feeds', 200);
const ROUNDS = arg('rounds', 3);
const CHANGED = arg('changed', 0.25);
const GOAL_SPEEDUP = 3;
const COUNTRY = 'RU';

const CYCLES = ['first poll', 'all 304', 'changed + emails'] as const;
type Cycle = (typeof CYCLES)[number];

interface Timing {
  wall: number;
  cpu: number;
  /** Peak resident set of the largest process, MiB. */
  rssMiB: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Runs one command under /usr/bin/time; throws when it fails. */
function timedRun(argv: string[], env: NodeJS.ProcessEnv, cwd: string, what: string): Timing & { stdout: string } {
  const timeFile = path.join(cwd, '.time');
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', '-o', timeFile, ...argv], { cwd, env, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  if (r.status !== 0) throw new Error(`${what} exited ${r.status}:\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-4000)}`);
  const [wall, user, sys, kb] = readFileSync(timeFile, 'utf8').trim().split('\n').at(-1)!.split(/\s+/).map(Number);
  return { wall: wall!, cpu: user! + sys!, rssMiB: kb! / 1024, stdout: r.stdout };
}

function sum(a: Timing, b: Timing): Timing {
  return { wall: a.wall + b.wall, cpu: a.cpu + b.cpu, rssMiB: Math.max(a.rssMiB, b.rssMiB) };
}

function ensureRss2email(): boolean {
  const have = () => spawnSync('r2e', ['--version'], { encoding: 'utf8' }).status === 0;
  if (have()) return true;
  if (process.getuid?.() !== 0) return false;
  console.log('rss2email missing: apt-get install -y rss2email');
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore' });
  spawnSync('apt-get', ['install', '-y', '-qq', 'rss2email'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return have();
}

/** advisory-alerts' configuration folder for the N feeds, and the environment its commands run with. */
function ourSetup(dir: string, server: FeedServerProcess, databaseUrl: string, smtpPort: number): NodeJS.ProcessEnv {
  const configDir = path.join(dir, 'config');
  mkdirSync(configDir, { recursive: true });
  const feeds = Array.from(
    { length: FEEDS },
    (_, i) => `  - id: embassy-${String(i).padStart(5, '0')}\n    url: ${server.url(i)}\n    source: us-embassy\n    countries: [${COUNTRY}]\n`,
  );
  writeFileSync(path.join(configDir, 'feeds.yaml'), `feeds:\n${feeds.join('')}`);
  writeFileSync(
    path.join(configDir, 'settings.yaml'),
    ['http:', '  allowPrivateAddresses: true', 'delivery:', '  email:', '    ratePerSecond: 0', ''].join('\n'),
  );
  return {
    ...process.env,
    CONFIG_DIR: configDir,
    DATA_DIR: path.join(dir, 'data'),
    DATABASE_URL: databaseUrl,
    SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
    APP_SECRET: 'bench-secret-bench-secret-bench-secret',
    NODE_ENV: 'production',
  };
}

/** rss2email's configuration (as `r2e new` + `r2e add` write it, without 200 Python start-ups) and its argv prefix. */
function r2eSetup(dir: string, server: FeedServerProcess, smtpPort: number): string[] {
  const cfg = path.join(dir, 'rss2email.cfg');
  const lines = [
    '[DEFAULT]',
    'to = traveler@example.org',
    'from = rss2email@example.org',
    'email-protocol = smtp',
    'smtp-server = 127.0.0.1',
    `smtp-port = ${smtpPort}`,
    'smtp-ssl = False',
    'smtp-auth = False',
    'verbose = warning',
    '',
  ];
  for (let i = 0; i < FEEDS; i++) lines.push(`[feed.embassy${i}]`, `url = ${server.url(i)}`, '');
  writeFileSync(cfg, lines.join('\n'));
  const data = { version: 2, feeds: Array.from({ length: FEEDS }, (_, i) => ({ name: `embassy${i}`, etag: null, modified: null, seen: {} })) };
  writeFileSync(path.join(dir, 'rss2email.json'), JSON.stringify(data));
  return ['r2e', '-c', cfg, '-d', path.join(dir, 'rss2email.json')];
}

interface RoundResult {
  ours: Record<Cycle, Timing>;
  /** The all-304 cycle's floor: a bare Node script sending the same conditional GETs. */
  floor304: Timing;
  r2e?: Record<Cycle, Timing>;
  emails: { ours: number; r2e: number };
}

async function round(index: number, server: FeedServerProcess, sink: SinkProcess, baseUrl: string, withR2e: boolean): Promise<RoundResult> {
  await server.load(FEEDS);
  const database = await createDatabase(baseUrl);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aa-bench-commands-'));
  try {
    const env = ourSetup(path.join(dir, 'ours'), server, database.url, sink.port);
    const ours = (args: string[], what: string) => timedRun([process.execPath, BIN, ...args], env, dir, `advisory-alerts ${what}`);
    // Not timed: the schema, the feeds, one confirmed subscriber.
    ours(['migrate'], 'migrate');
    ours(['subscribers', 'add', '--email', 'traveler@example.org', '--countries', COUNTRY, '--confirmed'], 'subscribers add');
    const r2eDir = path.join(dir, 'r2e');
    mkdirSync(r2eDir);
    const r2e = withR2e ? r2eSetup(r2eDir, server, sink.port) : [];
    const r2eRun = (args: string[], what: string) => timedRun([...r2e, 'run', ...args], { ...process.env, HOME: r2eDir }, r2eDir, `r2e ${what}`);

    const result: RoundResult = {
      ours: {} as Record<Cycle, Timing>,
      floor304: { wall: NaN, cpu: NaN, rssMiB: NaN },
      ...(withR2e ? { r2e: {} as Record<Cycle, Timing> } : {}),
      emails: { ours: 0, r2e: 0 },
    };
    // Who goes first alternates per round and cycle.
    const pair = async (cycle: Cycle, k: number, oursFn: () => Timing, r2eFn: () => Timing) => {
      const oursFirst = (index + k) % 2 === 0;
      const run = async (who: 'ours' | 'r2e') => {
        await sink.reset();
        if (who === 'ours') result.ours[cycle] = oursFn();
        else result.r2e![cycle] = r2eFn();
        if (cycle === 'changed + emails') result.emails[who] = (await sink.stats()).accepted;
      };
      await run(oursFirst || !withR2e ? 'ours' : 'r2e');
      if (withR2e) await run(oursFirst ? 'r2e' : 'ours');
    };

    await pair(
      'first poll',
      0,
      () => ours(['poll'], 'poll'),
      () => r2eRun(['--no-send'], 'run --no-send'),
    );
    await pair(
      'all 304',
      1,
      () => ours(['poll'], 'poll'),
      () => r2eRun([], 'run'),
    );
    // Not timed: the ETags the floor sends back (the feeds have not changed since the first poll).
    const etags = await Promise.all(
      Array.from({ length: FEEDS }, async (_, i) => {
        const res = await fetch(server.url(i));
        await res.arrayBuffer();
        return { url: server.url(i), etag: res.headers.get('etag') };
      }),
    );
    writeFileSync(path.join(dir, 'etags.json'), JSON.stringify(etags));
    result.floor304 = timedRun([process.execPath, FLOOR_304, path.join(dir, 'etags.json'), String(HTTP_CONCURRENCY)], process.env, dir, 'floor');
    await server.change(CHANGED);
    await pair(
      'changed + emails',
      2,
      () => {
        const poll = ours(['poll'], 'poll');
        const dispatch = ours(['dispatch'], 'dispatch');
        if (!/^sent [1-9]/.test(dispatch.stdout)) throw new Error(`dispatch sent nothing: ${dispatch.stdout}`);
        return sum(poll, dispatch);
      },
      () => r2eRun([], 'run'),
    );
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await database.drop();
  }
}

async function main(): Promise<number> {
  for (const line of machineDescription()) console.log(line);
  if (!compiledEntry(ROOT)) {
    console.log('dist/ missing or older than the sources: building it first (npm run build)');
    const b = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'inherit' });
    if (b.status !== 0) throw new Error('build failed');
  }
  const withR2e = ensureRss2email();
  const r2eVersion = withR2e ? spawnSync('r2e', ['--version'], { encoding: 'utf8' }).stdout.trim() : 'not installed (column left out)';
  const baseUrl = benchDatabaseUrl();
  console.log(`PostgreSQL: ${redactUrl(baseUrl)} (a fresh database per round)`);
  console.log(`rss2email: ${r2eVersion}`);
  console.log(`Workload: ${FEEDS} local us-embassy feeds × 10 posts; ${Math.round(CHANGED * 100)}% changed in the last cycle; ${ROUNDS} rounds`);
  console.log(`Load average before: ${loadavg()}`);

  const server = await FeedServerProcess.start();
  const sink = await SinkProcess.start('smtp-sink.mjs');
  const rounds: RoundResult[] = [];
  try {
    for (let i = 0; i < ROUNDS; i++) {
      const r = await round(i, server, sink, baseUrl, withR2e);
      rounds.push(r);
      console.error(
        `  round ${i + 1}: ${CYCLES.map((c) => `${c} ours ${r.ours[c].wall.toFixed(2)} s${r.r2e ? ` / r2e ${r.r2e[c].wall.toFixed(2)} s` : ''}`).join('; ')} (load ${loadavg()})`,
      );
    }
  } finally {
    await sink.stop();
    await server.stop();
  }
  console.log(`Load average after: ${loadavg()}`);
  console.log('');
  const rows = CYCLES.map((c) => {
    const o = rounds.map((r) => r.ours[c]);
    const t = withR2e ? rounds.map((r) => r.r2e![c]) : [];
    const speedup = withR2e ? median(rounds.map((r) => r.r2e![c].wall / r.ours[c].wall)) : NaN;
    const cpuSpeedup = withR2e ? median(rounds.map((r) => r.r2e![c].cpu / r.ours[c].cpu)) : NaN;
    return [
      c,
      median(o.map((x) => x.wall)).toFixed(2),
      median(o.map((x) => x.cpu)).toFixed(2),
      median(o.map((x) => x.rssMiB)).toFixed(0),
      withR2e ? median(t.map((x) => x.wall)).toFixed(2) : '-',
      withR2e ? median(t.map((x) => x.cpu)).toFixed(2) : '-',
      withR2e ? speedup.toFixed(2) : '-',
      withR2e ? cpuSpeedup.toFixed(2) : '-',
      withR2e ? (speedup >= GOAL_SPEEDUP ? 'yes' : 'NO') : '-',
    ];
  });
  console.log(`Medians over ${ROUNDS} rounds; "× faster" is the median of each round's rss2email/ours ratio (goal ≥ ${GOAL_SPEEDUP}× in wall time)`);
  console.log(
    table(
      [
        'cycle',
        'ours wall (s)',
        'ours CPU (s)',
        'ours peak RSS (MiB)',
        'r2e wall (s)',
        'r2e CPU (s)',
        '× faster (wall)',
        '× faster (CPU)',
        `≥ ${GOAL_SPEEDUP}×`,
      ],
      rows,
    ),
  );
  const floor = { wall: median(rounds.map((r) => r.floor304.wall)), cpu: median(rounds.map((r) => r.floor304.cpu)) };
  const ours304 = median(rounds.map((r) => r.ours['all 304'].wall));
  console.log(
    `\nAll-304 floor, a bare Node script sending the same ${FEEDS} conditional GETs over ${HTTP_CONCURRENCY} kept-alive connections and exiting ` +
      `(tests/bench/conditional-gets.mjs): wall ${floor.wall.toFixed(2)} s, CPU ${floor.cpu.toFixed(2)} s; ours ${(ours304 / floor.wall).toFixed(2)}× the floor` +
      (withR2e
        ? `; ${GOAL_SPEEDUP}× faster than rss2email means under ${(median(rounds.map((r) => r.r2e!['all 304'].wall)) / GOAL_SPEEDUP).toFixed(3)} s, ` +
          `and the floor alone is ${median(rounds.map((r) => r.r2e!['all 304'].wall / r.floor304.wall)).toFixed(2)}× faster than rss2email`
        : ''),
  );
  const last = rounds.at(-1)!;
  console.log(`\nEmails handed to the sink in the changed cycle: ours ${last.emails.ours}, rss2email ${withR2e ? last.emails.r2e : '-'}`);
  return 0;
}

process.exitCode = await main();
