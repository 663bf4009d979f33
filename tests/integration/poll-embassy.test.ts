import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listEvents, eventWithVersions } from '../../src/advisories/repository.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { fixture, startFeedServer, type FeedServer } from '../helpers/feed-server.ts';
import { ManualClock, feedConfig, pollDeps, syncAndPoll } from '../helpers/poll.ts';
import { pollFeeds } from '../../src/feeds/poller.ts';
import { syncFeeds } from '../../src/feeds/repository.ts';
import { embassyFeedWithRoutineMessage } from '../helpers/embassy.ts';

let t: TestDatabase;
let server: FeedServer;
beforeAll(async () => {
  [t, server] = await Promise.all([openTestDatabase(), startFeedServer()]);
});
afterAll(async () => {
  await Promise.all([t?.close(), server?.stop()]);
});
beforeEach(async () => {
  await t.reset();
});

describe('U.S. Embassy Russia alerts (seed case)', () => {
  it('records a baseline, then exactly one "new" event for the March 7 security alert', async () => {
    const url = server.set('/ru/alerts', { body: fixture('us-embassy/us-embassy-russia-alerts_v1.xml') });
    const feeds = [feedConfig({ id: 'ru', url, source: 'us-embassy', countries: ['RU'] })];
    const deps = pollDeps(t.db, new ManualClock());

    const first = await syncAndPoll(deps, feeds, 'ru');
    expect(first).toMatchObject({ status: 'ok', new: 2, events: 0, baseline: true });

    server.set('/ru/alerts', { body: fixture('us-embassy/us-embassy-russia-alerts_v2.xml') });
    const second = await syncAndPoll(deps, feeds, 'ru');
    expect(second).toMatchObject({ status: 'ok', new: 1, updated: 0, unchanged: 2, events: 1 });

    const events = await listEvents(t.db, {});
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: 'new', feed: 'ru', country: 'RU', level: null, urgency: 'urgent' });
    expect(events[0]!.title).toBe('Security Alert – U.S. Embassy Moscow (March 7, 2024)');
    const detail = await eventWithVersions(t.db, events[0]!.id);
    expect(detail?.version.body).toContain('extremists have imminent plans to target large gatherings in Moscow');
    expect(detail?.version.level_text).toBe('Security Alert');
    expect(detail?.previous).toBeNull();

    const third = await syncAndPoll(deps, feeds, 'ru');
    expect(third.status).toBe('not-modified');
    expect(await listEvents(t.db, {})).toHaveLength(1);
  });

  it("stores each event's urgency: the security alert urgent, a later message for U.S. citizens routine", async () => {
    const url = server.set('/ru/urgency', { body: fixture('us-embassy/us-embassy-russia-alerts_v1.xml') });
    const feeds = [feedConfig({ id: 'ru', url, source: 'us-embassy', countries: ['RU'] })];
    const deps = pollDeps(t.db, new ManualClock());
    await syncAndPoll(deps, feeds, 'ru');
    server.set('/ru/urgency', { body: fixture('us-embassy/us-embassy-russia-alerts_v2.xml') });
    await syncAndPoll(deps, feeds, 'ru');
    server.set('/ru/urgency', { body: embassyFeedWithRoutineMessage() });
    await syncAndPoll(deps, feeds, 'ru');
    const events = await listEvents(t.db, {});
    expect(events.map((e) => [e.title, e.urgency])).toEqual([
      ['Security Alert – U.S. Embassy Moscow (March 7, 2024)', 'urgent'],
      ['Message for U.S. Citizens – U.S. Embassy Moscow (March 20, 2024)', 'routine'],
    ]);
  });

  it("a feed's urgency override in feeds.yaml wins", async () => {
    const url = server.set('/ru/override', { body: fixture('us-embassy/us-embassy-russia-alerts_v1.xml') });
    const feeds = [feedConfig({ id: 'ru', url, source: 'us-embassy', countries: ['RU'], urgency: 'routine' })];
    const deps = pollDeps(t.db, new ManualClock());
    await syncAndPoll(deps, feeds, 'ru');
    server.set('/ru/override', { body: fixture('us-embassy/us-embassy-russia-alerts_v2.xml') });
    await syncAndPoll(deps, feeds, 'ru');
    expect((await listEvents(t.db, {})).map((e) => e.urgency)).toEqual(['routine']);
  });
});

describe('a cycle of many feeds', () => {
  it('stores every document when far more are fetched than the store batches take ahead, failures included', async () => {
    // 260 feeds, every other one unreadable: more documents, and more failed ones, than the
    // poller lets wait for the database at once; a slot not given back would stall the cycle.
    const good = server.set('/many/good', { body: fixture('us-embassy/us-embassy-russia-alerts_v1.xml') });
    const bad = server.set('/many/bad', { body: '<rss><channel><item><title>cut short' });
    const feeds = Array.from({ length: 260 }, (_, i) =>
      feedConfig({ id: `many-${String(i).padStart(3, '0')}`, url: i % 2 === 0 ? good : bad, source: 'us-embassy', countries: ['RU'] }),
    );
    const deps = pollDeps(t.db, new ManualClock());
    await syncFeeds(t.db, feeds);
    const outcomes = await pollFeeds(deps, feeds, { concurrency: 8 });
    expect(outcomes.filter((o, i) => i % 2 === 0).every((o) => o.status === 'ok' && o.new === 2 && o.baseline)).toBe(true);
    expect(outcomes.filter((o, i) => i % 2 === 1).every((o) => o.status === 'error')).toBe(true);
    const stored = await t.db
      .selectFrom('advisories')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(stored.n)).toBe(260);
  });
});
