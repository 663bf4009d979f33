import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cli, jsonArray, killChildren, ServiceProcess, type Env } from '../helpers/cli.ts';
import { openTestDatabase, testDbKind, type TestDatabase } from '../helpers/db.ts';
import { fixture, startFeedServer, type FeedServer } from '../helpers/feed-server.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * `advisory-alerts start` as a real child process: scheduled polls, the web
 * probes, SIGHUP reloads of feeds.yaml (good and bad), SIGTERM.
 *
 * On PGlite the service must host the embedded database itself (a `start`
 * refuses to be a client of another process), so this file gives it a fresh
 * DATA_DIR of its own, and reaches the database only through the CLI (run in
 * this process), as an admin would, over the service's socket. On PostgreSQL it
 * uses the test database.
 */

const EVERY_SECOND = '*/1 * * * * *';

const kind = testDbKind();
let t: TestDatabase | undefined;
let server: FeedServer;
let work: string;
let configDir: string;
let dataDir: string;
let env: Env;
let service: ServiceProcess;
let baseUrl: string;

function writeFeeds(yaml: string): void {
  writeFileSync(path.join(configDir, 'feeds.yaml'), yaml);
}

function feedYaml(id: string, route: string, source: string, countries: string): string {
  return `  - id: ${id}\n    url: ${server.url(route)}\n    source: ${source}\n    countries: [${countries}]\n    schedule: "${EVERY_SECOND}"\n`;
}

beforeAll(async () => {
  server = await startFeedServer();
  server.set('/alpha', { body: fixture('us-embassy/us-embassy-russia-alerts_v1.xml') });
  server.set('/beta', { body: fixture('us-embassy/us-embassy-russia-alerts_v1.xml') });
  // Short: the embedded database's Unix socket path must stay under ~100 characters.
  work = mkdtempSync(path.join(tmpdir(), 'aa-svc-'));
  configDir = path.join(work, 'config');
  dataDir = path.join(work, 'data');
  mkdirSync(configDir);
  mkdirSync(dataDir);
  writeFeeds(`feeds:\n${feedYaml('alpha', '/alpha', 'us-embassy', 'RU')}`);
  writeFileSync(path.join(configDir, 'settings.yaml'), 'http:\n  timeoutSeconds: 10\n');
  if (kind === 'postgres') {
    t = await openTestDatabase();
    env = { CONFIG_DIR: configDir, DATA_DIR: dataDir, PORT: '0', ...t.env };
  } else {
    // A fresh embedded database for the service to host, copied from the migrated template (initdb is slow).
    const template = inject('pgliteTemplate');
    if (template) cpSync(template, path.join(dataDir, 'pglite'), { recursive: true });
    env = { CONFIG_DIR: configDir, DATA_DIR: dataDir, PORT: '0' };
  }

  service = new ServiceProcess(['start', '--roles', 'poll,web'], env);
  const listening = await service.waitForLog('the web server to listen', (l) => l.msg === 'web listening');
  const port = new URL(String(listening.url)).port;
  expect(Number(port)).toBeGreaterThan(0);
  baseUrl = `http://127.0.0.1:${port}`;
}, 180_000);

