import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimCronSlot, syncFeeds } from '../../src/feeds/repository.ts';
import { databaseCoordinator, FeedScheduler } from '../../src/feeds/scheduler.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { fixture, startFeedServer, type FeedServer } from '../helpers/feed-server.ts';
import { feedConfig, ManualClock, pollDeps } from '../helpers/poll.ts';

/**
 * `start` polls every enabled feed once at start, so a broken feed shows at
 * once rather than at its first slot. Two processes starting together (two
 * schedulers on one database, each its own owner) share that poll the way they
 * share scheduled slots: each feed is fetched once between them.
 */

// Once a year: only the start-up poll can fetch during the test.
const YEARLY = '0 0 1 1 *';

let t: TestDatabase;
let server: FeedServer;
beforeAll(async () => {
  [t, server] = await Promise.all([openTestDatabase(), startFeedServer()]);
}, 120_000);
afterAll(async () => {
  await Promise.all([t?.close(), server?.stop()]);
});

describe('the start-up poll', { timeout: 60_000 }, () => {
  it('polls each enabled feed once across two processes starting together; a broken feed is reported at once', async () => {
    await t.reset();
    server.set('/ok', { body: fixture('us-embassy/us-embassy-russia-alerts_v1.xml') });
    server.set('/broken', { status: 503, body: 'down for maintenance', contentType: 'text/plain' });
    const feeds = [
      feedConfig({ id: 'ok', url: server.url('/ok'), source: 'us-embassy', countries: ['RU'], schedule: YEARLY }),
      feedConfig({ id: 'broken', url: server.url('/broken'), source: 'us-embassy', countries: ['UA'], schedule: YEARLY }),
      feedConfig({ id: 'off', url: server.url('/off'), source: 'us-embassy', countries: ['BY'], schedule: YEARLY, enabled: false }),
    ];
    await syncFeeds(t.db, feeds);
    const clock = new ManualClock(new Date('2026-05-01T10:00:30Z'));
    const schedulers = ['host-a:1', 'host-b:2'].map(
      (owner) =>
        new FeedScheduler(
          pollDeps(t.db, clock),
          YEARLY,
          databaseCoordinator((key) => claimCronSlot(t.db, key, owner, clock.now())),
        ),
    );
    try {
      for (const s of schedulers) s.apply(feeds);
      const [a, b] = await Promise.all(schedulers.map((s) => s.pollAllNow(feeds, clock.now())));
      const outcomes = [...a!, ...b!].sort((x, y) => x.feed.localeCompare(y.feed));
      expect(outcomes.map((o) => [o.feed, o.status])).toEqual([
        ['broken', 'error'],
        ['ok', 'ok'],
      ]);
      expect(outcomes[0]!.error).toMatch(/503/);
      expect(server.count('/ok')).toBe(1);
      expect(server.count('/broken')).toBe(1);
      expect(server.count('/off')).toBe(0);
      const rows = await t.db.selectFrom('feeds').select(['id', 'last_status']).orderBy('id').execute();
      expect(rows).toEqual([
        { id: 'broken', last_status: 'error' },
        { id: 'off', last_status: null },
        { id: 'ok', last_status: 'ok' },
      ]);

      // A process starting a minute later (a restart) polls again: its start is a new slot.
      clock.advance(60_000);
      expect((await schedulers[0]!.pollAllNow(feeds, clock.now())).map((o) => o.feed).sort()).toEqual(['broken', 'ok']);
      expect(server.count('/ok')).toBe(2);
    } finally {
      await Promise.all(schedulers.map((s) => s.stop()));
    }
  });
});
