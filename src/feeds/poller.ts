import type { Transaction } from 'kysely';
import pLimit from 'p-limit';
import { diffAdvisories } from '../advisories/detect.ts';
import type { AdvisoryItem } from '../advisories/model.ts';
import { applyDiff, loadStoredAdvisories } from '../advisories/repository.ts';
import type { FeedConfig, Settings } from '../config/schema.ts';
import type { DB } from '../db/connect.ts';
import { randomBytes } from 'node:crypto';
import type { Database, FeedRow, PollStatus } from '../db/types.ts';
import { backoffMs } from '../common/backoff.ts';
import type { Clock } from '../common/clock.ts';
import { AppError, errorMessage } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { FeedFetchError, fetchFeed } from './fetch.ts';
import { understandingWarning } from './understood.ts';
import { profileFor } from './profiles/index.ts';
import { getFeedRow, leaseFeedForPoll, lockFeedRow, recordFailure, recordNotModified, recordSuccess, releasePollLease } from './repository.ts';

export interface PollDeps {
  db: DB;
  logger: Logger;
  clock: Clock;
  settings: Settings;
  /**
   * Called inside the poll's transaction with the ids of the events it recorded,
   * so the fan-out to deliveries commits (or rolls back) with the events.
   */
  onEvents?: (tx: Transaction<Database>, eventIds: number[]) => Promise<void>;
  /** Called with every poll's status (metrics). */
  onOutcome?: (status: PollOutcome['status']) => void;
}

export interface PollOutcome {
  feed: string;
  status: PollStatus | 'skipped';
  new: number;
  updated: number;
  unchanged: number;
  removed: number;
  events: number;
  httpStatus: number | null;
  error: string | null;
  /** Set when the feed is skipped or failed: no poll before this time. */
  notBefore: Date | null;
  baseline: boolean;
  /** A document the profile read without error but understood nothing of (see understood.ts). */
  warning: string | null;
}

function outcome(feed: string, status: PollOutcome['status'], extra: Partial<PollOutcome> = {}): PollOutcome {
  return {
    feed,
    status,
    new: 0,
    updated: 0,
    unchanged: 0,
    removed: 0,
    events: 0,
    httpStatus: null,
    error: null,
    notBefore: null,
    baseline: false,
    warning: null,
    ...extra,
  };
}

/**
 * One poll of one feed: fetch, parse, diff, write. A failure at any step is
 * recorded on the feed and changes nothing else; the feed's stored advisories,
 * validators and baseline stay as they were.
 *
 * `force` ignores the back-off / Retry-After window (an admin's explicit `poll`).
 */
export async function pollFeed(deps: PollDeps, feed: FeedConfig, options: { force?: boolean } = {}): Promise<PollOutcome> {
  const result = await pollFeedOnce(deps, feed, options);
  deps.onOutcome?.(result.status);
  return result;
}

async function pollFeedOnce(deps: PollDeps, feed: FeedConfig, options: { force?: boolean }): Promise<PollOutcome> {
  const { db, logger, clock, settings } = deps;
  const log = logger.child({ feed: feed.id });
  const startedAt = clock.now();
  // Across processes, one poll of a feed at a time (a manual `poll` next to a scheduled one).
  const owner = `${process.pid}:${randomBytes(4).toString('hex')}`;
  const leaseMs = (feed.timeoutSeconds ?? settings.http.timeoutSeconds) * 1000 + 120_000;
  // The feed's row and its lease in one round trip; only when that is refused
  // does a second look at the row tell why.
  const row = await leaseFeedForPoll(db, feed.id, owner, startedAt, leaseMs, { force: options.force === true });
  if (!row) {
    const current = await getFeedRow(db, feed.id);
    if (!current) throw new Error(`feed "${feed.id}" is not in the database; sync the configuration first`);
    if (!options.force && current.not_before && current.not_before > startedAt) {
      log.debug({ notBefore: current.not_before }, 'poll skipped: backing off');
      return outcome(feed.id, 'skipped', { notBefore: current.not_before });
    }
    log.info('poll skipped: another poll of this feed is in progress');
    return outcome(feed.id, 'skipped', { error: 'another poll of this feed is in progress' });
  }
  try {
    // Every way pollLeased returns records the poll, and that same statement gives the lease back.
    return await pollLeased(deps, feed, row, startedAt, log, owner);
  } catch (err) {
    await releasePollLease(db, feed.id, owner).catch((e: unknown) => log.warn({ err: e }, 'could not release the poll lease; it expires on its own'));
    throw err;
  }
}

