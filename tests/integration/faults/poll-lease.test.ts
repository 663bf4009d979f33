import { syncFeeds } from '../../../src/feeds/repository.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import { settingsSchema } from '../../../src/config/schema.ts';
import { connectDatabase } from '../../../src/db/connect.ts';
import { pollFeed, type PollDeps } from '../../../src/feeds/poller.ts';
import { describe, expect, it } from 'vitest';
import { testDbKind } from '../../helpers/db.ts';
import { EMBASSY_V1, faultEnvironment } from '../../helpers/faults.ts';
import { ManualClock, feedConfig } from '../../helpers/poll.ts';

/**
 * Fault test: two polls of one feed at once.
 * One file per failure mode; their shared environment and seeding are in
 * tests/helpers/faults.ts. Figures worth keeping (duplicates, timings, memory) are
 * printed with console.info, so a run's output carries the evidence.
 */

describe.skipIf(testDbKind() !== 'postgres')('fault: two polls of one feed at once (PostgreSQL only; set TEST_DATABASE_URL)', { timeout: 300_000 }, () => {
  const fault = faultEnvironment();

  it('per-feed lease: of two concurrent forced polls of one feed, one polls and the other is skipped', async () => {
    // Proves the per-feed poll lease: a manual `poll` next to a scheduled one (any process) never
    // interleave — the second, even forced, returns 'skipped' with the reason, and the feed
    // server sees a single request. Two connection pools stand for two processes.
    const url = fault.feeds.set('/leased', { body: EMBASSY_V1, delayMs: 1000 });
    const feed = feedConfig({ id: 'leased', url, source: 'us-embassy', countries: ['RU'] });
    await syncFeeds(fault.t.db, [feed]);
    const other = await connectDatabase({ databaseUrl: fault.t.env.DATABASE_URL, dataDir: '/nonexistent', role: 'command', logger: silentLogger });
    try {
      const settings = settingsSchema.parse({});
      const a: PollDeps = { db: fault.t.db, logger: silentLogger, clock: new ManualClock(), settings };
      const b: PollDeps = { db: other.db, logger: silentLogger, clock: new ManualClock(), settings };
      const outs = await Promise.all([pollFeed(a, feed, { force: true }), pollFeed(b, feed, { force: true })]);
      const polled = outs.filter((o) => o.status === 'ok');
      const skipped = outs.filter((o) => o.status === 'skipped');
      expect(polled).toHaveLength(1);
      expect(polled[0]).toMatchObject({ new: 2, baseline: true });
      expect(skipped).toHaveLength(1);
      expect(skipped[0]!.error).toBe('another poll of this feed is in progress');
      expect(fault.feeds.count('/leased')).toBe(1);
      expect(await fault.t.db.selectFrom('poll_runs').select('status').where('feed_id', '=', 'leased').execute()).toEqual([{ status: 'ok' }]);
      // The lease is given back: the next poll goes ahead.
      const row = await fault.t.db.selectFrom('feeds').select(['poll_lease_owner', 'poll_lease_until']).where('id', '=', 'leased').executeTakeFirstOrThrow();
      expect(row).toEqual({ poll_lease_owner: null, poll_lease_until: null });
      fault.feeds.set('/leased', { body: EMBASSY_V1 });
      expect(await pollFeed(b, feed, { force: true })).toMatchObject({ status: 'not-modified' });
    } finally {
      await other.close();
    }
  });
});
