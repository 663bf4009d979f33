import path from 'node:path';
import { appSecret, type AppConfig } from './config/load.ts';
import type { DB } from './db/connect.ts';
import { createEmailSender, createSmsSender } from './delivery/channels.ts';
import { Dispatcher, type DispatcherDeps } from './delivery/dispatcher.ts';
import { linkBuilder } from './delivery/links.ts';
import { fanOut } from './delivery/repository.ts';
import type { PollDeps } from './feeds/poller.ts';
import type { Clock } from './shared/clock.ts';
import type { Logger } from './shared/logger.ts';

/**
 * Wiring shared by `start` and the one-shot commands: the same poll
 * dependencies (with the fan-out in the poll's transaction) and the same
 * dispatcher, whichever entry point runs them.
 */
export function pollDepsFor(config: AppConfig, db: DB, logger: Logger, clock: Clock, afterEvents?: () => void): PollDeps {
  return {
    db,
    logger,
    clock,
    settings: config.settings,
    onEvents: async (tx, eventIds) => {
      const n = await fanOut(tx, eventIds, clock.now());
      logger.info({ events: eventIds.length, deliveries: n }, 'events fanned out');
      if (afterEvents) setImmediate(afterEvents);
    },
  };
}

export function createDispatcher(config: AppConfig, db: DB, logger: Logger, clock: Clock, onResult?: DispatcherDeps['onResult']): { dispatcher: Dispatcher; close(): Promise<void> } {
  const outboxDir = path.join(config.dataDir, 'outbox');
  const email = createEmailSender({ smtpUrl: config.smtpUrl, from: config.mailFrom, outboxDir, connections: config.settings.delivery.email.connections });
  const sms = createSmsSender({ ...config.twilio, outboxDir });
  const dispatcher = new Dispatcher({
    db,
    logger: logger.child({ component: 'dispatcher' }),
    clock,
    settings: config.settings.delivery,
    email,
    sms,
    links: linkBuilder(config.publicBaseUrl, appSecret(config)),
    listId: `alerts.${new URL(config.publicBaseUrl).hostname}`,
    ...(onResult ? { onResult } : {}),
  });
  return {
    dispatcher,
    async close() {
      await Promise.all([email.close(), sms.close()]);
    },
  };
}
