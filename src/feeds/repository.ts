import { sql, type Transaction } from 'kysely';
import type { FeedConfig } from '../config/schema.ts';
import type { DB } from '../db/connect.ts';
import { jsonParameter } from '../db/json.ts';
import type { Database, FeedRow, PollStatus } from '../db/types.ts';

// All SQL about feeds and their poll history.

type Tx = Transaction<Database>;

/**
 * Make the feeds table agree with feeds.yaml: new feeds are added, changed ones
 * updated, removed ones marked `in_config = false` (never deleted: their
 * advisories and events stay). A changed URL drops the stored validators, which
 * belong to the old URL.
 */
export async function syncFeeds(db: DB, feeds: readonly FeedConfig[]): Promise<void> {
  await db.transaction().execute(async (tx) => {
    for (const f of feeds) {
      await tx
        .insertInto('feeds')
        .values({ id: f.id, name: f.name ?? f.id, url: f.url, source: f.source, enabled: f.enabled, in_config: true, schedule: f.schedule ?? null })
        .onConflict((oc) =>
          oc.column('id').doUpdateSet((eb) => ({
            name: eb.ref('excluded.name'),
            source: eb.ref('excluded.source'),
            enabled: eb.ref('excluded.enabled'),
            schedule: eb.ref('excluded.schedule'),
            in_config: true,
            etag: sql`case when feeds.url = excluded.url then feeds.etag end`,
            last_modified: sql`case when feeds.url = excluded.url then feeds.last_modified end`,
            url: eb.ref('excluded.url'),
          })),
        )
        .execute();
    }
    let gone = tx.updateTable('feeds').set({ in_config: false }).where('in_config', '=', true);
    if (feeds.length > 0)
      gone = gone.where(
        'id',
        'not in',
        feeds.map((f) => f.id),
      );
    await gone.execute();
  });
}

export interface FeedsComparison {
  /** No feed was ever recorded: a fresh database nobody has configured yet. */
  empty: boolean;
  /** One line per difference between the given feeds and the database's current ones. */
  differences: string[];
}

/**
 * The given feeds (a command's feeds.yaml) against the feeds the database holds
 * as configured (the running service's, or the last `migrate`/`feeds sync`).
 * Read-only: one-shot commands compare, only the service and `feeds sync` write.
 */
export async function compareFeeds(db: DB, feeds: readonly FeedConfig[], options: { only?: readonly string[] } = {}): Promise<FeedsComparison> {
  const rows = await db.selectFrom('feeds').select(['id', 'name', 'url', 'source', 'enabled', 'in_config', 'schedule']).execute();
  const stored = new Map(rows.filter((r) => r.in_config).map((r) => [r.id, r]));
  const only = options.only ? new Set(options.only) : undefined;
  const differences: string[] = [];
  for (const f of feeds) {
    if (only && !only.has(f.id)) continue;
    const r = stored.get(f.id);
    if (!r) {
      differences.push(`feed "${f.id}" is not among the database's feeds`);
      continue;
    }
    const fields: string[] = [];
    if (r.url !== f.url) fields.push('url');
    if (r.source !== f.source) fields.push('source');
    if (r.enabled !== f.enabled) fields.push('enabled');
    if (r.name !== (f.name ?? f.id)) fields.push('name');
    if ((r.schedule ?? null) !== (f.schedule ?? null)) fields.push('schedule');
    if (fields.length) differences.push(`feed "${f.id}": ${fields.join(', ')} differ${fields.length === 1 ? 's' : ''}`);
  }
  if (!only) {
    const here = new Set(feeds.map((f) => f.id));
    for (const id of stored.keys()) if (!here.has(id)) differences.push(`feed "${id}" is in the database but not in this feeds.yaml`);
  }
  return { empty: rows.length === 0, differences };
}

