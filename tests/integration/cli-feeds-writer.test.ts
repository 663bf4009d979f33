import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFeeds } from '../../src/config/load.ts';
import { syncFeeds } from '../../src/feeds/repository.ts';
import { cli, killChildren, runCli, type CliResult, type Env } from '../helpers/cli.ts';
import { openTestDatabase, testDbKind, type TestDatabase } from '../helpers/db.ts';
import { fixture, startFeedServer, type FeedServer } from '../helpers/feed-server.ts';

/**
 * The feeds table has one writer. A service runs with its own CONFIG_DIR; an
 * admin runs one-shot commands from elsewhere (the repository root, with the
 * shipped feeds.yaml). Those commands must neither rewrite the service's feeds
 * nor poll feeds the service does not have: `feeds list` says so and lists the
 * database's feeds, `poll` says so and stops, `feeds sync` is the explicit way.
 */

let t: TestDatabase;
let server: FeedServer;
let work: string;
let serviceEnv: Env;
let otherEnv: Env;

async function feedRows() {
  return t.db.selectFrom('feeds').select(['id', 'url', 'enabled', 'in_config']).orderBy('id').execute();
}

beforeAll(async () => {
  [t, server] = await Promise.all([openTestDatabase(), startFeedServer()]);
  server.set('/alpha', { body: fixture('us-embassy/us-embassy-russia-alerts_v1.xml') });
  server.set('/shipped', { body: fixture('us-embassy/us-embassy-russia-alerts_v1.xml') });
  work = mkdtempSync(path.join(tmpdir(), 'aa-fw-'));
  const serviceDir = path.join(work, 'service');
  const otherDir = path.join(work, 'repo');
  mkdirSync(serviceDir);
  mkdirSync(otherDir);
  writeFileSync(path.join(serviceDir, 'feeds.yaml'), `feeds:\n  - id: alpha\n    url: ${server.url('/alpha')}\n    source: us-embassy\n    countries: [RU]\n`);
  writeFileSync(
    path.join(otherDir, 'feeds.yaml'),
    `feeds:\n  - id: alpha\n    url: ${server.url('/alpha-elsewhere')}\n    source: us-embassy\n    countries: [RU]\n  - id: shipped\n    url: ${server.url('/shipped')}\n    countries: [GB]\n`,
  );
  // What the running service did at start: its feeds.yaml is the database's.
  await syncFeeds(t.db, loadFeeds(serviceDir));
  serviceEnv = { CONFIG_DIR: serviceDir, ...t.cliEnv };
  otherEnv = { CONFIG_DIR: otherDir, ...t.cliEnv };
});