afterAll(async () => {
  await killChildren();
  await server?.stop();
  await t?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

// Generous: a busy machine slows every child process start-up (tsx) a lot.
describe('advisory-alerts start', { timeout: 240_000 }, () => {
  it('polls a feed on its own schedule', async () => {
    await service.waitForLog('the baseline poll of alpha', (l) => l.msg === 'polled' && l.feed === 'alpha' && l.baseline === true);
    await waitFor('three polls of alpha (one a second)', () => server.count('/alpha') >= 3, { dead: service.dead });
    // Conditional GET: after the first poll, the stored validator is sent back.
    const later = server.requests.filter((r) => r.path === '/alpha').slice(1);
    expect(later.length).toBeGreaterThan(0);
    for (const r of later) expect(r.headers['if-none-match']).toMatch(/^"[0-9a-f]+"$/);
  });

  it('answers /healthz and /readyz with 200', async () => {
    const [health, ready] = await Promise.all([fetch(`${baseUrl}/healthz`), fetch(`${baseUrl}/readyz`)]);
    expect(health.status).toBe(200);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready' });
  });

  it("records an event from a scheduled poll, and a CLI command reaches the running service's database", async () => {
    if (kind === 'pglite') {
      const lock = JSON.parse(readFileSync(path.join(dataDir, 'pglite.lock'), 'utf8')) as { pid: number; role: string };
      expect(lock).toEqual({ pid: service.pid, role: 'service' });
    }
    server.set('/alpha', { body: fixture('us-embassy/us-embassy-russia-alerts_v2.xml') });
    await service.waitForLog('the poll that sees the March 7 alert', (l) => l.msg === 'polled' && l.feed === 'alpha' && l.events === 1);

    const [eventsR, advisoriesR] = await Promise.all([cli(['events', 'list', '--json'], env), cli(['advisories', 'list', '--country', 'RU', '--json'], env)]);
    const events = jsonArray(eventsR);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ feed: 'alpha', kind: 'new', country: 'RU', title: 'Security Alert – U.S. Embassy Moscow (March 7, 2024)' });
    const advisories = jsonArray(advisoriesR);
    expect(advisories).toHaveLength(3);
    expect(new Set(advisories.map((a) => a.feed))).toEqual(new Set(['alpha']));
    expect(service.exit).toBeUndefined();
  });

  it.skipIf(kind !== 'pglite')('refuses a second start on the same embedded database with a one-line reason', async () => {
    const r = await cli(['start', '--roles', 'poll,web'], env);
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull();
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/already used by a running service \(pid \d+\)/);
    expect(lines[0]).toContain(String(service.pid));
    // The running service is unharmed and still holds the database.
    expect(service.exit).toBeUndefined();
    const lock = JSON.parse(readFileSync(path.join(dataDir, 'pglite.lock'), 'utf8')) as { pid: number };
    expect(lock.pid).toBe(service.pid);
    const before = server.count('/alpha');
    await waitFor('alpha to be polled again', () => server.count('/alpha') > before, { dead: service.dead });
  });

  it('on SIGHUP picks up an edited feeds.yaml: a new feed starts, a removed one stops and keeps its history', async () => {
    const from = service.logs.length;
    writeFeeds(`feeds:\n${feedYaml('beta', '/beta', 'generic', 'BY')}`);
    service.child.kill('SIGHUP');
    const reloaded = await service.waitForLog('the reload', (l) => l.msg === 'feeds.yaml reloaded', { after: from });
    expect(reloaded).toMatchObject({ added: ['beta'], removed: ['alpha'] });

    await waitFor('two polls of beta', () => server.count('/beta') >= 2, { dead: service.dead });
    // Anything of alpha's that was in flight at the reload has landed by now.
    const alphaAfterReload = server.count('/alpha');
    const betaNow = server.count('/beta');
    await waitFor('three more polls of beta', () => server.count('/beta') >= betaNow + 3, { dead: service.dead });
    expect(server.count('/alpha')).toBe(alphaAfterReload);

    const [feedsR, advisoriesR] = await Promise.all([cli(['feeds', 'list', '--json'], env), cli(['advisories', 'list', '--json'], env)]);
    const feeds = new Map(jsonArray(feedsR).map((f) => [f.id, f]));
    expect(feeds.get('alpha')).toMatchObject({ enabled: false, advisories: 3, nextPoll: null, failures: 0 });
    expect(feeds.get('alpha')!.status).toMatch(/^(ok|not-modified)$/);
    expect(feeds.get('beta')).toMatchObject({ enabled: true, advisories: 2, failures: 0 });
    expect(feeds.get('beta')!.lastPoll).toEqual(expect.any(String));
    const advisories = jsonArray(advisoriesR);
    expect(advisories.filter((a) => a.feed === 'alpha')).toHaveLength(3);
    expect(advisories.filter((a) => a.feed === 'beta').map((a) => a.country)).toEqual(['BY', 'BY']);
  });

  it('on SIGHUP with an invalid feeds.yaml logs why and keeps polling with the old configuration', async () => {
    const from = service.logs.length;
    writeFeeds(`feeds:\n  - id: beta\n    url: ftp://example.org/feed.xml\n  - id: gamma\n    url: ${server.url('/gamma')}\n`);
    service.child.kill('SIGHUP');
    const refused = await service.waitForLog('the refusal', (l) => typeof l.msg === 'string' && l.msg.startsWith('feeds.yaml refused'), { after: from });
    expect(refused.problems).toEqual(['feeds.yaml: feed "beta" (entry 1, line 2): url: must be an http(s) URL']);
    expect(refused.level).toBeGreaterThanOrEqual(50);

    const betaNow = server.count('/beta');
    await waitFor('beta to go on being polled', () => server.count('/beta') >= betaNow + 2, { dead: service.dead });
    expect(server.count('/gamma')).toBe(0);
    expect(service.find((l) => l.msg === 'feeds.yaml reloaded')).toHaveLength(1);
    expect(service.exit).toBeUndefined();
  });

  it('stops on SIGTERM with exit status 0 within a few seconds', async () => {
    const sent = Date.now();
    service.child.kill('SIGTERM');
    const exit = await Promise.race([
      service.exited,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no exit 15 s after SIGTERM; stderr:\n${service.stderr}`)), 15_000)),
    ]);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - sent).toBeLessThan(15_000);
    expect(service.find((l) => l.msg === 'signal received')).toEqual([expect.objectContaining({ signal: 'SIGTERM' })]);
    expect(service.find((l) => l.msg === 'stopped')).toHaveLength(1);
    expect(
      service.find((l) => typeof l.level === 'number' && l.level >= 50 && l.msg !== 'feeds.yaml refused on reload; the previous configuration stays in force'),
    ).toEqual([]);
    if (kind === 'pglite') {
      // The embedded database was closed cleanly: lock and socket gone.
      expect(existsSync(path.join(dataDir, 'pglite.lock'))).toBe(false);
      expect(existsSync(path.join(dataDir, 'run', '.s.PGSQL.5432'))).toBe(false);
    }
  });
});
