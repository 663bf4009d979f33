import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import type { Logger } from '../common/logger.ts';
import { DatabaseError } from '../common/errors.ts';

/**
 * PGlite is a single-process database: two processes opening the same
 * directory would corrupt it. So exactly one process *hosts* it (holding
 * `pglite.lock`) and serves it on a Unix socket with pglite-socket; every
 * database client, the host's own pool included, connects through that socket
 * with the ordinary `pg` driver. An admin's `npx advisory-alerts events list`
 * next to a running `npm start` therefore just connects to the socket.
 *
 * A long-running `start` insists on hosting (a short-lived CLI command that
 * happens to host is waited for), so the service never depends on a process
 * that is about to exit.
 */
export interface EmbeddedHandle {
  /** Directory holding the `.s.PGSQL.5432` socket: the `host` for `pg`. */
  socketDir: string;
  hosting: boolean;
  /** The pid of the running `start` that hosts the database this command reached, if that is who hosts it. */
  servicePid?: number;
  close(): Promise<void>;
}

interface LockInfo {
  pid: number;
  role: 'service' | 'command';
}

const SOCKET_PORT = 5432;

/**
 * PGlite sizes PostgreSQL as a server would (shared_buffers 160 MB), and PostgreSQL
 * touches all of its shared buffers at start-up, inside the WebAssembly heap: resident
 * for as long as the process lives. This service's database is small (tens of MB after
 * years of history) and its files stay in the operating system's page cache anyway, so
 * 16 MB of buffers cost an idle `start` about 150 MiB less and no noticeable speed.
 */
const START_PARAMS = [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'];

const execFileAsync = promisify(execFile);

/**
 * Creates a new embedded database in a short-lived child process. PGlite runs initdb in
 * the WebAssembly heap of whoever creates the database and never gives that memory back
 * (about 500 MiB); a service that did it itself would carry it for good. A one-shot
 * command exits soon anyway and creates its database in-process.
 */
async function initializeApart(pgliteDir: string): Promise<void> {
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  const script =
    'const { PGlite } = require(process.argv[1]); PGlite.create(process.argv[2]).then((db) => db.close(), (err) => { console.error(err); process.exit(1); });';
  await execFileAsync(process.execPath, ['-e', script, entry, pgliteDir]);
}

/**
 * pglite-socket (0.2.x) serialises single protocol *messages* across all
 * connections and pins a connection only while PGlite is inside a
 * transaction. PGlite is one backend session, so two connections' extended-
 * protocol batches (Parse/Bind/Execute/Sync) interleave and clobber each
 * other's unnamed statement and portal: "unnamed prepared statement does not
 * exist", "portal \"\" does not exist", or rows bound to the other client's
 * statement (electric-sql/pglite#1046). An internal error also left its queue
 * stuck for good. This queue, put in place of the server's own, gives the
 * session to one connection from its first message until it ends a batch
 * (Sync, a simple Query, Terminate or the startup packet) outside a
 * transaction; the others wait their turn.
 */
interface QueuedMessage {
  handlerId: number;
  message: Uint8Array;
  onData: (data: Uint8Array) => void;
  resolve: (bytes: number) => void;
  reject: (err: unknown) => void;
}

const SYNC = 0x53; // 'S'
const QUERY = 0x51; // 'Q'
const TERMINATE = 0x58; // 'X'

class SessionQueue {
  private queue: QueuedMessage[] = [];
  private owner: number | null = null;
  private processing = false;

  constructor(private readonly db: PGlite) {}

  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    return new Promise((resolve, reject) => {
      this.queue.push({ handlerId, message, onData, resolve, reject });
      void this.process();
    });
  }

  private async process(): Promise<void> {
    if (this.processing) return;
    this.processing = true;
    try {
      for (;;) {
        const index = this.owner === null ? 0 : this.queue.findIndex((q) => q.handlerId === this.owner);
        if (index < 0 || this.queue.length === 0) return;
        const item = this.queue.splice(index, 1)[0]!;
        this.owner = item.handlerId;
        let bytes = 0;
        try {
          await this.db.runExclusive(() =>
            this.db.execProtocolRawStream(item.message, {
              onRawData: (data) => {
                bytes += data.length;
                item.onData(data);
              },
            }),
          );
          item.resolve(bytes);
        } catch (err) {
          item.reject(err);
        }
        // A startup packet starts with its length (first byte 0); typed messages with their type.
        const type = item.message[0];
        const endsBatch = type === SYNC || type === QUERY || type === TERMINATE || type === 0;
        if (endsBatch && !this.db.isInTransaction()) this.owner = null;
      }
    } finally {
      this.processing = false;
    }
  }

  getQueueLength(): number {
    return this.queue.length;
  }

  clearQueueForHandler(handlerId: number): void {
    this.queue = this.queue.filter((q) => {
      if (q.handlerId !== handlerId) return true;
      q.reject(new Error('Handler disconnected'));
      return false;
    });
  }

  /** A connection that goes away gives the session back, rolling back its open transaction. */
  async clearTransactionIfNeeded(handlerId: number): Promise<void> {
    if (this.owner !== handlerId) return;
    if (this.db.isInTransaction()) await this.db.runExclusive(() => this.db.exec('ROLLBACK')).catch(() => {});
    this.owner = null;
    await this.process();
  }
}

