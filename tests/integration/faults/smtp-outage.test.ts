import { sql } from 'kysely';
import { loadConfig } from '../../../src/config/load.ts';
import { fanOut } from '../../../src/delivery/repository.ts';
import { createDispatcher } from '../../../src/runtime.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import { describe, expect, it } from 'vitest';
import { testDbKind } from '../../helpers/db.ts';
import { APP_SECRET, deliveryStatuses, faultEnvironment, makeConfig, recipients, seedEvent, seedSubscribers } from '../../helpers/faults.ts';
import { ManualClock } from '../../helpers/poll.ts';
import { TestSmtpServer } from '../../helpers/smtp.ts';

/**
 * Fault test: the SMTP server down and back.
 * One file per failure mode; their shared environment and seeding are in
 * tests/helpers/faults.ts. Figures worth keeping (duplicates, timings, memory) are
 * printed with console.info, so a run's output carries the evidence.
 */

describe.skipIf(testDbKind() !== 'postgres')('fault: the SMTP server down and back (PostgreSQL only; set TEST_DATABASE_URL)', { timeout: 300_000 }, () => {
  const fault = faultEnvironment();

  it('SMTP server down, then back on the same port: the backlog drains, nothing lost, nothing doubled', async () => {
    // Proves (contract, "Delivery") transient failures are retried: with the SMTP server gone, every send fails
    // with a connection error and the deliveries stay 'pending' (not failed) with that error;
    // once the server is back on the same port, draining sends each delivery exactly once.
    const N = 40;
    const down = await new TestSmtpServer().start();
    const port = down.port;
    await down.stop();
    const cfg = makeConfig(
      fault.work,
      'feeds: []\n',
      'delivery:\n  retryBaseSeconds: 1\n  retryMaxSeconds: 2\n  maxAttempts: 8\n  email:\n    ratePerSecond: 0\n',
    );
    const config = loadConfig({
      ...cfg,
      DATABASE_URL: fault.t.env.DATABASE_URL,
      APP_SECRET,
      SMTP_URL: `smtp://127.0.0.1:${port}`,
      PUBLIC_BASE_URL: 'https://alerts.example.org',
    });
    const clock = new ManualClock(new Date('2026-03-01T12:00:00Z'));
    const eventId = await seedEvent(fault.t.db, clock.now());
    await seedSubscribers(fault.t.db, N, clock.now(), 'outage');
    expect(await fanOut(fault.t.db, [eventId], clock.now())).toBe(N);
    const { dispatcher, close } = createDispatcher(config, fault.t.db, silentLogger, clock);
    try {
      // "Down for a minute": three rounds a minute apart, all failing.
      for (let round = 1; round <= 3; round++) {
        expect(await dispatcher.drain()).toEqual({ sent: 0, failed: 0, retrying: N, skipped: 0 });
        const rows = await fault.t.db.selectFrom('deliveries').select(['status', 'attempts', 'last_error']).execute();
        expect(rows).toHaveLength(N);
        for (const r of rows) {
          expect(r.status).toBe('pending');
          expect(r.attempts).toBe(round);
          expect(r.last_error).toMatch(/ECONNREFUSED|ECONNECTION|ESOCKET|connect/i);
        }
        clock.advance(30_000);
      }
      const lastError = (await fault.t.db.selectFrom('deliveries').select('last_error').executeTakeFirstOrThrow()).last_error;

      const back = new TestSmtpServer();
      back.port = port;
      await back.start();
      try {
        let rounds = 0;
        let sent = 0;
        while ((await deliveryStatuses(fault.t.db)).sent !== N) {
          if (++rounds > 20) throw new Error(`not drained after 20 rounds: ${JSON.stringify(await deliveryStatuses(fault.t.db))}`);
          clock.advance(30_000);
          const s = await dispatcher.drain();
          expect(s.failed).toBe(0);
          sent += s.sent;
        }
        await back.settled();
        const r = recipients(back);
        console.info(
          `[fault.smtp outage] ${N} deliveries: 3 failed rounds ("${lastError}"), then ${rounds} round(s) after the server came back; ${r.total} messages, ${r.distinct} distinct`,
        );
        expect(sent).toBe(N);
        expect(back.port).toBe(port);
        expect(r.total).toBe(N);
        expect(r.distinct).toBe(N);
        expect(await deliveryStatuses(fault.t.db)).toEqual({ sent: N });
        const attempts = await sql<{ outcome: string; n: number }>`select outcome, count(*)::int as n from delivery_attempts group by 1 order by 1`.execute(
          fault.t.db,
        );
        expect(attempts.rows).toEqual([
          { outcome: 'retry', n: 3 * N },
          { outcome: 'sent', n: N },
        ]);
        expect(await dispatcher.drain()).toEqual({ sent: 0, failed: 0, retrying: 0, skipped: 0 });
      } finally {
        await back.stop();
      }
    } finally {
      await close();
    }
  });
});
