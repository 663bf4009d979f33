import { sql, type Kysely } from 'kysely';

// Frozen: written against Kysely<any>, never importing app code.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('subscribers')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('email', 'text', (c) => c.notNull().unique())
    .addColumn('phone', 'text')
    .addColumn('phone_verified', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('pending').check(sql`status in ('pending', 'confirmed', 'unsubscribed')`))
    // A permanent failure (or an inbound STOP) stops one channel for the subscriber.
    .addColumn('email_stopped_at', 'timestamptz')
    .addColumn('email_stop_reason', 'text')
    .addColumn('sms_stopped_at', 'timestamptz')
    .addColumn('sms_stop_reason', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('confirmed_at', 'timestamptz')
    .addColumn('unsubscribed_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('subscribers_phone').on('subscribers').column('phone').execute();

  await db.schema
    .createTable('subscriptions')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('subscriber_id', 'bigint', (c) => c.notNull().references('subscribers.id').onDelete('cascade'))
    // null = every country / every feed
    .addColumn('countries', sql`text[]`)
    .addColumn('feeds', sql`text[]`)
    .addColumn('min_level', 'smallint', (c) => c.notNull().defaultTo(1).check(sql`min_level between 1 and 4`))
    .addColumn('keywords', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
    .addColumn('channels', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{email}'::text[]`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('subscriptions_subscriber').on('subscriptions').column('subscriber_id').execute();
  await sql`create index subscriptions_countries on subscriptions using gin (countries)`.execute(db);

  await db.schema
    .createTable('deliveries')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('subscriber_id', 'bigint', (c) => c.notNull().references('subscribers.id').onDelete('cascade'))
    .addColumn('event_id', 'bigint', (c) => c.notNull().references('events.id'))
    .addColumn('channel', 'text', (c) => c.notNull().check(sql`channel in ('email', 'sms')`))
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('pending').check(sql`status in ('pending', 'sending', 'sent', 'failed', 'uncertain')`))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull())
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'timestamptz')
    .addColumn('last_error', 'text')
    .addColumn('provider_id', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('sent_at', 'timestamptz')
    // At most one delivery per (subscriber, event, channel), by construction.
    .addUniqueConstraint('deliveries_once', ['subscriber_id', 'event_id', 'channel'])
    .execute();
  // The dispatcher's claim query reads only due work; keep that index small.
  await sql`create index deliveries_due on deliveries (next_attempt_at) where status = 'pending'`.execute(db);
  await sql`create index deliveries_leased on deliveries (lease_until) where status = 'sending'`.execute(db);
  await db.schema.createIndex('deliveries_event').on('deliveries').column('event_id').execute();
  await sql`create index deliveries_created on deliveries (created_at)`.execute(db);

  await db.schema
    .createTable('delivery_attempts')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('delivery_id', 'bigint', (c) => c.notNull().references('deliveries.id').onDelete('cascade'))
    .addColumn('attempted_at', 'timestamptz', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull().check(sql`outcome in ('sent', 'retry', 'failed', 'uncertain')`))
    .addColumn('error', 'text')
    .addColumn('duration_ms', 'integer')
    .execute();
  await db.schema.createIndex('delivery_attempts_delivery').on('delivery_attempts').column('delivery_id').execute();

  // Shared send-rate limits (GCRA): the theoretical arrival time of the next
  // permitted send per channel, advanced atomically by every process.
  await db.schema
    .createTable('rate_limits')
    .addColumn('channel', 'text', (c) => c.primaryKey())
    .addColumn('tat', 'timestamptz', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['rate_limits', 'delivery_attempts', 'deliveries', 'subscriptions', 'subscribers']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
