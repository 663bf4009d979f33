import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './faults.ts';

/**
 * A private PostgreSQL cluster, for a test that restarts the server (the machine's
 * server is shared with other tests): initdb into a temporary folder, pg_ctl start/stop.
 */

const PG_BIN = (() => {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((v) => existsSync(path.join(base, v, 'bin', 'initdb')) && existsSync(path.join(base, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(base, versions[0], 'bin') : undefined;
})();
const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;
const RUNUSER = ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find((p) => existsSync(p));
const HAS_POSTGRES_USER = (() => {
  try {
    return /^postgres:/m.test(readFileSync('/etc/passwd', 'utf8'));
  } catch {
    return false;
  }
})();
export const PRIVATE_PG_UNAVAILABLE = !PG_BIN
  ? 'initdb/pg_ctl not found under /usr/lib/postgresql/*/bin'
  : IS_ROOT && (!RUNUSER || !HAS_POSTGRES_USER)
    ? 'running as root without runuser or a postgres user to run initdb as (initdb refuses root)'
    : undefined;

const run = promisify(execFile);

export class PrivateCluster {
  readonly dataDir: string;
  readonly log: string;
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {
    this.dataDir = path.join(dir, 'data');
    this.log = path.join(dir, 'postgres.log');
  }

  /** Runs a PostgreSQL binary as the postgres user (initdb and postgres refuse root). */
  private static async pg(bin: string, args: string[]): Promise<void> {
    const exe = path.join(PG_BIN!, bin);
    const [file, argv] = IS_ROOT ? [RUNUSER!, ['-u', 'postgres', '--', exe, ...args]] : [exe, args];
    await run(file, argv, { timeout: 120_000, cwd: '/' });
  }

  static async create(): Promise<PrivateCluster> {
    const dir = mkdtempSync(path.join(tmpdir(), 'aa-pg-'));
    if (IS_ROOT) {
      const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
      const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
      chownSync(dir, uid, gid);
    }
    const cluster = new PrivateCluster(dir, await freePort());
    await PrivateCluster.pg('initdb', ['-D', cluster.dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync']);
    await cluster.start();
    return cluster;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  async start(): Promise<void> {
    const opts = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`;
    await PrivateCluster.pg('pg_ctl', ['-D', this.dataDir, '-l', this.log, '-o', opts, '-w', '-t', '90', 'start']);
  }

  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await PrivateCluster.pg('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', '90', 'stop']);
  }

  async createDatabase(name: string): Promise<string> {
    const c = new pg.Client({ connectionString: this.url });
    await c.connect();
    try {
      await c.query(`create database ${name}`);
    } finally {
      await c.end();
    }
    return `postgres://postgres@127.0.0.1:${this.port}/${name}`;
  }

  async destroy(): Promise<void> {
    await this.stop('immediate').catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }
}
