/**
 * Helpers for the delivery and end-to-end benchmarks (scripts, not tests):
 *
 * - SinkProcess: the SMTP and Twilio-compatible sinks (smtp-sink.mjs,
 *   twilio-sink.mjs) in child processes, with their counters and CPU time;
 * - CPU and memory of other processes from /proc (the PostgreSQL server, the
 *   service processes of the end-to-end run);
 * - small formatting and argument helpers.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

export interface SinkStats {
  accepted: number;
  unique: number;
  duplicates: number;
  /** Date.now() of the first and the last accepted message (0 when none). */
  firstAt: number;
  lastAt: number;
  /** CPU seconds (user + system) of the sink process since it started. */
  cpu: number;
  /** Connections opened since the last reset. */
  connections: number;
}

type SinkReply =
  | { type: 'listening'; port: number }
  | { type: 'reset' }
  | {
      type: 'stats';
      accepted: number;
      unique: number;
      duplicates: number;
      firstAt: number;
      lastAt: number;
      cpuUser: number;
      cpuSystem: number;
      connections: number;
    };

export class SinkProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  /** Forks `smtp-sink.mjs` or `twilio-sink.mjs` (next to this file) with the given environment. */
  static async start(script: 'smtp-sink.mjs' | 'twilio-sink.mjs', env: Record<string, string> = {}): Promise<SinkProcess> {
    const child = fork(fileURLToPath(new URL(script, import.meta.url)), [], {
      env: { ...process.env, ...env },
      execArgv: [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const reply = await nextMessage<SinkReply>(child, 'sink');
    if (reply.type !== 'listening') throw new Error(`${script}: unexpected ${reply.type}`);
    return new SinkProcess(child, reply.port);
  }

  get pid(): number {
    return this.child.pid!;
  }

  async stats(): Promise<SinkStats> {
    const p = nextMessage<SinkReply>(this.child, 'sink');
    this.child.send({ type: 'stats' });
    const r = await p;
    if (r.type !== 'stats') throw new Error(`sink: expected stats, got ${r.type}`);
    return {
      accepted: r.accepted,
      unique: r.unique,
      duplicates: r.duplicates,
      firstAt: r.firstAt,
      lastAt: r.lastAt,
      cpu: (r.cpuUser + r.cpuSystem) / 1e6,
      connections: r.connections,
    };
  }

  async reset(): Promise<void> {
    const p = nextMessage<SinkReply>(this.child, 'sink');
    this.child.send({ type: 'reset' });
    await p;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.disconnect();
    await exited;
  }
}

/** The next IPC message from a child process; rejects when it errors or exits first. */
export function nextMessage<T>(child: ChildProcess, name = 'child process'): Promise<T> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      child.off('message', onMessage);
      child.off('error', onError);
      child.off('exit', onExit);
    };
    const onMessage = (m: unknown) => {
      cleanup();
      resolve(m as T);
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`${name} exited (${code})`));
    };
    child.on('message', onMessage);
    child.on('error', onError);
    child.on('exit', onExit);
  });
}

// ---------------------------------------------------------------------------
// Other processes, from /proc (Linux)

const CLOCK_TICKS = 100; // USER_HZ: 100 on every Linux we run on

/** CPU seconds (user + system) a process has used, or null once it is gone. */
export function processCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime, stime (fields 14 and 15)
  } catch {
    return null;
  }
}

/**
 * CPU seconds used so far by every process named `postgres` on the machine,
 * including the children they reaped (the postmaster's cutime/cstime holds
 * the CPU of backends that have exited, so the sum never goes down): the
 * PostgreSQL server's share of a run is the difference of two readings
 * (other databases' work on a shared machine counts too).
 */
export function postgresCpuSeconds(): number {
  let total = 0;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return 0;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (name !== 'postgres') continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime, stime, cutime, cstime (fields 14 to 17)
      total += (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS;
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

/** A field of /proc/<pid>/status in MiB (VmHWM = peak resident set, VmRSS = now), or null. */
export function procStatusMiB(pid: number, field: 'VmHWM' | 'VmRSS'): number | null {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------
// Formatting

export const loadavg = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** "12.3 %" of one core. */
export const pct = (cpuSeconds: number, wallSeconds: number) => `${((100 * cpuSeconds) / wallSeconds).toFixed(0)}%`;

export const int = (n: number) => Math.round(n).toLocaleString('en-US');

export function memoryDescription(): string {
  return `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB total, ${(os.freemem() / 2 ** 30).toFixed(1)} GiB free`;
}