async function pollLeased(deps: PollDeps, feed: FeedConfig, row: FeedRow, startedAt: Date, log: Logger, leaseOwner: string): Promise<PollOutcome> {
  const { db, clock, settings } = deps;

  const fail = async (err: unknown, httpStatus: number | null): Promise<PollOutcome> => {
    const finishedAt = clock.now();
    const retryAfterMs = err instanceof FeedFetchError ? err.details.retryAfterMs : undefined;
    const delay = backoffMs(row.consecutive_failures + 1, {
      baseMs: settings.backoff.baseSeconds * 1000,
      maxMs: settings.backoff.maxSeconds * 1000,
      retryAfterMs,
    });
    const notBefore = new Date(finishedAt.getTime() + delay);
    const message = errorMessage(err);
    await recordFailure(db, { feedId: feed.id, startedAt, finishedAt, status: 'error', httpStatus, error: message, notBefore, leaseOwner });
    // A permanent failure (a 404, a refused address, a body over the limit, an unreadable
    // document) will not heal by waiting: it is logged as an error for the operator.
    const permanent = err instanceof AppError && !err.retryable;
    const kind = err instanceof FeedFetchError ? err.kind : undefined;
    log[permanent ? 'error' : 'warn']({ err, kind, failures: row.consecutive_failures + 1, notBefore }, 'poll failed');
    return outcome(feed.id, 'error', { error: message, httpStatus, notBefore });
  };

  let fetched: Awaited<ReturnType<typeof fetchFeed>>;
  try {
    fetched = await fetchFeed(
      feed.url,
      { etag: row.etag, lastModified: row.last_modified },
      {
        userAgent: settings.http.userAgent,
        timeoutMs: (feed.timeoutSeconds ?? settings.http.timeoutSeconds) * 1000,
        maxBodyBytes: settings.http.maxBodyBytes,
        maxRedirects: settings.http.maxRedirects,
        headers: feed.headers,
        now: () => clock.now(),
        publicOnly: !settings.http.allowPrivateAddresses,
      },
    );
  } catch (err) {
    return fail(err, err instanceof FeedFetchError ? (err.details.status ?? null) : null);
  }

  if (fetched.status === 'not-modified') {
    const finishedAt = clock.now();
    await recordNotModified(db, {
      feedId: feed.id,
      startedAt,
      finishedAt,
      status: 'not-modified',
      httpStatus: 304,
      etag: fetched.validators.etag,
      lastModified: fetched.validators.lastModified,
      leaseOwner,
    });
    log.debug('not modified');
    return outcome(feed.id, 'not-modified', { httpStatus: 304 });
  }

  let items: AdvisoryItem[];
  const profile = profileFor(feed.source);
  try {
    items = await profile.parse(fetched.text, feed);
  } catch (err) {
    return fail(err, fetched.httpStatus);
  }
  // Stored all the same (a profile may be right and the document odd for a while), but said loudly.
  const warning = understandingWarning(feed.source, items);
  if (warning) log.warn({ items: items.length }, warning);

  try {
    const result = await db.transaction().execute(async (tx) => {
      // The row lock serialises concurrent polls of one feed at the write step.
      const locked = await lockFeedRow(tx, feed.id);
      const baseline = !locked?.baseline_at && !feed.alertOnFirstPoll;
      const stored = await loadStoredAdvisories(tx, feed.id);
      const diff = diffAdvisories(stored, items, { baseline, retainsWhenAbsent: profile.retainsWhenAbsent?.bind(profile) });
      const now = clock.now();
      const eventIds = await applyDiff(tx, feed, diff, now);
      if (eventIds.length > 0 && deps.onEvents) await deps.onEvents(tx, eventIds);
      const counts = {
        new: diff.added.length,
        updated: diff.changed.length,
        unchanged: diff.unchanged.length,
        removed: diff.removed.length,
        events: eventIds.length,
      };
      await recordSuccess(tx, {
        feedId: feed.id,
        startedAt,
        finishedAt: now,
        status: 'ok',
        httpStatus: fetched.httpStatus,
        counts,
        etag: fetched.validators.etag,
        lastModified: fetched.validators.lastModified,
        leaseOwner,
      });
      if (diff.duplicates > 0) log.warn({ duplicates: diff.duplicates }, 'items with a repeated identity were ignored');
      return { counts, baseline };
    });
    log.info({ ...result.counts, baseline: result.baseline }, 'polled');
    return outcome(feed.id, 'ok', { ...result.counts, httpStatus: fetched.httpStatus, baseline: result.baseline, warning });
  } catch (err) {
    // A database failure mid-poll rolled the transaction back; record it if we still can.
    try {
      return await fail(new Error(`storing the poll failed: ${errorMessage(err)}`, { cause: err }), fetched.httpStatus);
    } catch {
      throw err;
    }
  }
}

/** Polls feeds with bounded concurrency; one feed's failure never stops the others. */
export async function pollFeeds(deps: PollDeps, feeds: readonly FeedConfig[], options: { force?: boolean; concurrency?: number } = {}): Promise<PollOutcome[]> {
  const limit = pLimit(Math.max(1, options.concurrency ?? deps.settings.http.concurrency));
  return Promise.all(
    feeds.map((feed) =>
      limit(async () => {
        try {
          return await pollFeed(deps, feed, options);
        } catch (err) {
          deps.logger.error({ feed: feed.id, err }, 'poll crashed');
          return outcome(feed.id, 'error', { error: errorMessage(err) });
        }
      }),
    ),
  );
}
