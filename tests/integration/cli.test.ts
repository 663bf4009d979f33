import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listEvents } from '../../src/advisories/repository.ts';
import { openTestDatabase, testDbKind, type TestDatabase } from '../helpers/db.ts';
import { fixture, startFeedServer, type FeedServer } from '../helpers/feed-server.ts';

/**
 * Drives the real CLI (`node src/cli/bin.mjs …`) as a child process, the way an
 * admin runs `npx advisory-alerts …`. On PGlite this test process hosts the
 * embedded database (openTestDatabase holds `pglite.lock`), so every child
 * reaches it through the pglite-socket Unix socket: the designed sharing path.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = path.join(ROOT, 'src/cli/bin.mjs');

/** Variables of the product that must not leak from the developer's shell into the child. */
const PRODUCT_VARS = [
  'DATABASE_URL', 'DATA_DIR', 'CONFIG_DIR', 'APP_SECRET', 'PORT', 'PUBLIC_BASE_URL', 'MAIL_FROM', 'SMTP_URL', 'ADMIN_TOKEN',
  'TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM', 'TWILIO_MESSAGING_SERVICE_SID', 'TWILIO_API_BASE_URL',
];

interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const children = new Set<ReturnType<typeof spawn>>();

function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of PRODUCT_VARS) delete env[name];
  return { ...env, ...extra };
}

