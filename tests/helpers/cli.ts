import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { expect } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { waitFor } from './wait.ts';

/**
 * Running the command line in tests, two ways:
 * - `cli(args, env)`: in this process, through `main(argv, env, io)`: parsing, refusals,
 *   listings and one-shot commands, in milliseconds.
 * - `runCli(args, env)` / `ServiceProcess`: the real `advisory-alerts` binary as a child
 *   process (what an admin runs; seconds each): for the few smoke tests of the binary,
 *   exit statuses and signals, and for `start`.
 * Both give the same `CliResult`, so an assertion reads the same either way.
 */

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = path.join(ROOT, 'src/cli/bin.mjs');

/** Variables of the product that must not leak from the developer's shell into a child. */
export const PRODUCT_VARS = [
  'DATABASE_URL',
  'DATA_DIR',
  'CONFIG_DIR',
  'APP_SECRET',
  'PORT',
  'PUBLIC_BASE_URL',
  'MAIL_FROM',
  'SMTP_URL',
  'ADMIN_TOKEN',
  'TWILIO_ACCOUNT_SID',
  'TWILIO_AUTH_TOKEN',
  'TWILIO_FROM',
  'TWILIO_MESSAGING_SERVICE_SID',
  'TWILIO_API_BASE_URL',
];

export type Env = Record<string, string>;

export interface CliResult {
  args: string[];
  code: number | null;
  stdout: string;
  /** The one-line reasons and, after them in the order written, the JSON log lines. */
  stderr: string;
  ms: number;
}

/** Runs one command line in this process. `env` is all the environment it sees. */
export async function cli(args: string[], env: Env): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const started = performance.now();
  const code = await main(args, env, {
    out: (s) => (stdout += `${s}\n`),
    err: (s) => (stderr += `${s}\n`),
    log: { write: (line: string) => (stderr += line) },
  });
  return { args, code, stdout, stderr, ms: Math.round(performance.now() - started) };
}

type Child = ChildProcessByStdio<null, Readable, Readable>;
const children = new Set<Child>();

/** Spawns the binary with the product's variables from `env` only (none leak from the test's shell). */
export function spawnCli(args: string[], env: Env): Child {
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const name of PRODUCT_VARS) delete base[name];
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** SIGKILLs every child still running and waits for them to exit (for afterEach / afterAll). */
export async function killChildren(): Promise<void> {
  await Promise.all(
    [...children].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}

/** Runs the binary to completion. */
export function runCli(args: string[], env: Env, timeoutMs = 150_000): Promise<CliResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, env);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`advisory-alerts ${args.join(' ')} did not finish within ${timeoutMs} ms\nstderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ args, code, stdout, stderr, ms: Math.round(performance.now() - started) });
    });
  });
}

/** A command that succeeded quietly: exit 0, nothing on stderr. Returns stdout. */
export function ok(r: CliResult): string {
  expect(r.code, `${r.args.join(' ')} → stderr: ${r.stderr}`).toBe(0);
  expect(r.stderr, `${r.args.join(' ')}: nothing on stderr`).toBe('');
  return r.stdout;
}

/**
 * Parses a `--json` listing: exactly one JSON array on stdout.
 * `quiet: false` allows log lines on stderr (a poll with a failing feed logs a warning there).
 */
export function jsonArray(r: CliResult, options: { quiet?: boolean } = {}): Record<string, unknown>[] {
  if (options.quiet ?? true) expect(r.stderr, `${r.args.join(' ')}: nothing on stderr`).toBe('');
  expect(r.code, `${r.args.join(' ')} → stderr: ${r.stderr}`).toBe(0);
  const parsed: unknown = JSON.parse(r.stdout);
  expect(Array.isArray(parsed)).toBe(true);
  return parsed as Record<string, unknown>[];
}

/** A refusal: non-zero exit, nothing on stdout, one line on stderr matching `pattern`. */
export function expectOneLineFailure(r: CliResult, pattern: RegExp): void {
  expect(r.code, `${r.args.join(' ')}: exit status (stdout: ${r.stdout}, stderr: ${r.stderr})`).not.toBe(0);
  expect(r.code).not.toBeNull();
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

export type LogLine = Record<string, unknown>;
export type Exit = { code: number | null; signal: NodeJS.Signals | null };

/** A running `advisory-alerts start` (or any long-running command): its JSON log lines (stderr) and its exit. */
export class ServiceProcess {
  readonly logs: LogLine[] = [];
  /** The tail of stderr, for failure messages (a long run logs a lot). */
  stderr = '';
  exit: Exit | undefined;
  readonly exited: Promise<Exit>;
  readonly child: Child;
  private partial = '';

  constructor(
    args: string[],
    env: Env,
    readonly name = 'the service',
  ) {
    this.child = spawnCli(args, env);
    this.child.stdout.resume();
    this.child.stderr.setEncoding('utf8').on('data', (s: string) => {
      this.stderr = (this.stderr + s).slice(-20_000);
      this.partial += s;
      const lines = this.partial.split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('{')) continue; // e.g. a Node deprecation warning
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
        resolve(this.exit);
      });
    });
  }

  /** One of several processes a test starts: `name` tells them apart in failure messages. */
  static named(name: string, args: string[], env: Env): ServiceProcess {
    return new ServiceProcess(args, env, name);
  }

  get pid(): number {
    return this.child.pid!;
  }

  find(match: (l: LogLine) => boolean): LogLine[] {
    return this.logs.filter(match);
  }

  /** Why a wait on this process can no longer succeed (it exited), for `waitFor`'s `dead`. */
  readonly dead = (): string | undefined => (this.exit ? `${this.name} exited (${JSON.stringify(this.exit)}); stderr:\n${this.stderr}` : undefined);

  /** The first log line from index `after` on that matches. */
  waitForLog(what: string, match: (l: LogLine) => boolean, options: { timeoutMs?: number; after?: number } = {}): Promise<LogLine> {
    const after = options.after ?? 0;
    return waitFor(`${this.name}: ${what}`, () => this.logs.slice(after).find(match), { timeoutMs: options.timeoutMs ?? 150_000, dead: this.dead });
  }

  /** SIGTERM, then SIGKILL if it has not exited by the deadline. */
  async stop(timeoutMs = 60_000): Promise<Exit> {
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
