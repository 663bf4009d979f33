import { sql, type ExpressionBuilder, type Transaction } from 'kysely';
import type { DB } from '../db/connect.ts';
import { jsonParameter } from '../db/json.ts';
import type { Database, EventKind, Urgency } from '../db/types.ts';
import { governmentOf } from './governments.ts';
import type { Diff, FingerprintedItem, StoredAdvisory } from './detect.ts';
import { resolveUrgency, type UrgencyOverride } from './urgency.ts';

// All SQL about advisories, their versions and events.

type Tx = Transaction<Database>;

/** The stored advisories of each of the feeds, in one read (a feed with none is absent). */
export async function loadStoredAdvisories(tx: Tx | DB, feedIds: readonly string[]): Promise<Map<string, StoredAdvisory[]>> {
  const byFeed = new Map<string, StoredAdvisory[]>();
  if (feedIds.length === 0) return byFeed;
  const rows = await tx
    .selectFrom('advisories')
    .select(['feed_id', 'id', 'key', 'fingerprint', 'level', 'link', 'guid', 'countries', 'published_at', 'removed_at', 'version_id'])
    .where('feed_id', 'in', feedIds)
    .execute();
  for (const r of rows) {
    const list = byFeed.get(r.feed_id) ?? [];
    byFeed.set(r.feed_id, list);
    list.push({
      id: r.id,
      key: r.key,
      fingerprint: r.fingerprint,
      level: r.level,
      link: r.link,
      guid: r.guid,
      countries: r.countries,
      publishedAt: r.published_at,
      removed: r.removed_at !== null,
      versionId: r.version_id,
    });
  }
  return byFeed;
}

function currentValues(item: FingerprintedItem) {
  return {
    countries: item.countries,
    level: item.level,
    level_text: item.levelText,
    title: item.title,
    body: item.body,
    link: item.link,
    guid: item.guid,
    published_at: item.publishedAt,
    fingerprint: item.fingerprint,
  };
}

interface PendingEvent {
  /** Index of the feed's entry in applyDiffs' list. */
  entry: number;
  advisoryId: number;
  kind: EventKind;
  item: FingerprintedItem;
  previousLevel: number | null;
  versionId: number;
  previousVersionId: number | null;
}

/** What applyDiffs needs of a feed: its id, and what decides its events' urgency. */
export interface DiffFeed {
  id: string;
  source: string;
  urgency: UrgencyOverride;
}

/**
 * Writes the diffs of many polls (one entry per feed) with one statement per kind of
 * write, whatever the number of feeds. Must run inside the polls' transaction:
 * advisories, versions and events land together or not at all. Returns the new event
 * ids of each entry, in the entries' order.
 */
