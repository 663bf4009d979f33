import { runHousekeeping } from '../../../src/housekeeping/run.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import { settingsSchema } from '../../../src/config/schema.ts';
import { describe, expect, it } from 'vitest';
import { testDbKind } from '../../helpers/db.ts';
import { deliveryStatuses, faultEnvironment, seedSubscribers } from '../../helpers/faults.ts';
import { ManualClock } from '../../helpers/poll.ts';

/**
 * Fault test: retention (housekeeping).
 * One file per failure mode; their shared environment and seeding are in
 * tests/helpers/faults.ts. Figures worth keeping (duplicates, timings, memory) are
 * printed with console.info, so a run's output carries the evidence.
 */

describe.skipIf(testDbKind() !== 'postgres')('fault: retention (housekeeping) (PostgreSQL only; set TEST_DATABASE_URL)', { timeout: 300_000 }, () => {
  const fault = faultEnvironment();

  it('housekeeping: retention deletes old sent deliveries, attempts and poll runs, and keeps pending/failed work and referenced versions', async () => {
    // Proves the retention rules (settings.retention, defaults 30/90/14/180 days): 40 days on,
    // sent deliveries (with their attempts) and poll runs past retention are gone while pending
    // and failed deliveries stay; 100 days on, a failed delivery's attempts go but not the
    // delivery; 200 days on, an orphan advisory version goes while the current version and the
    // versions events point to stay.
    const t0 = new Date('2026-01-01T00:00:00Z');
    const day = 24 * 3600 * 1000;
    const at = (d: number) => new Date(t0.getTime() + d * day);
    const db = fault.t.db;
    await db.insertInto('feeds').values({ id: 'hk', name: 'hk', url: 'https://example.org/feed', source: 'generic' }).execute();
    const adv = await db
      .insertInto('advisories')
      .values({ feed_id: 'hk', key: 'a', countries: ['RU'], title: 'A', body: 'b', fingerprint: 'f3', first_seen_at: t0, last_seen_at: t0, changed_at: t0 })
      .returning('id')
      .executeTakeFirstOrThrow();
    const version = async (fp: string) =>
      (
        await db
          .insertInto('advisory_versions')
          .values({ advisory_id: adv.id, fingerprint: fp, countries: ['RU'], title: fp, body: fp, created_at: t0 })
          .returning('id')
          .executeTakeFirstOrThrow()
      ).id;
    const orphan = await version('v0'); // superseded, no event points to it
    const previous = await version('v1'); // an event's previous version
    const current = await version('v2'); // the advisory's current version, and the event's new one
    await db.updateTable('advisories').set({ version_id: current }).where('id', '=', adv.id).execute();
    const event = await db
      .insertInto('events')
      .values({
        feed_id: 'hk',
        advisory_id: adv.id,
        kind: 'updated',
        countries: ['RU'],
        title: 'A',
        version_id: current,
        previous_version_id: previous,
        created_at: t0,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await seedSubscribers(db, 4, t0, 'hk');
    const subs = (await db.selectFrom('subscribers').select('id').orderBy('id').execute()).map((s) => s.id);
    const delivery = async (subscriber: number, status: 'sent' | 'pending' | 'failed', sentAt: Date | null) =>
      (
        await db
          .insertInto('deliveries')
          .values({
            subscriber_id: subscriber,
            event_id: event.id,
            channel: 'email',
            status,
            attempts: 1,
            next_attempt_at: t0,
            created_at: t0,
            sent_at: sentAt,
          })
          .returning('id')
          .executeTakeFirstOrThrow()
      ).id;
    const oldSent = await delivery(subs[0]!, 'sent', t0);
    const recentSent = await delivery(subs[1]!, 'sent', at(20));
    const pending = await delivery(subs[2]!, 'pending', null);
    const failed = await delivery(subs[3]!, 'failed', null);
    for (const [id, when, outcome] of [
      [oldSent, t0, 'sent'],
      [recentSent, at(20), 'sent'],
      [pending, t0, 'retry'],
      [failed, t0, 'failed'],
    ] as const) {
      await db.insertInto('delivery_attempts').values({ delivery_id: id, attempted_at: when, outcome }).execute();
    }
    for (const d of [0, 20, 39]) {
      await db
        .insertInto('poll_runs')
        .values({ feed_id: 'hk', started_at: at(d), finished_at: at(d), status: 'ok', http_status: 200 })
        .execute();
    }
    await db
      .insertInto('cron_claims')
      .values([
        { key: 'poll:hk:old', owner: 'x', claimed_at: t0 },
        { key: 'poll:hk:new', owner: 'x', claimed_at: at(39.5) },
      ])
      .execute();

    const { retention, verification, trips } = settingsSchema.parse({});
    const housekeep = (days: number) => runHousekeeping({ db, clock: new ManualClock(at(days)), logger: silentLogger, retention, verification, trips });
    const ids = async (table: 'deliveries' | 'delivery_attempts' | 'advisory_versions') =>
      (await db.selectFrom(table).select('id').orderBy('id').execute()).map((r) => r.id);
    const attemptsOf = async () => (await db.selectFrom('delivery_attempts').select('delivery_id').orderBy('delivery_id').execute()).map((r) => r.delivery_id);

    const r40 = await housekeep(40);
    expect(r40).toMatchObject({ sentDeliveries: 1, attempts: 0, pollRuns: 2, versions: 0, cronClaims: 1 });
    expect(await ids('deliveries')).toEqual([recentSent, pending, failed]);
    expect(await attemptsOf()).toEqual([recentSent, pending, failed]);
    expect((await db.selectFrom('poll_runs').select('started_at').execute()).map((r) => r.started_at)).toEqual([at(39)]);
    expect((await db.selectFrom('cron_claims').select('key').execute()).map((r) => r.key)).toEqual(['poll:hk:new']);
    expect(await ids('advisory_versions')).toEqual([orphan, previous, current]);

    const r100 = await housekeep(100);
    expect(r100).toMatchObject({ sentDeliveries: 1, attempts: 2 });
    expect(await ids('deliveries')).toEqual([pending, failed]);
    expect(await attemptsOf()).toEqual([]);
    expect(await deliveryStatuses(db)).toEqual({ pending: 1, failed: 1 });

    const r200 = await housekeep(200);
    expect(r200).toMatchObject({ versions: 1 });
    expect(await ids('advisory_versions')).toEqual([previous, current]);
    expect(await ids('deliveries')).toEqual([pending, failed]);
    // Running again changes nothing: every count is 0, whatever tables housekeeping grows to cover.
    const again = await housekeep(200);
    expect(Object.keys(again)).toEqual(
      expect.arrayContaining(['sentDeliveries', 'attempts', 'pollRuns', 'versions', 'cronClaims', 'tokens', 'verificationSends', 'trips']),
    );
    expect(Object.entries(again).filter(([, n]) => n !== 0)).toEqual([]);
  });
});
