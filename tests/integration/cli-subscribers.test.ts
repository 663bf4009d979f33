import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DB } from '../../src/db/connect.ts';
import { fanOut } from '../../src/delivery/repository.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

/**
 * `subscribers add|list|remove|import`, `dispatch` and `deliveries list`
 * (SPEC §7) through the real CLI (`node src/cli/bin.mjs …`) as a child
 * process. On PGlite this test process hosts the embedded database and each
 * child reaches it through its Unix socket; on PostgreSQL, through
 * DATABASE_URL. Without SMTP_URL or Twilio credentials, `dispatch` writes to
 * the file outbox in $DATA_DIR/outbox. Independent commands run concurrently
 * to keep the number of sequential spawns (each a tsx start) small.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = path.join(ROOT, 'src/cli/bin.mjs');

/** Variables of the product that must not leak from the developer's shell into the child. */
const PRODUCT_VARS = [
  'DATABASE_URL', 'DATA_DIR', 'CONFIG_DIR', 'APP_SECRET', 'PORT', 'PUBLIC_BASE_URL', 'MAIL_FROM', 'SMTP_URL', 'ADMIN_TOKEN',
  'TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM', 'TWILIO_MESSAGING_SERVICE_SID', 'TWILIO_API_BASE_URL',
];

interface CliResult {
  args: string[];
  ms: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

const children = new Set<ReturnType<typeof spawn>>();
let spawns = 0;
const timings: string[] = [];

/**
 * Each child is a tsx start, CPU-bound: on a loaded machine more of them at
 * once only stretches each one's wall time. At most MAX_PARALLEL run at once;
 * the timeout counts from a child's own start.
 */
const MAX_PARALLEL = 4;
let running = 0;
const waiting: (() => void)[] = [];

async function runCli(args: string[], timeoutMs = 240_000): Promise<CliResult> {
  spawns++;
  if (running >= MAX_PARALLEL) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await spawnCli(args, timeoutMs);
  } finally {
    running--;
    waiting.shift()?.();
  }
}

function spawnCli(args: string[], timeoutMs: number): Promise<CliResult> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const name of PRODUCT_VARS) delete childEnv[name];
  Object.assign(childEnv, env);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
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
    child.once('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      const ms = Math.round(performance.now() - started);
      timings.push(`${args.slice(0, 2).join(' ')}: ${ms} ms`);
      resolve({ args, ms, code, stdout, stderr });
    });
  });
}

function ok(r: CliResult): string {
  expect(r.code, `${r.args.join(' ')} → stderr: ${r.stderr}`).toBe(0);
  expect(r.stderr, `${r.args.join(' ')}: nothing on stderr`).toBe('');
  return r.stdout;
}

function jsonArray(r: CliResult): Record<string, unknown>[] {
  const parsed: unknown = JSON.parse(ok(r));
  expect(Array.isArray(parsed)).toBe(true);
  return parsed as Record<string, unknown>[];
}

