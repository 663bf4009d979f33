import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Kysely, Migrator, PostgresDialect, sql, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely';
import pg from 'pg';
import { backoffMs } from '../common/backoff.ts';
import { DatabaseError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import type { Database } from './types.ts';

export type DB = Kysely<Database>;

export interface DatabaseHandle {
  db: DB;
  /** True for the embedded PGlite database. Some features (several processes) need a server. */
  embedded: boolean;
  /**
   * Calls `onNotify` on each NOTIFY on `channel` (PostgreSQL server only: pglite-socket
   * does not pass notifications on). Best effort: while its connection is down it
   * reconnects, and calls `onNotify` once reconnected, as anything may have been missed.
   */
  listen?: (channel: string, onNotify: () => void) => Promise<Listener>;
  /**
   * The pid of a running service (`start`) whose embedded database this handle reached,
   * known from its lock file. Undefined otherwise, and always with DATABASE_URL: who else
   * uses a server is not known here.
   */
  servicePid?: number;
  close(): Promise<void>;
}

export interface Listener {
  close(): Promise<void>;
}

// From the sources (src/db/connect.ts) the migrations are the TypeScript files at the
// package root; from the compiled build every module sits flat in dist/, next to the
// compiled migrations in dist/migrations/ (scripts/build.mjs).
const MIGRATIONS_DIR = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../../migrations/' : './migrations/', import.meta.url));

// int8 (ids, counts) as JS numbers: ids stay far below 2^53, and numbers keep
// the rest of the code free of string/number juggling.
const types = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') => {
    if (oid === 20) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

function createPool(connection: pg.PoolConfig, logger: Logger): pg.Pool {
  const pool = new pg.Pool({ ...connection, types, connectionTimeoutMillis: 10_000 });
  // An idle client losing its server (a PostgreSQL restart) must not crash the process;
  // the pool drops it and the next query opens a new one.
  pool.on('error', (err) => logger.warn({ err }, 'database connection lost'));
  // The pool listens only to idle clients. A checked-out client whose server goes away
  // between two queries (a transaction held across awaits, a lease renewal) emits 'error'
  // with no listener, which would end the process; its pending query fails on its own and
  // the pool discards the broken client when it is released.
  pool.on('connect', (client) => {
    client.on('error', (err) => logger.warn({ err }, 'database connection lost (client in use)'));
  });
  return pool;
}

export async function connectDatabase(options: {
  databaseUrl: string | undefined;
  dataDir: string;
  role: 'service' | 'command';
  logger: Logger;
  poolSize?: number;
}): Promise<DatabaseHandle> {
  const { logger } = options;
  if (options.databaseUrl) {
    const databaseUrl = options.databaseUrl;
    const pool = createPool({ connectionString: databaseUrl, max: options.poolSize ?? 10 }, logger);
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { db, embedded: false, listen: (channel, onNotify) => listen(databaseUrl, channel, onNotify, logger), close: () => db.destroy() };
  }
  // PGlite (a WebAssembly PostgreSQL) is loaded only for the embedded database.
  const { openEmbedded } = await import('./embedded.ts');
  const embedded = await openEmbedded({ dataDir: options.dataDir, role: options.role, logger });
  // pglite-socket runs one query at a time anyway; a few connections let a
  // transaction in one part of the service not stall reads in another.
  const pool = createPool({ host: embedded.socketDir, port: 5432, user: 'postgres', database: 'postgres', max: options.poolSize ?? 4 }, logger);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    embedded: true,
    servicePid: embedded.servicePid,
    close: async () => {
      await db.destroy();
      await embedded.close();
    },
  };
}

/**
 * LISTEN on a connection of its own: a pooled one would go back to the pool, and the
 * pool's next user would get the notifications. Resolves once listening (or throws);
 * afterwards a lost connection is re-opened with back-off until close().
 */
