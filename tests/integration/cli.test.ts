import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listEvents } from '../../src/advisories/repository.ts';
import { cli, jsonArray, killChildren, runCli, type Env } from '../helpers/cli.ts';
import { openTestDatabase, testDbKind, type TestDatabase } from '../helpers/db.ts';
import { fixture, startFeedServer, type FeedServer } from '../helpers/feed-server.ts';

/**
 * Polls and listings on the test database. The first poll runs the real binary
 * (`node src/cli/bin.mjs poll`), the way an admin runs `npx advisory-alerts poll`:
 * on PGlite this test process hosts the embedded database (openTestDatabase holds
 * `pglite.lock`), so the child reaches it through the pglite-socket Unix socket, the
 * designed sharing path. The rest run in this process through `main` (helpers/cli.ts).
 * Refusals, which need no database, are in cli-refusals.test.ts.
 */

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;

let t: TestDatabase;
let server: FeedServer;
let work: string;
/** For the real binary. */
let env: Env;
/** For the command line in this process. */
let inProcess: Env;

beforeAll(async () => {
  [t, server] = await Promise.all([openTestDatabase(), startFeedServer()]);
  server.set('/ru/alerts', { body: fixture('us-embassy/us-embassy-russia-alerts_v1.xml'), lastModified: new Date('2024-03-04T14:12:09Z') });
  server.set('/down', { status: 500, body: 'internal error', contentType: 'text/plain' });
  work = mkdtempSync(path.join(tmpdir(), 'aa-cli-'));
  const configDir = path.join(work, 'config');
  mkdirSync(configDir);
  writeFileSync(
    path.join(configDir, 'feeds.yaml'),
    `feeds:
  - id: us-embassy-russia
    name: U.S. Embassy & Consulates in Russia — alerts
    url: ${server.url('/ru/alerts')}
    source: us-embassy
    countries: [ru]
  - id: down
    url: ${server.url('/down')}
    countries: [de]
  - id: switched-off
    url: ${server.url('/never')}
    enabled: false
`,
  );
  writeFileSync(path.join(configDir, 'settings.yaml'), 'http:\n  timeoutSeconds: 10\n');
  env = { CONFIG_DIR: configDir, ...t.env };
  inProcess = { CONFIG_DIR: configDir, ...t.cliEnv };
});

