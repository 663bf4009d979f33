import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { killChildren, PRODUCT_VARS, ROOT, runCli, ServiceProcess, type Env, type LogLine } from '../helpers/cli.ts';
import { openTestDatabase, testDbKind, type TestDatabase } from '../helpers/db.ts';
import { fixture, startFeedServer } from '../helpers/feed-server.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * How `start` ends: at once and non-zero when it cannot listen; within a
 * moment of SIGTERM with every role running (the dispatcher's grace period
 * must not hold the process once its work is done); and through `npm start`,
 * whose signal must reach node (the script execs it) so the port is freed;
 * and a Ctrl-C at a terminal, which reaches node twice (from the terminal and
 * again from npm): the duplicate must not cut the clean stop short.
 *
 * Time bounds are generous for a loaded 2-core machine; what they catch is a
 * process that lingers for a fixed grace (10 s) or for good.
 */

// Closing the embedded database (a checkpoint) takes up to ~3 s when CI runs two suites
// side by side on 2 cores, and a stop took 6.1 s on a slower 2-core machine of the same kind
// (AMD EPYC, 2026-11-30); 8.5 s still fails the fixed 10 s grace this test exists for.
const STOP_BOUND_MS = 8_500;

const kind = testDbKind();
// Refusing a taken port (checked before the database is opened) and npm passing the signal on
// are not about the database: they run once, in the pglite project. Stopping with each
// database open (the SIGTERM test) runs in both.
const onceOnly = { skip: kind !== 'pglite' };
let t: TestDatabase | undefined;
let work: string | undefined;
let npm: ChildProcess | undefined;

beforeAll(async () => {
  if (kind === 'postgres') t = await openTestDatabase();
});
afterEach(() => {
  killChildren();
  npm?.kill('SIGKILL');
  if (work) rmSync(work, { recursive: true, force: true });
});
afterAll(async () => {
  await t?.close();
});

/** A fresh config and data directory (the embedded database copied from the migrated template). */
function environment(port: number): Env {
  work = mkdtempSync(path.join(tmpdir(), 'aa-stop-'));
  const configDir = path.join(work, 'config');
  const dataDir = path.join(work, 'data');
  mkdirSync(configDir);
  mkdirSync(dataDir);
  writeFileSync(path.join(configDir, 'feeds.yaml'), 'feeds: []\n');
  const env: Env = { CONFIG_DIR: configDir, DATA_DIR: dataDir, PORT: String(port) };
  if (kind === 'postgres') return { ...env, ...t!.env };
  const template = inject('pgliteTemplate');
  if (template) cpSync(template, path.join(dataDir, 'pglite'), { recursive: true });
  return env;
}

const isListening = (l: LogLine) => l.msg === 'web listening';
const portOf = (l: LogLine) => Number(new URL(String(l.url)).port);