export async function applyDiffs(tx: Tx, entries: readonly { feed: DiffFeed; diff: Diff }[], now: Date): Promise<number[][]> {
  const pending: PendingEvent[] = [];
  const added = entries.flatMap(({ feed, diff }, entry) => diff.added.map((a) => ({ entry, feedId: feed.id, ...a })));
  const changed = entries.flatMap(({ diff }, entry) => diff.changed.map((c) => ({ entry, ...c })));
  const unchanged = entries.flatMap(({ diff }) => diff.unchanged);
  const removed = entries.flatMap(({ diff }) => diff.removed);

  // New advisories and their first versions in one statement, the rows as one JSON parameter:
  // ids are drawn from both sequences up front, so each advisory is written once, already
  // pointing at its version, and its text travels once (a statement of bind parameters per
  // value cost more client CPU than the rest of the write; with an update of version_id after
  // the inserts, every new row was written twice).
  for (const slice of slices(added)) {
    const rows = slice.map(({ feedId, item }, i) => ({ i, feed_id: feedId, key: item.key, ...currentValues(item) }));
    const { rows: ids } = await sql<{ advisory_id: number; version_id: number }>`
      with v as materialized (
        select r.*, nextval(pg_get_serial_sequence('advisories', 'id')) as advisory_id,
          nextval(pg_get_serial_sequence('advisory_versions', 'id')) as version_id
        from jsonb_to_recordset(${jsonParameter(rows)}::jsonb) as r(i int, feed_id text, key text, countries text[], level smallint,
          level_text text, title text, body text, link text, guid text, published_at timestamptz, fingerprint text)
      ), a as (
        insert into advisories (id, feed_id, key, countries, level, level_text, title, body, link, guid, published_at, fingerprint,
          version_id, first_seen_at, last_seen_at, changed_at)
        select advisory_id, feed_id, key, countries, level, level_text, title, body, link, guid, published_at, fingerprint,
          version_id, ${now}::timestamptz, ${now}::timestamptz, ${now}::timestamptz from v
      ), ver as (
        insert into advisory_versions (id, advisory_id, fingerprint, countries, level, level_text, title, body, link, published_at, created_at)
        select version_id, advisory_id, fingerprint, countries, level, level_text, title, body, link, published_at, ${now}::timestamptz from v
      )
      select advisory_id, version_id from v order by i`.execute(tx);
    for (const [i, a] of slice.entries()) {
      if (!a.event) continue;
      const { advisory_id, version_id } = ids[i]!;
      pending.push({
        entry: a.entry,
        advisoryId: advisory_id,
        kind: a.event,
        item: a.item,
        previousLevel: null,
        versionId: version_id,
        previousVersionId: null,
      });
    }
  }

  // A changed advisory's new version and its new text in one statement, as for new ones.
  for (const slice of slices(changed)) {
    const rows = slice.map(({ stored, item }) => ({ id: stored.id, ...currentValues(item) }));
    const { rows: versions } = await sql<{ advisory_id: number; version_id: number }>`
      with v as materialized (
        select r.*, nextval(pg_get_serial_sequence('advisory_versions', 'id')) as version_id
        from jsonb_to_recordset(${jsonParameter(rows)}::jsonb) as r(id bigint, countries text[], level smallint, level_text text,
          title text, body text, link text, guid text, published_at timestamptz, fingerprint text)
      ), ver as (
        insert into advisory_versions (id, advisory_id, fingerprint, countries, level, level_text, title, body, link, published_at, created_at)
        select version_id, id, fingerprint, countries, level, level_text, title, body, link, published_at, ${now}::timestamptz from v
      )
      update advisories set countries = v.countries, level = v.level, level_text = v.level_text, title = v.title, body = v.body,
        link = v.link, guid = v.guid, published_at = v.published_at, fingerprint = v.fingerprint, version_id = v.version_id,
        last_seen_at = ${now}::timestamptz, changed_at = ${now}::timestamptz, removed_at = null
      from v where advisories.id = v.id
      returning v.id as advisory_id, v.version_id`.execute(tx);
    const versionByAdvisory = new Map(versions.map((v) => [v.advisory_id, v.version_id]));
    for (const { entry, stored, item, kind } of slice) {
      pending.push({
        entry,
        advisoryId: stored.id,
        kind,
        item,
        previousLevel: stored.level,
        versionId: versionByAdvisory.get(stored.id)!,
        previousVersionId: stored.versionId,
      });
    }
  }

  // Same meaning, but a link, guid, date or presence moved: stored silently.
  for (const slice of slices(unchanged.filter((u) => u.refresh))) {
    const rows = slice.map(({ stored, item }) => ({
      id: stored.id,
      link: item.link,
      guid: item.guid,
      countries: item.countries,
      published_at: item.publishedAt,
    }));
    await sql`
      update advisories set link = v.link, guid = v.guid, countries = v.countries, published_at = v.published_at,
        last_seen_at = ${now}::timestamptz, removed_at = null
      from jsonb_to_recordset(${jsonParameter(rows)}::jsonb) as v(id bigint, link text, guid text, countries text[], published_at timestamptz)
      where advisories.id = v.id`.execute(tx);
  }
  const touched = unchanged.filter((u) => !u.refresh).map((u) => u.stored.id);
  for (const ids of slices(touched, 10_000)) {
    await tx.updateTable('advisories').set({ last_seen_at: now }).where('id', 'in', ids).execute();
  }

  for (const slice of slices(removed, 10_000)) {
    await tx
      .updateTable('advisories')
      .set({ removed_at: now })
      .where(
        'id',
        'in',
        slice.map((r) => r.id),
      )
      .execute();
  }

  const eventIds: number[][] = entries.map(() => []);
  for (const slice of slices(pending)) {
    const rows = slice.map((p) => {
      const { feed } = entries[p.entry]!;
      return {
        feed_id: feed.id,
        advisory_id: p.advisoryId,
        kind: p.kind,
        countries: p.item.countries,
        level: p.item.level,
        previous_level: p.previousLevel,
        title: p.item.title,
        link: p.item.link,
        version_id: p.versionId,
        previous_version_id: p.previousVersionId,
        urgency: resolveUrgency(feed.urgency, {
          kind: p.kind,
          level: p.item.level,
          previousLevel: p.previousLevel,
          source: feed.source,
          levelText: p.item.levelText,
          title: p.item.title,
        }),
      };
    });
    const { rows: events } = await sql<{ id: number; version_id: number }>`
      insert into events (feed_id, advisory_id, kind, countries, level, previous_level, title, link, version_id, previous_version_id, urgency, created_at)
      select feed_id, advisory_id, kind, countries, level, previous_level, title, link, version_id, previous_version_id, urgency, ${now}::timestamptz
      from jsonb_to_recordset(${jsonParameter(rows)}::jsonb) as r(feed_id text, advisory_id bigint, kind text, countries text[], level smallint,
        previous_level smallint, title text, link text, version_id bigint, previous_version_id bigint, urgency text)
      returning id, version_id`.execute(tx);
    // Each event names a version of its own: that tells which feed an event id belongs to.
    const entryOfVersion = new Map(slice.map((p) => [p.versionId, p.entry]));
    for (const e of events) eventIds[entryOfVersion.get(e.version_id)!]!.push(e.id);
  }
  return eventIds;
}

