import { sql, type RawBuilder, type Transaction } from 'kysely';
import { type PublicEvent, publicEventsByIds } from '../advisories/repository.ts';
import type { DB } from '../db/connect.ts';
import { jsonParameter } from '../db/json.ts';
import type { Channel, Database, DeliveryChannel, DeliveryStatus, EventKind, SmsUrgency, SubscriberStatus, Urgency } from '../db/types.ts';
import type { MatchSubscription, MatchTrips } from '../subscriptions/match.ts';
import { localDate } from '../subscriptions/trip-window.ts';

// All SQL about deliveries (the outbox) and their attempts, including the fan-out.

type Tx = Transaction<Database>;

/** The settings trip windows are read with (see FanOutOptions); defaults UTC and 14 days. */
export interface TravelerTiming {
  defaultTimezone?: string;
  tripLeadDays?: number;
}

export interface FanOutOptions {
  /** The zone of subscribers who chose none (quiet hours are local times). */
  defaultTimezone?: string;
  /** Days before a trip's first day from which its countries are followed (setting `trips.leadDays`). */
  tripLeadDays?: number;
}

/**
 * The fan-out's insert, for one way of following the event's country
 * (`follows`: the join that yields subscriptions `sub`; `window`: any
 * condition that way adds on the subscriber `s`).
 */
function fanOutInsert(now: Date, defaultTz: string, ids: RawBuilder<unknown>, follows: RawBuilder<unknown>, window: RawBuilder<unknown>) {
  return sql`
    insert into deliveries (subscriber_id, event_id, channel, status, next_attempt_at, created_at)
    select distinct on (s.id, e.id, ch.channel) s.id, e.id, ch.channel,
      case when ch.channel = 'email' and e.urgency = 'routine' and s.email_frequency <> 'immediate' then 'digest' else 'pending' end,
      ${smsDueAt(sql`ch.channel`, sql`${now}::timestamptz`, sql`lt`)},
      ${now}::timestamptz
    from events e
    join advisory_versions v on v.id = e.version_id
    ${follows}
      and (sub.feeds is null or e.feed_id = any(sub.feeds))
      and (e.level is null or greatest(e.level, coalesce(e.previous_level, 0)) >= sub.min_level)
      and (cardinality(sub.keywords) = 0 or exists (
            select 1 from unnest(sub.keywords) k
            where strpos(lower(e.title || ' ' || v.body), lower(k)) > 0))
    join subscribers s on s.id = sub.subscriber_id and s.status = 'confirmed'
    cross join lateral unnest(sub.channels) as ch(channel)
    cross join lateral (
      select coalesce(s.timezone, ${defaultTz}) as tz,
             ${now}::timestamptz at time zone coalesce(s.timezone, ${defaultTz}) as local
    ) lt
    where e.id = any(${ids})
      and ${window}
      and ((ch.channel = 'email' and s.email_stopped_at is null)
        or (ch.channel = 'sms' and s.phone is not null and s.phone_verified and s.sms_stopped_at is null
            and (e.urgency = 'urgent' or s.sms_urgency = 'all')))
    on conflict (subscriber_id, event_id, channel) do nothing`;
}

/**
 * When a delivery on `channel` is due, as of the instant `at`: at once, except a text
 * during the subscriber's quiet hours, which waits for their end (local
 * wall-clock times in their zone, start after end = across midnight), unless
 * the event is a raise to level 4 (or a new level-4 advisory). Needs `s`
 * (subscribers), `e` (events) and `lt` ({tz, local}: the subscriber's zone and
 * local time at `now`) in scope. PostgreSQL's `at time zone` does the zone
 * arithmetic, so the end of the quiet hours is the right instant on the days
 * clocks change. Used at fan-out and again when a failed text is retried.
 */
