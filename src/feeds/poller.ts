import type { Transaction } from 'kysely';
import pLimit from 'p-limit';
import type { AdvisoryItem } from '../advisories/model.ts';
import { applyDiffs, loadStoredAdvisories } from '../advisories/repository.ts';
import type { FeedConfig, Settings } from '../config/schema.ts';
import type { DB } from '../db/connect.ts';
import { leaseOwner } from '../db/outbox.ts';
import type { Database, FeedRow, PollStatus } from '../db/types.ts';
import { backoffMs } from '../common/backoff.ts';
import type { Clock } from '../common/clock.ts';
import { AppError, errorMessage } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { FeedFetchError, type FetchResult, fetchFeed } from './fetch.ts';
import { understandingWarning } from './understood.ts';
import { GroupCommit } from '../common/group-commit.ts';
import {
  getFeedRow,
  leaseFeedsForPoll,
  lockFeedRows,
  recordFailure,
  recordSuccesses,
  releasePollLease,
  type LeaseRequest,
  type SuccessRecord,
} from './repository.ts';

// Parsing and change detection (rss-parser, xml2js, html-to-text and the profiles) are
// loaded when a feed first sends a document: a poll answered 304 throughout — the usual
// cron run — never needs them.
let changeDetectionModules:
  | Promise<{ profileFor: typeof import('./profiles/index.ts').profileFor; diffAdvisories: typeof import('../advisories/detect.ts').diffAdvisories }>
  | undefined;
const changeDetection = () =>
  (changeDetectionModules ??= Promise.all([import('./profiles/index.ts'), import('../advisories/detect.ts')]).then(([{ profileFor }, { diffAdvisories }]) => ({
    profileFor,
    diffAdvisories,
  })));

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
  /**
   * Called once the transaction that recorded events has committed: only then can another
   * connection (the dispatcher's claim) see their deliveries.
   */
  afterEventsCommitted?: () => void;
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