afterAll(async () => {
  await killChildren();
  await Promise.all([t?.close(), server?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('one-shot commands and the feeds table', { timeout: 60_000 }, () => {
  it('feeds list and poll from another CONFIG_DIR: nothing written, the difference named', async () => {
    const before = await feedRows();
    const list = await cli(['feeds', 'list', '--json'], otherEnv);
    const poll = await cli(['poll'], otherEnv);

    expect(list.code, list.stderr).toBe(0);
    expect(list.stderr).toMatch(
      /^note: feeds\.yaml in .*\/repo differs from the database's feeds .*feed "alpha": url differs; feed "shipped" is not among the database's feeds.*; listing the database's feeds\n$/,
    );
    const listed = JSON.parse(list.stdout) as { id: string; enabled: boolean }[];
    expect(listed.map((f) => [f.id, f.enabled])).toEqual([['alpha', true]]);

    expect(poll.code).toBe(1);
    expect(poll.stdout).toBe('');
    expect(poll.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(poll.stderr).toMatch(
      /^error: feeds\.yaml in .*\/repo differs from the database's feeds .*run "advisory-alerts feeds sync" to make this file the configuration \(a service running with this feeds\.yaml takes it on SIGHUP instead\)\n$/,
    );

    expect(await feedRows()).toEqual(before);
    expect(server.count('/shipped') + server.count('/alpha-elsewhere')).toBe(0);
  });

  it("poll with the service's own feeds.yaml polls; feeds sync is the explicit writer", async () => {
    const poll = await cli(['poll', '--json'], serviceEnv);
    expect(poll.code, poll.stderr).toBe(0);
    expect(JSON.parse(poll.stdout)).toEqual([expect.objectContaining({ feed: 'alpha', status: 'ok', new: 2 })]);

    const sync = await cli(['feeds', 'sync'], otherEnv);
    expect(sync.code, sync.stderr).toBe(0);
    expect(sync.stdout).toMatch(/^feeds synced from .*\/repo: feed "alpha": url differs; feed "shipped" is not among the database's feeds\n$/);
    // Whether a service runs is known from the embedded database's lock only: over a URL it is not.
    expect(sync.stderr).toMatch(
      /^note: if a service runs on this database, it stops polling the feeds removed, disabled or re-pointed here from their next poll; a reload \(SIGHUP\) or restart writes its own feeds\.yaml back into the database, so change that file too unless it is this one\n$/,
    );
    expect(await feedRows()).toEqual([
      { id: 'alpha', url: server.url('/alpha-elsewhere'), enabled: true, in_config: true },
      { id: 'shipped', url: server.url('/shipped'), enabled: true, in_config: true },
    ]);
  });

  // On PGlite the lock file says who hosts the embedded database: a running `start` is
  // told apart from a one-shot command (here this test process, which hosts it, plays both).
  it.skipIf(testDbKind() !== 'pglite')(
    'poll (the real binary) names "feeds sync" as the fix when no service runs, SIGHUP to the service when one does',
    async () => {
      const lockFile = path.join(t.env.DATA_DIR!, 'pglite.lock');
      const lock = readFileSync(lockFile, 'utf8');
      const env = { CONFIG_DIR: serviceEnv.CONFIG_DIR!, ...t.env };
      const alone = await runCli(['poll'], env);
      expect(alone.code).toBe(1);
      expect(alone.stderr).toMatch(/^error: feeds\.yaml in .*\/service differs .* or run "advisory-alerts feeds sync" to make this file the configuration\n$/);

      writeFileSync(lockFile, JSON.stringify({ ...(JSON.parse(lock) as object), role: 'service' }));
      let beside: CliResult;
      let synced: CliResult;
      try {
        beside = await runCli(['poll'], env);
        synced = await runCli(['feeds', 'sync'], env);
      } finally {
        writeFileSync(lockFile, lock);
      }
      expect(synced.code, synced.stderr).toBe(0);
      expect(synced.stderr).toBe(
        `note: a service (pid ${process.pid}) is running on this database: it stops polling the feeds removed, disabled or re-pointed here from their next poll; a reload (kill -HUP ${process.pid}) or restart writes its own feeds.yaml back into the database, so change that file too unless it is this one\n`,
      );
      expect(beside.code).toBe(1);
      expect(beside.stdout).toBe('');
      expect(beside.stderr).toMatch(
        new RegExp(
          `^error: feeds\\.yaml in .*/service differs from the database's feeds .*\\. A service \\(pid ${process.pid}\\) is running on this database: if this is its feeds\\.yaml, make it reload the file with "kill -HUP ${process.pid}"; otherwise point CONFIG_DIR at the service's configuration\\n$`,
        ),
      );
      expect(beside.stderr).not.toContain('run "advisory-alerts feeds sync"');
    },
    150_000,
  );

  it('feeds list shows a feed removed from feeds.yaml as removed, apart from one disabled on purpose', async () => {
    const dir = path.join(work, 'edited');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      path.join(dir, 'feeds.yaml'),
      `feeds:\n  - id: alpha\n    url: ${server.url('/alpha')}\n    source: us-embassy\n    countries: [RU]\n  - id: paused\n    url: ${server.url('/paused')}\n    countries: [FR]\n    enabled: false\n`,
    );
    const env = { CONFIG_DIR: dir, ...t.cliEnv };
    await cli(['feeds', 'sync'], otherEnv);
    expect((await cli(['feeds', 'sync'], env)).code).toBe(0);

    const json = await cli(['feeds', 'list', '--json'], env);
    expect(json.stderr).toBe('');
    const listed = JSON.parse(json.stdout) as { id: string; enabled: boolean; removed: boolean }[];
    expect(listed.map(({ id, enabled, removed }) => ({ id, enabled, removed }))).toEqual([
      { id: 'alpha', enabled: true, removed: false },
      { id: 'paused', enabled: false, removed: false },
      { id: 'shipped', enabled: false, removed: true },
    ]);

    const table = await cli(['feeds', 'list'], env);
    const enabledColumn = new Map(
      table.stdout
        .trimEnd()
        .split('\n')
        .slice(1)
        .map((l) => l.split(/\s+/).slice(0, 3) as [string, string, string])
        .map(([id, , enabled]) => [id, enabled]),
    );
    expect(enabledColumn).toEqual(
      new Map([
        ['alpha', 'true'],
        ['paused', 'false'],
        ['shipped', 'removed'],
      ]),
    );
  });
});

describe('a broken feeds.yaml', { timeout: 60_000 }, () => {
  const broken = {
    'a YAML syntax error': {
      yaml: 'feeds:\n  - id: alpha\n    url: [unclosed\n',
      problem: /feeds\.yaml: invalid YAML: .* at line 3, column 10 \(where it opens; still open at line 4, column 1, the end of the file\)/,
    },
    'a feed that fails validation': {
      yaml: 'feeds:\n  - id: bad\n    url: ftp://example.org/feed.xml\n',
      problem: /feeds\.yaml: feed "bad" \(entry 1, line 2\): url: must be an http\(s\) URL/,
    },
  };

  it.each(Object.entries(broken))(
    'with %s, the read-only listings still run, each with one warning naming the file and the problem',
    async (name, { yaml, problem }) => {
      const dir = path.join(work, `broken-${name.replace(/\W+/g, '-')}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'feeds.yaml'), yaml);
      const env = { CONFIG_DIR: dir, ...t.cliEnv };
      const before = await feedRows();
      for (const args of [
        ['events', 'list'],
        ['subscribers', 'list'],
        ['deliveries', 'list'],
        ['advisories', 'list'],
        ['countries', 'list'],
        ['trips', 'list'],
        ['feeds', 'list'],
      ]) {
        const r = await cli([...args, '--json'], env);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
        expect(Array.isArray(JSON.parse(r.stdout)), args.join(' ')).toBe(true);
        const lines = r.stderr.trimEnd().split('\n');
        expect(lines, args.join(' ')).toHaveLength(1);
        expect(lines[0]).toContain(`warning: ${path.join(dir, 'feeds.yaml')} not loaded (`);
        expect(lines[0]).toMatch(problem);
      }
      const feeds = JSON.parse((await cli(['feeds', 'list', '--json'], env)).stdout) as { id: string }[];
      expect(feeds.map((f) => f.id)).toEqual(before.map((f) => f.id));

      // What needs the feeds refuses as before, with the lines of config check.
      for (const args of [['poll'], ['feeds', 'sync'], ['migrate'], ['config', 'check']]) {
        const r = await cli(args, env);
        expect(r.code, args.join(' ')).toBe(1);
        expect(r.stdout).toBe('');
        expect(r.stderr).toMatch(new RegExp(`^${problem.source}.*\\n$`));
        expect(r.stderr).not.toContain('warning');
      }
      expect(await feedRows()).toEqual(before);
    },
  );
});
