/**
 * Idle memory of one `start` process with the shipped configuration (a script, not a
 * test): `npm run bench:memory [-- --idle-seconds 20]`.
 *
 * Starts `node src/cli/bin.mjs start` as a person would after the quick start — the
 * shipped config/ folder, a fresh data folder — once on the embedded database (PGlite,
 * the default) and once on PostgreSQL (a throw-away database on DATABASE_URL /
 * TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres). Once
 * /healthz answers, it waits the idle time and reads the process's resident set
 * (VmRSS) and its peak (VmHWM) from /proc, with those of any child process it started.
 * The shipped feeds point at the governments' sites; this machine may have no route to
 * them, which leaves the process as idle as it would be between two schedules.
 *
 * Goals (README "Benchmarks"): ≤ 300 MiB idle on the embedded default, ≤ 150 MiB on PostgreSQL.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { compiledEntry } from '../../src/cli/compiled.mjs';
import { benchDatabaseUrl, createDatabase, machineDescription, redactUrl, table } from './lib.ts';
import { loadavg, procStatusMiB } from './sinks.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const i = process.argv.indexOf('--idle-seconds');
const IDLE_S = i > 0 ? Number(process.argv[i + 1]) : 20;
const GOALS = { embedded: 300, postgres: 150 } as const;

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/** Direct children of `pid` (from /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

async function waitHealthy(port: number, child: ChildProcess, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (child.exitCode !== null) throw new Error(`start exited ${child.exitCode} before answering`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (res.ok) return (Date.now() - t0) / 1000;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  throw new Error('start did not answer /healthz in time');
}

interface Measured {
  name: string;
  readyS: number;
  rss: number;
  peak: number;
  children: { rss: number; peak: number };
}

async function measure(name: keyof typeof GOALS, env: NodeJS.ProcessEnv): Promise<Measured> {
  const port = await freePort();
  const stderr: string[] = [];
  // The bin as npm's link and npx run it: its own first line chooses node's flags.
  const child = spawn(path.join(ROOT, 'src/cli/bin.mjs'), ['start'], {
    cwd: ROOT,
    env: { ...env, PORT: String(port), CONFIG_DIR: path.join(ROOT, 'config') },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
  try {
    const readyS = await waitHealthy(port, child, 60_000);
    await sleep(IDLE_S * 1000);
    const pid = child.pid!;
    const kids = childrenOf(pid);
    const sum = (field: 'VmRSS' | 'VmHWM') => kids.reduce((s, k) => s + (procStatusMiB(k, field) ?? 0), 0);
    return {
      name,
      readyS,
      rss: procStatusMiB(pid, 'VmRSS') ?? NaN,
      peak: procStatusMiB(pid, 'VmHWM') ?? NaN,
      children: { rss: sum('VmRSS'), peak: sum('VmHWM') },
    };
  } catch (err) {
    throw new Error(`${name}: ${(err as Error).message}\n${stderr.join('').slice(-3000)}`);
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}

async function main(): Promise<number> {
  for (const line of machineDescription()) console.log(line);
  if (!compiledEntry(ROOT)) {
    console.log('dist/ missing or older than the sources: building it first (npm run build)');
    if (spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'inherit' }).status !== 0) throw new Error('build failed');
  }
  console.log(`Load average before: ${loadavg()}; idle time after /healthz answers: ${IDLE_S} s`);
  const results: Measured[] = [];

  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'aa-memory-'));
  try {
    results.push(await measure('embedded', { ...process.env, DATA_DIR: dataDir, DATABASE_URL: '' }));
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }

  const baseUrl = benchDatabaseUrl();
  console.log(`PostgreSQL: ${redactUrl(baseUrl)} (a fresh database, dropped after)`);
  const database = await createDatabase(baseUrl);
  const pgDataDir = mkdtempSync(path.join(os.tmpdir(), 'aa-memory-'));
  try {
    results.push(
      await measure('postgres', { ...process.env, DATA_DIR: pgDataDir, DATABASE_URL: database.url, APP_SECRET: 'bench-secret-bench-secret-bench-secret' }),
    );
  } finally {
    rmSync(pgDataDir, { recursive: true, force: true });
    await database.drop();
  }

  console.log(`Load average after: ${loadavg()}\n`);
  const rows = results.map((r) => {
    const total = r.rss + r.children.rss;
    const goal = GOALS[r.name as keyof typeof GOALS];
    return [
      r.name,
      r.readyS.toFixed(1),
      r.rss.toFixed(0),
      r.peak.toFixed(0),
      r.children.rss ? r.children.rss.toFixed(0) : '-',
      total.toFixed(0),
      `≤ ${goal}`,
      total <= goal ? 'yes' : 'NO',
    ];
  });
  console.log(table(['database', 'ready (s)', 'RSS (MiB)', 'peak RSS (MiB)', 'children RSS (MiB)', 'total (MiB)', 'goal', 'met'], rows));
  return 0;
}

process.exitCode = await main();
