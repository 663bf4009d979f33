import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { inject } from 'vitest';
import { connectDatabase, migrateToLatest, type DB } from '../../src/db/connect.ts';
import { silentLogger } from '../../src/common/logger.ts';

/**
 * One database per test file: PGlite (always) or, in the `postgres` vitest
 * project, a fresh database on the real server named by TEST_DATABASE_URL.
 * Tests inside a file isolate themselves with `reset()` (truncation).
 */
export interface TestDatabase {
  db: DB;
  kind: 'pglite' | 'postgres';
  /** For processes the test spawns: DATABASE_URL, or DATA_DIR of the embedded database. */
  env: Record<string, string>;
  /**
   * For the command line run in this process (`cli()` in cli.ts). On PGlite this process
   * hosts the embedded database, and an embedded open from its own pid would take the
   * lock for stale; so it reaches the database the way any PostgreSQL client does,
   * through the socket, by DATABASE_URL (DATA_DIR stays for the outboxes).
   */
  cliEnv: Record<string, string>;
  reset(): Promise<void>;
  close(): Promise<void>;
}

const TEST_SECRET = 'test-secret-0123456789abcdef';

export function testDbKind(): 'pglite' | 'postgres' {
  return process.env.TEST_DB_KIND === 'postgres' ? 'postgres' : 'pglite';
}

export async function openTestDatabase(): Promise<TestDatabase> {
  if (testDbKind() === 'postgres') return openPostgres();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'aa-t-'));
  const template = inject('pgliteTemplate');
  if (template) cpSync(template, path.join(dataDir, 'pglite'), { recursive: true });
  const handle = await connectDatabase({ databaseUrl: undefined, dataDir, role: 'command', logger: silentLogger });
  await migrateToLatest(handle.db, silentLogger);
  return {
    db: handle.db,
    kind: 'pglite',
    env: { DATA_DIR: dataDir },
    cliEnv: {
      DATA_DIR: dataDir,
      DATABASE_URL: `postgres://postgres@localhost/postgres?host=${encodeURIComponent(path.join(dataDir, 'run'))}`,
      APP_SECRET: TEST_SECRET,
    },
    reset: () => truncateAll(handle.db),
    close: async () => {
      await handle.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function openPostgres(): Promise<TestDatabase> {
  const base = process.env.TEST_DATABASE_URL;
  if (!base) throw new Error('TEST_DATABASE_URL is not set');
  const name = `aa_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  const handle = await connectDatabase({ databaseUrl: url.href, dataDir: '/nonexistent', role: 'command', logger: silentLogger });
  await migrateToLatest(handle.db, silentLogger);
  return {
    db: handle.db,
    kind: 'postgres',
    env: { DATABASE_URL: url.href, APP_SECRET: TEST_SECRET },
    cliEnv: { DATABASE_URL: url.href, APP_SECRET: TEST_SECRET },
    reset: () => truncateAll(handle.db),
    close: async () => {
      await handle.close();
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

export async function truncateAll(db: DB): Promise<void> {
  const tables = await sql<{ tablename: string }>`
    select tablename from pg_tables
    where schemaname = current_schema() and tablename not like 'kysely_%'`.execute(db);
  if (tables.rows.length === 0) return;
  const list = tables.rows.map((t) => `"${t.tablename}"`).join(', ');
  // The service under test may still be working after its answer (the web role sends queued
  // confirmation emails once a request is answered). Its transaction and this TRUNCATE take
  // locks on the same tables in different orders, and PostgreSQL may break the tie by
  // aborting the TRUNCATE (40P01): the service retries its own run, and so does this.
  for (let attempt = 1; ; attempt++) {
    try {
      await sql.raw(`truncate ${list} restart identity cascade`).execute(db);
      return;
    } catch (err) {
      if (attempt >= 5 || (err as { code?: unknown }).code !== '40P01') throw err;
    }
  }
}
