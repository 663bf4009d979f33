import { readFileSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Settings } from '../../src/config/schema.ts';
import { connectDatabase, type DatabaseHandle, type DB } from '../../src/db/connect.ts';
import type { EmailMessage, EmailSender, SmsSender } from '../../src/channels/senders.ts';
import { Dispatcher } from '../../src/delivery/dispatcher.ts';
import { linkBuilder } from '../../src/channels/links.ts';
import { claimDue, complete, DUE_CHANNEL, fanOut, type Completion } from '../../src/delivery/repository.ts';
import { systemClock, type Clock } from '../../src/common/clock.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { openTestDatabase, testDbKind, type TestDatabase } from '../helpers/db.ts';
import { ManualClock, testSettings } from '../helpers/poll.ts';
import { insertEvent } from '../helpers/events.ts';
import { deliveryStatuses, seedSubscribers } from '../helpers/faults.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * At most once per (subscriber, event, channel) with several dispatchers on
 * one real PostgreSQL: claims under FOR UPDATE SKIP LOCKED and a lease, sends
 * outside any transaction, completions accepted only from the lease holder,
 * and one shared rate budget (the rate_limits row). Each dispatcher gets its
 * own connection pool, as two processes would.
 */

/** Records every send per delivery (the ref is `d<id>`) and which dispatcher made it. */
class SendLog {
  readonly byRef = new Map<string, string[]>();
  readonly times: number[] = [];
  private started = new Set<string>();
  private release!: () => void;
  /** Resolves once every named sender has started a send: proof that they ran side by side. */
  readonly allStarted: Promise<void>;

  constructor(private readonly names: readonly string[]) {
    this.allStarted = new Promise((resolve) => (this.release = resolve));
  }

  record(name: string, ref: string): void {
    const list = this.byRef.get(ref) ?? [];
    list.push(name);
    this.byRef.set(ref, list);
    this.times.push(performance.now());
    this.started.add(name);
    if (this.names.every((n) => this.started.has(n))) this.release();
  }

  count(name: string): number {
    let n = 0;
    for (const list of this.byRef.values()) n += list.filter((x) => x === name).length;
    return n;
  }
}

/** An EmailSender that takes a few ms per message and, for its first one, waits (with a deadline) until the other dispatchers send too. */
function countingSender(name: string, log: SendLog, options: { delayMs?: () => number; barrierMs?: number } = {}): EmailSender & { messages: EmailMessage[] } {
  let first = true;
  const messages: EmailMessage[] = [];
  return {
    kind: 'file',
    messages,
    async send(message, ref) {
      log.record(name, ref);
      messages.push(message);
      if (first) {
        first = false;
        await Promise.race([log.allStarted, sleep(options.barrierMs ?? 15_000)]);
      }
      const delay = options.delayMs?.() ?? 0;
      if (delay > 0) await sleep(delay);
      return { providerId: `${name}:${ref}` };
    },
    async close() {},
  };
}

const noSms: SmsSender = {
  kind: 'file',
  async send() {
    throw new Error('no SMS expected in this test');
  },
  async findSent() {
    return null;
  },
  async close() {},
};

function deliverySettings(overrides: Record<string, unknown>): Settings['delivery'] {
  return testSettings({ delivery: overrides }).delivery;
}

function dispatcher(db: DB, email: EmailSender, settings: Settings['delivery'], clock: Clock = systemClock): Dispatcher {
  return new Dispatcher({
    db,
    logger: silentLogger,
    clock,
    settings,
    email,
    sms: noSms,
    links: linkBuilder('http://localhost:3000', 'test-secret-0123456789abcdef'),
    listId: 'alerts.localhost',
  });
}

/** One event and `n` confirmed email subscribers for it, fanned out: `n` due deliveries. */
async function seed(db: DB, n: number, now: Date): Promise<number[]> {
  const event = await insertEvent(db, {
    kind: 'level-raised',
    level: 4,
    previousLevel: 3,
    levelText: 'Do Not Travel',
    title: 'Russia - Level 4: Do Not Travel',
    body: 'Do not travel to Russia.',
    link: 'https://travel.state.gov/ru',
    at: now,
  });
  await seedSubscribers(db, n, now);
  expect(await fanOut(db, [event], now)).toBe(n);
  const rows = await db.selectFrom('deliveries').select('id').orderBy('id').execute();
  return rows.map((r) => r.id);
}

const statuses = deliveryStatuses;