export async function getFeedRow(db: DB | Tx, id: string): Promise<FeedRow | undefined> {
  return db.selectFrom('feeds').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * Locks the feeds' rows for the rest of the transaction (the write step of their polls)
 * and returns when each was first baselined. In id order, so two transactions locking
 * overlapping sets wait for each other instead of deadlocking.
 */
export async function lockFeedRows(tx: Tx, ids: readonly string[]): Promise<Map<string, Date | null>> {
  if (ids.length === 0) return new Map();
  const rows = await tx.selectFrom('feeds').select(['id', 'baseline_at']).where('id', 'in', ids).orderBy('id').forUpdate().execute();
  return new Map(rows.map((r) => [r.id, r.baseline_at]));
}

export interface PollRecord {
  feedId: string;
  startedAt: Date;
  finishedAt: Date;
  status: PollStatus;
  httpStatus: number | null;
  counts?: { new: number; updated: number; unchanged: number; removed: number; events: number };
  error?: string | null;
  /** The poll's lease owner: the same statement gives the lease back (see leaseFeedForPoll). */
  leaseOwner?: string;
}

function pollRunValues(r: PollRecord) {
  return {
    feed_id: r.feedId,
    started_at: r.startedAt,
    finished_at: r.finishedAt,
    status: r.status,
    http_status: r.httpStatus,
    new_count: r.counts?.new ?? 0,
    updated_count: r.counts?.updated ?? 0,
    unchanged_count: r.counts?.unchanged ?? 0,
    removed_count: r.counts?.removed ?? 0,
    events_count: r.counts?.events ?? 0,
    error: r.error ?? null,
  };
}

/** Gives the poll lease back if `owner` holds it (a column value for the feeds update). */
function releasedLease(owner: string | undefined) {
  return owner === undefined
    ? {}
    : {
        poll_lease_owner: sql<string | null>`case when poll_lease_owner = ${owner} then null else poll_lease_owner end`,
        poll_lease_until: sql<Date | null>`case when poll_lease_owner = ${owner} then null else poll_lease_until end`,
      };
}

// Each record* below is ONE statement: the feed's update (which also gives the
// poll lease back) runs in a data-modifying CTE, executed exactly once whether
// or not the insert reads it, and the poll run is inserted by the main query.
// A statement is atomic, so this is what an explicit transaction of the two
// gave, in one round trip instead of four (BEGIN, UPDATE, INSERT, COMMIT) plus
// one for the lease — which matters when a cycle of 1,000 feeds is mostly 304s.

/** A failed poll: why, when to try again; stored advisories are not touched. */
export async function recordFailure(db: DB, r: PollRecord & { notBefore: Date }): Promise<void> {
  await db
    .with('feed', (qb) =>
      qb
        .updateTable('feeds')
        .set((eb) => ({
          last_polled_at: r.finishedAt,
          last_status: 'error',
          last_error: r.error ?? null,
          consecutive_failures: eb('consecutive_failures', '+', 1),
          not_before: r.notBefore,
          ...releasedLease(r.leaseOwner),
        }))
        .where('id', '=', r.feedId)
        .returning('id'),
    )
    .insertInto('poll_runs')
    .values(pollRunValues(r))
    .execute();
}

/** A poll that reached the feed: 'not-modified' (a 304) or 'ok' (stored, inside the poll's transaction). */
export type SuccessRecord = PollRecord & { status: 'ok' | 'not-modified'; etag: string | null; lastModified: string | null };

/**
 * Records many successful polls in ONE statement: each feed's row (validators, status,
 * failures cleared, baseline set on its first 'ok', its poll lease given back) in a
 * data-modifying CTE, and a poll run per feed. A poll cycle of 1,000 feeds mostly
 * answering 304 is then a handful of round trips instead of one or two per feed.
 */
export async function recordSuccesses(db: DB | Tx, records: readonly SuccessRecord[]): Promise<void> {
  if (records.length === 0) return;
  const rows = records.map((r) => ({
    ...pollRunValues(r),
    started_at: r.startedAt.toISOString(),
    finished_at: r.finishedAt.toISOString(),
    etag: r.etag,
    last_modified: r.lastModified,
    lease_owner: r.leaseOwner ?? null,
  }));
  await sql`
    with v as (
      select * from jsonb_to_recordset(${jsonParameter(rows)}::jsonb) as v(
        feed_id text, started_at timestamptz, finished_at timestamptz, status text, http_status int,
        new_count int, updated_count int, unchanged_count int, removed_count int, events_count int,
        error text, etag text, last_modified text, lease_owner text)
    ),
    feed as (
      update feeds set
        last_polled_at = v.finished_at,
        last_success_at = v.finished_at,
        last_status = v.status,
        last_error = null,
        consecutive_failures = 0,
        not_before = null,
        etag = v.etag,
        last_modified = v.last_modified,
        baseline_at = case when v.status = 'ok' then coalesce(feeds.baseline_at, v.finished_at) else feeds.baseline_at end,
        poll_lease_owner = case when feeds.poll_lease_owner = v.lease_owner then null else feeds.poll_lease_owner end,
        poll_lease_until = case when feeds.poll_lease_owner = v.lease_owner then null else feeds.poll_lease_until end
      from v where feeds.id = v.feed_id
      returning feeds.id
    )
    insert into poll_runs (feed_id, started_at, finished_at, status, http_status, new_count, updated_count, unchanged_count, removed_count, events_count, error)
    select feed_id, started_at, finished_at, status, http_status, new_count, updated_count, unchanged_count, removed_count, events_count, error from v`.execute(
    db,
  );
}

export interface FeedListing {
  id: string;
  name: string;
  url: string;
  source: string;
  enabled: boolean;
  inConfig: boolean;
  /** The schedule the database holds for the feed (null: the default). */
  schedule: string | null;
  lastPolledAt: Date | null;
  lastStatus: PollStatus | null;
  lastError: string | null;
  consecutiveFailures: number;
  advisories: number;
  notBefore: Date | null;
}

export async function listFeeds(db: DB): Promise<FeedListing[]> {
  const rows = await db
    .selectFrom('feeds')
    .leftJoin(
      (eb) =>
        eb
          .selectFrom('advisories')
          .select(['feed_id', (e) => e.fn.countAll<number>().as('n')])
          .where('removed_at', 'is', null)
          .groupBy('feed_id')
          .as('a'),
      (join) => join.onRef('a.feed_id', '=', 'feeds.id'),
    )
    .selectAll('feeds')
    .select((eb) => eb.fn.coalesce('a.n', sql<number>`0`).as('advisories'))
    .orderBy('feeds.id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    url: r.url,
    source: r.source,
    enabled: r.enabled,
    inConfig: r.in_config,
    schedule: r.schedule,
    lastPolledAt: r.last_polled_at,
    lastStatus: r.last_status,
    lastError: r.last_error,
    consecutiveFailures: r.consecutive_failures,
    advisories: Number(r.advisories),
    notBefore: r.not_before,
  }));
}