/** A poll's outcome: zero counts, nothing wrong, unless `extra` says otherwise. */
export function outcome(feed: string, status: PollOutcome['status'], extra: Partial<PollOutcome> = {}): PollOutcome {
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

/** A fetched and parsed document, to be stored with the diffs of the polls around it. */
interface StoreJob {
  feed: FeedConfig;
  items: AdvisoryItem[];
  retainsWhenAbsent: ((key: string) => boolean) | undefined;
  startedAt: Date;
  httpStatus: number;
  etag: string | null;
  lastModified: string | null;
  leaseOwner: string;
}

type Counts = { new: number; updated: number; unchanged: number; removed: number; events: number };
type Stored = { counts: Counts; baseline: boolean; duplicates: number } | { error: unknown };

/**
 * The database side of polls, batched: polls that run at the same time (a cycle's
 * concurrent fetches, or a schedule's feeds firing together) share their round trips.
 * Each kind of write is a group commit (common/group-commit.ts): one statement in flight,
 * and whatever arrives meanwhile goes into the next. A cycle of N feeds thus costs a few
 * statements per batch instead of two (304) to about eight (new items) per feed.
 */
const STORE_MAX_BATCH = 50;
/**
 * Documents fetched and not yet stored, at the most. Parsing outruns the database on a first
 * poll; unbounded, hundreds of parsed documents waited for their turn (a 1,000-feed cycle held
 * 560), every young-generation collection copying them again. Two batches' worth keeps the
 * next batch full while one is written.
 */
const STORE_AHEAD = 2 * STORE_MAX_BATCH;

class PollBatches {
  readonly lease: GroupCommit<LeaseRequest, FeedRow | undefined>;
  readonly notModified: GroupCommit<SuccessRecord>;
  readonly store: GroupCommit<StoreJob, Stored>;
  /** Runs a fetched document's parse and store once fewer than STORE_AHEAD are unstored (FIFO). */
  readonly storeAhead = pLimit(STORE_AHEAD);

  constructor(deps: PollDeps) {
    // No retry: a failed lease or record fails those polls, which are recorded as such.
    this.lease = new GroupCommit(
      async (requests) => {
        const leased = await leaseFeedsForPoll(deps.db, requests);
        return requests.map((r) => leased.get(r.feedId));
      },
      { maxBatch: 500, retryForMs: 0 },
    );
    this.notModified = new GroupCommit((records) => recordSuccesses(deps.db, records), { maxBatch: 500, retryForMs: 0 });
    this.store = new GroupCommit(
      async (jobs) => {
        try {
          return await storeAll(deps, jobs);
        } catch (err) {
          if (jobs.length === 1) return [{ error: err }];
          // The batch rolled back: each feed alone, so one feed's failure stays its own.
          const out: Stored[] = [];
          for (const job of jobs)
            out.push(
              await storeAll(deps, [job]).then(
                (r) => r[0]!,
                (e: unknown) => ({ error: e }),
              ),
            );
          return out;
        }
      },
      // Bounded so one transaction holds few row locks, and a failure redoes little.
      { maxBatch: STORE_MAX_BATCH, retryForMs: 0 },
    );
  }
}

const batchesByDeps = new WeakMap<PollDeps, PollBatches>();
function batchesFor(deps: PollDeps): PollBatches {
  const b = batchesByDeps.get(deps) ?? new PollBatches(deps);
  batchesByDeps.set(deps, b);
  return b;
}

/**
 * Stores the parsed documents of several polls in one transaction: the feeds' rows locked
 * (serialising concurrent polls of one feed at the write step), their stored advisories
 * read, each diffed, and every advisory, version, event, fan-out and poll record written
 * with one statement per kind.
 */
async function storeAll(deps: PollDeps, jobs: readonly StoreJob[]): Promise<Stored[]> {
  const { diffAdvisories } = await changeDetection();
  let recordedEvents = false;
  const results = await deps.db.transaction().execute(async (tx) => {
    const ids = jobs.map((j) => j.feed.id);
    const baselineAt = await lockFeedRows(tx, ids);
    const stored = await loadStoredAdvisories(tx, ids);
    const entries = jobs.map((j) => {
      const baseline = !baselineAt.get(j.feed.id) && !j.feed.alertOnFirstPoll;
      return { feed: j.feed, baseline, diff: diffAdvisories(stored.get(j.feed.id) ?? [], j.items, { baseline, retainsWhenAbsent: j.retainsWhenAbsent }) };
    });
    const now = deps.clock.now();
    const eventIds = await applyDiffs(tx, entries, now);
    const all = eventIds.flat();
    recordedEvents = all.length > 0;
    if (recordedEvents && deps.onEvents) await deps.onEvents(tx, all);
    const results = entries.map(({ baseline, diff }, i) => ({
      counts: {
        new: diff.added.length,
        updated: diff.changed.length,
        unchanged: diff.unchanged.length,
        removed: diff.removed.length,
        events: eventIds[i]!.length,
      },
      baseline,
      duplicates: diff.duplicates,
    }));
    await recordSuccesses(
      tx,
      jobs.map((j, i) => ({
        feedId: j.feed.id,
        startedAt: j.startedAt,
        finishedAt: now,
        status: 'ok' as const,
        httpStatus: j.httpStatus,
        counts: results[i]!.counts,
        etag: j.etag,
        lastModified: j.lastModified,
        leaseOwner: j.leaseOwner,
      })),
    );
    return results;
  });
  if (recordedEvents) {
    // The events are committed: whatever goes wrong in telling others must not turn this
    // poll into a failure (it would be recorded as one, and its events stay).
    try {
      deps.afterEventsCommitted?.();
    } catch (err) {
      deps.logger.warn({ err }, 'could not announce the events this poll committed');
    }
  }
  return results;
}

/**
 * One poll of one feed: fetch, parse, diff, write. A failure at any step is
 * recorded on the feed and changes nothing else; the feed's stored advisories,
 * validators and baseline stay as they were.
 *
 * `force` ignores the back-off / Retry-After window (an admin's explicit `poll`).
 */
export async function pollFeed(deps: PollDeps, feed: FeedConfig, options: PollOptions = {}): Promise<PollOutcome> {
  const result = await pollFeedOnce(deps, feed, options);
  deps.onOutcome?.(result.status);
  return result;
}

interface PollOptions {
  force?: boolean;
  /** A lease pollFeeds asked for ahead (the row, or undefined when refused) and its owner. */
  lease?: { row: Promise<FeedRow | undefined>; owner: string };
  /** Called once the feed's fetch is over, before its writes: pollFeeds starts the next fetch then. */
  onFetched?: () => void;
}

/** The longest a poll of `feed` can take once its fetch starts. */
function pollLeaseMs(feed: FeedConfig, settings: Settings): number {
  return (feed.timeoutSeconds ?? settings.http.timeoutSeconds) * 1000 + 120_000;
}

/** The reason of a poll skipped because another poll of the feed holds its lease. */
export const POLLED_ELSEWHERE = 'another poll of this feed is in progress';

async function pollFeedOnce(deps: PollDeps, feed: FeedConfig, options: PollOptions): Promise<PollOutcome> {
  const { db, logger, clock, settings } = deps;
  const batches = batchesFor(deps);
  const log = logger.child({ feed: feed.id });
  const startedAt = clock.now();
  // Across processes, one poll of a feed at a time (a manual `poll` next to a scheduled one).
  const owner = options.lease?.owner ?? leaseOwner();
  // The feed's row and its lease in one statement (shared with the polls starting with
  // it); only when that is refused does a second look at the row tell why.
  const row = await (options.lease?.row ??
    batches.lease.add({ feedId: feed.id, owner, now: startedAt, leaseMs: pollLeaseMs(feed, settings), force: options.force === true }));
  if (!row) {
    const current = await getFeedRow(db, feed.id);
    if (!current) throw new Error(`feed "${feed.id}" is not in the database; sync the configuration first`);
    if (!options.force && current.not_before && current.not_before > startedAt) {
      log.debug({ notBefore: current.not_before }, 'poll skipped: backing off');
      return outcome(feed.id, 'skipped', { notBefore: current.not_before });
    }
    log.info(`poll skipped: ${POLLED_ELSEWHERE}`);
    return outcome(feed.id, 'skipped', { error: POLLED_ELSEWHERE });
  }
  // A running service schedules the feeds.yaml it loaded; a `feeds sync` of another file
  // since then may have removed, disabled or re-pointed this feed in the database. Not polled:
  // its alerts must not go out after the admin took it away, nor its validators be written
  // onto the row of another URL. The process takes the database's list only when it reloads
  // — and a reload writes its own feeds.yaml back, so the skip names both.
  // (A feed disabled in both is polled: an admin named it, `poll --feed`.)
  const changed = !row.in_config
    ? 'removed'
    : feed.enabled && !row.enabled
      ? 'disabled'
      : row.url !== feed.url || row.source !== feed.source
        ? 'changed'
        : undefined;
  if (changed) {
    await releasePollLease(db, feed.id, owner).catch((e: unknown) => log.warn({ err: e }, 'could not release the poll lease; it expires on its own'));
    const error = `${changed} in the database's feeds since this process loaded feeds.yaml: not polled; a reload (SIGHUP) or restart writes this process's feeds.yaml back into the database, so change that file too unless it is the one synced`;
    log.warn(error);
    return outcome(feed.id, 'skipped', { error });
  }
  try {
    // Every way pollLeased returns records the poll, and that same statement gives the lease back.
    return await pollLeased(deps, batches, feed, row, startedAt, log, owner, options.onFetched);
  } catch (err) {
    await releasePollLease(db, feed.id, owner).catch((e: unknown) => log.warn({ err: e }, 'could not release the poll lease; it expires on its own'));
    throw err;
  }
}

async function pollLeased(
  deps: PollDeps,
  batches: PollBatches,
  feed: FeedConfig,
  row: FeedRow,
  startedAt: Date,
  log: Logger,
  leaseOwner: string,
  onFetched: (() => void) | undefined,
): Promise<PollOutcome> {
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
    onFetched?.();
    return fail(err, err instanceof FeedFetchError ? (err.details.status ?? null) : null);
  }
  if (fetched.status === 'not-modified') {
    onFetched?.();
    await batches.notModified.add({
      feedId: feed.id,
      startedAt,
      finishedAt: clock.now(),
      status: 'not-modified',
      httpStatus: 304,
      etag: fetched.validators.etag,
      lastModified: fetched.validators.lastModified,
      leaseOwner,
    });
    log.debug('not modified');
    return outcome(feed.id, 'not-modified', { httpStatus: 304 });
  }
  // The fetch slot goes to the next feed only once there is room for this document in the
  // store batches: fetching and parsing wait for the database instead of piling up documents.
  return batches.storeAhead(() => {
    onFetched?.();
    return storeFetched(deps, batches, feed, fetched, startedAt, log, leaseOwner, fail);
  });
}

