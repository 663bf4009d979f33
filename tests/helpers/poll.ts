import type { FeedConfig, Settings } from '../../src/config/schema.ts';
import { feedSchema, settingsSchema } from '../../src/config/schema.ts';
import type { DB } from '../../src/db/connect.ts';
import { pollFeed, type PollDeps } from '../../src/feeds/poller.ts';
import { syncFeeds } from '../../src/feeds/repository.ts';
import type { Clock } from '../../src/common/clock.ts';
import { silentLogger } from '../../src/common/logger.ts';

export function feedConfig(input: Partial<FeedConfig> & { id: string; url: string }): FeedConfig {
  return feedSchema.parse(input);
}

export function testSettings(overrides: Record<string, unknown> = {}): Settings {
  return settingsSchema.parse({ http: { timeoutSeconds: 5 }, ...overrides });
}

/** A clock the test moves by hand. */
export class ManualClock implements Clock {
  constructor(private t = new Date('2026-01-01T00:00:00Z')) {}
  now(): Date {
    return new Date(this.t);
  }
  advance(ms: number): void {
    this.t = new Date(this.t.getTime() + ms);
  }
}

export function pollDeps(db: DB, clock: Clock = new ManualClock(), settings = testSettings()): PollDeps {
  return { db, logger: silentLogger, clock, settings };
}

/** Registers the feeds (as `start` / `poll` do) and polls one, forced. */
export async function syncAndPoll(deps: PollDeps, feeds: FeedConfig[], id: string) {
  await syncFeeds(deps.db, feeds);
  const feed = feeds.find((f) => f.id === id)!;
  return pollFeed(deps, feed, { force: true });
}