function smsDueAt(channel: RawBuilder<unknown>, at: RawBuilder<unknown>, lt: RawBuilder<unknown>): RawBuilder<Date> {
  return sql<Date>`case
        when ${channel} <> 'sms' or s.quiet_start is null then ${at}
        when e.level = 4 and e.kind in ('level-raised', 'new') then ${at}
        -- same-day window (e.g. 13:00-15:00)
        when s.quiet_start < s.quiet_end then
          case when ${lt}.local::time >= s.quiet_start and ${lt}.local::time < s.quiet_end
               then (${lt}.local::date + s.quiet_end) at time zone ${lt}.tz
               else ${at} end
        -- across midnight (e.g. 22:00-07:00): late evening waits for tomorrow's end
        when ${lt}.local::time >= s.quiet_start then (${lt}.local::date + 1 + s.quiet_end) at time zone ${lt}.tz
        when ${lt}.local::time < s.quiet_end then (${lt}.local::date + s.quiet_end) at time zone ${lt}.tz
        else ${at}
      end`;
}

/**
 * Fan-out of new events to matching subscriptions: one set-based statement in
 * the poll's transaction, so no subscriber list is ever loaded into memory and
 * the deliveries commit with the events. The unique (subscriber, event,
 * channel) constraint makes each delivery exist at most once. The matching
 * rule is subscriptions/match.ts's (`matchingChannels`) in SQL: the only two
 * places it is written (tests/integration/matching.test.ts holds them equal).
 *
 * Routing by the event's urgency and the subscriber's preferences:
 * - email: urgent at once; routine at once for `immediate` subscribers, else
 *   it waits as 'digest' for their daily/weekly digest;
 * - sms: urgent always, routine only for `sms: all`; during the subscriber's
 *   quiet hours (local wall-clock times in their zone, start after end = across
 *   midnight) the text is due when they end, except a raise to level 4 (or a
 *   new level-4 advisory), which goes at once. PostgreSQL's `at time zone`
 *   does the zone arithmetic, so the end of the quiet hours is the right
 *   instant on the days clocks change.
 */
export async function fanOut(tx: Tx | DB, eventIds: readonly number[], now: Date, options: FanOutOptions = {}): Promise<number> {
  if (eventIds.length === 0) return 0;
  const defaultTz = options.defaultTimezone ?? 'UTC';
  const lead = options.tripLeadDays ?? 14;
  const ids = sql`${sql.val([...eventIds])}::bigint[]`;
  // Two statements with the same routing and filters, differing in how a
  // subscription comes to follow the event's country: its own countries, or a
  // trip in its window. Apart, each keeps its own plan: the trip side starts
  // from the few trips about the event's countries (trips_countries) instead
  // of a per-subscription lookup of trips over every subscription row.
  // A subscription reached both ways gets one delivery (the unique key).
  const byCountries = await fanOutInsert(
    now,
    defaultTz,
    ids,
    sql`join subscriptions sub on (sub.countries is null or sub.countries && e.countries)`,
    sql`true`,
  ).execute(tx);
  const utcDay = sql`(${now}::timestamptz at time zone 'UTC')::date`;
  const byTrips = await fanOutInsert(
    now,
    defaultTz,
    ids,
    // Every zone's date is within a day of UTC's: a cheap pre-filter; the exact
    // window is on the subscriber's own date (lt.local).
    sql`join trips tr on tr.countries && e.countries
            and tr.last_day >= ${utcDay} - 1 and tr.first_day - ${lead}::int <= ${utcDay} + 1
          join subscriptions sub on sub.subscriber_id = tr.subscriber_id`,
    sql`lt.local::date between tr.first_day - ${lead}::int and tr.last_day`,
  ).execute(tx);
  // Organisations' webhook endpoints match like a subscription (countries or
  // all, minimum level; events without a level always pass), once per
  // (endpoint, event) by the deliveries_webhook_once index.
  const hooks = await sql`
    insert into deliveries (webhook_id, event_id, channel, next_attempt_at, created_at)
    select w.id, e.id, 'webhook', ${now}::timestamptz, ${now}::timestamptz
    from events e
    join webhooks w on w.enabled and w.in_config
      and (w.countries is null or w.countries && e.countries)
      and (e.level is null or greatest(e.level, coalesce(e.previous_level, 0)) >= w.min_level)
    where e.id = any(${sql.val([...eventIds])}::bigint[])
    on conflict (webhook_id, event_id) where webhook_id is not null do nothing`.execute(tx);
  const n = Number(byCountries.numAffectedRows ?? 0) + Number(byTrips.numAffectedRows ?? 0) + Number(hooks.numAffectedRows ?? 0);
  // Delivered to every listening dispatcher when (and only if) the transaction commits: they
  // claim at once instead of at their next idle poll.
  if (n > 0) await sql`select pg_notify(${DUE_CHANNEL}, '')`.execute(tx);
  return n;
}

