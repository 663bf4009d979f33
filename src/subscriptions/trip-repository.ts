import { sql, type Transaction } from 'kysely';
import type { DB } from '../db/connect.ts';
import { claimDue, completeClaimed, type Outcome } from '../db/outbox.ts';
import type { Database, SubscriberStatus } from '../db/types.ts';
import { type Recipient, withRecipients } from './recipients.ts';
import type { TripInput } from './trip-validate.ts';

// All SQL about trips and their briefing emails (a small outbox of their own).
// The fan-out's use of trips is in delivery/repository.ts, with the rest of
// the matching SQL; retention in housekeeping/repository.ts.

type Tx = Transaction<Database>;

export interface Trip {
  id: number;
  subscriberId: number;
  countries: string[];
  /** "YYYY-MM-DD" in the subscriber's zone. */
  from: string;
  to: string;
  createdAt: Date;
}

function tripQuery(q: DB | Tx) {
  return q
    .selectFrom('trips')
    .select(['id', 'subscriber_id', 'countries', sql<string>`first_day::text`.as('first_day'), sql<string>`last_day::text`.as('last_day'), 'created_at']);
}

function toTrip(r: { id: number; subscriber_id: number; countries: string[]; first_day: string; last_day: string; created_at: Date }): Trip {
  return { id: Number(r.id), subscriberId: Number(r.subscriber_id), countries: r.countries, from: r.first_day, to: r.last_day, createdAt: r.created_at };
}

export interface TripOwner {
  id: number;
  email: string;
  status: SubscriberStatus;
  timezone: string | null;
}

export async function tripOwnerByEmail(db: DB, email: string): Promise<TripOwner | undefined> {
  const r = await db.selectFrom('subscribers').select(['id', 'email', 'status', 'timezone']).where('email', '=', email).executeTakeFirst();
  return r && { ...r, id: Number(r.id) };
}

/** Refused by the per-subscriber cap on trips not yet over. */
export class TooManyTripsError extends Error {
  constructor(readonly limit: number) {
    super(`trips: at most ${limit} trips that are not over yet`);
    this.name = 'TooManyTripsError';
  }
}

/**
 * Adds trips inside the caller's transaction (the subscriber row is locked,
 * so two requests cannot both pass the cap). A trip the subscriber already
 * has (same countries and days) is not added twice; its id is returned with
 * the new ones. Returns the ids of the trips that were new.
 */
export async function insertTrips(
  tx: Tx,
  subscriberId: number,
  trips: readonly TripInput[],
  options: { now: Date; today: string; maxOpenTrips: number },
): Promise<number[]> {
  if (trips.length === 0) return [];
  await tx.selectFrom('subscribers').select('id').where('id', '=', subscriberId).forUpdate().executeTakeFirst();
  const open = await tx
    .selectFrom('trips')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('subscriber_id', '=', subscriberId)
    .where(sql<boolean>`last_day >= ${options.today}::date`)
    .executeTakeFirstOrThrow();
  if (Number(open.n) + trips.length > options.maxOpenTrips) throw new TooManyTripsError(options.maxOpenTrips);
  const added: number[] = [];
  for (const t of trips) {
    const r = await tx
      .insertInto('trips')
      .values({ subscriber_id: subscriberId, countries: t.countries, first_day: t.from, last_day: t.to, created_at: options.now })
      .onConflict((oc) => oc.constraint('trips_once').doNothing())
      .returning('id')
      .executeTakeFirst();
    if (r) added.push(Number(r.id));
  }
  return added;
}

/** Queues one briefing email about these trips (sent by sendDueBriefings). */
export async function queueBriefing(tx: Tx | DB, subscriberId: number, tripIds: readonly number[], now: Date): Promise<number | null> {
  if (tripIds.length === 0) return null;
  const r = await tx
    .insertInto('briefings')
    .values({ subscriber_id: subscriberId, trip_ids: [...tripIds], next_attempt_at: now, created_at: now })
    .returning('id')
    .executeTakeFirstOrThrow();
  return Number(r.id);
}

/**
 * Adds trips for a subscriber and, when they are confirmed, queues the
 * briefing about the new ones in the same transaction: a crash after the
 * commit leaves a pending briefing, never a trip without one.
 */