/** `list` in consecutive slices of at most `size` (none for an empty list). */
function slices<T>(list: readonly T[], size = 1000): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

export interface AdvisoryListing {
  feedId: string;
  feedName: string;
  source: string;
  country: string | null;
  countries: string[];
  level: number | null;
  levelText: string | null;
  title: string;
  link: string | null;
  updatedAt: Date;
  publishedAt: Date | null;
}

export async function listAdvisories(db: DB, options: { country?: string | undefined }): Promise<AdvisoryListing[]> {
  let q = db
    .selectFrom('advisories')
    .innerJoin('feeds', 'feeds.id', 'advisories.feed_id')
    .select([
      'advisories.feed_id',
      'feeds.name as feed_name',
      'feeds.source',
      'advisories.countries',
      'advisories.level',
      'advisories.level_text',
      'advisories.title',
      'advisories.link',
      'advisories.changed_at',
      'advisories.published_at',
    ])
    .where('advisories.removed_at', 'is', null)
    .orderBy(sql`advisories.countries[1]`)
    .orderBy('advisories.feed_id')
    .orderBy('advisories.published_at', 'desc');
  if (options.country) q = q.where(sql<boolean>`advisories.countries @> array[${options.country}]::text[]`);
  const rows = await q.execute();
  return rows.map((r) => ({
    feedId: r.feed_id,
    feedName: r.feed_name,
    source: r.source,
    country: r.countries[0] ?? null,
    countries: r.countries,
    level: r.level,
    levelText: r.level_text,
    title: r.title,
    link: r.link,
    updatedAt: r.changed_at,
    publishedAt: r.published_at,
  }));
}

export interface CountrySummary {
  country: string;
  highestLevel: number;
  /** Feeds whose advisory is at the highest level. */
  highestFeeds: { feedId: string; feedName: string; source: string }[];
  lowestLevel: number;
  levels: { feedId: string; feedName: string; source: string; level: number }[];
}

/**
 * Every country with a levelled current advisory, with the level of each feed that speaks for it
 * (feeds shown as current only: see `feedShown`).
 */
export async function countrySummaries(db: DB): Promise<CountrySummary[]> {
  const rows = await db
    .selectFrom('advisories')
    .innerJoin('feeds', 'feeds.id', 'advisories.feed_id')
    .select([sql<string>`unnest(advisories.countries)`.as('country'), 'advisories.feed_id', 'feeds.name as feed_name', 'feeds.source', 'advisories.level'])
    .where('advisories.removed_at', 'is', null)
    .where('advisories.level', 'is not', null)
    .where(feedShown)
    .execute();
  const byCountry = new Map<string, CountrySummary['levels']>();
  for (const r of rows) {
    const list = byCountry.get(r.country) ?? [];
    // One feed may speak for a country through several advisories (an embassy's
    // alerts): its highest level is its word.
    const existing = list.find((l) => l.feedId === r.feed_id);
    if (existing) existing.level = Math.max(existing.level, r.level!);
    else list.push({ feedId: r.feed_id, feedName: r.feed_name, source: r.source, level: r.level! });
    byCountry.set(r.country, list);
  }
  return [...byCountry.entries()]
    .map(([country, levels]) => {
      const highestLevel = Math.max(...levels.map((l) => l.level));
      return {
        country,
        highestLevel,
        highestFeeds: levels.filter((l) => l.level === highestLevel).map(({ feedId, feedName, source }) => ({ feedId, feedName, source })),
        lowestLevel: Math.min(...levels.map((l) => l.level)),
        levels: levels.sort((a, b) => b.level - a.level || a.feedId.localeCompare(b.feedId)),
      };
    })
    .sort((a, b) => a.country.localeCompare(b.country));
}