/** The channel fanOut notifies on commit when it made deliveries (see Dispatcher). */
export const DUE_CHANNEL = 'deliveries_due';

/** The endpoints of webhooks.yaml, as the fan-out matches them; endpoints no longer there stop matching. */
export async function syncWebhooks(
  db: DB,
  webhooks: readonly { id: string; countries: readonly string[] | 'all'; minLevel: number; format: 'standard' | 'slack'; enabled: boolean }[],
): Promise<void> {
  await db.transaction().execute(async (tx) => {
    await tx.updateTable('webhooks').set({ in_config: false }).execute();
    for (const w of webhooks) {
      const values = {
        countries: w.countries === 'all' ? null : [...w.countries],
        min_level: w.minLevel,
        format: w.format,
        enabled: w.enabled,
        in_config: true,
      };
      await tx
        .insertInto('webhooks')
        .values({ id: w.id, ...values })
        .onConflict((oc) => oc.column('id').doUpdateSet(values))
        .execute();
    }
  });
}

export interface ClaimedDelivery {
  id: number;
  /** 0 for a webhook delivery. */
  subscriberId: number;
  eventId: number;
  channel: DeliveryChannel;
  attempts: number;
  /** Set when an earlier attempt may have gone through (Twilio 5xx). */
  uncertainSince: Date | null;
}

/**
 * Claims due deliveries under a lease: 'sending' ones whose lease expired
 * (their sender died) first, then pending ones whose time has come, then
 * uncertain ones. SKIP LOCKED lets several dispatchers claim side by side; the
 * transaction is only this statement, never held across a network send.
 *
 * One ordered, limited scan per kind, so each is read through its partial
 * index (deliveries_leased, deliveries_due) and stops after `limit` rows: a
 * single OR'ed condition ordered by (next_attempt_at, id) matched no index,
 * so every claim read and sorted the whole table (a fan-out gives all its
 * rows the same next_attempt_at). 'uncertain' (few rows; deliveries_uncertain)
 * comes last: its scan runs only when the others come short of `limit`.
 */
export async function claimDue(
  db: DB,
  options: { owner: string; limit: number; leaseMs: number; now: Date; channels?: readonly DeliveryChannel[] },
): Promise<ClaimedDelivery[]> {
  const channels = sql.val([...(options.channels ?? ['email', 'sms', 'webhook'])]);
  const now = options.now;
  const leaseUntil = new Date(now.getTime() + options.leaseMs);
  const rows = await sql<{
    id: number;
    subscriber_id: number | null;
    event_id: number;
    channel: DeliveryChannel;
    attempts: number;
    uncertain_since: Date | null;
  }>`
    with expired as (
      select id from deliveries
      where status = 'sending' and lease_until < ${now}::timestamptz and channel = any(${channels}::text[])
      order by lease_until
      limit ${options.limit}
      for update skip locked
    ), pending as (
      select id from deliveries
      where status = 'pending' and next_attempt_at <= ${now}::timestamptz and channel = any(${channels}::text[])
      order by next_attempt_at
      limit ${options.limit}
      for update skip locked
    ), uncertain as (
      select id from deliveries
      where status = 'uncertain' and next_attempt_at <= ${now}::timestamptz and channel = any(${channels}::text[])
      order by next_attempt_at
      limit ${options.limit}
      for update skip locked
    ), due as (
      select id from expired
      union all select id from pending
      union all select id from uncertain
      limit ${options.limit}
    )
    update deliveries d
    set status = 'sending', lease_owner = ${options.owner}, lease_until = ${leaseUntil}::timestamptz, attempts = d.attempts + 1
    from due
    where d.id = due.id
    returning d.id, d.subscriber_id, d.event_id, d.channel, d.attempts,
      (select min(a.attempted_at) from delivery_attempts a where a.delivery_id = d.id and a.outcome = 'uncertain') as uncertain_since`.execute(db);
  return rows.rows.map((r) => ({
    id: Number(r.id),
    subscriberId: Number(r.subscriber_id),
    eventId: Number(r.event_id),
    channel: r.channel,
    attempts: r.attempts,
    uncertainSince: r.uncertain_since,
  }));
}

