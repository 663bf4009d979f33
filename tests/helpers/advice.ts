import { createHash } from 'node:crypto';
import type { DB } from '../../src/db/connect.ts';
import type { EventKind } from '../../src/db/types.ts';

/**
 * Writes advisories, versions and events straight into the tables, the way
 * the poller's applyDiff leaves them, for tests and benchmarks that need a
 * known history (a level raised on a given day) rather than a poll.
 */

export async function addFeed(db: DB, feed: { id: string; name: string; source: string; url?: string }): Promise<void> {
  await db
    .insertInto('feeds')
    .values({
      id: feed.id,
      name: feed.name,
      source: feed.source,
      url: feed.url ?? `https://example.org/${feed.id}`,
      schedule: null,
      etag: null,
      last_modified: null,
      last_polled_at: null,
      last_success_at: null,
      last_status: null,
      last_error: null,
      not_before: null,
      baseline_at: null,
      poll_lease_owner: null,
      poll_lease_until: null,
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
}

/** The four governments' advisory feeds the public pages' tests seed advice under. */
export async function addGovernmentFeeds(db: DB): Promise<void> {
  await addFeed(db, { id: 'us-state-dept', name: 'U.S. State Department travel advisories', source: 'us-state-dept' });
  await addFeed(db, { id: 'uk-fcdo', name: 'UK FCDO travel advice', source: 'uk-fcdo' });
  await addFeed(db, { id: 'ca-travel', name: 'Travel.gc.ca advisories', source: 'ca-travel' });
  await addFeed(db, { id: 'au-smartraveller', name: 'Smartraveller', source: 'au-smartraveller' });
}

export interface AdviceInput {
  level: number | null;
  levelText?: string | null;
  title: string;
  body?: string;
  link?: string | null;
  /** When it was recorded (a poll's time). */
  at: Date;
  /** The government's date for it (the item's pubDate); `at` unless given. */
  publishedAt?: Date | null;
}

function publishedAt(a: AdviceInput): Date | null {
  return a.publishedAt === undefined ? a.at : a.publishedAt;
}

function fingerprint(a: AdviceInput): string {
  return createHash('sha256')
    .update(`${a.level}|${a.title}|${a.body ?? ''}`)
    .digest('hex');
}

/** A new advisory (its first version); with `event`, also the event a poll after the baseline records. */
export async function addAdvisory(
  db: DB,
  feedId: string,
  key: string,
  countries: string[],
  a: AdviceInput,
  options: { event?: boolean } = {},
): Promise<{ advisoryId: number; eventId: number | null }> {
  const row = await db
    .insertInto('advisories')
    .values({
      feed_id: feedId,
      key,
      countries,
      level: a.level,
      level_text: a.levelText ?? null,
      title: a.title,
      body: a.body ?? '',
      link: a.link ?? null,
      guid: null,
      published_at: publishedAt(a),
      fingerprint: fingerprint(a),
      first_seen_at: a.at,
      last_seen_at: a.at,
      changed_at: a.at,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const version = await insertVersion(db, row.id, countries, a);
  await db.updateTable('advisories').set({ version_id: version }).where('id', '=', row.id).execute();
  const eventId = options.event ? await insertEvent(db, feedId, row.id, 'new', countries, a, null, version, null) : null;
  return { advisoryId: row.id, eventId };
}

/** A change of an advisory: a new version, the advisory updated, and its event. */
export async function changeAdvisory(db: DB, advisoryId: number, a: AdviceInput): Promise<number> {
  const current = await db.selectFrom('advisories').selectAll().where('id', '=', advisoryId).executeTakeFirstOrThrow();
  const version = await insertVersion(db, advisoryId, current.countries, a);
  await db
    .updateTable('advisories')
    .set({
      level: a.level,
      level_text: a.levelText ?? null,
      title: a.title,
      body: a.body ?? '',
      link: a.link ?? current.link,
      fingerprint: fingerprint(a),
      published_at: publishedAt(a),
      version_id: version,
      changed_at: a.at,
      last_seen_at: a.at,
    })
    .where('id', '=', advisoryId)
    .execute();
  const kind: EventKind =
    a.level !== null && current.level !== null && a.level !== current.level ? (a.level > current.level ? 'level-raised' : 'level-lowered') : 'updated';
  return insertEvent(
    db,
    current.feed_id,
    advisoryId,
    kind,
    current.countries,
    { ...a, link: a.link ?? current.link },
    current.level,
    version,
    current.version_id,
  );
}

async function insertVersion(db: DB, advisoryId: number, countries: string[], a: AdviceInput): Promise<number> {
  const v = await db
    .insertInto('advisory_versions')
    .values({
      advisory_id: advisoryId,
      fingerprint: fingerprint(a),
      countries,
      level: a.level,
      level_text: a.levelText ?? null,
      title: a.title,
      body: a.body ?? '',
      link: a.link ?? null,
      published_at: publishedAt(a),
      created_at: a.at,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return v.id;
}

async function insertEvent(
  db: DB,
  feedId: string,
  advisoryId: number,
  kind: EventKind,
  countries: string[],
  a: AdviceInput,
  previousLevel: number | null,
  versionId: number,
  previousVersionId: number | null,
): Promise<number> {
  const e = await db
    .insertInto('events')
    .values({
      feed_id: feedId,
      advisory_id: advisoryId,
      kind,
      countries,
      level: a.level,
      previous_level: previousLevel,
      title: a.title,
      link: a.link ?? null,
      version_id: versionId,
      previous_version_id: previousVersionId,
      created_at: a.at,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return e.id;
}
