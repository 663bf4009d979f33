import { appSecret, ConfigError, loadFeeds, type AppConfig } from './config/load.ts';
import type { FeedConfig, WebhookConfig } from './config/schema.ts';
import { TWILIO_API_URL } from './config/app-config.ts';
import { connectDatabase, migrateToLatest, type DatabaseHandle } from './db/connect.ts';
import { createServer } from 'node:net';
import { constants as osConstants, hostname } from 'node:os';
import cron from 'node-cron';
import { FeedScheduler, databaseCoordinator } from './feeds/scheduler.ts';
import type { PollOutcome } from './feeds/poller.ts';
import { feedWarnings } from './feeds/config-warnings.ts';
import path from 'node:path';
import { runHousekeeping } from './housekeeping/run.ts';
import { claimCronSlot, syncFeeds } from './feeds/repository.ts';
import type { Clock } from './common/clock.ts';
import { errorMessage } from './common/errors.ts';
import { repeatedStopSignal } from './common/stop-signal.ts';
import type { Logger } from './common/logger.ts';
import { buildWebServer } from './web/server.ts';
import { briefingDepsFor, createChannels, createDispatcher, digestDepsFor, pollDepsFor, travelerDepsFor, webDepsFor } from './runtime.ts';
import { ConfirmationRunner } from './subscriptions/confirmations.ts';
import { sendDueBriefings } from './briefings/send.ts';
import { runDigests } from './digests/run.ts';
import type { Role } from './roles.ts';
import { createMetrics } from './common/metrics.ts';
import { syncWebhooks } from './delivery/repository.ts';

export { ROLES, type Role } from './roles.ts';

/** Endpoint ids added, removed and changed (any field, the secret included) between two lists. */
export function webhookChanges(before: readonly WebhookConfig[], after: readonly WebhookConfig[]): { added: string[]; removed: string[]; changed: string[] } {
  const old = new Map(before.map((w) => [w.id, JSON.stringify(w)]));
  const now = new Map(after.map((w) => [w.id, JSON.stringify(w)]));
  return {
    added: [...now.keys()].filter((id) => !old.has(id)),
    removed: [...old.keys()].filter((id) => !now.has(id)),
    changed: [...now.keys()].filter((id) => old.has(id) && old.get(id) !== now.get(id)),
  };
}

export interface RunningService {
  /** Re-reads feeds.yaml; an invalid file is refused and the running config stays. */
  reload(): Promise<{ ok: true; added: string[]; removed: string[]; changed: string[] } | { ok: false; problems: string[] }>;
  /** Re-reads webhooks.yaml, on its own: an invalid file is refused and the running endpoints stay. */
  reloadWebhooks(): Promise<{ ok: true; added: string[]; removed: string[]; changed: string[] } | { ok: false; problems: string[] }>;
  stop(): Promise<void>;
  port: number | undefined;
  database: DatabaseHandle;
  /** The start-up poll of every enabled feed (this process's share of it); empty without the poll role. */
  startupPolls: Promise<PollOutcome[]>;
  /** What is running, for the human summary `start` prints on a terminal. */
  summary(): ServiceSummary;
}

export interface ServiceSummary {
  roles: Role[];
  /** Where the pages listen, when the web role runs. */
  url: string | undefined;
  /** The base of links in messages (PUBLIC_BASE_URL). */
  publicBaseUrl: string;
  adminEnabled: boolean;
  database: { embedded: true; dir: string } | { embedded: false };
  /** Where email and SMS go: a file outbox or the real thing. */
  email: { outbox: string } | { smtp: true };
  /** `apiBaseUrl` only when TWILIO_API_BASE_URL sends elsewhere than Twilio's own API. */
  sms: { outbox: string } | { twilio: true; apiBaseUrl?: string };
  feeds: { id: string; enabled: boolean; nextPoll: Date | null }[];
  /** `config check`'s warnings about feeds.yaml (also logged at start). */
  warnings: string[];
}

