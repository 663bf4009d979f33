import { sql, type Kysely } from 'kysely';

// Frozen: written against Kysely<any>, never importing app code.
export async function up(db: Kysely<any>): Promise<void> {
  // A trip: countries followed from some lead days before its first day through
  // its last day, dates in the subscriber's zone (see the README, "For travelers").
  await db.schema
    .createTable('trips')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('subscriber_id', 'bigint', (c) => c.notNull().references('subscribers.id').onDelete('cascade'))
    .addColumn('countries', sql`text[]`, (c) => c.notNull().check(sql`cardinality(countries) between 1 and 50`))
    .addColumn('first_day', 'date', (c) => c.notNull())
    .addColumn('last_day', 'date', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addCheckConstraint('trips_days', sql`last_day >= first_day`)
    // The same trip given twice (a confirmation link opened again, a retried API call) is one trip.
    .addUniqueConstraint('trips_once', ['subscriber_id', 'countries', 'first_day', 'last_day'])
    .execute();
  // The fan-out looks trips up by country (the event's) and date; retention by last day.
  await sql`create index trips_countries on trips using gin (countries)`.execute(db);
  await db.schema.createIndex('trips_last_day').on('trips').column('last_day').execute();

  // The pre-trip briefing email: its own small outbox (like digests), written in
  // the transaction that adds the trips, so a crash between adding a trip and
  // mailing its briefing neither loses nor doubles it.
  await db.schema
    .createTable('briefings')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('subscriber_id', 'bigint', (c) => c.notNull().references('subscribers.id').onDelete('cascade'))
    .addColumn('trip_ids', sql`bigint[]`, (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('pending').check(sql`status in ('pending', 'sending', 'sent', 'failed')`))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull())
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'timestamptz')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('sent_at', 'timestamptz')
    .execute();
  await sql`create index briefings_due on briefings (next_attempt_at) where status in ('pending', 'sending')`.execute(db);
  await db.schema.createIndex('briefings_subscriber').on('briefings').column('subscriber_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('briefings').ifExists().execute();
  await db.schema.dropTable('trips').ifExists().execute();
}
