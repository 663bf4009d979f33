import { existsSync, readFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, expectOneLineFailure, killChildren, runCli, type Env } from '../helpers/cli.ts';

/**
 * The command line's checks and refusals: everything decided before a database is
 * opened (DATA_DIR points at a directory that is never created). They run in this
 * process through `main`; two run the real binary, for its exit statuses and streams.
 * No database, so this file runs in one vitest project only.
 */

let work: string;
let env: Env;
let brokenEnv: Env;

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'aa-cli-refusals-'));
  const configDir = path.join(work, 'config');
  const brokenDir = path.join(work, 'broken');
  mkdirSync(configDir);
  mkdirSync(brokenDir);
  writeFileSync(
    path.join(configDir, 'feeds.yaml'),
    `feeds:
  - id: us-embassy-russia
    url: http://127.0.0.1:9/never-polled.xml
    source: us-embassy
    countries: [ru]
  - id: down
    url: http://127.0.0.1:9/down
  - id: switched-off
    url: http://127.0.0.1:9/never
    enabled: false
`,
  );
  writeFileSync(path.join(brokenDir, 'feeds.yaml'), `feeds:\n  - id: bad\n    url: ftp://example.org/feed.xml\n`);
  const dataDir = path.join(work, 'no-database-here');
  env = { CONFIG_DIR: configDir, DATA_DIR: dataDir };
  brokenEnv = { CONFIG_DIR: brokenDir, DATA_DIR: dataDir };
});

afterAll(async () => {
  await killChildren();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the real binary', { timeout: 150_000 }, () => {
  it('config check prints OK with the feed counts on stdout and exits 0; a country-less alert feed is a warning', async () => {
    const r = await runCli(['config', 'check'], env);
    expect(r.stderr).toBe(
      'warning: feeds.yaml: feeds[1] (down): a generic feed without countries: its alerts reach only subscribers who follow every destination; set countries: [CC, …]\n',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${env.CONFIG_DIR}: OK — 3 feed(s), 2 enabled\n`);
  });

  it('config check on a broken feeds.yaml names file, entry and field on stderr and exits 1', async () => {
    const r = await runCli(['config', 'check'], brokenEnv);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('feeds.yaml: feed "bad" (entry 1, line 2): url: must be an http(s) URL\n');
  });
});

describe('refusals, each one line on stderr with nothing changed', () => {
  it.each([
    { name: 'an unknown command', args: ['frobnicate'], reason: /unknown command 'frobnicate'/ },
    { name: 'poll --feed with an unknown id', args: ['poll', '--feed', 'no-such-feed'], reason: /^error: unknown feed: no-such-feed \(not in feeds\.yaml\)$/ },
    {
      name: 'advisories list --country with a non-ISO code',
      args: ['advisories', 'list', '--country', 'XYZ'],
      reason: /^error: --country: unknown country code: XYZ$/,
    },
    {
      name: 'advisories list --country with two letters that are no country',
      args: ['advisories', 'list', '--country', 'ZZ'],
      reason: /^error: --country: unknown country code: ZZ$/,
    },
    {
      name: 'advisories list --country UK: the code meant',
      args: ['advisories', 'list', '--country', 'UK'],
      reason: /^error: --country: unknown country code: UK \(did you mean GB, United Kingdom\?\)$/,
    },
    {
      name: 'subscribers add --countries UK: the code meant',
      args: ['subscribers', 'add', '--email', 'uk@example.org', '--countries', 'UK'],
      reason: /^error: countries: unknown country code: UK \(did you mean GB, United Kingdom\?\)$/,
    },
    {
      name: 'events list --since with a non-date',
      args: ['events', 'list', '--since', 'garbage'],
      reason: /^error: --since: "garbage" is not an ISO date-time$/,
    },
    {
      name: 'start --roles with an unknown role',
      args: ['start', '--roles', 'poll,cook'],
      reason: /^error: --roles: unknown role "cook" \(expected poll, deliver, web\)$/,
    },
    {
      name: 'subscribers add with a bad email',
      args: ['subscribers', 'add', '--email', 'not-an-email', '--countries', 'RU'],
      reason: /^error: email: "not-an-email" is not a valid email address$/,
    },
    {
      name: 'subscribers add with an unknown country',
      args: ['subscribers', 'add', '--email', 'zed@example.org', '--countries', 'RU,XX'],
      reason: /^error: countries: unknown country code: XX$/,
    },
    {
      name: 'subscribers add with sms and no phone',
      args: ['subscribers', 'add', '--email', 'yan@example.org', '--channels', 'email,sms'],
      reason: /^error: channels: sms needs a phone number$/,
    },
    {
      name: 'subscribers add with --min-level 5',
      args: ['subscribers', 'add', '--email', 'xia@example.org', '--min-level', '5'],
      reason: /^error: minLevel: must be a whole number from 1 to 4$/,
    },
    { name: 'subscribers add without --email', args: ['subscribers', 'add', '--countries', 'RU'], reason: /required option '--email <email>' not specified/ },
    {
      name: 'subscribers remove with a bad email',
      args: ['subscribers', 'remove', '--email', 'nope'],
      reason: /^error: email: "nope" is not a valid email address$/,
    },
    {
      name: 'subscribers import of a missing file',
      args: ['subscribers', 'import', '/nonexistent/subscribers.csv'],
      reason: /^error: cannot read \/nonexistent\/subscribers\.csv: ENOENT/,
    },
    {
      name: 'deliveries list --status with an unknown status',
      args: ['deliveries', 'list', '--status', 'bogus'],
      reason: /'bogus' is invalid.*pending.*sent.*failed/,
    },
  ])('$name', async ({ args, reason }) => {
    expectOneLineFailure(await cli(args, env), reason);
  });

  it.each([['poll'], ['start'], ['migrate'], ['feeds', 'sync']])(
    'a broken feeds.yaml refuses %s, which needs the feeds, with the same lines as config check',
    async (...args) => {
      const r = await cli(args, brokenEnv);
      expect(r).toMatchObject({ code: 1, stdout: '', stderr: 'feeds.yaml: feed "bad" (entry 1, line 2): url: must be an http(s) URL\n' });
    },
  );
});

describe('help', () => {
  it('--help lists every command noun and exits 0', async () => {
    const r = await cli(['--help'], env);
    expect(r.code).toBe(0);
    const commands = [...r.stdout.matchAll(/^ {2}(\w+)/gm)].map((m) => m[1]);
    expect(commands).toEqual(
      expect.arrayContaining(['start', 'migrate', 'config', 'poll', 'feeds', 'advisories', 'countries', 'events', 'subscribers', 'dispatch', 'deliveries']),
    );
  });

  it('--version prints the version and exits 0', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) expect(await cli([flag], env)).toMatchObject({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
  });
});

describe('afterwards', () => {
  it('no refusal opened a database: DATA_DIR was never created', () => {
    expect(existsSync(env.DATA_DIR!)).toBe(false);
  });
});