async function listen(databaseUrl: string, channel: string, onNotify: () => void, logger: Logger): Promise<Listener> {
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  let failures = 0;
  const open = async (): Promise<void> => {
    // Kept alive: a LISTEN connection is idle for hours, and a NAT or proxy on the way drops idle ones silently.
    const c = new pg.Client({ connectionString: databaseUrl, types, connectionTimeoutMillis: 10_000, keepAlive: true });
    c.on('notification', (msg) => {
      if (msg.channel === channel) onNotify();
    });
    // Until it listens, a failure is open()'s to report (its caller retries or gives up), not a
    // lost connection to re-open: pg emits 'end' even for a connect() that failed. An 'error'
    // emitted meanwhile only needs a listener so as not to end the process; the pending
    // connect or query fails with it.
    const whileOpening = (err: Error) => logger.debug({ err, channel }, 'notification connection failed while opening');
    c.on('error', whileOpening);
    try {
      await c.connect();
      await c.query(`LISTEN ${c.escapeIdentifier(channel)}`);
    } catch (err) {
      await c.end().catch(() => undefined);
      throw err;
    }
    if (closed) return void (await c.end().catch(() => undefined));
    const lost = () => {
      if (client === c) client = undefined;
      scheduleReopen();
    };
    c.off('error', whileOpening);
    c.on('error', (err) => {
      logger.warn({ err, channel }, 'database notifications lost; reconnecting');
      void c.end().catch(() => undefined);
      lost();
    });
    c.on('end', lost);
    client = c;
    failures = 0;
  };
  const scheduleReopen = () => {
    if (closed || retry) return;
    const delay = backoffMs(++failures, { baseMs: 500, maxMs: 30_000 });
    retry = setTimeout(() => {
      retry = undefined;
      open().then(onNotify, (err: unknown) => {
        logger.warn({ err, channel }, 'cannot listen for database notifications; retrying');
        scheduleReopen();
      });
    }, delay);
    retry.unref();
  };
  await open();
  return {
    close: async () => {
      closed = true;
      if (retry) clearTimeout(retry);
      await client?.end().catch(() => undefined);
      client = undefined;
    },
  };
}

async function migrationFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => /\.(ts|js|mjs)$/.test(f) && !f.endsWith('.d.ts')).sort();
}

const migrationName = (file: string) => file.replace(/\.(ts|js|mjs)$/, '');

class DirectoryMigrationProvider implements MigrationProvider {
  constructor(private readonly dir: string) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    const files = await migrationFiles(this.dir);
    const out: Record<string, Migration> = {};
    for (const file of files) {
      const mod = (await import(pathToFileURL(path.join(this.dir, file)).href)) as Migration;
      out[migrationName(file)] = mod;
    }
    return out;
  }
}

/**
 * True when the database has applied exactly the migrations in the folder: one read, no
 * migration module loaded, no lock taken. Every one-shot command migrates first, and the
 * migrator's own check (creating its tables if missing, a lock, a transaction, importing
 * every migration) is several round trips and module loads on each run. Anything else —
 * a fresh database, a pending or unknown migration, an unreadable table — goes to the
 * migrator, which applies or refuses as before.
 */
async function upToDate(db: DB): Promise<boolean> {
  try {
    const [files, applied] = await Promise.all([migrationFiles(MIGRATIONS_DIR), sql<{ name: string }>`select name from kysely_migration`.execute(db)]);
    const names = files.map(migrationName);
    const done = applied.rows.map((r) => r.name).sort();
    return names.length === done.length && names.every((n, i) => n === done[i]);
  } catch {
    return false;
  }
}

export async function migrateToLatest(db: DB, logger: Logger): Promise<MigrationResultSet> {
  if (await upToDate(db)) return { results: [] };
  const migrator = new Migrator({ db, provider: new DirectoryMigrationProvider(MIGRATIONS_DIR) });
  const result = await migrator.migrateToLatest();
  for (const r of result.results ?? []) {
    logger.info({ migration: r.migrationName, status: r.status }, 'migration');
  }
  if (result.error) {
    throw new DatabaseError(`migration failed: ${(result.error as Error).message ?? String(result.error)}`, 'permanent', {
      cause: result.error,
    });
  }
  return result;
}