export interface EventListing {
  id: number;
  feed: string;
  government: string;
  kind: EventKind;
  urgency: Urgency;
  country: string | null;
  countries: string[];
  level: number | null;
  previousLevel: number | null;
  title: string;
  link: string | null;
  createdAt: Date;
}

export async function listEvents(db: DB, options: { since?: Date | undefined; limit?: number; newestFirst?: boolean }): Promise<EventListing[]> {
  let q = db
    .selectFrom('events')
    .innerJoin('feeds', 'feeds.id', 'events.feed_id')
    .select([
      'events.id',
      'events.feed_id',
      'feeds.name as feed_name',
      'feeds.source',
      'events.kind',
      'events.urgency',
      'events.countries',
      'events.level',
      'events.previous_level',
      'events.title',
      'events.link',
      'events.created_at',
    ])
    .orderBy('events.created_at', options.newestFirst ? 'desc' : 'asc')
    .orderBy('events.id', options.newestFirst ? 'desc' : 'asc');
  if (options.since) q = q.where('events.created_at', '>=', options.since);
  if (options.limit) q = q.limit(options.limit);
  const rows = await q.execute();
  return rows.map((r) => ({
    id: r.id,
    feed: r.feed_id,
    government: governmentOf(r.source, r.feed_name),
    kind: r.kind,
    urgency: r.urgency,
    country: r.countries[0] ?? null,
    countries: r.countries,
    level: r.level,
    previousLevel: r.previous_level,
    title: r.title,
    link: r.link,
    createdAt: r.created_at,
  }));
}

/** An event with the version before and after, for "what changed" views and messages. */
export async function eventWithVersions(db: DB, eventId: number) {
  const event = await db.selectFrom('events').selectAll().where('id', '=', eventId).executeTakeFirst();
  if (!event) return undefined;
  const versionIds = [event.version_id, event.previous_version_id].filter((v): v is number => v !== null);
  const versions = await db.selectFrom('advisory_versions').selectAll().where('id', 'in', versionIds).execute();
  return {
    event,
    version: versions.find((v) => v.id === event.version_id)!,
    previous: versions.find((v) => v.id === event.previous_version_id) ?? null,
  };
}

export async function countEventsByKind(db: DB): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('events')
    .select(['kind', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('kind')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.kind, Number(r.n)]));
}

// ---- Public views: the country overview, one country, events for feeds and the API ----

/**
 * Whether a feed's advice is shown as current: it is in feeds.yaml and enabled. A feed
 * removed from the file or disabled is no longer polled, so its last advice would be
 * shown as today's when nobody checks it any more (its history and events stay).
 */
function feedShown(eb: ExpressionBuilder<Database, 'advisories' | 'feeds'>) {
  return eb.and([eb('feeds.enabled', '=', true), eb('feeds.in_config', '=', true)]);
}

/** One government's current levelled advisory for one country. */
export interface CurrentAdvice {
  country: string;
  feedId: string;
  feedName: string;
  source: string;
  government: string;
  level: number;
  levelText: string | null;
  title: string;
  link: string | null;
  /** When this service recorded the advice as it now reads (its last change here). */
  updatedAt: Date;
  /** The government's own date for it (the feed item's date), when the feed gives one. */
  publishedAt: Date | null;
}

/** Every current levelled advisory of the feeds shown, one row per (advisory, country); or only one country's. */
export async function currentAdvice(db: DB, options: { country?: string } = {}): Promise<CurrentAdvice[]> {
  let q = db
    .selectFrom('advisories')
    .innerJoin('feeds', 'feeds.id', 'advisories.feed_id')
    .select([
      sql<string>`unnest(advisories.countries)`.as('country'),
      'advisories.feed_id',
      'feeds.name as feed_name',
      'feeds.source',
      'advisories.level',
      'advisories.level_text',
      'advisories.title',
      'advisories.link',
      'advisories.changed_at',
      'advisories.published_at',
    ])
    .where('advisories.removed_at', 'is', null)
    .where('advisories.level', 'is not', null)
    .where(feedShown);
  if (options.country) q = q.where(sql<boolean>`advisories.countries @> array[${options.country}]::text[]`);
  const rows = await q.execute();
  return rows
    .filter((r) => !options.country || r.country === options.country)
    .map((r) => ({
      country: r.country,
      feedId: r.feed_id,
      feedName: r.feed_name,
      source: r.source,
      government: governmentOf(r.source, r.feed_name),
      level: r.level!,
      levelText: r.level_text,
      title: r.title,
      link: r.link,
      updatedAt: r.changed_at,
      publishedAt: r.published_at,
    }));
}