function runCli(args: string[], env: Record<string, string>, timeoutMs = 150_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
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
      children.delete(child);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * Parses a `--json` listing: it must be exactly one JSON array on stdout.
 * `quiet`: nothing at all on stderr (a poll with a failing feed logs a warning there).
 */
function jsonArray(r: CliResult, quiet = true): Record<string, unknown>[] {
  if (quiet) expect(r.stderr, 'no output on stderr for a successful listing').toBe('');
  expect(r.code, r.stderr).toBe(0);
  const parsed: unknown = JSON.parse(r.stdout);
  expect(Array.isArray(parsed)).toBe(true);
  return parsed as Record<string, unknown>[];
}

function expectOneLineFailure(r: CliResult, pattern: RegExp): void {
  expect(r.code, `exit status (stdout: ${r.stdout}, stderr: ${r.stderr})`).not.toBe(0);
  expect(r.code).not.toBeNull();
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;

let t: TestDatabase;
let server: FeedServer;
let work: string;
let env: Record<string, string>;
let brokenEnv: Record<string, string>;

beforeAll(async () => {
  [t, server] = await Promise.all([openTestDatabase(), startFeedServer()]);
  server.set('/ru/alerts', { body: fixture('us-embassy/us-embassy-russia-alerts_v1.xml'), lastModified: new Date('2024-03-04T14:12:09Z') });
  server.set('/down', { status: 500, body: 'internal error', contentType: 'text/plain' });
  work = mkdtempSync(path.join(tmpdir(), 'aa-cli-'));
  const configDir = path.join(work, 'config');
  const brokenDir = path.join(work, 'broken');
  mkdirSync(configDir);
  mkdirSync(brokenDir);
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
  - id: switched-off
    url: ${server.url('/never')}
    enabled: false
`,
  );
  writeFileSync(path.join(configDir, 'settings.yaml'), 'http:\n  timeoutSeconds: 10\n');
  writeFileSync(path.join(brokenDir, 'feeds.yaml'), `feeds:\n  - id: bad\n    url: ftp://example.org/feed.xml\n`);
  env = { CONFIG_DIR: configDir, ...t.env };
  brokenEnv = { CONFIG_DIR: brokenDir, ...t.env };
});

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await Promise.all([t?.close(), server?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.concurrent('advisory-alerts CLI: checks and refusals', { timeout: 180_000 }, () => {
  it('config check prints OK with the feed counts and exits 0', async () => {
    const r = await runCli(['config', 'check'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`${env.CONFIG_DIR}: OK — 3 feed(s), 2 enabled`);
  });

  it('config check on a broken feeds.yaml names file, entry and field on stderr and exits non-zero', async () => {
    const r = await runCli(['config', 'check'], brokenEnv);
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull();
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toEqual(['feeds.yaml: feeds[0].url: must be an http(s) URL']);
  });

  it('migrate exits 0 on an up-to-date database', async () => {
    const r = await runCli(['migrate'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('database is up to date');
  });

  it('an unknown command exits non-zero with a one-line reason', async () => {
    expectOneLineFailure(await runCli(['frobnicate'], env), /unknown command 'frobnicate'/);
  });

  it('poll --feed with an unknown id exits non-zero with a one-line reason', async () => {
    expectOneLineFailure(await runCli(['poll', '--feed', 'no-such-feed'], env), /unknown feed: no-such-feed/);
  });

  it('advisories list --country with a non-ISO code exits non-zero with a one-line reason', async () => {
    expectOneLineFailure(await runCli(['advisories', 'list', '--country', 'XYZ'], env), /--country: "XYZ" is not an ISO 3166-1 alpha-2 code/);
  });

  it('events list --since with a non-date exits non-zero with a one-line reason', async () => {
    expectOneLineFailure(await runCli(['events', 'list', '--since', 'garbage'], env), /--since: "garbage" is not an ISO date-time/);
  });
});

describe('advisory-alerts CLI: poll and listings on the shared database', { timeout: 180_000 }, () => {
  it('poll prints status, new, updated and unchanged per enabled feed (baseline; a failing feed reported, not fatal)', async () => {
    const r = await runCli(['poll'], env);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]!.split(/\s+/)).toEqual(['feed', 'status', 'new', 'updated', 'unchanged', 'removed', 'events', 'error']);
    const rows = new Map(lines.slice(1).map((l) => {
      const cells = l.split(/\s+/);
      return [cells[0], cells] as const;
    }));
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

  it('poll --json prints a JSON array; the March 7 security alert is one new event', async () => {
    server.set('/ru/alerts', { body: fixture('us-embassy/us-embassy-russia-alerts_v2.xml'), lastModified: new Date('2024-03-07T17:00:00Z') });
    const r = await runCli(['poll', '--json'], env);
    const rows = jsonArray(r, false);
    // Logs are JSON lines on stderr, never mixed into stdout.
    for (const line of r.stderr.trim().split('\n').filter(Boolean)) expect(JSON.parse(line)).toMatchObject({ level: 40, feed: 'down' });
    expect(rows).toHaveLength(2);
    const byFeed = new Map(rows.map((r) => [r.feed, r]));
    expect(byFeed.get('us-embassy-russia')).toMatchObject({ status: 'ok', new: 1, updated: 0, unchanged: 2, events: 1, error: null });
    expect(byFeed.get('down')).toMatchObject({ status: 'error', new: 0, updated: 0, unchanged: 0, events: 0 });
    expect(String(byFeed.get('down')!.error)).toMatch(/500/);
    expect(await listEvents(t.db, {})).toHaveLength(1);
  });

  it('feeds list, advisories list --country RU and events list (--json) show what the polls stored', async () => {
    const future = new Date(Date.now() + 24 * 3600 * 1000).toISOString();
    const [feedsR, advisoriesR, eventsR, futureR] = await Promise.all([
      runCli(['feeds', 'list', '--json'], env),
      runCli(['advisories', 'list', '--country', 'RU', '--json'], env),
      runCli(['events', 'list', '--json'], env),
      runCli(['events', 'list', '--since', future, '--json'], env),
    ]);

    const feeds = jsonArray(feedsR);
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

    const advisories = jsonArray(advisoriesR);
    expect(advisories).toHaveLength(3);
    for (const a of advisories) {
      expect(a).toMatchObject({ feed: 'us-embassy-russia', country: 'RU', level: null });
      expect(Object.keys(a)).toEqual(expect.arrayContaining(['feed', 'country', 'level', 'wording', 'title', 'link', 'updatedAt']));
      expect(a.updatedAt).toMatch(ISO);
    }
    const alert = advisories.find((a) => a.title === 'Security Alert – U.S. Embassy Moscow (March 7, 2024)');
    expect(alert).toMatchObject({ wording: 'Security Alert' });
    expect(String(alert!.link)).toMatch(/^https:\/\/ru\.usembassy\.gov\//);

    const events = jsonArray(eventsR);
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

    expect(jsonArray(futureR)).toEqual([]);
  });

  it('poll --feed polls only the named feed; an unchanged document is not-modified and records nothing', async () => {
    const before = server.count('/down');
    const rows = jsonArray(await runCli(['poll', '--feed', 'us-embassy-russia', '--json'], env));
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
