import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { openTestDatabase, testDbKind, type TestDatabase } from '../helpers/db.ts';

/**
 * How `start` ends: at once and non-zero when it cannot listen; within a
 * moment of SIGTERM with every role running (the dispatcher's grace period
 * must not hold the process once its work is done); and through `npm start`,
 * whose signal must reach node (the script execs it) so the port is freed.
 *
 * Time bounds are generous for a loaded 2-core machine; what they catch is a
 * process that lingers for a fixed grace (10 s) or for good.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = path.join(ROOT, 'src/cli/bin.mjs');
const PRODUCT_VARS = ['DATABASE_URL', 'DATA_DIR', 'CONFIG_DIR', 'APP_SECRET', 'PORT', 'PUBLIC_BASE_URL', 'SMTP_URL', 'ADMIN_TOKEN', 'TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM'];
const STOP_BOUND_MS = 3_000;

const kind = testDbKind();
let t: TestDatabase | undefined;
let work: string;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  if (kind === 'postgres') t = await openTestDatabase();
});
afterEach(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
  if (work) rmSync(work, { recursive: true, force: true });
});
afterAll(async () => {
  await t?.close();
});

/** A fresh config and data directory (the embedded database copied from the migrated template). */
function environment(port: number): Record<string, string> {
  work = mkdtempSync(path.join(tmpdir(), 'aa-stop-'));
  const configDir = path.join(work, 'config');
  const dataDir = path.join(work, 'data');
  mkdirSync(configDir);
  mkdirSync(dataDir);
  writeFileSync(path.join(configDir, 'feeds.yaml'), 'feeds: []\n');
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !PRODUCT_VARS.includes(k) && !k.startsWith('npm_')) base[k] = v;
  if (kind === 'postgres') return { ...base, CONFIG_DIR: configDir, DATA_DIR: dataDir, PORT: String(port), ...t!.env };
  const template = inject('pgliteTemplate');
  if (template) cpSync(template, path.join(dataDir, 'pglite'), { recursive: true });
  return { ...base, CONFIG_DIR: configDir, DATA_DIR: dataDir, PORT: String(port) };
}

interface Running {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

function run(command: string, args: string[], env: Record<string, string>): Running {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  return { child, stderr: () => stderr, exited };
}

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number, r?: Running): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (r && (r.child.exitCode !== null || r.child.signalCode !== null)) throw new Error(`exited while waiting for ${what}:\n${r.stderr()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${r ? `:\n${r.stderr()}` : ''}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** The port and process id of the service, from its "web listening" log line. */
async function listening(r: Running): Promise<{ port: number; pid: number }> {
  return waitFor(
    'the web server to listen',
    () => {
      for (const line of r.stderr().split('\n')) {
        if (!line.includes('"web listening"')) continue;
        const log = JSON.parse(line) as { url: string; pid: number };
        return { port: Number(new URL(log.url).port), pid: log.pid };
      }
      return undefined;
    },
    150_000,
    r,
  );
}

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
    const r = run(process.execPath, [BIN, 'start'], environment(0));
    const { port } = await listening(r);
    // Wait until the dispatcher's loop is idle (it started right after listening).
    await waitFor('the feeds to be scheduled', () => (r.stderr().includes('"msg":"feeds scheduled"') ? true : undefined), 60_000, r);
    const sent = Date.now();
    r.child.kill('SIGTERM');
    const exit = await Promise.race([r.exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no exit 15 s after SIGTERM:\n${r.stderr()}`)), 15_000))]);
    expect(exit.code, r.stderr()).toBe(0);
    expect(exit.at - sent).toBeLessThan(STOP_BOUND_MS);
    expect(await portAccepts(port)).toBe(false);
  });

  it('the port already in use: exits non-zero by itself, with a one-line reason', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen({ port: 0, host: '0.0.0.0' }, resolve));
    const address = blocker.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const r = run(process.execPath, [BIN, 'start'], environment(port));
      // Before the fix it logged the error and lived on for good.
      const exit = await Promise.race([r.exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`still running 90 s later:\n${r.stderr()}`)), 90_000))]);
      expect(exit.code).toBe(1);
      const lines = r.stderr().trimEnd().split('\n');
      expect(lines, r.stderr()).toEqual([`error: port ${port} is already in use (another service, or an earlier start still running?); set PORT or stop the other process`]);
    } finally {
      blocker.close();
    }
  });

  it('npm start: killing the npm process stops node and frees the port', async () => {
    const r = run('npm', ['start', '--silent'], environment(0));
    const { port, pid } = await listening(r);
    expect(pid).not.toBe(r.child.pid);
    const sent = Date.now();
    r.child.kill('SIGTERM');
    await waitFor('node to exit', () => (alive(pid) ? undefined : true), 15_000);
    expect(Date.now() - sent).toBeLessThan(STOP_BOUND_MS);
    expect(await portAccepts(port)).toBe(false);
  });
});
