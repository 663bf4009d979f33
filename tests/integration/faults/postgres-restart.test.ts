import { fanOut } from '../../../src/delivery/repository.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import { connectDatabase, type DatabaseHandle } from '../../../src/db/connect.ts';
import { describe, expect, it } from 'vitest';
import { killChildren, ServiceProcess } from '../../helpers/cli.ts';
import { testDbKind } from '../../helpers/db.ts';
import {
  APP_SECRET,
  EMBASSY_V1,
  EMBASSY_V2,
  MARCH_7_TITLE,
  deliveryStatuses,
  faultEnvironment,
  freePort,
  makeConfig,
  recipients,
  seedEvent,
  seedSubscribers,
} from '../../helpers/faults.ts';
import { PRIVATE_PG_UNAVAILABLE, PrivateCluster } from '../../helpers/private-postgres.ts';
import { waitFor } from '../../helpers/wait.ts';

/**
 * Fault test: PostgreSQL restarted under a running service.
 * One file per failure mode; their shared environment and seeding are in
 * tests/helpers/faults.ts. Figures worth keeping (duplicates, timings, memory) are
 * printed with console.info, so a run's output carries the evidence.
 */

describe.skipIf(testDbKind() !== 'postgres')(
  'fault: PostgreSQL restarted under a running service (PostgreSQL only; set TEST_DATABASE_URL)',
  { timeout: 300_000 },
  () => {
    const fault = faultEnvironment();

    it.skipIf(PRIVATE_PG_UNAVAILABLE !== undefined)(
      `PostgreSQL restarted under a running \`start --roles poll,deliver,web\`: it reconnects and loses no work${PRIVATE_PG_UNAVAILABLE ? ` (skipped: ${PRIVATE_PG_UNAVAILABLE})` : ''}`,
      async () => {
        // Proves "PostgreSQL restarted mid-run: the service reconnects and loses no work" on a
        // private cluster (the machine's server is shared with other tests): the database goes
        // down while the service is polling every second and sending a backlog; the process stays
        // up, /readyz says 503 during the outage and 200 after it, every subscriber still gets the
        // alert that was being sent, and a feed change published after the restart is recorded
        // and delivered.
        const K = 300;
        const cluster = await PrivateCluster.create();
        let db: DatabaseHandle | undefined;
        try {
          const url = await cluster.createDatabase('aa_restart');
          const port = await freePort();
          fault.feeds.set('/restart', { body: EMBASSY_V1 });
          const cfg = makeConfig(
            fault.work,
            `feeds:\n  - id: embassy\n    name: U.S. Embassy Moscow\n    url: ${fault.feeds.url('/restart')}\n    source: us-embassy\n    countries: [RU]\n    schedule: "*/1 * * * * *"\n`,
            'http:\n  timeoutSeconds: 5\ndelivery:\n  leaseSeconds: 3\n  batchSize: 50\n  idlePollMs: 200\n  retryBaseSeconds: 1\n  retryMaxSeconds: 2\n  email:\n    ratePerSecond: 0\nbackoff:\n  baseSeconds: 1\n  maxSeconds: 2\n',
          );
          const service = ServiceProcess.named('service', ['start', '--roles', 'poll,deliver,web'], {
            ...cfg,
            DATABASE_URL: url,
            APP_SECRET,
            SMTP_URL: fault.smtp.url,
            PORT: String(port),
            PUBLIC_BASE_URL: 'https://alerts.example.org',
          });
          const base = `http://127.0.0.1:${port}`;
          const readyz = async () => {
            try {
              return (await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(15_000) })).status;
            } catch {
              return 0;
            }
          };
          await service.waitForLog('the web server', (l) => l.msg === 'web listening');
          await service.waitForLog('the baseline poll', (l) => l.msg === 'polled' && l.feed === 'embassy' && l.baseline === true);
          db = await connectDatabase({ databaseUrl: url, dataDir: '/nonexistent', role: 'command', logger: silentLogger });

          // A backlog being sent when the database goes away: K subscribers, one alert, a slow SMTP server.
          const now = new Date();
          await db.db.transaction().execute(async (tx) => {
            const eventId = await seedEvent(tx, now, 'Demonstration Alert – before the restart');
            await seedSubscribers(tx, K, now);
            expect(await fanOut(tx, [eventId], now)).toBe(K);
          });
          fault.smtpDelayMs = 40;
          await waitFor('the backlog to start going out', () => fault.smtp.messages.length >= 10, { dead: service.dead });
          // Slower still while the database is down: sends are certainly in flight across the outage.
          fault.smtpDelayMs = 200;
          const pollsBefore = fault.feeds.count('/restart');
          const stopped = Date.now();
          await cluster.stop('fast');
          const sentBeforeOutage = fault.smtp.messages.length;
          const during = await waitFor('/readyz to report the outage', async () => ((await readyz()) === 503 ? 503 : undefined), {
            dead: service.dead,
            everyMs: 200,
          });
          expect(during).toBe(503);
          // Down for at least 2 s, over at least one scheduled poll.
          await waitFor('2 s of outage and a poll slot', () => Date.now() - stopped >= 2000 && fault.feeds.count('/restart') >= pollsBefore, {
            dead: service.dead,
          });
          await cluster.start();
          const restarted = Date.now();
          fault.smtpDelayMs = 2;
          expect(sentBeforeOutage).toBeLessThan(K);

          await waitFor('/readyz 200 after the restart', async () => (await readyz()) === 200, { dead: service.dead, everyMs: 200 });
          const readyAfterMs = Date.now() - restarted;
          // The backlog: every subscriber gets the alert (a batch in flight at the outage may be doubled).
          await waitFor(`the ${K} backlog deliveries to be sent`, async () => (await deliveryStatuses(db!.db)).sent === K, {
            dead: service.dead,
            everyMs: 250,
          });
          const backlogAfterMs = Date.now() - restarted;

          // A change published after the restart: recorded, fanned out, delivered.
          fault.feeds.set('/restart', { body: EMBASSY_V2 });
          const event = await waitFor(
            'the March 7 alert to be recorded',
            async () => db!.db.selectFrom('events').select(['id', 'title', 'kind']).where('feed_id', '=', 'embassy').executeTakeFirst(),
            { dead: service.dead, everyMs: 250 },
          );
          expect(event).toMatchObject({ title: MARCH_7_TITLE, kind: 'new' });
          await waitFor(`the March 7 alert to reach all ${K} subscribers`, async () => (await deliveryStatuses(db!.db)).sent === 2 * K, {
            dead: service.dead,
            everyMs: 250,
          });
          await fault.smtp.settled();
          const newAfterMs = Date.now() - restarted;

          const subjects = new Map<string, Set<string>>();
          for (const m of fault.smtp.messages) for (const to of m.envelope.to) subjects.set(to, (subjects.get(to) ?? new Set()).add(m.subject));
          const r = recipients(fault.smtp);
          const lost = await db.db
            .selectFrom('deliveries')
            .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
            .where('status', '!=', 'sent')
            .groupBy('status')
            .execute();
          console.info(
            `[pg restart] ${sentBeforeOutage}/${K} sent before the outage; readyz 200 ${readyAfterMs} ms after the restart; backlog done after ${backlogAfterMs} ms; ` +
              `new alert delivered after ${newAfterMs} ms; ${r.total} messages for ${2 * K} deliveries (${r.total - 2 * K} duplicates); ` +
              `log: ${service.logs.filter((l) => l.msg === 'database connection lost').length}× "database connection lost", ` +
              `${service.logs.filter((l) => l.msg === 'dispatch batch failed; retrying shortly').length}× "dispatch batch failed", ` +
              `${service.logs.filter((l) => l.msg === 'scheduled poll crashed').length}× "scheduled poll crashed"`,
          );
          expect(lost).toEqual([]);
          expect(subjects.size).toBe(K);
          for (const [to, s] of subjects) expect(s.size, to).toBe(2);
          expect(r.total - 2 * K).toBeLessThanOrEqual(50);
          expect(service.exit, service.stderr).toBeUndefined();
          expect(await service.stop()).toEqual({ code: 0, signal: null });
        } finally {
          await killChildren();
          await db?.close().catch(() => {});
          await cluster.destroy();
        }
      },
    );
  },
);