function installSessionQueue(server: PGLiteSocketServer, db: PGlite): void {
  const internals = server as unknown as { queryQueue?: { enqueue?: unknown } };
  if (typeof internals.queryQueue?.enqueue !== 'function') {
    throw new Error('unsupported @electric-sql/pglite-socket version: its query queue cannot be replaced');
  }
  (internals as { queryQueue: SessionQueue }).queryQueue = new SessionQueue(db);
}
// Unix socket paths are limited to 107 bytes on Linux.
const MAX_SOCKET_PATH = 100;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function canConnect(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(1000, () => done(false));
  });
}

function readLock(lockFile: string): LockInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(lockFile, 'utf8')) as LockInfo;
    return typeof info.pid === 'number' ? info : undefined;
  } catch {
    return undefined;
  }
}

function tryLock(lockFile: string, role: LockInfo['role']): boolean {
  try {
    const fd = openSync(lockFile, 'wx', 0o600);
    writeSync(fd, JSON.stringify({ pid: process.pid, role } satisfies LockInfo));
    closeSync(fd);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new DatabaseError(`cannot create ${lockFile}: ${(err as Error).message}`, 'permanent', { cause: err });
  }
}

export async function openEmbedded(options: { dataDir: string; role: LockInfo['role']; logger: Logger; waitMs?: number }): Promise<EmbeddedHandle> {
  const { dataDir, role, logger } = options;
  const pgliteDir = path.join(dataDir, 'pglite');
  const socketDir = path.join(dataDir, 'run');
  const socketPath = path.join(socketDir, `.s.PGSQL.${SOCKET_PORT}`);
  const lockFile = path.join(dataDir, 'pglite.lock');
  if (socketPath.length > MAX_SOCKET_PATH) {
    throw new DatabaseError(
      `DATA_DIR is too long for the embedded database's socket (${socketPath.length} > ${MAX_SOCKET_PATH} characters); use a shorter DATA_DIR`,
      'permanent',
    );
  }
  mkdirSync(socketDir, { recursive: true, mode: 0o700 });
  const deadline = Date.now() + (options.waitMs ?? 20_000);

  for (;;) {
    const holder = readLock(lockFile);
    if (holder && holder.pid !== process.pid && isAlive(holder.pid)) {
      const answering = await canConnect(socketPath);
      if (answering && (role === 'command' || holder.role === 'service')) {
        if (role === 'service') {
          throw new DatabaseError(
            `the embedded database in ${dataDir} is already used by a running service (pid ${holder.pid}); stop it, or set DATABASE_URL to run several processes against one PostgreSQL`,
            'permanent',
          );
        }
        return { socketDir, hosting: false, servicePid: holder.role === 'service' ? holder.pid : undefined, close: async () => {} };
      }
      if (Date.now() > deadline) {
        throw new DatabaseError(
          answering
            ? `the embedded database in ${dataDir} is in use by a command (pid ${holder.pid}) that has not finished; start the service when it is done`
            : `the embedded database in ${dataDir} is held by process ${holder.pid}, which does not answer on ${socketPath}; wait for it to finish or stop it, then retry`,
          'retryable',
        );
      }
      await sleep(200);
      continue;
    }
    if (holder && (holder.pid === process.pid || !isAlive(holder.pid))) {
      // Stale lock from a process that died: its socket file is stale too.
      rmSync(lockFile, { force: true });
    }
    if (tryLock(lockFile, role)) break;
  }

  rmSync(socketPath, { force: true });
  let db: PGlite | undefined;
  let server: PGLiteSocketServer | undefined;
  try {
    if (pgliteDir === 'memory://') db = await PGlite.create({ startParams: START_PARAMS });
    else {
      if (role === 'service' && !existsSync(path.join(pgliteDir, 'PG_VERSION'))) await initializeApart(pgliteDir);
      db = await PGlite.create(pgliteDir, { startParams: START_PARAMS });
    }
    server = new PGLiteSocketServer({ db, path: socketPath, maxConnections: 64 });
    installSessionQueue(server, db);
    await server.start();
  } catch (err) {
    await server?.stop().catch(() => {});
    await db?.close().catch(() => {});
    rmSync(lockFile, { force: true });
    throw new DatabaseError(`cannot open the embedded database in ${pgliteDir}: ${(err as Error).message}`, 'permanent', {
      cause: err,
    });
  }
  logger.debug({ pgliteDir, socketPath }, 'hosting embedded database');
  let closed = false;
  return {
    socketDir,
    hosting: true,
    close: async () => {
      if (closed) return;
      closed = true;
      await server?.stop();
      await db?.close();
      rmSync(socketPath, { force: true });
      if (readLock(lockFile)?.pid === process.pid) rmSync(lockFile, { force: true });
    },
  };
}

export function embeddedExists(dataDir: string): boolean {
  return existsSync(path.join(dataDir, 'pglite'));
}