/** Parse, diff and store a fetched document (pollLeased's second half). */
async function storeFetched(
  deps: PollDeps,
  batches: PollBatches,
  feed: FeedConfig,
  fetched: Extract<FetchResult, { status: 'ok' }>,
  startedAt: Date,
  log: Logger,
  leaseOwner: string,
  fail: (err: unknown, httpStatus: number | null) => Promise<PollOutcome>,
): Promise<PollOutcome> {
  let items: AdvisoryItem[];
  const { profileFor } = await changeDetection();
  const profile = profileFor(feed.source);
  try {
    items = await profile.parse(fetched.text, feed);
  } catch (err) {
    return fail(err, fetched.httpStatus);
  }
  // Stored all the same (a profile may be right and the document odd for a while), but said loudly.
  const warning = understandingWarning(feed.source, items);
  if (warning) log.warn({ items: items.length }, warning);

  const stored = await batches.store.add({
    feed,
    items,
    retainsWhenAbsent: profile.retainsWhenAbsent?.bind(profile),
    startedAt,
    httpStatus: fetched.httpStatus,
    etag: fetched.validators.etag,
    lastModified: fetched.validators.lastModified,
    leaseOwner,
  });
  if ('error' in stored) {
    // A database failure mid-poll rolled the transaction back; record it if we still can.
    try {
      return await fail(new Error(`storing the poll failed: ${errorMessage(stored.error)}`, { cause: stored.error }), fetched.httpStatus);
    } catch {
      throw stored.error;
    }
  }
  if (stored.duplicates > 0) log.warn({ duplicates: stored.duplicates }, 'items with a repeated identity were ignored');
  log.info({ ...stored.counts, baseline: stored.baseline }, 'polled');
  return outcome(feed.id, 'ok', { ...stored.counts, httpStatus: fetched.httpStatus, baseline: stored.baseline, warning });
}