function expectOneLineFailure(r: CliResult, pattern: RegExp): void {
  expect(r.code, `${r.args.join(' ')}: exit status (stdout: ${r.stdout}, stderr: ${r.stderr})`).not.toBe(0);
  expect(r.code).not.toBeNull();
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

/** One event for feed `ru` (Russia raised 3 → 4, mentioning a concert), fanned out as a poll would. */
async function recordEvent(db: DB): Promise<number> {
  const now = new Date();
  const title = 'Russia - Level 4: Do Not Travel';
  const body = 'Do not travel to Russia. Terrorists may target a concert hall or other large gatherings.';
  const advisory = await db
    .insertInto('advisories')
    .values({ feed_id: 'ru', key: 'ru', countries: ['RU'], level: 4, title, body, fingerprint: 'v2', first_seen_at: now, last_seen_at: now, changed_at: now })
    .returning('id')
    .executeTakeFirstOrThrow();
  const version = await db
    .insertInto('advisory_versions')
    .values({ advisory_id: advisory.id, fingerprint: 'v2', countries: ['RU'], level: 4, level_text: 'Do Not Travel', title, body, link: 'https://travel.state.gov/ru', created_at: now })
    .returning('id')
    .executeTakeFirstOrThrow();
  const event = await db
    .insertInto('events')
    .values({ feed_id: 'ru', advisory_id: advisory.id, kind: 'level-raised', countries: ['RU'], level: 4, previous_level: 3, title, link: 'https://travel.state.gov/ru', version_id: version.id, created_at: now })
    .returning('id')
    .executeTakeFirstOrThrow();
  await fanOut(db, [event.id], now);
  return event.id;
}

let t: TestDatabase;
let work: string;
let dataDir: string;
let env: Record<string, string>;

beforeAll(async () => {
  t = await openTestDatabase();
  work = mkdtempSync(path.join(tmpdir(), 'aa-subs-'));
  const configDir = path.join(work, 'config');
  mkdirSync(configDir);
  writeFileSync(
    path.join(configDir, 'feeds.yaml'),
    `feeds:
  - id: ru
    name: U.S. State Department — Russia
    url: http://127.0.0.1:9/never-polled.xml
    source: us-state-dept
    countries: [RU]
  - id: uk-fcdo
    url: http://127.0.0.1:9/never-polled.atom
    source: uk-fcdo
`,
  );
  // PGlite: DATA_DIR is the embedded database's own directory (from t.env); PostgreSQL: a temp dir for the outbox.
  dataDir = t.env.DATA_DIR ?? path.join(work, 'data');
  env = { CONFIG_DIR: configDir, DATA_DIR: dataDir, ...t.env };
  // The feed rows a poll would have registered (the event below references one).
  await t.db
    .insertInto('feeds')
    .values([
      { id: 'ru', name: 'U.S. State Department — Russia', url: 'http://127.0.0.1:9/never-polled.xml', source: 'us-state-dept' },
      { id: 'uk-fcdo', name: 'uk-fcdo', url: 'http://127.0.0.1:9/never-polled.atom', source: 'uk-fcdo' },
    ])
    .execute();
});

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await t?.close();
  if (work) rmSync(work, { recursive: true, force: true });
  console.info(`${spawns} CLI runs (${t?.kind}): ${timings.join('; ')}`);
  expect(spawns).toBeLessThan(20);
});