export async function addTrips(
  db: DB,
  subscriberId: number,
  trips: readonly TripInput[],
  options: { now: Date; today: string; maxOpenTrips: number },
): Promise<{ added: number[]; briefingId: number | null }> {
  return db.transaction().execute(async (tx) => {
    const added = await insertTrips(tx, subscriberId, trips, options);
    const sub = await tx.selectFrom('subscribers').select('status').where('id', '=', subscriberId).executeTakeFirst();
    const briefingId = sub?.status === 'confirmed' ? await queueBriefing(tx, subscriberId, added, options.now) : null;
    return { added, briefingId };
  });
}

/** Trips not over yet (last day on or after `today`) that no briefing covered: what a subscriber confirming now is briefed on. */
export async function unbriefedOpenTrips(tx: Tx | DB, subscriberId: number, today: string): Promise<number[]> {
  const rows = await sql<{ id: number }>`
    select t.id from trips t
    where t.subscriber_id = ${subscriberId} and t.last_day >= ${today}::date
      and not exists (select 1 from briefings b where b.subscriber_id = t.subscriber_id and t.id = any(b.trip_ids))
    order by t.first_day, t.id`.execute(tx);
  return rows.rows.map((r) => Number(r.id));
}

export async function tripsOf(db: DB | Tx, subscriberId: number): Promise<Trip[]> {
  return (await tripQuery(db).where('subscriber_id', '=', subscriberId).orderBy('first_day').orderBy('id').execute()).map(toTrip);
}

export async function tripsByIds(db: DB, ids: readonly number[]): Promise<Trip[]> {
  if (ids.length === 0) return [];
  return (
    await tripQuery(db)
      .where('id', 'in', [...ids])
      .orderBy('first_day')
      .orderBy('id')
      .execute()
  ).map(toTrip);
}

export interface TripListing extends Trip {
  email: string;
  timezone: string | null;
}

export async function listTrips(db: DB, options: { email?: string | undefined } = {}): Promise<TripListing[]> {
  let q = db
    .selectFrom('trips as t')
    .innerJoin('subscribers as s', 's.id', 't.subscriber_id')
    .select([
      't.id',
      't.subscriber_id',
      't.countries',
      sql<string>`t.first_day::text`.as('first_day'),
      sql<string>`t.last_day::text`.as('last_day'),
      't.created_at',
      's.email',
      's.timezone',
    ])
    .orderBy('t.first_day')
    .orderBy('t.id');
  if (options.email) q = q.where('s.email', '=', options.email);
  return (await q.execute()).map((r) => ({ ...toTrip(r), email: r.email, timezone: r.timezone }));
}

/** Deletes a trip; `subscriberId` restricts it to that subscriber's own (the manage page). */
export async function removeTrip(db: DB, id: number, subscriberId?: number): Promise<boolean> {
  let q = db.deleteFrom('trips').where('id', '=', id);
  if (subscriberId !== undefined) q = q.where('subscriber_id', '=', subscriberId);
  const r = await q.executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

// --- The briefing outbox: lease, send, complete (db/outbox.ts, as digests and confirmations do).

export interface ClaimedBriefing extends Recipient {
  id: number;
  subscriberId: number;
  tripIds: number[];
  attempts: number;
}

/**
 * Leases due briefings (db/outbox.ts: pending ones whose time has come, and
 * sending ones whose lease expired). `subscriberId` narrows the claim to one
 * subscriber (the briefing sent at once after adding a trip).
 */
export async function claimBriefings(
  db: DB,
  options: { owner: string; limit: number; leaseMs: number; now: Date; subscriberId?: number | undefined },
): Promise<ClaimedBriefing[]> {
  const only = options.subscriberId === undefined ? undefined : { column: 'subscriber_id' as const, equals: options.subscriberId };
  const rows = await claimDue(db, 'briefings', ['id', 'subscriber_id', 'trip_ids', 'attempts'], { ...options, only });
  return (await withRecipients(db, rows)).map(({ row: r, to }) => ({
    ...to,
    id: r.id,
    subscriberId: r.subscriber_id,
    tripIds: r.trip_ids.map(Number),
    attempts: r.attempts,
  }));
}

/** Records a briefing's outcome, only while this process still holds its lease. */
export async function completeBriefing(db: DB, owner: string, id: number, outcome: Outcome): Promise<boolean> {
  return completeClaimed(db, 'briefings', owner, id, outcome);
}
