import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { loadConfig, type AppConfig } from '../../src/config/load.ts';
import type { DB } from '../../src/db/connect.ts';
import type { Dispatcher } from '../../src/delivery/dispatcher.ts';
import { pollFeed, type PollOutcome } from '../../src/feeds/poller.ts';
import { syncFeeds } from '../../src/feeds/repository.ts';
import { createDispatcher, pollDepsFor } from '../../src/runtime.ts';
import { silentLogger } from '../../src/common/logger.ts';
import type { FeedServer } from './feed-server.ts';
import type { ManualClock } from './poll.ts';

/** Shared by the email and SMS delivery tests: a configured run, polls that record events, the deliveries table. */

export interface DeliveryRun {
  config: AppConfig;
  dispatcher: Dispatcher;
  dataDir: string;
  close(): Promise<void>;
}

/**
 * A CONFIG_DIR under `root` with `feedsYaml` and `settingsYaml`, the AppConfig loaded
 * from it (plus `env`) as `start` does, its feeds registered, and a dispatcher.
 */
export async function startDeliveryRun(
  db: DB,
  clock: ManualClock,
  options: { root: string; feedsYaml: string; settingsYaml?: string; env: Record<string, string> },
): Promise<DeliveryRun> {
  const dir = mkdtempSync(path.join(options.root, 'run-'));
  const configDir = path.join(dir, 'config');
  const dataDir = path.join(dir, 'data');
  mkdirSync(configDir, { recursive: true });
  writeFileSync(path.join(configDir, 'feeds.yaml'), options.feedsYaml);
  writeFileSync(path.join(configDir, 'settings.yaml'), options.settingsYaml ?? '');
  const config = loadConfig({ CONFIG_DIR: configDir, DATA_DIR: dataDir, ...options.env });
  await syncFeeds(db, config.feeds);
  const { dispatcher, close } = createDispatcher(config, db, silentLogger, clock);
  return { config, dispatcher, dataDir, close };
}

/** Serves `body` at `route` for feed `id` and polls it one minute after the previous poll; the poll must succeed. */
export async function pollServed(
  run: DeliveryRun,
  db: DB,
  clock: ManualClock,
  server: FeedServer,
  id: string,
  route: string,
  body: string,
): Promise<PollOutcome> {
  server.set(route, { body });
  clock.advance(60_000);
  const feed = run.config.feeds.find((f) => f.id === id)!;
  const outcome = await pollFeed(pollDepsFor(run.config, db, silentLogger, clock), feed, { force: true });
  expect(outcome.status, outcome.error ?? '').toBe('ok');
  return outcome;
}

/** Every delivery with its subscriber's email, oldest first. */
export function deliveryRows(db: DB) {
  return db
    .selectFrom('deliveries as d')
    .innerJoin('subscribers as s', 's.id', 'd.subscriber_id')
    .select(['d.id', 's.email', 'd.event_id', 'd.channel', 'd.status', 'd.attempts', 'd.last_error', 'd.next_attempt_at', 'd.provider_id', 'd.sent_at'])
    .orderBy('d.id')
    .execute();
}
