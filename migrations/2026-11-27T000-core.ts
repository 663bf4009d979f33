import { sql, type Kysely } from 'kysely';

// Frozen: written against Kysely<any> and never importing app code, so that
// later changes to the app cannot change what this migration did.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('feeds')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
    // false once the feed is gone from feeds.yaml: it stops being polled, its history stays.
    .addColumn('in_config', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('schedule', 'text')
    .addColumn('etag', 'text')
    .addColumn('last_modified', 'text')
    .addColumn('last_polled_at', 'timestamptz')
    .addColumn('last_success_at', 'timestamptz')
    .addColumn('last_status', 'text')
    .addColumn('last_error', 'text')
    .addColumn('consecutive_failures', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('not_before', 'timestamptz')
    .addColumn('baseline_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('advisories')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('feed_id', 'text', (c) => c.notNull().references('feeds.id'))
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('countries', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
    .addColumn('level', 'smallint')
    .addColumn('level_text', 'text')
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('link', 'text')
    .addColumn('guid', 'text')
    .addColumn('published_at', 'timestamptz')
    .addColumn('fingerprint', 'text', (c) => c.notNull())
    .addColumn('version_id', 'bigint')
    .addColumn('first_seen_at', 'timestamptz', (c) => c.notNull())
    .addColumn('last_seen_at', 'timestamptz', (c) => c.notNull())
    .addColumn('changed_at', 'timestamptz', (c) => c.notNull())
    .addColumn('removed_at', 'timestamptz')
    .addUniqueConstraint('advisories_feed_key', ['feed_id', 'key'])
    .execute();
  await sql`create index advisories_countries on advisories using gin (countries)`.execute(db);

  await db.schema
    .createTable('advisory_versions')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('advisory_id', 'bigint', (c) => c.notNull().references('advisories.id'))
    .addColumn('fingerprint', 'text', (c) => c.notNull())
    .addColumn('countries', sql`text[]`, (c) => c.notNull())
    .addColumn('level', 'smallint')
    .addColumn('level_text', 'text')
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('link', 'text')
    .addColumn('published_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('advisory_versions_advisory').on('advisory_versions').columns(['advisory_id', 'id']).execute();

  await db.schema
    .createTable('events')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('feed_id', 'text', (c) => c.notNull().references('feeds.id'))
    .addColumn('advisory_id', 'bigint', (c) => c.notNull().references('advisories.id'))
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('new', 'updated', 'level-raised', 'level-lowered')`))
    .addColumn('countries', sql`text[]`, (c) => c.notNull())
    .addColumn('level', 'smallint')
    .addColumn('previous_level', 'smallint')
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('link', 'text')
    .addColumn('version_id', 'bigint', (c) => c.notNull().references('advisory_versions.id'))
    .addColumn('previous_version_id', 'bigint', (c) => c.references('advisory_versions.id'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('events_created').on('events').columns(['created_at', 'id']).execute();

  await db.schema
    .createTable('poll_runs')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('feed_id', 'text', (c) => c.notNull().references('feeds.id'))
    .addColumn('started_at', 'timestamptz', (c) => c.notNull())
    .addColumn('finished_at', 'timestamptz', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('http_status', 'integer')
    .addColumn('new_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('updated_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('unchanged_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('removed_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('events_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('error', 'text')
    .execute();
  await db.schema.createIndex('poll_runs_feed').on('poll_runs').columns(['feed_id', 'started_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['poll_runs', 'events', 'advisory_versions', 'advisories', 'feeds']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
