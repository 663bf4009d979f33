import type { DB } from '../../src/db/connect.ts';
import type { EventKind, Urgency } from '../../src/db/types.ts';

/** An event as tests write it straight into the database (advisory, version, event). */
export interface TestEvent {
  feedId?: string;
  countries?: string[];
  kind?: EventKind;
  level?: number | null;
  previousLevel?: number | null;
  levelText?: string | null;
  title?: string;
  body?: string;
  link?: string | null;
  urgency?: Urgency;
  at: Date;
}

let seq = 0;

/** The feed events point at; created once per database. */
export async function ensureFeed(db: DB, id = 'us-state-dept', source = 'us-state-dept', name = 'U.S. State Department travel advisories'): Promise<void> {
  await db
    .insertInto('feeds')
    .values({ id, name, url: `https://feeds.example/${id}.xml`, source })
    .onConflict((oc) => oc.doNothing())
    .execute();
}

export async function insertEvent(db: DB, e: TestEvent): Promise<number> {
  const feedId = e.feedId ?? 'us-state-dept';
  await ensureFeed(db, feedId);
  const key = `test-${++seq}-${Math.random().toString(36).slice(2)}`;
  const countries = e.countries ?? ['RU'];
  const level = e.level === undefined ? 3 : e.level;
  const title = e.title ?? 'Russia - Level 3: Reconsider Travel';
  const body = e.body ?? 'Reconsider travel to Russia.';
  const advisory = await db
    .insertInto('advisories')
    .values({
      feed_id: feedId,
      key,
      countries,
      level,
      level_text: e.levelText ?? null,
      title,
      body,
      link: e.link ?? null,
      fingerprint: key,
      first_seen_at: e.at,
      last_seen_at: e.at,
      changed_at: e.at,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const version = await db
    .insertInto('advisory_versions')
    .values({
      advisory_id: advisory.id,
      fingerprint: key,
      countries,
      level,
      level_text: e.levelText ?? null,
      title,
      body,
      link: e.link ?? null,
      created_at: e.at,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const event = await db
    .insertInto('events')
    .values({
      feed_id: feedId,
      advisory_id: advisory.id,
      kind: e.kind ?? 'new',
      countries,
      level,
      previous_level: e.previousLevel ?? null,
      title,
      link: e.link ?? null,
      version_id: version.id,
      created_at: e.at,
      urgency: e.urgency ?? 'routine',
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return event.id;
}