describe('advisory-alerts CLI: subscribers, dispatch, deliveries', { timeout: 900_000 }, () => {
  it('adds, refuses, imports, lists, dispatches and removes', async () => {
    const csv = path.join(work, 'subscribers.csv');
    writeFileSync(
      csv,
      [
        'email,phone,countries,min_level,keywords,channels', //   line 1
        'bob@example.org,,RU;UA,2,embassy protest,email', //      line 2
        'not-an-email,,RU,,,', //                                 line 3
        'carol@example.org,+49 151 12345678,RU FR,,,', //         line 4 (phone, no channels: email + sms)
        'dave@example.org,,XX,,,', //                             line 5
        'erin@example.org,,,7,,', //                              line 6
        '', //                                                    line 7
        'frank@example.org,,,,,sms', //                           line 8
        'Bob@Example.org,,FR,,,', //                              line 9
        'grace@example.org,,all,,,email', //                      line 10
      ].join('\n'),
    );

    // Round 1, all independent of each other: an add, four refusals, the import,
    // two refusals that need no subscriber at all.
    const [added, badEmail, badCountry, smsNoPhone, badLevel, imported, removeUnknown, badStatus] = await Promise.all([
      runCli(['subscribers', 'add', '--email', 'Alice@Example.org', '--countries', 'RU,UA', '--min-level', '3', '--keywords', 'concert', '--channels', 'email', '--confirmed']),
      runCli(['subscribers', 'add', '--email', 'not-an-email', '--countries', 'RU']),
      runCli(['subscribers', 'add', '--email', 'zed@example.org', '--countries', 'RU,XX']),
      runCli(['subscribers', 'add', '--email', 'yan@example.org', '--channels', 'email,sms']),
      runCli(['subscribers', 'add', '--email', 'xia@example.org', '--min-level', '5']),
      runCli(['subscribers', 'import', csv]),
      runCli(['subscribers', 'remove', '--email', 'nobody@example.org']),
      runCli(['deliveries', 'list', '--status', 'bogus']),
    ]);

    expect(ok(added).trim()).toBe('added alice@example.org (confirmed)');
    if (t.kind === 'pglite') {
      // The children wrote into the database this process hosts: through its socket, the only way in.
      const lock = JSON.parse(readFileSync(path.join(dataDir, 'pglite.lock'), 'utf8')) as { pid: number };
      expect(lock.pid).toBe(process.pid);
    }
    expectOneLineFailure(badEmail, /^error: email: "not-an-email" is not a valid email address$/);
    expectOneLineFailure(badCountry, /^error: countries: unknown country code: XX$/);
    expectOneLineFailure(smsNoPhone, /^error: channels: sms needs a phone number$/);
    expectOneLineFailure(badLevel, /^error: minLevel: must be a whole number from 1 to 4$/);
    expectOneLineFailure(removeUnknown, /no subscriber with email nobody@example\.org/);
    expectOneLineFailure(badStatus, /'bogus' is invalid.*pending.*sent.*failed/);

    expect(ok(imported).trimEnd().split('\n')).toEqual([
      'imported 3 row(s), refused 5',
      'line 3: email: "not-an-email" is not a valid email address',
      'line 5: countries: unknown country code: XX',
      'line 6: minLevel: must be a whole number from 1 to 4',
      'line 8: channels: sms needs a phone number',
      'line 9: email: bob@example.org already appears on line 2',
    ]);

    // The list shows alice as added, the imported rows confirmed, and nothing from any refusal.
    const listed = jsonArray(await runCli(['subscribers', 'list', '--json']));
    expect(listed.map((s) => s.email).sort()).toEqual(['alice@example.org', 'bob@example.org', 'carol@example.org', 'grace@example.org']);
    const byEmail = new Map(listed.map((s) => [s.email, s]));
    expect(byEmail.get('alice@example.org')).toMatchObject({
      phone: null,
      phoneVerified: false,
      status: 'confirmed',
      countries: ['RU', 'UA'],
      feeds: null,
      minLevel: 3,
      keywords: ['concert'],
      channels: ['email'],
      emailStopped: null,
      smsStopped: null,
    });
    expect(byEmail.get('bob@example.org')).toMatchObject({ status: 'confirmed', countries: ['RU', 'UA'], minLevel: 2, keywords: ['embassy', 'protest'], channels: ['email'] });
    expect(byEmail.get('carol@example.org')).toMatchObject({ status: 'confirmed', phone: '+4915112345678', phoneVerified: true, countries: ['FR', 'RU'], minLevel: 1, channels: ['email', 'sms'] });
    expect(byEmail.get('grace@example.org')).toMatchObject({ status: 'confirmed', countries: ['all'], channels: ['email'] });
    for (const s of listed) expect(Object.keys(s)).toEqual(expect.arrayContaining(['email', 'phone', 'status', 'countries', 'minLevel', 'keywords', 'channels', 'createdAt']));

    // Adding again updates the one subscriber (and replaces the subscription) instead of duplicating.
    expect(ok(await runCli(['subscribers', 'add', '--email', 'alice@example.org', '--countries', 'ru', '--min-level', '2', '--keywords', 'concert,festival', '--confirmed'])).trim()).toBe(
      'updated alice@example.org (confirmed)',
    );
    const alice = await t.db.selectFrom('subscribers').innerJoin('subscriptions', 'subscriptions.subscriber_id', 'subscribers.id').select(['email', 'countries', 'min_level', 'keywords']).where('email', '=', 'alice@example.org').execute();
    expect(alice).toEqual([{ email: 'alice@example.org', countries: ['RU'], min_level: 2, keywords: ['concert', 'festival'] }]);
    expect(Number((await t.db.selectFrom('subscribers').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)).toBe(4);

    // An event for Russia (level 3 → 4, a concert hall in the text): alice (keyword
    // concert), carol (RU, email + sms) and grace (all) match; bob's keywords don't.
    const eventId = await recordEvent(t.db);
    const fanned = await t.db.selectFrom('deliveries').innerJoin('subscribers', 'subscribers.id', 'deliveries.subscriber_id').select(['email', 'channel']).orderBy('email').orderBy('channel').execute();
    expect(fanned).toEqual([
      { email: 'alice@example.org', channel: 'email' },
      { email: 'carol@example.org', channel: 'email' },
      { email: 'carol@example.org', channel: 'sms' },
      { email: 'grace@example.org', channel: 'email' },
    ]);

    expect(ok(await runCli(['dispatch'])).trim()).toBe('sent 4, failed 0, retrying 0');
    const emailDir = path.join(dataDir, 'outbox', 'email');
    const smsDir = path.join(dataDir, 'outbox', 'sms');
    const emls = readdirSync(emailDir).filter((f) => f.endsWith('.eml'));
    const texts = readdirSync(smsDir).filter((f) => f.endsWith('.txt'));
    expect(emls).toHaveLength(3);
    expect(texts).toHaveLength(1);
    const mails = emls.map((f) => readFileSync(path.join(emailDir, f), 'utf8'));
    expect(mails.map((m) => /^To: (.*)$/m.exec(m)?.[1]).sort()).toEqual(['alice@example.org', 'carol@example.org', 'grace@example.org']);
    for (const m of mails) {
      // Header block, long headers unfolded.
      const head = m.slice(0, m.indexOf('\n\n')).replace(/\r?\n[ \t]+/g, ' ');
      expect(head).toMatch(/^Subject: .*Russia/m);
      expect(head).toMatch(/^List-Unsubscribe: <https?:\/\/[^>]+\/unsubscribe\/[^>]+>$/m);
      expect(head).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click$/m);
    }
    expect(readFileSync(path.join(smsDir, texts[0]!), 'utf8')).toMatch(/^To: \+4915112345678\n/);

    const sent = jsonArray(await runCli(['deliveries', 'list', '--status', 'sent', '--json']));
    expect(sent.map((d) => `${d.subscriber}/${d.channel}`).sort()).toEqual(['alice@example.org/email', 'carol@example.org/email', 'carol@example.org/sms', 'grace@example.org/email']);
    for (const d of sent) {
      expect(d).toMatchObject({ event: eventId, status: 'sent', attempts: 1, lastError: null });
      expect(Object.keys(d)).toEqual(expect.arrayContaining(['id', 'subscriber', 'event', 'channel', 'status', 'attempts', 'lastError']));
    }
    expect(await t.db.selectFrom('deliveries').select('status').distinct().execute()).toEqual([{ status: 'sent' }]);

    // Removing a subscriber takes their delivery history with them (the email is matched case-insensitively).
    expect(ok(await runCli(['subscribers', 'remove', '--email', 'Carol@Example.org'])).trim()).toBe('removed carol@example.org');
    const left = await t.db.selectFrom('subscribers').select('email').orderBy('email').execute();
    expect(left.map((s) => s.email)).toEqual(['alice@example.org', 'bob@example.org', 'grace@example.org']);
    const remaining = await t.db.selectFrom('deliveries').innerJoin('subscribers', 'subscribers.id', 'deliveries.subscriber_id').select('email').orderBy('email').execute();
    expect(remaining.map((r) => r.email)).toEqual(['alice@example.org', 'grace@example.org']);
    expect(existsSync(path.join(dataDir, 'outbox'))).toBe(true);
  });
});
