import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import type { DB } from '../../src/db/connect.ts';
import { killChildren } from './cli.ts';
import { openTestDatabase, type TestDatabase } from './db.ts';
import { fixture, startFeedServer, type FeedServer } from './feed-server.ts';
import { TestSmtpServer } from './smtp.ts';
import { ensureFeed, insertEvent } from './events.ts';

/**
 * Shared by the fault tests (tests/integration/faults/, one file per failure mode):
 * their environment (database, feed server, SMTP server, scratch folder), the
 * configuration a `start` process gets, and seeded deliveries.
 */

export const APP_SECRET = 'faults-secret-0123456789abcdef';
export const MB = 1024 * 1024;
export const EMBASSY_V1 = fixture('us-embassy/us-embassy-russia-alerts_v1.xml'); // 2 alerts
export const EMBASSY_V2 = fixture('us-embassy/us-embassy-russia-alerts_v2.xml'); // + the March 7 alert
export const MARCH_7_TITLE = 'Security Alert – U.S. Embassy Moscow (March 7, 2024)';

export interface FaultEnvironment {
  t: TestDatabase;
  feeds: FeedServer;
  smtp: TestSmtpServer;
  /** A scratch folder for this file, removed afterwards. */
  work: string;
  /** How long the SMTP server waits before answering each message (reset to 0 before each test). */
  smtpDelayMs: number;
}

/**
 * Registers the hooks of a fault-test file (call it inside its describe): one test
 * database, feed server and SMTP server for the file, reset before each test; every
 * child process killed after each test. The fields are set once `beforeAll` has run.
 */
export function faultEnvironment(): FaultEnvironment {
  const env = { smtpDelayMs: 0 } as FaultEnvironment;
  beforeAll(async () => {
    env.work = mkdtempSync(path.join(tmpdir(), 'aa-faults-'));
    [env.t, env.feeds, env.smtp] = await Promise.all([openTestDatabase(), startFeedServer(), new TestSmtpServer().start()]);
    slowDown(env.smtp, () => env.smtpDelayMs);
  }, 120_000);
  afterAll(async () => {
    await killChildren();
    await Promise.all([env.t?.close(), env.feeds?.stop(), env.smtp?.stop()]);
    if (env.work) rmSync(env.work, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await env.t.reset();
    env.smtp.reset();
    env.smtpDelayMs = 0;
  });
  afterEach(async () => {
    await killChildren();
  });
  return env;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** A CONFIG_DIR with feeds.yaml and settings.yaml, and a DATA_DIR (outboxes; unused with SMTP). */
export function makeConfig(work: string, feedsYaml: string, settingsYaml = ''): { CONFIG_DIR: string; DATA_DIR: string } {
  const dir = mkdtempSync(path.join(work, 'cfg-'));
  const configDir = path.join(dir, 'config');
  const dataDir = path.join(dir, 'data');
  mkdirSync(configDir);
  mkdirSync(dataDir);
  writeFileSync(path.join(configDir, 'feeds.yaml'), feedsYaml);
  writeFileSync(path.join(configDir, 'settings.yaml'), settingsYaml);
  return { CONFIG_DIR: configDir, DATA_DIR: dataDir };
}

/** `url?application_name=…`: lets the test see in pg_stat_activity which process is connected. */
export function withApplicationName(url: string, name: string): string {
  const u = new URL(url);
  u.searchParams.set('application_name', name);
  return u.href;
}

// ---------------------------------------------------------------------------
// Seeding deliveries

/** An embassy-style event (no level: it passes every min_level) for RU, as a poll would have recorded it. */
export async function seedEvent(db: DB, now: Date, title = 'Security Alert – U.S. Embassy Moscow (seeded)'): Promise<number> {
  await ensureFeed(db, 'seeded', 'us-embassy', 'U.S. Embassy Moscow');
  const id = await insertEvent(db, { feedId: 'seeded', level: null, title, body: 'Avoid large gatherings.', link: 'https://ru.usembassy.gov/alert', at: now });
  // As a poll leaves it: the advisory points at its current version.
  await sql`update advisories a set version_id = e.version_id from events e where e.id = ${id} and a.id = e.advisory_id`.execute(db);
  return id;
}

/** `n` confirmed email subscribers following RU, in one INSERT…SELECT generate_series. */
export async function seedSubscribers(db: DB, n: number, now: Date, prefix = 'traveler'): Promise<void> {
  await sql`
    with s as (
      insert into subscribers (email, status, created_at, confirmed_at)
      select ${prefix} || '-' || g || '@example.org', 'confirmed', ${now}::timestamptz, ${now}::timestamptz
      from generate_series(1, ${n}) g
      returning id)
    insert into subscriptions (subscriber_id, countries, channels, created_at)
    select id, '{RU}', '{email}', ${now}::timestamptz from s`.execute(db);
}

export async function deliveryStatuses(db: DB): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('deliveries')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('status')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

/** Makes the test SMTP server take `delay()` ms before answering each DATA (after the message is recorded). */
export function slowDown(server: TestSmtpServer, delay: () => number): void {
  const original = server['onData'].bind(server);
  server['onData'] = (stream, session, cb) =>
    original(stream, session, (err, message) => {
      const ms = delay();
      if (ms > 0) setTimeout(() => cb(err, message), ms);
      else cb(err, message);
    });
}

export function recipients(server: TestSmtpServer): { total: number; distinct: number; perAddress: Map<string, number> } {
  const perAddress = new Map<string, number>();
  for (const m of server.messages) for (const to of m.envelope.to) perAddress.set(to, (perAddress.get(to) ?? 0) + 1);
  return { total: server.messages.length, distinct: perAddress.size, perAddress };
}
