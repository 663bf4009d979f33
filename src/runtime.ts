import path from 'node:path';
import { appSecret, type AppConfig } from './config/app-config.ts';
import type { DatabaseHandle, DB } from './db/connect.ts';
import { createEmailSender, createSmsSender } from './channels/senders.ts';
import type { EmailSender, SmsSender } from './channels/senders.ts';
import { Dispatcher } from './delivery/dispatcher.ts';
import { DUE_CHANNEL } from './delivery/repository.ts';
import type { DigestDeps } from './digests/run.ts';
import { linkBuilder, type LinkBuilder } from './channels/links.ts';
import { createWebhookSender } from './channels/webhook.ts';
import type { Clock } from './common/clock.ts';
import type { Logger } from './common/logger.ts';
import type { Metrics } from './common/metrics.ts';
import type { TravelerDeps } from './subscriptions/service.ts';
import { sendDueBriefings, type BriefingDeps } from './briefings/send.ts';
import type { WebDeps } from './web/deps.ts';
import type { WebhookConfig } from './config/schema.ts';

// The poll's wiring lives in its own module so `poll` loads no sender, renderer or dispatcher.
export { pollDepsFor } from './poll-deps.ts';

export interface Channels {
  email: EmailSender;
  sms: SmsSender;
  close(): Promise<void>;
}

/** SMTP or the `.eml` outbox; Twilio or the SMS outbox — per the environment. */
export function createChannels(config: AppConfig): Channels {
  const outboxDir = path.join(config.dataDir, 'outbox');
  const email = createEmailSender({ smtpUrl: config.smtpUrl, from: config.mailFrom, outboxDir, connections: config.settings.delivery.email.connections });
  const sms = createSmsSender({ ...config.twilio, outboxDir });
  return { email, sms, close: async () => void (await Promise.all([email.close(), sms.close()])) };
}

export function links(config: AppConfig): LinkBuilder {
  return linkBuilder(config.publicBaseUrl, appSecret(config));
}

/** What the traveler's side of subscriptions needs (web forms and `subscribers add`). */
export function travelerDepsFor(config: AppConfig, db: DB, logger: Logger, clock: Clock, channels: Channels, metrics?: Metrics): TravelerDeps {
  return {
    db,
    logger,
    clock,
    email: channels.email,
    sms: channels.sms,
    links: links(config),
    publicBaseUrl: config.publicBaseUrl,
    secret: appSecret(config),
    verification: config.settings.verification,
    defaultTimezone: config.settings.defaultTimezone,
    sendBriefings: (subscriberId) => sendDueBriefings(briefingDepsFor(config, db, logger, clock, channels, metrics), { subscriberId }),
    delivery: config.settings.delivery,
  };
}

/**
 * The web server's dependencies, the same for `start` and the tests. `knownFeeds`
 * is a function because `start` swaps the feed list on reload.
 */
export function webDepsFor(
  config: AppConfig,
  db: DB,
  options: { logger: Logger; clock: Clock; channels: Channels; metrics: Metrics; knownFeeds: () => ReadonlySet<string> },
): WebDeps {
  return {
    db,
    logger: options.logger,
    settings: config.settings,
    metrics: options.metrics,
    traveler: travelerDepsFor(config, db, options.logger, options.clock, options.channels, options.metrics),
    knownFeeds: options.knownFeeds,
    publicBaseUrl: config.publicBaseUrl,
    adminToken: config.adminToken,
    metricsToken: config.metricsToken,
    twilioAuthToken: config.twilio.authToken,
    secret: appSecret(config),
  };
}

/** What the digest job and the `digest` command need. */
export function digestDepsFor(config: AppConfig, db: DB, logger: Logger, clock: Clock, channels: Channels, metrics?: Metrics): DigestDeps {
  return mailOutboxDeps(config, db, logger.child({ component: 'digests' }), clock, channels, metrics?.digests);
}

/** What sending pre-trip briefings needs (after a trip is added, and the periodic job). */
export function briefingDepsFor(config: AppConfig, db: DB, logger: Logger, clock: Clock, channels: Channels, metrics?: Metrics): BriefingDeps {
  return mailOutboxDeps(config, db, logger.child({ component: 'briefings' }), clock, channels, metrics?.briefings);
}

/** Digests and briefings are both emails sent from a small outbox: the same parts. */
function mailOutboxDeps(config: AppConfig, db: DB, logger: Logger, clock: Clock, channels: Channels, counter?: Metrics['digests']) {
  return {
    db,
    logger,
    clock,
    settings: config.settings,
    email: channels.email,
    links: links(config),
    listId: new URL(config.publicBaseUrl).hostname,
    ...(counter ? { onOutcome: (outcome: string) => counter.inc({ outcome }) } : {}),
  };
}

export function createDispatcher(
  config: AppConfig,
  db: DB,
  logger: Logger,
  clock: Clock,
  options: {
    channels?: Channels;
    metrics?: Metrics;
    webhooks?: () => readonly WebhookConfig[];
    /** The database's notifications (the deliver role of `start`): wakes on new deliveries. */
    listen?: DatabaseHandle['listen'];
  } = {},
): { dispatcher: Dispatcher; close(): Promise<void> } {
  const channels = options.channels ?? createChannels(config);
  const metrics = options.metrics;
  const listen = options.listen;
  const dispatcher = new Dispatcher({
    db,
    logger: logger.child({ component: 'dispatcher' }),
    clock,
    settings: config.settings.delivery,
    email: channels.email,
    sms: channels.sms,
    webhooks: createWebhookSender({
      // `start` passes its current list, which a SIGHUP replaces.
      endpoints: options.webhooks ?? (() => config.webhooks),
      timeoutMs: config.settings.delivery.webhook.timeoutSeconds * 1000,
      userAgent: config.settings.http.userAgent,
      now: () => clock.now(),
    }),
    links: links(config),
    listId: new URL(config.publicBaseUrl).hostname,
    travelers: { defaultTimezone: config.settings.defaultTimezone, tripLeadDays: config.settings.trips.leadDays },
    listen: listen && ((onDue) => listen(DUE_CHANNEL, onDue)),
    ...(metrics
      ? {
          onResult: (channel, outcome, durationMs) => {
            metrics.sends.inc({ channel, outcome });
            if (outcome === 'sent') metrics.sendLatency.observe({ channel }, durationMs / 1000);
          },
        }
      : {}),
  });
  return {
    dispatcher,
    // Channels passed in belong to the caller, who closes them.
    close: async () => (options.channels ? undefined : channels.close()),
  };
}