/** The kernel's timer on the established TCP connection from local `port` (Linux: /proc/net/tcp and tcp6). */
function tcpTimer(port: number): string | undefined {
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const [, local, , state, , timer] = line.trim().split(/\s+/);
      if (state === '01' && local && Number.parseInt(local.split(':').at(-1)!, 16) === port) {
        return ({ '00': 'none', '01': 'retransmit', '02': 'keepalive' } as Record<string, string>)[timer!.split(':')[0]!] ?? timer;
      }
    }
  }
  return undefined;
}

function expectEachSentOnce(log: SendLog, ids: readonly number[]): void {
  const counts = new Map<number, number>();
  for (const [ref, list] of log.byRef) counts.set(Number(ref.slice(1)), list.length);
  const missing = ids.filter((id) => !counts.has(id));
  const twice = [...counts].filter(([, n]) => n !== 1).map(([id]) => id);
  const unknown = [...counts.keys()].filter((id) => !ids.includes(id));
  expect({ missing: missing.length, twice: twice.slice(0, 10), unknown: unknown.slice(0, 10) }).toEqual({ missing: 0, twice: [], unknown: [] });
  expect(log.byRef.size).toBe(ids.length);
}

describe.skipIf(testDbKind() !== 'postgres')(
  'dispatch concurrency on a real PostgreSQL (skipped on PGlite: its single embedded backend cannot show row locks between concurrent sessions; set TEST_DATABASE_URL)',
  { timeout: 120_000 },
  () => {
    let t: TestDatabase;
    let second: DatabaseHandle;

    beforeAll(async () => {
      t = await openTestDatabase();
      second = await connectDatabase({ databaseUrl: t.env.DATABASE_URL, dataDir: '/nonexistent', role: 'command', logger: silentLogger });
    });
    afterAll(async () => {
      await second?.close();
      await t?.close();
    });
    beforeEach(async () => {
      await t.reset();
    });

    it('two dispatchers draining 2,000 deliveries concurrently send each exactly once', async () => {
      const ids = await seed(t.db, 2000, new Date());
      const log = new SendLog(['A', 'B']);
      const settings = deliverySettings({ batchSize: 50, concurrency: 8, email: { ratePerSecond: 0 } });
      const senderA = countingSender('A', log, { delayMs: () => 1 + Math.random() * 3 });
      const senderB = countingSender('B', log, { delayMs: () => 1 + Math.random() * 3 });
      const a = dispatcher(t.db, senderA, settings);
      const b = dispatcher(second.db, senderB, settings);
      expect(a.owner).not.toBe(b.owner);

      const started = performance.now();
      const [ra, rb] = await Promise.all([a.drain(), b.drain()]);
      const ms = performance.now() - started;
      console.info(`2 dispatchers, 2000 deliveries: ${Math.round(ms)} ms; A sent ${ra.sent}, B sent ${rb.sent}`);

      expectEachSentOnce(log, ids);
      expect(ra).toEqual({ sent: log.count('A'), failed: 0, retrying: 0, skipped: 0 });
      expect(rb).toEqual({ sent: log.count('B'), failed: 0, retrying: 0, skipped: 0 });
      expect(ra.sent).toBeGreaterThan(0);
      expect(rb.sent).toBeGreaterThan(0);
      expect(ra.sent + rb.sent).toBe(2000);

      expect(await statuses(t.db)).toEqual({ sent: 2000 });
      const rows = await t.db.selectFrom('deliveries').select(['id', 'attempts', 'lease_owner', 'provider_id', 'sent_at']).execute();
      for (const r of rows) {
        expect(r.attempts).toBe(1);
        expect(r.lease_owner).toBeNull();
        expect(r.sent_at).not.toBeNull();
        // The recorded provider id is the one from the dispatcher that actually sent it.
        expect(r.provider_id).toBe(`${log.byRef.get(`d${r.id}`)![0]}:d${r.id}`);
      }
      const attempts = await sql<{ n: number; deliveries: number; sent: number }>`
        select count(*)::int as n, count(distinct delivery_id)::int as deliveries, count(*) filter (where outcome = 'sent')::int as sent
        from delivery_attempts`.execute(t.db);
      expect(attempts.rows[0]).toEqual({ n: 2000, deliveries: 2000, sent: 2000 });
      // Each message went to its own subscriber.
      const recipients = new Set([...senderA.messages, ...senderB.messages].map((m) => m.to));
      expect(recipients.size).toBe(2000);

      // Nothing is left to do for either.
      expect(await a.drain()).toEqual({ sent: 0, failed: 0, retrying: 0, skipped: 0 });
    });

    it('a dispatcher that dies between claim and send: its claims come back after the lease, and go out once', async () => {
      const clock = new ManualClock(new Date('2026-03-01T12:00:00Z'));
      const ids = await seed(t.db, 50, clock.now());
      const claimed = await claimDue(t.db, { owner: 'dead', limit: 1000, leaseMs: 200, now: clock.now() });
      expect(claimed.map((c) => c.id).sort((x, y) => x - y)).toEqual(ids);
      expect(await statuses(t.db)).toEqual({ sending: 50 });
      // ... and the 'dead' owner never sends nor completes.

      const log = new SendLog(['live']);
      const live = dispatcher(second.db, countingSender('live', log), deliverySettings({ batchSize: 20, concurrency: 4, email: { ratePerSecond: 0 } }), clock);

      // Before the lease expires the claims are not touched.
      expect(await live.drain()).toEqual({ sent: 0, failed: 0, retrying: 0, skipped: 0 });
      clock.advance(200); // exactly at lease_until: not yet expired
      expect(await live.drain()).toEqual({ sent: 0, failed: 0, retrying: 0, skipped: 0 });
      expect(log.byRef.size).toBe(0);
      const leased = await t.db.selectFrom('deliveries').select(['status', 'lease_owner', 'attempts']).distinct().execute();
      expect(leased).toEqual([{ status: 'sending', lease_owner: 'dead', attempts: 1 }]);

      clock.advance(1);
      expect(await live.drain()).toEqual({ sent: 50, failed: 0, retrying: 0, skipped: 0 });
      expectEachSentOnce(log, ids);
      const after = await t.db.selectFrom('deliveries').select(['status', 'lease_owner', 'attempts']).distinct().execute();
      expect(after).toEqual([{ status: 'sent', lease_owner: null, attempts: 2 }]);

      // The dead one coming back to life to record its (never made) sends changes nothing.
      const late: Completion[] = ids.map((id) => ({ id, outcome: 'failed', error: 'late', durationMs: 1 }));
      expect(await complete(t.db, 'dead', late, clock.now())).toBe(0);
      expect(await statuses(t.db)).toEqual({ sent: 50 });
      expect(await live.drain()).toEqual({ sent: 0, failed: 0, retrying: 0, skipped: 0 });
      expect(log.byRef.size).toBe(50);
    });

    it('a completion by a stale lease owner is ignored; the new owner’s completion wins', async () => {
      const clock = new ManualClock(new Date('2026-03-01T12:00:00Z'));
      const ids = await seed(t.db, 10, clock.now());
      const byA = await claimDue(t.db, { owner: 'A', limit: 100, leaseMs: 200, now: clock.now() });
      expect(byA).toHaveLength(10);

      clock.advance(300);
      const byB = await claimDue(second.db, { owner: 'B', limit: 100, leaseMs: 60_000, now: clock.now() });
      expect(byB.map((c) => c.id).sort((x, y) => x - y)).toEqual(ids);
      expect(byB.every((c) => c.attempts === 2)).toBe(true);
      // While B holds a live lease, A cannot take them back.
      expect(await claimDue(t.db, { owner: 'A', limit: 100, leaseMs: 200, now: clock.now() })).toEqual([]);

      const sentBy = (owner: string): Completion[] => ids.map((id) => ({ id, outcome: 'sent', providerId: `${owner}-${id}`, durationMs: 5 }));
      expect(await complete(t.db, 'A', sentBy('A'), clock.now())).toBe(0);
      const retryByA: Completion[] = ids.map((id) => ({ id, outcome: 'retry', error: 'SMTP 451', nextAttemptAt: clock.now(), durationMs: 5 }));
      expect(await complete(t.db, 'A', retryByA, clock.now())).toBe(0);
      const mid = await t.db.selectFrom('deliveries').select(['status', 'lease_owner', 'provider_id', 'last_error']).distinct().execute();
      expect(mid).toEqual([{ status: 'sending', lease_owner: 'B', provider_id: null, last_error: null }]);
      expect(await t.db.selectFrom('delivery_attempts').selectAll().execute()).toEqual([]);
      // A stale owner's recipient refusal is ignored as a whole: the channel is not stopped either.
      const owners = await t.db.selectFrom('deliveries').select(['id', 'subscriber_id']).where('id', 'in', ids).execute();
      const refusedByA: Completion[] = owners.map((d) => ({
        id: d.id,
        outcome: 'failed',
        error: 'SMTP 550: no such user',
        durationMs: 5,
        stopChannel: { subscriberId: d.subscriber_id!, channel: 'email', reason: 'SMTP 550: no such user' },
      }));
      expect(await complete(t.db, 'A', refusedByA, clock.now())).toBe(0);
      const stopped = await t.db.selectFrom('subscribers').select('id').where('email_stopped_at', 'is not', null).execute();
      expect(stopped).toEqual([]);

      expect(await complete(second.db, 'B', sentBy('B'), clock.now())).toBe(10);
      const rows = await t.db.selectFrom('deliveries').select(['id', 'status', 'lease_owner', 'provider_id']).orderBy('id').execute();
      expect(rows).toEqual(ids.map((id) => ({ id, status: 'sent', lease_owner: null, provider_id: `B-${id}` })));
      const attempts = await t.db.selectFrom('delivery_attempts').select(['delivery_id', 'outcome']).orderBy('delivery_id').execute();
      expect(attempts).toEqual(ids.map((id) => ({ delivery_id: id, outcome: 'sent' })));
      // A second completion by B (a replay) is ignored too: the lease is gone.
      expect(await complete(second.db, 'B', sentBy('B'), clock.now())).toBe(0);
    });

    it('two dispatchers share one rate budget through the rate_limits table', async () => {
      const ids = await seed(t.db, 60, new Date());
      const log = new SendLog(['A', 'B']);
      const settings = deliverySettings({ batchSize: 10, concurrency: 5, email: { ratePerSecond: 20 } });
      const a = dispatcher(t.db, countingSender('A', log), settings);
      const b = dispatcher(second.db, countingSender('B', log), settings);

      const started = performance.now();
      const [ra, rb] = await Promise.all([a.drain(), b.drain()]);
      const ms = performance.now() - started;
      const spread = Math.max(...log.times) - Math.min(...log.times);
      console.info(
        `shared rate limit 20/s, 60 emails by 2 dispatchers: ${Math.round(ms)} ms wall, ${Math.round(spread)} ms first→last send; A ${ra.sent}, B ${rb.sent}`,
      );

      expectEachSentOnce(log, ids);
      expect(ra.sent).toBeGreaterThan(0);
      expect(rb.sent).toBeGreaterThan(0);
      expect(ra.sent + rb.sent).toBe(60);
      // 60 messages at 20/s with the limiter's one-second burst allowance
      // (20 sends) need at least (60 - 20) / 20 = 2 s; two dispatchers with
      // budgets of their own would each send their ~30 in about 1.5 s.
      // (A loaded machine only makes sends later, never earlier.)
      expect(ms).toBeGreaterThanOrEqual(1900);
      const row = await t.db.selectFrom('rate_limits').selectAll().execute();
      expect(row.map((r) => r.channel)).toEqual(['email']);
    });

    it('a running dispatcher sends as soon as a fan-out commits (its NOTIFY), not at its next idle poll, and again after its listening connection is cut', async () => {
      const log = new SendLog(['A']);
      // An idle poll far longer than the test: only the notification can wake it.
      const settings = deliverySettings({ batchSize: 50, concurrency: 4, idlePollMs: 600_000, email: { ratePerSecond: 0 } });
      const a = new Dispatcher({
        db: t.db,
        logger: silentLogger,
        clock: systemClock,
        settings,
        email: countingSender('A', log),
        sms: noSms,
        links: linkBuilder('http://localhost:3000', 'test-secret-0123456789abcdef'),
        listId: 'alerts.localhost',
        listen: (onDue) => second.listen!(DUE_CHANNEL, onDue),
      });
      const listeners = async () =>
        Number(
          (
            await sql<{
              n: number;
            }>`select count(*)::int as n from pg_stat_activity where datname = current_database() and query = ${`LISTEN "${DUE_CHANNEL}"`}`.execute(t.db)
          ).rows[0]!.n,
        );
      a.start();
      try {
        await waitFor('the dispatcher to listen', async () => (await listeners()) === 1, { timeoutMs: 10_000 });
        // Let its first, empty, look at the outbox end: it is asleep from here on.
        await sleep(300);
        // The idle listening connection has TCP keep-alive on (a NAT or proxy drops idle connections silently).
        const { rows } = await sql<{
          port: number;
        }>`select client_port as port from pg_stat_activity where datname = current_database() and query = ${`LISTEN "${DUE_CHANNEL}"`}`.execute(t.db);
        expect(tcpTimer(rows[0]!.port)).toBe('keepalive');

        const now = new Date();
        const event = await insertEvent(t.db, {
          kind: 'level-raised',
          level: 4,
          previousLevel: 3,
          title: 'Russia - Level 4: Do Not Travel',
          body: 'Do not travel.',
          at: now,
        });
        await seedSubscribers(t.db, 5, now);
        await t.db.transaction().execute(async (tx) => {
          expect(await fanOut(tx, [event], now)).toBe(5);
          // Not before the commit: the rows are not visible to the dispatcher yet, and the notification waits for it.
          await sleep(300);
          expect(log.byRef.size).toBe(0);
        });
        const woke = performance.now();
        await waitFor('the five emails', () => log.byRef.size === 5, { timeoutMs: 10_000 });
        console.info(`fan-out commit → 5 emails sent: ${Math.round(performance.now() - woke)} ms (idle poll 600 s)`);

        // The listening connection dies (a PostgreSQL restart, a proxy's idle cut): it is re-opened, and a fan-out after that wakes the dispatcher again.
        await sql`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query = ${`LISTEN "${DUE_CHANNEL}"`}`.execute(
          t.db,
        );
        await waitFor('the dispatcher to listen again', async () => (await listeners()) === 1, { timeoutMs: 20_000 });
        await sleep(300);
        const again = await insertEvent(t.db, {
          kind: 'level-raised',
          level: 4,
          previousLevel: 3,
          title: 'Russia - Level 4: Do Not Travel (update)',
          body: 'Still do not travel.',
          at: new Date(),
        });
        expect(await fanOut(t.db, [again], new Date())).toBe(5);
        await waitFor('five more emails', () => log.byRef.size === 10, { timeoutMs: 10_000 });
      } finally {
        await a.stop();
      }
      // Stopping closes the listening connection.
      await waitFor('the listener to close', async () => (await listeners()) === 0, { timeoutMs: 10_000 });
    });

    it('a dispatcher whose first LISTEN fails polls instead, and leaves no listening connection behind once the database is back', async () => {
      // A TCP relay to the database that first cuts every connection (the server restarting), then relays.
      const real = new URL(t.env.DATABASE_URL!);
      let relaying = false;
      let connections = 0;
      const sockets = new Set<net.Socket>();
      const relay = net.createServer((socket) => {
        connections++;
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        if (!relaying) return void socket.destroy();
        const upstream = net.connect(Number(real.port || 5432), real.hostname);
        sockets.add(upstream);
        upstream.on('close', () => sockets.delete(upstream));
        socket.pipe(upstream).pipe(socket);
        socket.on('error', () => upstream.destroy());
        upstream.on('error', () => socket.destroy());
      });
      await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
      const viaRelay = new URL(real.href);
      viaRelay.hostname = '127.0.0.1';
      viaRelay.port = String((relay.address() as net.AddressInfo).port);
      const handle = await connectDatabase({ databaseUrl: viaRelay.href, dataDir: '/nonexistent', role: 'command', logger: silentLogger });
      const a = new Dispatcher({
        db: t.db,
        logger: silentLogger,
        clock: systemClock,
        settings: deliverySettings({ idlePollMs: 50 }),
        email: countingSender('A', new SendLog(['A'])),
        sms: noSms,
        links: linkBuilder('http://localhost:3000', 'test-secret-0123456789abcdef'),
        listId: 'alerts.localhost',
        listen: (onDue) => handle.listen!(DUE_CHANNEL, onDue),
      });
      try {
        a.start();
        await waitFor('the first LISTEN to be cut', () => connections === 1, { timeoutMs: 10_000 });
        relaying = true;
        // A re-open in the background would come after 0.5 s, then 1 s: give it time to show.
        await sleep(2_000);
        await a.stop();
        await sleep(300);
        expect(connections).toBe(1);
        const listening = await sql<{
          n: number;
        }>`select count(*)::int as n from pg_stat_activity where datname = current_database() and query = ${`LISTEN "${DUE_CHANNEL}"`}`.execute(t.db);
        expect(listening.rows[0]!.n).toBe(0);
      } finally {
        await a.stop();
        await handle.close();
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => relay.close(() => resolve()));
      }
    });
  },
);
