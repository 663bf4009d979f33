import { sql, type Kysely } from 'kysely';

// Frozen: written against Kysely<any>, never importing app code.
export async function up(db: Kysely<any>): Promise<void> {
  // How and when each traveler hears (see the README, "For travelers").
  await db.schema
    .alterTable('subscribers')
    .addColumn('email_frequency', 'text', (c) => c.notNull().defaultTo('immediate').check(sql`email_frequency in ('immediate', 'daily', 'weekly')`))
    .addColumn('sms_urgency', 'text', (c) => c.notNull().defaultTo('urgent').check(sql`sms_urgency in ('urgent', 'all')`))
    // Local wall-clock times in the subscriber's zone; both or neither.
    .addColumn('quiet_start', 'time')
    .addColumn('quiet_end', 'time')
    // IANA name; null follows the service's default zone.
    .addColumn('timezone', 'text')
    .execute();
  await db.schema
    .alterTable('subscribers')
    .addCheckConstraint('subscribers_quiet_hours', sql`(quiet_start is null) = (quiet_end is null) and (quiet_start is null or quiet_start <> quiet_end)`)
    .execute();

  // One digest email per subscriber per period (a local date for daily, the
  // local Monday for weekly), whatever the number of processes: the unique key
  // is claimed in the same transaction that attaches the waiting deliveries to
  // it. It is then sent through its own small outbox (status, lease, attempts).
  await db.schema
    .createTable('digests')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('subscriber_id', 'bigint', (c) => c.notNull().references('subscribers.id').onDelete('cascade'))
    .addColumn('period', 'text', (c) => c.notNull())
    .addColumn('frequency', 'text', (c) => c.notNull().check(sql`frequency in ('daily', 'weekly')`))
    .addColumn('due_at', 'timestamptz', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('pending').check(sql`status in ('pending', 'sending', 'sent', 'failed')`))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull())
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'timestamptz')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('sent_at', 'timestamptz')
    .addUniqueConstraint('digests_once', ['subscriber_id', 'period'])
    .execute();
  await sql`create index digests_due on digests (next_attempt_at) where status in ('pending', 'sending')`.execute(db);

  // A routine email for a daily/weekly subscriber waits in the outbox as
  // 'digest' until a digest takes it (then 'digested', pointing at it).
  await sql`alter table deliveries drop constraint if exists deliveries_status_check`.execute(db);
  await sql`alter table deliveries add constraint deliveries_status_check
    check (status in ('pending', 'sending', 'sent', 'failed', 'uncertain', 'digest', 'digested'))`.execute(db);
  await db.schema
    .alterTable('deliveries')
    .addColumn('digest_id', 'bigint', (c) => c.references('digests.id').onDelete('set null'))
    .execute();
  await sql`create index deliveries_waiting_digest on deliveries (subscriber_id) where status = 'digest'`.execute(db);
  await db.schema.createIndex('deliveries_digest').on('deliveries').column('digest_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('deliveries_digest').ifExists().execute();
  await db.schema.dropIndex('deliveries_waiting_digest').ifExists().execute();
  await db.schema.alterTable('deliveries').dropColumn('digest_id').execute();
  await sql`alter table deliveries drop constraint if exists deliveries_status_check`.execute(db);
  await sql`alter table deliveries add constraint deliveries_status_check
    check (status in ('pending', 'sending', 'sent', 'failed', 'uncertain'))`.execute(db);
  await db.schema.dropTable('digests').ifExists().execute();
  await db.schema.alterTable('subscribers').dropConstraint('subscribers_quiet_hours').execute();
  for (const c of ['timezone', 'quiet_end', 'quiet_start', 'sms_urgency', 'email_frequency']) {
    await db.schema.alterTable('subscribers').dropColumn(c).execute();
  }
}
