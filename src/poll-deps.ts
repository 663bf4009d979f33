import type { AppConfig } from './config/load.ts';
import type { DB } from './db/connect.ts';
import { fanOut } from './delivery/repository.ts';
import type { PollDeps } from './feeds/poller.ts';
import type { Clock } from './common/clock.ts';
import type { Logger } from './common/logger.ts';
import type { Metrics } from './common/metrics.ts';

/**
 * The poll's dependencies, the same for `start`, `poll` and the tests: events fan out to
 * deliveries inside the poll's transaction. Apart from src/runtime.ts so `poll` loads no
 * sender, renderer or dispatcher.
 */
export function pollDepsFor(config: AppConfig, db: DB, logger: Logger, clock: Clock, afterEvents?: () => void, metrics?: Metrics): PollDeps {
  return {
    db,
    logger,
    clock,
    settings: config.settings,
    ...(metrics ? { onOutcome: (status) => metrics.polls.inc({ status }) } : {}),
    onEvents: async (tx, eventIds) => {
      const n = await fanOut(tx, eventIds, clock.now(), {
        defaultTimezone: config.settings.defaultTimezone,
        tripLeadDays: config.settings.trips.leadDays,
      });
      logger.info({ events: eventIds.length, deliveries: n }, 'events fanned out');
    },
    ...(afterEvents ? { afterEventsCommitted: afterEvents } : {}),
  };
}
