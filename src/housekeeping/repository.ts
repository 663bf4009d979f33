import { type RawBuilder, sql } from 'kysely';
import type { DB } from '../db/connect.ts';

// All SQL of housekeeping: retention deletes, in bounded batches so a large
// backlog never holds long locks on hot tables. `id = any(array(select … limit))`
// rather than `id in (select …)`: the planner then deletes through the primary
// key instead of hashing the whole table for each batch (EXPLAIN on 1M rows:
// ~160 ms instead of ~500 ms a batch).

const BATCH = 10_000;

async function deleteInBatches(run: () => Promise<number>): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await run();
    total += n;
    if (n < BATCH) return total;
  }
}

/** Deletes `table`'s rows matching `where` (over the table's own columns), a batch at a time. */
function deleteWhere(db: DB, table: string, where: RawBuilder<unknown>): Promise<number> {
  return deleteInBatches(async () => {
    const r = await sql`delete from ${sql.table(table)} where id = any(array(
      select id from ${sql.table(table)} where ${where} limit ${BATCH}))`.execute(db);
    return Number(r.numAffectedRows ?? 0);
  });
}

export async function deleteSentDeliveries(db: DB, before: Date): Promise<number> {
  // delivery_attempts go with them (ON DELETE CASCADE).
  return deleteWhere(db, 'deliveries', sql`status = 'sent' and sent_at < ${before}::timestamptz`);
}

export async function deleteOldAttempts(db: DB, before: Date): Promise<number> {
  return deleteWhere(db, 'delivery_attempts', sql`attempted_at < ${before}::timestamptz`);
}

export async function deleteOldPollRuns(db: DB, before: Date): Promise<number> {
  return deleteWhere(db, 'poll_runs', sql`started_at < ${before}::timestamptz`);
}

/** Versions nobody points to any more: not an advisory's current one, not in any event. */
export async function deleteOrphanVersions(db: DB, before: Date): Promise<number> {
  return deleteInBatches(async () => {
    const r = await sql`delete from advisory_versions v where v.id in (
      select v2.id from advisory_versions v2
      where v2.created_at < ${before}::timestamptz
        and not exists (select 1 from advisories a where a.version_id = v2.id)
        and not exists (select 1 from events e where e.version_id = v2.id or e.previous_version_id = v2.id)
      limit ${BATCH})`.execute(db);
    return Number(r.numAffectedRows ?? 0);
  });
}

export async function deleteOldCronClaims(db: DB, before: Date): Promise<number> {
  const r = await db.deleteFrom('cron_claims').where('claimed_at', '<', before).executeTakeFirst();
  return Number(r.numDeletedRows);
}

export async function deleteExpiredTokens(db: DB, now: Date): Promise<number> {
  const t = await db.deleteFrom('subscriber_tokens').where('expires_at', '<', now).executeTakeFirst();
  const p = await db.deleteFrom('phone_verifications').where('expires_at', '<', now).executeTakeFirst();
  return Number(t.numDeletedRows) + Number(p.numDeletedRows);
}

/** Counts of phone codes and confirmation emails too old to count towards any cap or cool-down. */
export async function deleteOldVerificationSends(db: DB, before: Date): Promise<number> {
  return deleteWhere(db, 'verification_sends', sql`sent_at < ${before}::timestamptz`);
}

/**
 * Trips whose last day is before `lastDayBefore` (a date): past trips stay
 * visible as past on the manage page for a while, then go. Their briefings
 * keep the ids of trips that no longer exist, which is harmless (sent ones
 * are history; a pending one finds nothing and is marked failed).
 */
export async function deleteEndedTrips(db: DB, lastDayBefore: string): Promise<number> {
  return deleteWhere(db, 'trips', sql`last_day < ${lastDayBefore}::date`);
}

/** Confirmation emails done with (sent, refused, given up) before `before`; waiting ones stay. */
export async function deleteFinishedConfirmations(db: DB, before: Date): Promise<number> {
  return deleteWhere(db, 'confirmation_emails', sql`status in ('sent', 'failed', 'refused') and created_at < ${before}::timestamptz`);
}