export interface DeliveryContext {
  deliveryId: number;
  subscriber: {
    id: number;
    email: string;
    phone: string | null;
    status: SubscriberStatus;
    phoneVerified: boolean;
    emailStopped: boolean;
    smsStopped: boolean;
    sms: SmsUrgency;
    linkVersion: number;
  };
  /** The subscriber's subscriptions as they are now (read with the claim), for the send-time re-check. */
  subscriptions: MatchSubscription[];
  /** The subscriber's trips as they are now, with the date the delivery was created on in their zone. */
  trips: MatchTrips;
  event: {
    id: number;
    kind: EventKind;
    urgency: Urgency;
    feedId: string;
    feedName: string;
    source: string;
    countries: string[];
    level: number | null;
    previousLevel: number | null;
    title: string;
    link: string | null;
    body: string;
    levelText: string | null;
    publishedAt: Date | null;
    previousBody: string | null;
    previousLevelText: string | null;
  };
}

/**
 * Everything needed to re-check and render the claimed deliveries. Three queries: the
 * deliveries with their subscribers, the subscribers' current subscriptions, then each
 * distinct event once — a batch is usually hundreds of
 * deliveries of one or two events, and joining the event (its text and the previous
 * version's) into every delivery row made the database send, and the driver parse, the
 * same few kilobytes hundreds of times.
 */
