import { sql, type Kysely } from 'kysely';

// Frozen: written against Kysely<any>, never importing app code.
// Each event keeps its public JSON (the API's event object from "kind" to
// "createdAt"; the reader adds id, feed and government), written once when the
// event is stored. A page of the events API nobody asked for before then reads
// one text column per event instead of joining its version and writing the
// JSON again on every request: that join and row_to_json were two thirds of
// PostgreSQL's CPU per page. Events and versions are never rewritten, so the
// copy stays true; the trigger (not the poll's insert) writes it so that every
// way an event is stored gets it, and rewrites it if an event's fields change.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table events add column public_json text`.execute(db);
  // The field order and formats are eventJson's: row_to_json writes text and
  // arrays as JSON.stringify does, and the times as toISOString does (UTC,
  // milliseconds, the sub-millisecond part cut off as a JS Date cuts it).
  await sql`create function events_public_json() returns trigger language plpgsql as $$
    begin
      select row_to_json(j)::text into new.public_json
      from (select new.kind as kind, new.countries as countries, new.level as level, new.previous_level as "previousLevel",
                   v.level_text as "levelText", new.title as title, v.body as text, new.link as link,
                   to_char(v.published_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as "publishedAt",
                   to_char(new.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as "createdAt"
            from advisory_versions v where v.id = new.version_id) j;
      return new;
    end $$`.execute(db);
  await sql`create trigger events_public_json before insert or update of kind, countries, level, previous_level, title, link, version_id, created_at
    on events for each row execute function events_public_json()`.execute(db);
  // Events stored before: the trigger writes theirs.
  await sql`update events set version_id = version_id`.execute(db);
  await sql`alter table events alter column public_json set not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger if exists events_public_json on events`.execute(db);
  await sql`drop function if exists events_public_json()`.execute(db);
  await sql`alter table events drop column if exists public_json`.execute(db);
}
