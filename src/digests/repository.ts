import { sql } from 'kysely';
import type { DB } from '../db/connect.ts';
import { jsonParameter } from '../db/json.ts';
import { claimDue, completeClaimed, renewLease, type GaveUp, type Outcome } from '../db/outbox.ts';
import { type Recipient, withRecipients } from '../subscriptions/recipients.ts';

// All SQL about digests: creating the ones that fell due (claiming their
// waiting deliveries), and their small outbox (lease, send, complete: db/outbox.ts).

export interface DigestTiming {
  /** "HH:MM", local time in each subscriber's zone. */
  digestHour: string;
  defaultTimezone: string;
}

/**
 * Creates every digest that has fallen due by `now` and attaches to it the
 * routine emails waiting for it, in one transaction. A subscriber's period is
 * the latest digest time at or before `now` in their zone: today's (or
 * yesterday's, before the hour) local date for daily, this (or last) week's
 * Monday for weekly. The unique (subscriber, period) key makes the digest
 * exist once however many processes run this at the same moment: the second
 * insert waits for the first to commit and then does nothing. Only deliveries
 * recorded up to the digest time are taken; later ones wait for the next.
 * A subscriber who went back to `immediate` with emails still waiting gets
 * them in one last daily digest rather than never.
 */
export async function createDueDigests(db: DB, now: Date, timing: DigestTiming): Promise<number> {
  return db.transaction().execute(async (tx) => {
    const created = await sql<{ id: number }>`
      with waiting as (
        select s.id as subscriber_id,
               case when s.email_frequency = 'weekly' then 'weekly' else 'daily' end as frequency,
               coalesce(s.timezone, ${timing.defaultTimezone}) as tz
        from subscribers s
        where s.status = 'confirmed'
          and exists (select 1 from deliveries d where d.subscriber_id = s.id and d.status = 'digest')
      ), local as (
        select w.*, (${now}::timestamptz at time zone w.tz) as local_now, ${timing.digestHour}::time as hour
        from waiting w
      ), slot as (
        select l.subscriber_id, l.frequency, l.tz,
          case when l.frequency = 'daily'
            then l.local_now::date - case when l.local_now::time < l.hour then 1 else 0 end
            else date_trunc('week', l.local_now)::date - case when l.local_now < date_trunc('week', l.local_now) + l.hour then 7 else 0 end
          end as day,
          l.hour
        from local l
      ), due as (
        select s.subscriber_id, s.frequency, s.frequency || ':' || s.day::text as period, (s.day + s.hour) at time zone s.tz as due_at
        from slot s
      )
      insert into digests (subscriber_id, period, frequency, due_at, next_attempt_at, created_at)
      select d.subscriber_id, d.period, d.frequency, d.due_at, ${now}::timestamptz, ${now}::timestamptz
      from due d
      where exists (select 1 from deliveries x where x.subscriber_id = d.subscriber_id and x.status = 'digest' and x.created_at <= d.due_at)
      on conflict (subscriber_id, period) do nothing
      returning id`.execute(tx);
    if (created.rows.length === 0) return 0;
    await sql`
      update deliveries d set status = 'digested', digest_id = g.id
      from digests g
      where g.id = any(${sql.val(created.rows.map((r) => Number(r.id)))}::bigint[])
        and d.subscriber_id = g.subscriber_id and d.status = 'digest' and d.created_at <= g.due_at`.execute(tx);
    return created.rows.length;
  });
}

export interface ClaimedDigest extends Recipient {
  id: number;
  subscriberId: number;
  period: string;
  frequency: 'daily' | 'weekly';
  dueAt: Date;
  attempts: number;
  deliveryIds: number[];
}