/** A level a government's advisory for a country took at a time (one stored version). */
export interface LevelPoint {
  government: string;
  advisoryId: number;
  at: Date;
  level: number;
}

/**
 * The levels of every advisory about `country` of the feeds shown as current
 * (the chart draws each last level up to today) as stored versions recorded
 * them, oldest first: the versions since `since`, plus each advisory's last
 * version before it (the level the chart starts from).
 */
export async function levelPoints(db: DB, country: string, since: Date): Promise<LevelPoint[]> {
  const rows = await sql<{ advisory_id: number; source: string; feed_name: string; created_at: Date; level: number }>`
    select v.advisory_id, f.source, f.name as feed_name, v.created_at, v.level
    from advisories a
    join feeds f on f.id = a.feed_id
    join lateral (
      (select v0.advisory_id, v0.created_at, v0.level, v0.id from advisory_versions v0
        where v0.advisory_id = a.id and v0.created_at < ${since}::timestamptz and v0.level is not null
        order by v0.advisory_id, v0.id desc limit 1)
      union all
      (select v1.advisory_id, v1.created_at, v1.level, v1.id from advisory_versions v1
        where v1.advisory_id = a.id and v1.created_at >= ${since}::timestamptz and v1.level is not null)
    ) v on true
    where a.countries @> array[${country}]::text[] and a.level is not null and f.enabled and f.in_config
    order by v.created_at, v.id`.execute(db);
  return rows.rows.map((r) => ({
    government: governmentOf(r.source, r.feed_name),
    advisoryId: Number(r.advisory_id),
    at: new Date(r.created_at),
    level: r.level,
  }));
}

/** An event as the public pages, feeds and API show it: with the new version's wording and text. */
export interface PublicEvent {
  id: number;
  feedId: string;
  feedName: string;
  government: string;
  kind: EventKind;
  countries: string[];
  level: number | null;
  previousLevel: number | null;
  levelText: string | null;
  title: string;
  body: string;
  link: string | null;
  publishedAt: Date | null;
  createdAt: Date;
}

/** Keyset position in the (created_at, id) order of events. */
export interface EventPosition {
  createdAt: Date;
  id: number;
}

/**
 * Events in a page: oldest first after `after` (the API's cursor order) or
 * newest first (pages and Atom). `since` and `country` narrow them.
 */
export async function publicEvents(db: DB, options: EventFilter & { limit: number; newestFirst?: boolean }): Promise<PublicEvent[]> {
  const dir = options.newestFirst ? 'desc' : 'asc';
  const q = publicEventQuery(db, options).orderBy('e.created_at', dir).orderBy('e.id', dir).limit(options.limit);
  return (await q.execute()).map(toPublicEvent);
}

/** One event of an API page: its keyset position and its JSON, exactly as `eventJson` publishes it. */
export interface EventJsonRow {
  position: EventPosition;
  json: string;
}

/**
 * `publicEvents` (oldest first) for the events API, each event already as its
 * JSON text. PostgreSQL writes most of it (`row_to_json`): a page nobody asked
 * for before then costs this process a string per event, not a dozen parsed
 * columns, dates and arrays turned into an object and back into text (that was
 * most of its CPU per page). Written here: `id`, `feed` and `government` (a
 * name this code derives from the feed's source) in front, the two times last.
 */