export async function loadContexts(db: DB, deliveryIds: readonly number[], travelers: TravelerTiming = {}): Promise<Map<number, DeliveryContext>> {
  if (deliveryIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('deliveries as d')
    .innerJoin('subscribers as s', 's.id', 'd.subscriber_id')
    .select([
      'd.id as delivery_id',
      'd.event_id',
      's.id as subscriber_id',
      's.email',
      's.phone',
      's.status',
      's.phone_verified',
      's.email_stopped_at',
      's.sms_stopped_at',
      's.sms_urgency',
      's.timezone',
      'd.created_at',
      's.link_version',
    ])
    .where('d.id', 'in', [...deliveryIds])
    .execute();
  if (rows.length === 0) return new Map();
  const tripRows = await db
    .selectFrom('trips')
    .select(['subscriber_id', 'countries', sql<string>`first_day::text`.as('first_day'), sql<string>`last_day::text`.as('last_day')])
    .where('subscriber_id', 'in', [...new Set(rows.map((r) => r.subscriber_id))])
    .execute();
  const trips = new Map<number, MatchTrips['trips'][number][]>();
  for (const r of tripRows)
    trips.set(r.subscriber_id, [...(trips.get(r.subscriber_id) ?? []), { countries: r.countries, firstDay: r.first_day, lastDay: r.last_day }]);
  const subscriptionRows = await db
    .selectFrom('subscriptions')
    .select(['subscriber_id', 'countries', 'feeds', 'min_level', 'keywords', 'channels'])
    .where('subscriber_id', 'in', [...new Set(rows.map((r) => r.subscriber_id))])
    .execute();
  const subscriptions = new Map<number, MatchSubscription[]>();
  for (const r of subscriptionRows) {
    const list = subscriptions.get(r.subscriber_id) ?? [];
    list.push({ countries: r.countries, feeds: r.feeds, minLevel: r.min_level, keywords: r.keywords, channels: r.channels });
    subscriptions.set(r.subscriber_id, list);
  }
  const eventRows = await db
    .selectFrom('events as e')
    .innerJoin('feeds as f', 'f.id', 'e.feed_id')
    .innerJoin('advisory_versions as v', 'v.id', 'e.version_id')
    .leftJoin('advisory_versions as pv', 'pv.id', 'e.previous_version_id')
    .select([
      'e.id',
      'e.kind',
      'e.urgency',
      'e.feed_id',
      'f.name as feed_name',
      'f.source',
      'e.countries',
      'e.level',
      'e.previous_level',
      'e.title',
      'e.link',
      'v.body',
      'v.level_text',
      'v.published_at',
      'pv.body as previous_body',
      'pv.level_text as previous_level_text',
    ])
    .where('e.id', 'in', [...new Set(rows.map((r) => r.event_id))])
    .execute();
  const events = new Map<number, DeliveryContext['event']>(
    eventRows.map((r) => [
      r.id,
      {
        id: r.id,
        kind: r.kind,
        urgency: r.urgency,
        feedId: r.feed_id,
        feedName: r.feed_name,
        source: r.source,
        countries: r.countries,
        level: r.level,
        previousLevel: r.previous_level,
        title: r.title,
        link: r.link,
        body: r.body,
        levelText: r.level_text,
        publishedAt: r.published_at,
        previousBody: r.previous_body,
        previousLevelText: r.previous_level_text,
      },
    ]),
  );
  const out = new Map<number, DeliveryContext>();
  for (const r of rows) {
    const event = events.get(r.event_id);
    if (!event) continue;
    out.set(r.delivery_id, {
      deliveryId: r.delivery_id,
      subscriber: {
        id: r.subscriber_id,
        email: r.email,
        phone: r.phone,
        status: r.status,
        phoneVerified: r.phone_verified,
        emailStopped: r.email_stopped_at !== null,
        smsStopped: r.sms_stopped_at !== null,
        sms: r.sms_urgency,
        linkVersion: r.link_version,
      },
      subscriptions: subscriptions.get(r.subscriber_id) ?? [],
      // The trip window as of the fan-out (the delivery's creation), in the subscriber's
      // zone: a text held by quiet hours past a trip's last day still goes, a removed trip does not.
      trips: {
        trips: trips.get(r.subscriber_id) ?? [],
        today: localDate(r.created_at, r.timezone ?? travelers.defaultTimezone ?? 'UTC'),
        leadDays: travelers.tripLeadDays ?? 14,
      },
      event,
    });
  }
  return out;
}

/** What a webhook delivery sends: the endpoint and the event, with its version's text. */
export interface WebhookContext {
  deliveryId: number;
  webhookId: string;
  event: PublicEvent;
}

export async function loadWebhookContexts(db: DB, deliveryIds: readonly number[]): Promise<Map<number, WebhookContext>> {
  if (deliveryIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('deliveries')
    .select(['id', 'webhook_id', 'event_id'])
    .where('id', 'in', [...deliveryIds])
    .where('webhook_id', 'is not', null)
    .execute();
  const events = new Map((await publicEventsByIds(db, [...new Set(rows.map((r) => Number(r.event_id)))])).map((e) => [e.id, e]));
  const out = new Map<number, WebhookContext>();
  for (const r of rows) {
    const event = events.get(Number(r.event_id));
    if (event) out.set(Number(r.id), { deliveryId: Number(r.id), webhookId: r.webhook_id!, event });
  }
  return out;
}

/**
 * `status = 'sending'` for statements that find their rows by id. Written as a subquery so
 * the planner cannot prove it matches the partial index deliveries_leased: the table's
 * statistics, taken when no row was mid-send, say that index holds one row, and the plan
 * then scanned and hashed every leased row of every process (a millisecond per statement
 * with a few thousand in flight) instead of looking the statement's few rows up by key.
 */
const LEASED = sql<DeliveryStatus>`(select 'sending'::text)`;

export type Completion =
  | { id: number; outcome: 'sent'; providerId: string; durationMs: number }
  | { id: number; outcome: 'retry' | 'uncertain'; error: string; nextAttemptAt: Date; durationMs: number }
  | { id: number; outcome: 'failed'; error: string; durationMs: number; stopChannel?: StopChannel }
  /** Not sent: the subscriber no longer wants it (the send-time re-check); `error` says why. */
  | { id: number; outcome: 'skipped'; error: string; durationMs: number };

/** A permanent refusal of the recipient: the subscriber's channel is stopped with the delivery's failure. */
export interface StopChannel {
  subscriberId: number;
  channel: Channel;
  reason: string;
}

/**
 * Records the outcomes of a batch of sends: the deliveries' new state and one attempt row
 * each, in one statement (one round trip: the dispatcher records outcomes in small groups
 * as they come, see common/group-commit.ts). Only rows still leased by `owner` are updated: if our
 * lease expired and another dispatcher took the delivery over, its result wins. A failure
 * that stops a subscriber's channel stops it in the same transaction, so the failed
 * delivery and the stopped channel are never seen one without the other.
 */
export async function complete(db: DB, owner: string, completions: readonly Completion[], now: Date, travelers: TravelerTiming = {}): Promise<number> {
  if (completions.length === 0) return 0;
  const defaultTz = travelers.defaultTimezone ?? 'UTC';
  // A text retried later is held by quiet hours like its first send: a retry
  // that falls due inside them waits for their end (a raise to level 4 still
  // goes). Only written into the statement when the group has retries.
  const retries = completions.some((c) => c.outcome === 'retry' || c.outcome === 'uncertain');
  const next = retries
    ? sql`case when d.channel = 'sms' and v.next is not null then (
          select ${smsDueAt(sql`d.channel`, sql`v.next`, sql`lt`)}
          from subscribers s
          join events e on e.id = d.event_id
          cross join lateral (
            select coalesce(s.timezone, ${defaultTz}) as tz, v.next at time zone coalesce(s.timezone, ${defaultTz}) as local
          ) lt
          where s.id = d.subscriber_id)
        else v.next end`
    : sql`v.next`;
  const values = completions.map((c) => ({
    id: c.id,
    outcome: c.outcome,
    status: (c.outcome === 'retry' ? 'pending' : c.outcome) as DeliveryStatus,
    next: c.outcome === 'retry' || c.outcome === 'uncertain' ? c.nextAttemptAt : null,
    error: c.outcome === 'sent' ? null : c.error,
    provider: c.outcome === 'sent' ? c.providerId : null,
    duration: Math.round(c.durationMs),
  }));
  const record = async (q: Tx | DB): Promise<Set<number>> => {
    const recorded = await sql<{ id: number }>`
      with v as (
        select * from jsonb_to_recordset(${jsonParameter(values)}::jsonb)
          as v(id bigint, outcome text, status text, next timestamptz, error text, provider text, duration integer)
      ), updated as (
        update deliveries d set
          status = v.status,
          next_attempt_at = coalesce(${next}, d.next_attempt_at),
          last_error = coalesce(v.error, d.last_error),
          provider_id = coalesce(v.provider, d.provider_id),
          sent_at = case when v.status = 'sent' then ${now}::timestamptz else d.sent_at end,
          lease_owner = null,
          lease_until = null
        from v
        where d.id = v.id and d.lease_owner = ${owner} and d.status = ${LEASED}
        returning d.id
      )
      insert into delivery_attempts (delivery_id, attempted_at, outcome, error, duration_ms)
      select v.id, ${now}::timestamptz, v.outcome, v.error, v.duration from v join updated u on u.id = v.id
      returning delivery_id as id`.execute(q);
    return new Set(recorded.rows.map((r) => Number(r.id)));
  };
  const stops = completions.filter((c) => c.outcome === 'failed' && c.stopChannel);
  if (stops.length === 0) return (await record(db)).size;
  return db.transaction().execute(async (tx) => {
    const mine = await record(tx);
    for (const c of stops) {
      if (c.outcome !== 'failed' || !c.stopChannel || !mine.has(c.id)) continue;
      const { subscriberId, channel, reason } = c.stopChannel;
      const stop = tx.updateTable('subscribers').where('id', '=', subscriberId);
      if (channel === 'email') await stop.set({ email_stopped_at: now, email_stop_reason: reason }).execute();
      else await stop.set({ sms_stopped_at: now, sms_stop_reason: reason }).execute();
    }
    return mine.size;
  });
}

/**
 * Extends the leases this process still holds on claims it is sending: a batch
 * may take longer than one lease (a slow server, a low shared rate limit), and
 * an expired lease would let another dispatcher claim and send it again.
 */
export async function renewLeases(db: DB, owner: string, ids: readonly number[], until: Date): Promise<number> {
  if (ids.length === 0) return 0;
  const r = await db
    .updateTable('deliveries')
    .set({ lease_until: until })
    .where('lease_owner', '=', owner)
    .where('status', '=', LEASED)
    .where('id', 'in', [...ids])
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}

/** A claimed delivery handed back unsent, due again at `until` (not an attempt). */
export interface Deferral {
  id: number;
  outcome: 'deferred';
  until: Date;
}

/**
 * Hands back claims this process holds without sending them (their endpoint's
 * turn is later): pending again from `until`, the claim's attempt not counted.
 */
export async function deferDeliveries(db: DB, owner: string, deferrals: readonly Deferral[]): Promise<number> {
  if (deferrals.length === 0) return 0;
  const values = JSON.stringify(deferrals.map((d) => ({ id: d.id, until: d.until.toISOString() })));
  const r = await sql`
    update deliveries d set status = 'pending', lease_owner = null, lease_until = null, attempts = d.attempts - 1, next_attempt_at = v.until
    from jsonb_to_recordset(${values}::jsonb) as v(id bigint, until timestamptz)
    where d.id = v.id and d.lease_owner = ${owner} and d.status = ${LEASED}`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}

/** Gives back claims this process holds (graceful shutdown): they become due again at once. */
export async function releaseLeases(db: DB, owner: string, ids: readonly number[]): Promise<number> {
  if (ids.length === 0) return 0;
  const r = await db
    .updateTable('deliveries')
    .set((eb) => ({ status: 'pending', lease_owner: null, lease_until: null, attempts: eb('attempts', '-', 1) }))
    .where('lease_owner', '=', owner)
    .where('status', '=', LEASED)
    .where('id', 'in', [...ids])
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}

export interface DeliveryListing {
  id: number;
  /** The subscriber's email, or `webhook:<id>` for an organisation's endpoint. */
  subscriber: string;
  event: number;
  channel: DeliveryChannel;
  status: DeliveryStatus;
  attempts: number;
  lastError: string | null;
  nextAttemptAt: Date;
  sentAt: Date | null;
  createdAt: Date;
}

export async function listDeliveries(db: DB, options: { status?: DeliveryStatus | undefined; limit?: number }): Promise<DeliveryListing[]> {
  let q = db
    .selectFrom('deliveries as d')
    .leftJoin('subscribers as s', 's.id', 'd.subscriber_id')
    .select([
      'd.id',
      's.email',
      'd.webhook_id',
      'd.event_id',
      'd.channel',
      'd.status',
      'd.attempts',
      'd.last_error',
      'd.next_attempt_at',
      'd.sent_at',
      'd.created_at',
    ])
    .orderBy('d.id');
  if (options.status) q = q.where('d.status', '=', options.status);
  if (options.limit) q = q.limit(options.limit);
  const rows = await q.execute();
  return rows.map((r) => ({
    id: r.id,
    subscriber: r.email ?? `webhook:${r.webhook_id ?? '?'}`,
    event: r.event_id,
    channel: r.channel,
    status: r.status,
    attempts: r.attempts,
    lastError: r.last_error,
    nextAttemptAt: r.next_attempt_at,
    sentAt: r.sent_at,
    createdAt: r.created_at,
  }));
}

/** How many deliveries are in each status, every status present (zero when none): the deliveries-by-status gauge of /metrics. */
export async function countByStatus(db: DB): Promise<Record<DeliveryStatus, number>> {
  const rows = await db
    .selectFrom('deliveries')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('status')
    .execute();
  const out: Record<DeliveryStatus, number> = { pending: 0, sending: 0, sent: 0, failed: 0, uncertain: 0, digest: 0, digested: 0, skipped: 0 };
  for (const r of rows) out[r.status] = Number(r.n);
  return out;
}

/**
 * Reserves `count` sends on a shared rate limit (GCRA, one row per budget — a
 * channel, or `webhook:<id>` for one endpoint — advanced atomically so every
 * process draws from one budget).
 * Returns when the first of them may go; the rest follow at 1/rate intervals.
 * `burstMs` lets an idle channel start immediately instead of pacing from now.
 */
export async function reserveSends(db: DB, channel: string, count: number, ratePerSecond: number, now: Date, burstMs = 1000): Promise<Date> {
  const r = await reserveSendsWithin(db, channel, count, ratePerSecond, now, Number.POSITIVE_INFINITY, burstMs);
  return r.start;
}

/**
 * `reserveSends`, but only when the first of them may go within `maxWaitMs`:
 * otherwise nothing is reserved (a reservation not used would be budget lost
 * for good) and `start` is when the budget's next slot is free.
 */
export async function reserveSendsWithin(
  db: DB,
  channel: string,
  count: number,
  ratePerSecond: number,
  now: Date,
  maxWaitMs: number,
  burstMs = 1000,
): Promise<{ reserved: boolean; start: Date }> {
  const intervalMs = 1000 / ratePerSecond;
  const floor = new Date(now.getTime() - burstMs);
  const latest = Number.isFinite(maxWaitMs) ? new Date(now.getTime() + maxWaitMs) : null;
  const r = await sql<{ start: Date }>`
    insert into rate_limits as r (channel, tat)
    values (${channel}, ${floor}::timestamptz + make_interval(secs => ${(count * intervalMs) / 1000}))
    on conflict (channel) do update
      set tat = greatest(r.tat, ${floor}::timestamptz) + make_interval(secs => ${(count * intervalMs) / 1000})
      where ${latest}::timestamptz is null or r.tat <= ${latest}::timestamptz
    returning tat - make_interval(secs => ${(count * intervalMs) / 1000}) as start`.execute(db);
  const start = r.rows[0]?.start;
  if (start) return { reserved: true, start: start < now ? now : start };
  const row = await db.selectFrom('rate_limits').select('tat').where('channel', '=', channel).executeTakeFirstOrThrow();
  return { reserved: false, start: new Date(row.tat) };
}

/**
 * A receiver asked for a pause (Retry-After): the budget's next slot moves to
 * `until` at the earliest, for every process that draws from it.
 */
export async function pauseSends(db: DB, budget: string, until: Date): Promise<void> {
  await sql`
    insert into rate_limits as r (channel, tat) values (${budget}, ${until}::timestamptz)
    on conflict (channel) do update set tat = greatest(r.tat, excluded.tat)`.execute(db);
}

/** Deliveries created in the last hours, per hour and status (the admin page's chart). */
export async function deliveriesPerHour(db: DB, since: Date): Promise<{ hour: Date; status: DeliveryStatus; n: number }[]> {
  const r = await sql<{ hour: Date; status: DeliveryStatus; n: number }>`
    select date_trunc('hour', created_at) as hour, status, count(*)::int as n
    from deliveries where created_at >= ${since}::timestamptz
    group by 1, 2 order by 1`.execute(db);
  return r.rows;
}