/**
 * Fails fast when the port is taken: before the database is opened (an embedded
 * one can take seconds to start), not after. Listening for real still decides.
 */
async function assertPortFree(port: number, host: string): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new ServiceStartError(
          err.code === 'EADDRINUSE'
            ? `port ${port} is already in use (another service, or an earlier start still running?); set PORT or stop the other process`
            : `cannot listen on ${host} port ${port}: ${errorMessage(err)}`,
          { cause: err },
        ),
      ),
    );
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/** `start` cannot run (port taken, …): the reason is one line and the process exits non-zero. */
export class ServiceStartError extends Error {
  override readonly name = 'ServiceStartError';
}

export async function startService(config: AppConfig, options: { roles: readonly Role[]; logger: Logger; clock: Clock }): Promise<RunningService> {
  const { logger, clock } = options;
  const roles = new Set(options.roles);
  if (roles.has('web')) await assertPortFree(config.port, config.settings.web.host);
  const database = await connectDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, role: 'service', logger });
  try {
    await migrateToLatest(database.db, logger);
    if (!config.databaseUrl) appSecret(config);
    await syncFeeds(database.db, config.feeds);
    await syncWebhooks(database.db, config.webhooks);
  } catch (err) {
    await database.close();
    throw err;
  }

  let feeds: FeedConfig[] = config.feeds;
  const warnings = feedWarnings(config.feeds);
  for (const w of warnings) logger.warn(w);
  let webhooks: WebhookConfig[] = config.webhooks;
  const metrics = createMetrics();
  const channels = createChannels(config);

  // The web server listens before any background work starts, so a failure to
  // listen has nothing to unwind but the database and the channels: no timer
  // or cron task is left to keep the process alive.
  let web: Awaited<ReturnType<typeof buildWebServer>> | undefined;
  let port: number | undefined;
  if (roles.has('web')) {
    try {
      web = await buildWebServer(webDepsFor(config, database.db, { logger, clock, channels, metrics, knownFeeds: () => new Set(feeds.map((f) => f.id)) }));
      await web.listen({ port: config.port, host: config.settings.web.host });
    } catch (err) {
      await web?.close().catch(() => undefined);
      await channels.close();
      await database.close();
      const code = (err as NodeJS.ErrnoException).code;
      throw new ServiceStartError(
        code === 'EADDRINUSE'
          ? `port ${config.port} is already in use; set PORT or stop the other process`
          : `cannot listen on ${config.settings.web.host} port ${config.port}: ${errorMessage(err)}`,
        { cause: err },
      );
    }
    const address = web.server.address();
    port = typeof address === 'object' && address ? address.port : config.port;
    logger.info({ url: `http://localhost:${port}`, pid: process.pid }, 'web listening');
  }

  const delivery = roles.has('deliver')
    ? createDispatcher(config, database.db, logger, clock, { channels, metrics, webhooks: () => webhooks, listen: database.listen })
    : undefined;
  delivery?.dispatcher.start();
  const owner = `${hostname()}:${process.pid}`;
  const coordinator = databaseCoordinator((key) => claimCronSlot(database.db, key, owner, clock.now()));
  const scheduler = roles.has('poll')
    ? new FeedScheduler(
        pollDepsFor(config, database.db, logger, clock, () => delivery?.dispatcher.poke(), metrics),
        config.settings.defaultSchedule,
        coordinator,
      )
    : undefined;
  // Retention runs with the pollers, once per slot across all processes.
  const housekeeping = roles.has('poll')
    ? cron.schedule(
        config.settings.retention.schedule,
        () =>
          runHousekeeping({
            db: database.db,
            clock,
            logger,
            retention: config.settings.retention,
            verification: config.settings.verification,
            trips: config.settings.trips,
          }).catch((err: unknown) => logger.error({ err }, 'housekeeping failed')),
        { name: 'housekeeping', noOverlap: true, distributed: true, runCoordinator: coordinator },
      )
    : undefined;
  // Confirmation emails go with delivery too, not only with the web process that took the request:
  // one queued by `subscribers add` (or left over by a web process that stopped) whose send met a
  // 4xx would otherwise wait for a web process. The runner works the outbox off at start, on the
  // digest beat below, and sleeps until the next retry falls due.
  const confirmations = roles.has('deliver')
    ? new ConfirmationRunner(travelerDepsFor(config, database.db, logger.child({ component: 'confirmations' }), clock, channels))
    : undefined;
  confirmations?.kick();
  // Digests (and briefings and confirmations still due) go with delivery, each slot once across all
  // processes (and each digest once anyway: its (subscriber, period) row is unique).
  const digests = roles.has('deliver')
    ? cron.schedule(
        config.settings.digestSchedule,
        async () => {
          await runDigests(digestDepsFor(config, database.db, logger, clock, channels, metrics)).catch((err: unknown) =>
            logger.error({ err }, 'digest run failed'),
          );
          // Briefings not sent at once (a mail server down, a process that died) go on the same beat.
          await sendDueBriefings(briefingDepsFor(config, database.db, logger, clock, channels, metrics)).catch((err: unknown) =>
            logger.error({ err }, 'briefing run failed'),
          );
          confirmations?.kick();
        },
        { name: 'digests', noOverlap: true, distributed: true, runCoordinator: coordinator },
      )
    : undefined;
  let startupPolls: Promise<PollOutcome[]> = Promise.resolve([]);
  if (scheduler) {
    const r = scheduler.apply(feeds);
    logger.info({ feeds: r.added }, 'feeds scheduled');
    startupPolls = scheduler.pollAllNow(feeds, clock.now()).then((outcomes) => {
      const failing = outcomes.filter((o) => o.status === 'error');
      logger[failing.length ? 'warn' : 'info'](
        { polled: outcomes.length, failing: failing.map((o) => ({ feed: o.feed, error: o.error })) },
        'start-up poll done',
      );
      return outcomes;
    });
  }

  const outbox = path.join(config.dataDir, 'outbox');
  return {
    port,
    database,
    startupPolls,
    summary: () => ({
      roles: [...roles],
      url: port === undefined ? undefined : `http://localhost:${port}`,
      publicBaseUrl: config.publicBaseUrl,
      adminEnabled: Boolean(config.adminToken),
      database: config.databaseUrl ? { embedded: false } : { embedded: true, dir: path.join(config.dataDir, 'pglite') },
      email: config.smtpUrl ? { smtp: true } : { outbox: path.join(outbox, 'email') },
      sms:
        config.twilio.accountSid && config.twilio.authToken
          ? { twilio: true, ...(config.twilio.apiBaseUrl === TWILIO_API_URL ? {} : { apiBaseUrl: config.twilio.apiBaseUrl }) }
          : { outbox: path.join(outbox, 'sms') },
      feeds: feeds.map((f) => ({ id: f.id, enabled: f.enabled, nextPoll: scheduler?.nextRun(f.id) ?? null })),
      warnings: feedWarnings(feeds),
    }),
    async reload() {
      let next: FeedConfig[];
      try {
        next = loadFeeds(config.configDir);
      } catch (err) {
        const problems = err instanceof ConfigError ? err.problems : [errorMessage(err)];
        logger.error({ problems }, 'feeds.yaml refused on reload; the previous configuration stays in force');
        return { ok: false as const, problems };
      }
      await syncFeeds(database.db, next);
      feeds = next;
      const r = scheduler ? scheduler.apply(feeds) : { added: [], removed: [], changed: [] };
      logger.info(r, 'feeds.yaml reloaded');
      return { ok: true as const, ...r };
    },
    async reloadWebhooks() {
      let read: WebhookConfig[] | undefined;
      try {
        read = config.rereadWebhooks();
      } catch (err) {
        const problems = err instanceof ConfigError ? err.problems : [errorMessage(err)];
        logger.error({ problems }, 'webhooks.yaml refused on reload; the previous endpoints stay in force');
        return { ok: false as const, problems };
      }
      const next = read ?? [];
      // The fan-out matches the database's endpoints; the sender posts to this list.
      await syncWebhooks(database.db, next);
      const r = webhookChanges(webhooks, next);
      webhooks = next;
      // Most installations have no webhooks.yaml: a SIGHUP meant for feeds.yaml then says
      // nothing about webhooks, unless the file was just removed.
      if (read !== undefined || r.added.length + r.removed.length + r.changed.length > 0) logger.info(r, 'webhooks.yaml reloaded');
      return { ok: true as const, ...r };
    },
    async stop() {
      logger.info('stopping: no new work is taken');
      await web?.close();
      await housekeeping?.destroy();
      await digests?.destroy();
      await scheduler?.stop();
      await delivery?.dispatcher.stop();
      await confirmations?.close();
      await channels.close();
      await database.close();
      logger.info('stopped');
    },
  };
}

