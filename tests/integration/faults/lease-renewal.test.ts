import { Dispatcher } from '../../../src/delivery/dispatcher.ts';
import { linkBuilder } from '../../../src/channels/links.ts';
import { fanOut } from '../../../src/delivery/repository.ts';
import { systemClock } from '../../../src/common/clock.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import { settingsSchema } from '../../../src/config/schema.ts';
import type { EmailSender, SmsSender } from '../../../src/channels/senders.ts';
import { describe, expect, it } from 'vitest';
import { testDbKind } from '../../helpers/db.ts';
import { APP_SECRET, faultEnvironment, seedEvent, seedSubscribers } from '../../helpers/faults.ts';

/**
 * Fault test: a delivery batch that outlives its lease.
 * One file per failure mode; their shared environment and seeding are in
 * tests/helpers/faults.ts. Figures worth keeping (duplicates, timings, memory) are
 * printed with console.info, so a run's output carries the evidence.
 */

describe.skipIf(testDbKind() !== 'postgres')(
  'fault: a delivery batch that outlives its lease (PostgreSQL only; set TEST_DATABASE_URL)',
  { timeout: 300_000 },
  () => {
    const fault = faultEnvironment();

    it('a batch that takes longer than its lease keeps it: no other dispatcher sends it again', async () => {
      // Proves the dispatcher renews the leases of the batch it is sending, so that only a dead
      // process's claims ever expire: with leaseSeconds 1 and a server taking 400 ms a message,
      // one batch of 6 is sent for ~2.4 s while a second dispatcher keeps claiming — it gets
      // nothing, and each delivery is sent exactly once.
      const now = new Date();
      const eventId = await seedEvent(fault.t.db, now);
      await seedSubscribers(fault.t.db, 6, now, 'slow');
      expect(await fanOut(fault.t.db, [eventId], now)).toBe(6);
      const sends: string[] = [];
      const sender = (name: string): EmailSender => ({
        kind: 'file',
        async send(_message, ref) {
          sends.push(`${name}:${ref}`);
          await new Promise((r) => setTimeout(r, 400));
          return { providerId: `${name}:${ref}` };
        },
        async close() {},
      });
      const noSms: SmsSender = { kind: 'file', send: () => Promise.reject(new Error('no SMS here')), findSent: async () => null, close: async () => {} };
      const settings = settingsSchema.parse({ delivery: { leaseSeconds: 1, batchSize: 6, concurrency: 1, email: { ratePerSecond: 0 } } }).delivery;
      const dispatcher = (name: string) =>
        new Dispatcher({
          db: fault.t.db,
          logger: silentLogger,
          clock: systemClock,
          settings,
          email: sender(name),
          sms: noSms,
          links: linkBuilder('https://alerts.example.org', APP_SECRET),
          listId: 'alerts.example.org',
        });
      const [a, b] = [dispatcher('A'), dispatcher('B')];
      const started = Date.now();
      const first = a.drain();
      let done = false;
      void first.finally(() => (done = true));
      let rounds = 0;
      while (!done) {
        const r = await b.drain();
        expect(r).toEqual({ sent: 0, failed: 0, retrying: 0, skipped: 0 });
        rounds++;
        await new Promise((res) => setTimeout(res, 100));
      }
      expect(await first).toEqual({ sent: 6, failed: 0, retrying: 0, skipped: 0 });
      const ms = Date.now() - started;
      console.info(`[lease renewal] one batch of 6 took ${ms} ms with a 1 s lease; the other dispatcher tried ${rounds} times and claimed nothing`);
      expect(ms).toBeGreaterThan(2000);
      expect(sends).toHaveLength(6);
      expect(sends.every((x) => x.startsWith('A:'))).toBe(true);
      expect(new Set(sends).size).toBe(6);
      const rows = await fault.t.db.selectFrom('deliveries').select(['status', 'attempts', 'lease_owner']).distinct().execute();
      expect(rows).toEqual([{ status: 'sent', attempts: 1, lease_owner: null }]);
    });
  },
);