export interface LeaseRequest {
  feedId: string;
  owner: string;
  now: Date;
  leaseMs: number;
  /** Ignore the feed's back-off window (an admin's explicit `poll`). */
  force: boolean;
}

/**
 * The start of many polls, in one statement: takes each feed's poll lease unless another
 * poll (any process) holds a live one, and returns the rows leased. The lease outlives
 * the longest possible poll, so a crashed poller's lease expires on its own. A feed
 * backing off (`not_before` in the future, unless forced) is not leased either. A feed
 * missing from the answer was not leased: backing off, leased elsewhere, or not in the
 * database (getFeedRow tells which).
 */
export async function leaseFeedsForPoll(db: DB, requests: readonly LeaseRequest[]): Promise<Map<string, FeedRow>> {
  if (requests.length === 0) return new Map();
  const rows = requests.map((r) => ({
    id: r.feedId,
    owner: r.owner,
    now: r.now.toISOString(),
    until: new Date(r.now.getTime() + r.leaseMs).toISOString(),
    force: r.force,
  }));
  const leased = await sql<FeedRow>`
    update feeds set poll_lease_owner = v.owner, poll_lease_until = v.until
    from jsonb_to_recordset(${jsonParameter(rows)}::jsonb) as v(id text, owner text, now timestamptz, until timestamptz, force boolean)
    where feeds.id = v.id
      and (feeds.poll_lease_until is null or feeds.poll_lease_until < v.now or feeds.poll_lease_owner = v.owner)
      and (v.force or feeds.not_before is null or feeds.not_before <= v.now)
    returning feeds.*`.execute(db);
  return new Map(leased.rows.map((r) => [r.id, r]));
}

export async function releasePollLease(db: DB, feedId: string, owner: string): Promise<void> {
  await db
    .updateTable('feeds')
    .set({ poll_lease_owner: null, poll_lease_until: null })
    .where('id', '=', feedId)
    .where('poll_lease_owner', '=', owner)
    .execute();
}

/** node-cron run coordination: the first process to claim a slot's key runs it. */
export async function claimCronSlot(db: DB, key: string, owner: string, now: Date): Promise<boolean> {
  const r = await db
    .insertInto('cron_claims')
    .values({ key, owner, claimed_at: now })
    .onConflict((oc) => oc.column('key').doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
}
