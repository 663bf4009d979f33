import { sql } from 'kysely';
import { fanOut } from '../../../src/delivery/repository.ts';
import { describe, expect, it } from 'vitest';
import { ServiceProcess } from '../../helpers/cli.ts';
import { testDbKind } from '../../helpers/db.ts';
import {
  APP_SECRET,
  deliveryStatuses,
  faultEnvironment,
  makeConfig,
  recipients,
  seedEvent,
  seedSubscribers,
  withApplicationName,
} from '../../helpers/faults.ts';
import { waitFor } from '../../helpers/wait.ts';

/**
 * Fault test: a `start --roles deliver` process killed with SIGKILL mid-send.
 * One file per failure mode; their shared environment and seeding are in
 * tests/helpers/faults.ts. Figures worth keeping (duplicates, timings, memory) are
 * printed with console.info, so a run's output carries the evidence.
 */

describe.skipIf(testDbKind() !== 'postgres')(
  'fault: a `start --roles deliver` process killed with SIGKILL mid-send (PostgreSQL only; set TEST_DATABASE_URL)',
  { timeout: 300_000 },
  () => {
    const fault = faultEnvironment();

    it('kill -9 of one of three `start --roles deliver` processes mid-send: all 3,000 subscribers get the alert, duplicates ≤ delivery.concurrency', async () => {
      // Proves (contract, "Delivery", "Scale") "nothing is lost when a process dies mid-send", "a killed process's
      // work is picked up by the others": the killed process's leased rows come back after the
      // 3 s lease and the survivors send them; each of 3,000 subscribers gets the alert, every
      // delivery ends 'sent', and the only duplicates are the killed process's sends whose
      // outcome was not recorded yet: a worker records each outcome (group commit) before its
      // next send, so there are at most delivery.concurrency of them, however large the batch.
      // Live batches that take longer than the 3 s lease keep it (the dispatcher renews it),
      // so nothing else is re-sent.
      const N = 3000;
      const BATCH = 100;
      const CONCURRENCY = 20;
      fault.smtpDelayMs = 5;
      const cfg = makeConfig(
        fault.work,
        'feeds: []\n',
        `delivery:\n  leaseSeconds: 3\n  batchSize: ${BATCH}\n  concurrency: ${CONCURRENCY}\n  idlePollMs: 250\n  email:\n    ratePerSecond: 0\n`,
      );
      const env = { ...cfg, APP_SECRET, SMTP_URL: fault.smtp.url, PUBLIC_BASE_URL: 'https://alerts.example.org' };
      const procs = [1, 2, 3].map((i) =>
        ServiceProcess.named(`deliver-${i}`, ['start', '--roles', 'deliver'], {
          ...env,
          DATABASE_URL: withApplicationName(fault.t.env.DATABASE_URL!, `aa-faults-deliver-${i}`),
        }),
      );
      const anyDead = () => procs.map((p) => p.dead()).find(Boolean);
      // All three are connected (their dispatchers look for work) before the work appears.
      await waitFor(
        'all three deliver processes to connect',
        async () => {
          const r = await sql<{
            n: number;
          }>`select count(distinct application_name)::int as n from pg_stat_activity where application_name like 'aa-faults-deliver-%'`.execute(fault.t.db);
          return r.rows[0]!.n === 3;
        },
        { timeoutMs: 150_000, everyMs: 250, dead: anyDead },
      );

      const now = new Date();
      await fault.t.db.transaction().execute(async (tx) => {
        const eventId = await seedEvent(tx, now);
        await seedSubscribers(tx, N, now);
        expect(await fanOut(tx, [eventId], now)).toBe(N);
      });
      const started = Date.now();

      // Mid-send: a fifth of the messages are out, and the victim is in the middle of a batch
      // (it holds at least 50 leased deliveries whose messages have not reached the server yet).
      const holder = await waitFor(
        'a process in the middle of a batch, after 600 messages',
        async () => {
          if (fault.smtp.messages.length < 600) return undefined;
          if (fault.smtp.messages.length > N - 300) throw new Error('the sends were nearly done before a process could be caught in the middle of a batch');
          const received = new Set(fault.smtp.messages.flatMap((m) => m.envelope.to));
          const rows = await sql<{ owner: string; email: string }>`
            select d.lease_owner as owner, s.email from deliveries d join subscribers s on s.id = d.subscriber_id where d.status = 'sending'`.execute(
            fault.t.db,
          );
          const unsent = new Map<string, number>();
          for (const row of rows.rows) {
            const pid = row.owner.split(':')[1]!;
            if (!received.has(row.email)) unsent.set(pid, (unsent.get(pid) ?? 0) + 1);
          }
          const [pid, n] = [...unsent].sort((a, b) => b[1] - a[1])[0] ?? ['', 0];
          return n >= 50 ? procs.find((p) => String(p.pid) === pid) : undefined;
        },
        { timeoutMs: 150_000, everyMs: 20, dead: anyDead },
      );
      await holder.kill9();
      const atKill = fault.smtp.messages.length;
      const killedAfterMs = Date.now() - started;
      const survivors = procs.filter((p) => p !== holder);
      // What the dead process held (its leases run for 3 s more): the only work that may go out twice.
      const orphaned = new Set(
        (
          await sql<{ id: number }>`select id from deliveries where status = 'sending' and split_part(lease_owner, ':', 2) = ${String(holder.pid)}`.execute(
            fault.t.db,
          )
        ).rows.map((r) => Number(r.id)),
      );

      await waitFor(`all ${N} deliveries sent`, async () => (await deliveryStatuses(fault.t.db)).sent === N, {
        timeoutMs: 240_000,
        everyMs: 250,
        dead: () => survivors.map((p) => p.dead()).find(Boolean),
      });
      const doneMs = Date.now() - started;
      await fault.smtp.settled();
      const r = recipients(fault.smtp);
      const duplicates = r.total - r.distinct;
      const retried = await sql<{
        n: number;
        max: number;
      }>`select count(*)::int as n, coalesce(max(attempts), 0)::int as max from deliveries where attempts > 1`.execute(fault.t.db);
      const reclaimed = (await sql<{ id: number }>`select id from deliveries where attempts > 1`.execute(fault.t.db)).rows.map((x) => Number(x.id));
      const notOrphaned = reclaimed.filter((id) => !orphaned.has(id));
      console.info(
        `[kill -9] ${N} subscribers; killed ${holder.name} (holding ${orphaned.size} leased deliveries) ` +
          `after ${killedAfterMs} ms with ${atKill} messages out; all sent after ${doneMs} ms; ${r.total} messages, ${r.distinct} distinct recipients, ` +
          `${duplicates} duplicates; ${retried.rows[0]!.n} deliveries re-claimed after the lease (${orphaned.size} orphaned by the kill, ${notOrphaned.length} others)`,
      );

      expect(await deliveryStatuses(fault.t.db)).toEqual({ sent: N });
      expect(r.distinct).toBe(N);
      expect(duplicates).toBeLessThanOrEqual(CONCURRENCY);
      // The survivors took over the victim's claims, and only those (live batches keep their leases).
      expect(orphaned.size).toBeGreaterThan(0);
      // A process holds the batch it sends plus the next one, claimed ahead once the queue is
      // down to half a batch: at most 2 batches.
      expect(orphaned.size).toBeLessThanOrEqual(2 * BATCH);
      expect(notOrphaned).toEqual([]);
      expect(reclaimed.length).toBe(orphaned.size);
      for (const [to, n] of r.perAddress) if (n > 2) throw new Error(`${to} got ${n} copies`);
      // The survivors are still running, and stop cleanly.
      for (const p of survivors) expect(p.exit, p.stderr).toBeUndefined();
      const exits = await Promise.all(survivors.map((p) => p.stop()));
      expect(exits).toEqual(survivors.map(() => ({ code: 0, signal: null })));
    });
  },
);