afterAll(async () => {
  await killChildren();
  await Promise.all([t?.close(), server?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('advisory-alerts CLI: poll and listings on the shared database', { timeout: 180_000 }, () => {
  it('migrate exits 0 on an up-to-date database', async () => {
    const r = await cli(['migrate'], inProcess);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('database is up to date\n');
  });

  it('poll (the real binary) prints status, new, updated and unchanged per enabled feed (baseline; a failing feed reported, not fatal)', async () => {
    const r = await runCli(['poll'], env);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]!.split(/\s+/)).toEqual(['feed', 'status', 'new', 'updated', 'unchanged', 'removed', 'events', 'error']);
    const rows = new Map(
      lines.slice(1).map((l) => {
        const cells = l.split(/\s+/);
        return [cells[0], cells] as const;
      }),
    );
    expect(rows.get('us-embassy-russia')).toEqual(['us-embassy-russia', 'ok', '2', '0', '0', '0', '0', '-']);
    expect(rows.get('down')?.slice(0, 7)).toEqual(['down', 'error', '0', '0', '0', '0', '0']);
    expect(rows.get('down')?.slice(7).join(' ')).toMatch(/500/);
    expect(rows.has('switched-off')).toBe(false);
    expect(server.count('/never')).toBe(0);

    // The child wrote into the very database this process holds: on PGlite it
    // can only have reached it through the socket.
    if (t.kind === 'pglite') {
      const lock = JSON.parse(readFileSync(path.join(t.env.DATA_DIR!, 'pglite.lock'), 'utf8')) as { pid: number };
      expect(lock.pid).toBe(process.pid);
    }
    const feeds = await t.db.selectFrom('feeds').select(['id', 'last_status']).orderBy('id').execute();
    expect(feeds).toEqual([
      { id: 'down', last_status: 'error' },
      { id: 'switched-off', last_status: null },
      { id: 'us-embassy-russia', last_status: 'ok' },
    ]);
  });

  it('poll --json prints a JSON array, logs go to stderr as JSON lines; the March 7 security alert is one new event', async () => {
    server.set('/ru/alerts', { body: fixture('us-embassy/us-embassy-russia-alerts_v2.xml'), lastModified: new Date('2024-03-07T17:00:00Z') });
    const r = await cli(['poll', '--json'], inProcess);
    const rows = jsonArray(r, { quiet: false });
    // Logs are JSON lines on stderr, never mixed into stdout.
    const logs = r.stderr.trim().split('\n').filter(Boolean);
    expect(logs.length).toBeGreaterThan(0);
    for (const line of logs) expect(JSON.parse(line)).toMatchObject({ level: 40, feed: 'down' });
    // The expected failure says what happened in one line: its class, kind and message, no stack.
    const failed = logs.map((l) => JSON.parse(l) as { msg: string; err?: Record<string, unknown> }).find((l) => l.msg === 'poll failed');
    expect(failed?.err).toEqual({ type: 'FeedFetchError', message: 'HTTP 500', kind: 'http', classification: 'retryable', details: { status: 500 } });
    expect(logs.join('\n')).not.toContain('    at ');
    expect(rows).toHaveLength(2);
    const byFeed = new Map(rows.map((r) => [r.feed, r]));
    expect(byFeed.get('us-embassy-russia')).toMatchObject({ status: 'ok', new: 1, updated: 0, unchanged: 2, events: 1, error: null });
    expect(byFeed.get('down')).toMatchObject({ status: 'error', new: 0, updated: 0, unchanged: 0, events: 0 });
    expect(String(byFeed.get('down')!.error)).toMatch(/500/);
    expect(await listEvents(t.db, {})).toHaveLength(1);
  });

  it('feeds list --json: each feed with its last poll, status, failures, advisories and next poll', async () => {
    const feeds = jsonArray(await cli(['feeds', 'list', '--json'], inProcess));
    expect(feeds.map((f) => f.id)).toEqual(['down', 'switched-off', 'us-embassy-russia']);
    for (const f of feeds) expect(Object.keys(f)).toEqual(expect.arrayContaining(['id', 'lastPoll', 'status', 'failures', 'advisories', 'nextPoll']));
    const [down, off, ru] = feeds;
    expect(ru).toMatchObject({ id: 'us-embassy-russia', status: 'ok', failures: 0, advisories: 3 });
    expect(ru!.lastPoll).toMatch(ISO);
    expect(ru!.nextPoll).toMatch(ISO);
    expect(Date.parse(String(ru!.nextPoll))).toBeGreaterThan(Date.parse(String(ru!.lastPoll)));
    expect(down).toMatchObject({ id: 'down', status: 'error', failures: 2, advisories: 0 });
    expect(down!.lastPoll).toMatch(ISO);
    expect(String(down!.lastError)).toMatch(/500/);
    expect(off).toMatchObject({ id: 'switched-off', lastPoll: null, status: null, failures: 0, advisories: 0, nextPoll: null });
  });

  it('advisories list --country RU --json: the three stored alerts (a lower-case code is accepted)', async () => {
    const advisories = jsonArray(await cli(['advisories', 'list', '--country', 'ru', '--json'], inProcess));
    expect(advisories).toHaveLength(3);
    for (const a of advisories) {
      expect(a).toMatchObject({ feed: 'us-embassy-russia', country: 'RU', level: null });
      expect(Object.keys(a)).toEqual(expect.arrayContaining(['feed', 'country', 'level', 'wording', 'title', 'link', 'updatedAt']));
      expect(a.updatedAt).toMatch(ISO);
    }
    const alert = advisories.find((a) => a.title === 'Security Alert – U.S. Embassy Moscow (March 7, 2024)');
    expect(alert).toMatchObject({ wording: 'Security Alert' });
    expect(String(alert!.link)).toMatch(/^https:\/\/ru\.usembassy\.gov\//);
  });

  it('events list --json: the one event; --since a future time: none', async () => {
    const events = jsonArray(await cli(['events', 'list', '--json'], inProcess));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      feed: 'us-embassy-russia',
      kind: 'new',
      country: 'RU',
      level: null,
      previousLevel: null,
      title: 'Security Alert – U.S. Embassy Moscow (March 7, 2024)',
    });
    expect(Object.keys(events[0]!)).toEqual(expect.arrayContaining(['id', 'feed', 'kind', 'country', 'level', 'previousLevel', 'title', 'link', 'createdAt']));
    expect(events[0]!.id).toEqual(expect.any(Number));
    expect(events[0]!.createdAt).toMatch(ISO);

    const future = new Date(Date.now() + 24 * 3600 * 1000).toISOString();
    expect(jsonArray(await cli(['events', 'list', '--since', future, '--json'], inProcess))).toEqual([]);
  });

  it('listings without --json are aligned tables with the documented columns', async () => {
    const [feeds, events] = await Promise.all([cli(['feeds', 'list'], inProcess), cli(['events', 'list'], inProcess)]);
    expect(feeds.stdout.split('\n')[0]!.split(/\s+/)).toEqual([
      'id',
      'source',
      'enabled',
      'lastPoll',
      'status',
      'failures',
      'advisories',
      'nextPoll',
      'lastError',
    ]);
    expect(events.stdout.split('\n')[0]!.split(/\s+/)).toEqual(expect.arrayContaining(['id', 'feed', 'kind', 'country', 'level', 'title', 'createdAt']));
    expect(events.stdout.trimEnd().split('\n')).toHaveLength(2);
  });

  it('poll --feed polls only the named feed; an unchanged document is not-modified and records nothing', async () => {
    const before = server.count('/down');
    const rows = jsonArray(await cli(['poll', '--feed', 'us-embassy-russia', '--json'], inProcess));
    expect(rows).toEqual([expect.objectContaining({ feed: 'us-embassy-russia', status: 'not-modified', new: 0, updated: 0, unchanged: 0, events: 0 })]);
    expect(server.count('/down')).toBe(before);
    expect(await listEvents(t.db, {})).toHaveLength(1);
  });
});

describe('the embedded database socket shared by several clients', () => {
  // Several processes (each with a pool) share the one PGlite session behind the
  // socket. Their extended-protocol batches (Parse/Bind/Execute/Sync) must not
  // interleave, or one client binds against another's statement
  // ("unnamed prepared statement does not exist", wrong rows).
  it.skipIf(testDbKind() !== 'pglite')('gives each client its own statements, in and out of transactions', async () => {
    const pools = [0, 1, 2].map(() => {
      const pool = new pg.Pool({ host: path.join(t.env.DATA_DIR!, 'run'), port: 5432, user: 'postgres', database: 'postgres', max: 4 });
      pool.on('error', () => {});
      return pool;
    });
    try {
      const outcomes = await Promise.all(
        pools.flatMap((pool, p) =>
          Array.from({ length: 40 }, async (_, i) => {
            try {
              if (i % 4 === 0) {
                const client = await pool.connect();
                try {
                  await client.query('begin');
                  const r = await client.query<{ v: number }>('select $1::int + 1 as v', [i]);
                  await client.query('commit');
                  return r.rows[0]?.v === i + 1 ? 'ok' : `wrong row: ${JSON.stringify(r.rows)}`;
                } finally {
                  client.release();
                }
              }
              const r = await pool.query<{ v: string }>('select $1::text as v', [`${p}-${i}`]);
              return r.rows[0]?.v === `${p}-${i}` ? 'ok' : `wrong row: ${JSON.stringify(r.rows)}`;
            } catch (err) {
              return `error: ${(err as Error).message}`;
            }
          }),
        ),
      );
      expect(outcomes.filter((o) => o !== 'ok')).toEqual([]);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });
});