function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('start: stopping and failing', { timeout: 240_000 }, () => {
  it('SIGTERM with every role running: exit 0 within a moment, the port freed', async () => {
    const service = new ServiceProcess(['start'], environment(0));
    const port = portOf(await service.waitForLog('listening', isListening));
    // Everything has started once the (empty) feed list is scheduled.
    await service.waitForLog('the feeds to be scheduled', (l) => l.msg === 'feeds scheduled');
    const sent = Date.now();
    service.child.kill('SIGTERM');
    await waitFor('the exit after SIGTERM', () => service.exit, { timeoutMs: 15_000, everyMs: 20 });
    const elapsed = Date.now() - sent;
    expect(service.exit, service.stderr).toEqual({ code: 0, signal: null });
    expect(elapsed).toBeLessThan(STOP_BOUND_MS);
    expect(await portAccepts(port)).toBe(false);
  });

  it('the port already in use: exits non-zero by itself, with a one-line reason', onceOnly, async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen({ port: 0, host: '0.0.0.0' }, resolve));
    const address = blocker.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      // Before the fix it logged the error and lived on for good (runCli fails after 90 s).
      const r = await runCli(['start'], environment(port), 90_000);
      expect(r.code).toBe(1);
      expect(r.stderr.trimEnd().split('\n'), r.stderr).toEqual([
        `error: port ${port} is already in use (another service, or an earlier start still running?); set PORT or stop the other process`,
      ]);
    } finally {
      blocker.close();
    }
  });

  it('SIGINT twice in quick succession (a Ctrl-C, then npm passing it on): a clean stop, exit 0', onceOnly, async () => {
    const env = environment(0);
    // A stop with nothing to wait for takes ~25 ms, less than a loaded machine may take to
    // send the second signal: a feed that answers after 2 s keeps the stop busy (it waits for
    // the start-up poll), so the second SIGINT lands while it is under way.
    const feeds = await startFeedServer();
    const url = feeds.set('/slow/feed', { body: fixture('us-embassy/us-embassy-russia-alerts_v1.xml'), delayMs: 2_000 });
    writeFileSync(path.join(env.CONFIG_DIR!, 'feeds.yaml'), `feeds:\n  - id: slow\n    url: ${url}\n    source: us-embassy\n    countries: [RU]\n`);
    const service = new ServiceProcess(['start'], env);
    await service.waitForLog('the feeds to be scheduled', (l) => l.msg === 'feeds scheduled');
    await waitFor('the start-up poll to be under way', () => feeds.count('/slow/feed') === 1);
    // The second goes out the moment the first is acted on (watched on the stream, not polled,
    // so it lands while the stop is under way): Node's default handler for an unhandled SIGINT
    // would then kill the process at once (exit by signal, lock file left behind).
    let repeated = false;
    service.child.stderr.on('data', (s: string) => {
      if (repeated || !s.includes('"msg":"signal received"')) return;
      repeated = true;
      service.child.kill('SIGINT');
    });
    service.child.kill('SIGINT');
    await waitFor('the exit after SIGINT', () => service.exit, { timeoutMs: 15_000, everyMs: 20 });
    expect(service.exit, service.stderr).toEqual({ code: 0, signal: null });
    expect(service.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['signal received while stopping: already stopping', 'stopped']));
    expect(existsSync(path.join(env.DATA_DIR!, 'pglite.lock'))).toBe(false);
    await feeds.stop();
  });

  it('npm start and Ctrl-C at a terminal (SIGINT to the whole process group): a clean stop, exit 0', onceOnly, async () => {
    const base: NodeJS.ProcessEnv = { ...process.env };
    for (const name of PRODUCT_VARS) delete base[name];
    const env = environment(0);
    // Its own process group, as a terminal's foreground job.
    npm = spawn('npm', ['start', '--silent'], { cwd: ROOT, env: { ...base, ...env }, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    npm.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    await waitFor('npm start to schedule the feeds', () => stderr.includes('"feeds scheduled"'), { timeoutMs: 150_000 });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      npm!.once('exit', (code, signal) => resolve({ code, signal })),
    );
    process.kill(-npm.pid!, 'SIGINT');
    const exit = await exited;
    expect(exit, stderr).toEqual({ code: 0, signal: null });
    expect(stderr).toContain('"stopped"');
    expect(existsSync(path.join(env.DATA_DIR!, 'pglite.lock'))).toBe(false);
  });

  it('npm start: killing the npm process stops node and frees the port', onceOnly, async () => {
    const base: NodeJS.ProcessEnv = { ...process.env };
    for (const name of PRODUCT_VARS) delete base[name];
    npm = spawn('npm', ['start', '--silent'], { cwd: ROOT, env: { ...base, ...environment(0) }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    npm.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const listening = await waitFor('npm start to listen', () => stderr.split('\n').find((l) => l.includes('"web listening"')), { timeoutMs: 150_000 });
    const log = JSON.parse(listening) as LogLine;
    const [port, pid] = [portOf(log), Number(log.pid)];
    expect(pid).not.toBe(npm.pid);
    const sent = Date.now();
    npm.kill('SIGTERM');
    await waitFor('node to exit', () => !alive(pid), { timeoutMs: 15_000, everyMs: 20 });
    expect(Date.now() - sent).toBeLessThan(STOP_BOUND_MS);
    expect(await portAccepts(port)).toBe(false);
  });
});
