import { sql, type Kysely } from 'kysely';

// Frozen: written against Kysely<any>, never importing app code.
export async function up(db: Kysely<any>): Promise<void> {
  // Webhook endpoints as declared in webhooks.yaml, synced at start: what the
  // fan-out matches on. URLs and secrets stay in the config (from the
  // environment), never in the database.
  await db.schema
    .createTable('webhooks')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('countries', sql`text[]`)
    .addColumn('min_level', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('format', 'text', (c) => c.notNull().check(sql`format in ('standard', 'slack')`))
    .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('in_config', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  // A webhook delivery is a row of the same outbox: it has an endpoint instead
  // of a subscriber, and is unique per (endpoint, event).
  await db.schema
    .alterTable('deliveries')
    .addColumn('webhook_id', 'text', (c) => c.references('webhooks.id'))
    .execute();
  await sql`alter table deliveries alter column subscriber_id drop not null`.execute(db);
  await sql`alter table deliveries drop constraint deliveries_channel_check`.execute(db);
  await sql`alter table deliveries add constraint deliveries_channel_check check (channel in ('email', 'sms', 'webhook'))`.execute(db);
  await sql`alter table deliveries add constraint deliveries_target check (
    (channel = 'webhook' and webhook_id is not null and subscriber_id is null)
    or (channel <> 'webhook' and webhook_id is null and subscriber_id is not null))`.execute(db);
  await sql`create unique index deliveries_webhook_once on deliveries (webhook_id, event_id) where webhook_id is not null`.execute(db);

  // The public country page and feeds read one country's events, newest first.
  await sql`create index events_countries on events using gin (countries)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('events_countries').ifExists().execute();
  await db.schema.dropIndex('deliveries_webhook_once').ifExists().execute();
  await sql`alter table deliveries drop constraint if exists deliveries_target`.execute(db);
  await sql`delete from deliveries where webhook_id is not null`.execute(db);
  await sql`alter table deliveries drop constraint deliveries_channel_check`.execute(db);
  await sql`alter table deliveries add constraint deliveries_channel_check check (channel in ('email', 'sms'))`.execute(db);
  await sql`alter table deliveries alter column subscriber_id set not null`.execute(db);
  await db.schema.alterTable('deliveries').dropColumn('webhook_id').execute();
  await db.schema.dropTable('webhooks').ifExists().execute();
}