/** Leases due digests (db/outbox.ts: pending, or sending with an expired lease: a sender died). */
export async function claimDigests(db: DB, options: { owner: string; limit: number; leaseMs: number; now: Date }): Promise<ClaimedDigest[]> {
  const rows = await claimDue(db, 'digests', ['id', 'subscriber_id', 'period', 'frequency', 'due_at', 'attempts'], options);
  if (rows.length === 0) return [];
  const claimed = await withRecipients(db, rows);
  const ids = rows.map((r) => r.id);
  const deliveries = await db.selectFrom('deliveries').select(['id', 'digest_id']).where('digest_id', 'in', ids).orderBy('event_id').execute();
  return claimed.map(({ row: r, to }) => ({
    ...to,
    id: r.id,
    subscriberId: r.subscriber_id,
    period: r.period,
    frequency: r.frequency,
    dueAt: r.due_at,
    attempts: r.attempts,
    deliveryIds: deliveries.filter((d) => d.digest_id === r.id).map((d) => d.id),
  }));
}

/** Renews this process's lease on a claimed digest just before its send (db/outbox.ts); false when it was lost. */
export async function renewDigestLease(db: DB, owner: string, id: number, options: { leaseMs: number; now: Date }): Promise<boolean> {
  return renewLease(db, 'digests', owner, id, options);
}

/**
 * Takes out of a claimed digest the deliveries the subscriber no longer wants (the
 * matching rule on their current subscriptions, as the dispatcher applies it): each
 * becomes 'skipped' with its reason and leaves the digest, so the digest's events are
 * the ones it sends. Only while this process holds the digest's lease; a repeat after
 * a crash finds them gone already. Returns how many were taken out.
 */
export async function skipDigestDeliveries(db: DB, owner: string, id: number, skips: readonly { id: number; reason: string }[], now: Date): Promise<number> {
  if (skips.length === 0) return 0;
  // Like the dispatcher's skip (delivery/repository.ts `complete`): the reason in last_error and in an attempt row.
  const r = await sql<{ id: number }>`
    with v as (
      select * from jsonb_to_recordset(${jsonParameter(skips)}::jsonb) as v(id bigint, reason text)
    ), skipped as (
      update deliveries d set status = 'skipped', last_error = v.reason, digest_id = null
      from v
      where d.id = v.id and d.digest_id = ${id} and d.status = 'digested'
        and exists (select 1 from digests g where g.id = ${id} and g.lease_owner = ${owner} and g.status = 'sending')
      returning d.id, v.reason
    )
    insert into delivery_attempts (delivery_id, attempted_at, outcome, error, duration_ms)
    select s.id, ${now}::timestamptz, 'skipped', s.reason, 0 from skipped s
    returning delivery_id as id`.execute(db);
  return r.rows.length;
}

/** Records a digest's outcome, only while this process still holds its lease; a sent digest marks its deliveries sent. */
export async function completeDigest(db: DB, owner: string, id: number, outcome: Outcome<GaveUp<'digests'>>): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    if (!(await completeClaimed(tx, 'digests', owner, id, outcome))) return false;
    if (outcome.status === 'sent') await tx.updateTable('deliveries').set({ sent_at: outcome.at }).where('digest_id', '=', id).execute();
    return true;
  });
}

export interface DigestListing {
  id: number;
  subscriber: string;
  period: string;
  status: string;
  events: number;
  dueAt: Date;
  sentAt: Date | null;
}

export async function listDigests(db: DB): Promise<DigestListing[]> {
  const rows = await db
    .selectFrom('digests as g')
    .innerJoin('subscribers as s', 's.id', 'g.subscriber_id')
    .select((eb) => [
      'g.id',
      's.email',
      'g.period',
      'g.status',
      'g.due_at',
      'g.sent_at',
      eb
        .selectFrom('deliveries as d')
        .whereRef('d.digest_id', '=', 'g.id')
        .select((e) => e.fn.countAll<number>().as('n'))
        .as('events'),
    ])
    .orderBy('g.id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    subscriber: r.email,
    period: r.period,
    status: r.status,
    events: Number(r.events ?? 0),
    dueAt: r.due_at,
    sentAt: r.sent_at,
  }));
}