/**
 * Polls feeds with bounded concurrency; one feed's failure never stops the others.
 *
 * The concurrency bounds fetches only: a feed's slot goes to the next feed as soon as its
 * fetch is over (and, for a document, there is room in the store batches), and its writes join
 * the batches of the polls around it. The leases of all
 * the feeds are asked for at once (a statement per 500); as a feed may wait for a slot, its
 * lease lasts one poll's length for each round of `concurrency` feeds before it, so it
 * still outlives the poll and a crashed poller's leases still expire on their own.
 */
export async function pollFeeds(deps: PollDeps, feeds: readonly FeedConfig[], options: { force?: boolean; concurrency?: number } = {}): Promise<PollOutcome[]> {
  const concurrency = Math.max(1, options.concurrency ?? deps.settings.http.concurrency);
  const limit = pLimit(concurrency);
  const batches = batchesFor(deps);
  const now = deps.clock.now();
  const leases = feeds.map((feed, i) => {
    const owner = leaseOwner();
    const leaseMs = pollLeaseMs(feed, deps.settings) * (Math.floor(i / concurrency) + 1);
    const row = batches.lease.add({ feedId: feed.id, owner, now, leaseMs, force: options.force === true });
    // Awaited when the feed's turn comes; a failure is that feed's error, not an unhandled rejection now.
    row.catch(() => {});
    return { row, owner };
  });
  return Promise.all(
    feeds.map(
      (feed, i) =>
        new Promise<PollOutcome>((resolve) => {
          void limit(
            () =>
              new Promise<void>((release) => {
                void pollFeed(deps, feed, { ...(options.force !== undefined ? { force: options.force } : {}), lease: leases[i]!, onFetched: release })
                  .catch((err: unknown) => {
                    deps.logger.error({ feed: feed.id, err }, 'poll crashed');
                    return outcome(feed.id, 'error', { error: errorMessage(err) });
                  })
                  .then((result) => {
                    release();
                    resolve(result);
                  });
              }),
          );
        }),
    ),
  );
}
