import { sql, type Kysely } from 'kysely';

// Frozen: written against Kysely<any>, never importing app code.
export async function up(db: Kysely<any>): Promise<void> {
  // One row per scheduled slot of a task (node-cron's run coordinator): the
  // process that inserts it runs the slot, the others skip it.
  await db.schema
    .createTable('cron_claims')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('owner', 'text', (c) => c.notNull())
    .addColumn('claimed_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('cron_claims_claimed').on('cron_claims').column('claimed_at').execute();

  // A lease on a feed while it is being polled, so a manual `poll` and a
  // scheduled one (in any process) never interleave.
  await db.schema.alterTable('feeds').addColumn('poll_lease_owner', 'text').execute();
  await db.schema.alterTable('feeds').addColumn('poll_lease_until', 'timestamptz').execute();

  // Retention deletes by age; these keep it off sequential scans.
  await sql`create index deliveries_sent_at on deliveries (sent_at) where status = 'sent'`.execute(db);
  await db.schema.createIndex('delivery_attempts_at').on('delivery_attempts').column('attempted_at').execute();
  await db.schema.createIndex('poll_runs_started').on('poll_runs').column('started_at').execute();
  await db.schema.createIndex('events_version').on('events').column('version_id').execute();
  await db.schema.createIndex('events_previous_version').on('events').column('previous_version_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const i of ['events_previous_version', 'events_version', 'poll_runs_started', 'delivery_attempts_at', 'deliveries_sent_at']) {
    await db.schema.dropIndex(i).ifExists().execute();
  }
  await db.schema.alterTable('feeds').dropColumn('poll_lease_until').execute();
  await db.schema.alterTable('feeds').dropColumn('poll_lease_owner').execute();
  await db.schema.dropTable('cron_claims').ifExists().execute();
}