/**
 * `start`: runs the service until SIGTERM or SIGINT, re-reading feeds.yaml on SIGHUP.
 * Signals are taken from the start: one that arrives while the service is still
 * starting (migrations, database open) is acted on once it is up, instead of
 * Node's default of killing the process mid-migration (SIGTERM) or outright (SIGHUP).
 * The handlers stay for the whole stop, so a repeated signal never falls to
 * Node's default either: see repeatedStopSignal.
 */
export async function runService(
  config: AppConfig,
  options: { roles: readonly Role[]; logger: Logger; clock: Clock; onStarted?: (service: RunningService) => void },
  signals: NodeJS.EventEmitter = process,
): Promise<void> {
  const { logger, clock } = options;
  let stopSignal: { signal: NodeJS.Signals; at: Date } | undefined;
  let reloadRequested = false;
  let onSignal: (() => void) | undefined;
  const requestStop = (signal: NodeJS.Signals) => {
    const at = clock.now();
    if (stopSignal) {
      if (repeatedStopSignal(stopSignal.at, at) === 'duplicate') {
        logger.info({ signal, first: stopSignal.signal }, 'signal received while stopping: already stopping');
        return;
      }
      // The conventional status of a process ended by the signal: not a clean stop.
      const code = 128 + osConstants.signals[signal];
      logger.error({ signal, code }, 'signal received again while stopping: exiting at once, without a clean stop');
      process.exit(code);
    }
    stopSignal = { signal, at };
    logger.info({ signal }, 'signal received');
    onSignal?.();
  };
  const onTerm = () => requestStop('SIGTERM');
  const onInt = () => requestStop('SIGINT');
  const onHup = () => {
    reloadRequested = true;
    onSignal?.();
  };
  signals.on('SIGTERM', onTerm);
  signals.on('SIGINT', onInt);
  signals.on('SIGHUP', onHup);
  try {
    const service = await startService(config, options);
    options.onStarted?.(service);
    await new Promise<void>((resolve) => {
      onSignal = () => {
        if (stopSignal) {
          onSignal = undefined;
          service.stop().then(resolve, (e: unknown) => {
            logger.error({ err: e }, 'error while stopping');
            resolve();
          });
          return;
        }
        if (!reloadRequested) return;
        reloadRequested = false;
        // A reload that fails (database unreachable) is logged; it must not crash the service.
        // The two files are independent: a bad one never holds back the other.
        service.reload().catch((e: unknown) => logger.error({ err: e }, 'feeds.yaml reload failed; the previous configuration stays in force'));
        service.reloadWebhooks().catch((e: unknown) => logger.error({ err: e }, 'webhooks.yaml reload failed; the previous endpoints stay in force'));
      };
      onSignal();
    });
  } finally {
    // Whoever runs this (the CLI, or a test running the CLI in-process) gets its signals back.
    signals.off('SIGTERM', onTerm);
    signals.off('SIGINT', onInt);
    signals.off('SIGHUP', onHup);
  }
}