export async function publicEventsJson(db: DB, options: EventFilter & { limit: number }): Promise<EventJsonRow[]> {
  const q = publicEventRows(db, options)
    .select([
      'e.id',
      'e.feed_id',
      'f.source',
      'f.name as feed_name',
      // Times in milliseconds, what a JS Date (and so a cursor) holds; written here, as
      // toISOString does (PostgreSQL's to_char cost more than the rest of the row).
      sql<number>`floor(extract(epoch from e.created_at) * 1000)::int8`.as('at'),
      sql<number | null>`floor(extract(epoch from v.published_at) * 1000)::int8`.as('published'),
      // The fields between `government` and the times, in eventJson's order.
      sql<string>`(select row_to_json(j)::text from (select e.kind, e.countries, e.level, e.previous_level as "previousLevel",
        v.level_text as "levelText", e.title, v.body as text, e.link) j)`.as('fields'),
    ])
    .orderBy('e.created_at')
    .orderBy('e.id')
    .limit(options.limit);
  const heads = new Map<string, string>();
  return (await q.execute()).map((r) => {
    let head = heads.get(r.feed_id);
    if (head === undefined) {
      head = `,"feed":${JSON.stringify(r.feed_id)},"government":${JSON.stringify(governmentOf(r.source, r.feed_name))},`;
      heads.set(r.feed_id, head);
    }
    const id = Number(r.id);
    const createdAt = new Date(r.at);
    const published = r.published === null ? 'null' : `"${new Date(r.published).toISOString()}"`;
    return {
      position: { createdAt, id },
      json: `{"id":${id}${head}${r.fields.slice(1, -1)},"publishedAt":${published},"createdAt":"${createdAt.toISOString()}"}`,
    };
  });
}

/** The given events (for webhook deliveries), in no particular order. */
export async function publicEventsByIds(db: DB, ids: readonly number[]): Promise<PublicEvent[]> {
  if (ids.length === 0) return [];
  return (
    await publicEventQuery(db)
      .where('e.id', 'in', [...ids])
      .execute()
  ).map(toPublicEvent);
}

/** Which events a public view shows: of one country, since a time, after a cursor's position. */
export interface EventFilter {
  country?: string | undefined;
  since?: Date | undefined;
  after?: EventPosition | undefined;
}

/** Events with their feed and version (the new wording), narrowed by `filter`. */
function publicEventRows(db: DB, filter: EventFilter) {
  let q = db.selectFrom('events as e').innerJoin('feeds as f', 'f.id', 'e.feed_id').innerJoin('advisory_versions as v', 'v.id', 'e.version_id');
  if (filter.country) q = q.where(sql<boolean>`e.countries @> array[${filter.country}]::text[]`);
  if (filter.since) q = q.where('e.created_at', '>=', filter.since);
  if (filter.after) {
    const { createdAt, id } = filter.after;
    q = q.where(sql<boolean>`(e.created_at, e.id) > (${createdAt}::timestamptz, ${id}::bigint)`);
  }
  return q;
}

/** One select for every public view of an event: pages, Atom, the API and webhooks. */
function publicEventQuery(db: DB, filter: EventFilter = {}) {
  return publicEventRows(db, filter).select([
    'e.id',
    'e.feed_id',
    'f.name as feed_name',
    'f.source',
    'e.kind',
    'e.countries',
    'e.level',
    'e.previous_level',
    'v.level_text',
    'e.title',
    'v.body',
    'e.link',
    'v.published_at',
    'e.created_at',
  ]);
}

type PublicEventRow = Awaited<ReturnType<ReturnType<typeof publicEventQuery>['execute']>>[number];

function toPublicEvent(r: PublicEventRow): PublicEvent {
  return {
    id: Number(r.id),
    feedId: r.feed_id,
    feedName: r.feed_name,
    government: governmentOf(r.source, r.feed_name),
    kind: r.kind,
    countries: r.countries,
    level: r.level,
    previousLevel: r.previous_level,
    levelText: r.level_text,
    title: r.title,
    body: r.body,
    link: r.link,
    publishedAt: r.published_at,
    createdAt: r.created_at,
  };
}

/**
 * A cheap fingerprint of everything the public views show: it moves when an
 * event or a version is written, an advisory drops out, or a sync changes
 * which feeds are shown or their names (the feeds' hash: a count would stay
 * the same when one feed is removed and another added in one sync). Cached
 * renderings are valid while it stays the same.
 */
export async function publicDataVersion(db: DB): Promise<string> {
  const r = await sql<{ e: string | null; v: string | null; r: string | null; f: string | null }>`
    select (select max(id) from events)::text as e,
           (select max(id) from advisory_versions)::text as v,
           (select max(removed_at)::text || ':' || count(*) filter (where removed_at is null) from advisories) as r,
           (select md5(string_agg(id || ' ' || source || ' ' || name, ',' order by id)) from feeds where enabled and in_config) as f`.execute(db);
  const row = r.rows[0]!;
  return `${row.e ?? 0}.${row.v ?? 0}.${row.r ?? ''}.${row.f ?? ''}`;
}
