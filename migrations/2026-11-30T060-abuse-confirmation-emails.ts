import { sql, type Kysely } from 'kysely';

// Frozen: written against Kysely<any>, never importing app code.
// The outbox of double opt-in emails. A request is written here as it arrives
// (the same single insert whatever the address), answered, and then worked
// off: the subscriber and token are recorded, the caps checked, the email
// rendered (`message`, link included, cleared once sent or given up) and sent
// under a lease, with back-off on temporary refusals (SMTP 4xx).
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('confirmation_emails')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('request', 'jsonb', (c) => c.notNull())
    .addColumn('subscriber_id', 'bigint', (c) => c.references('subscribers.id').onDelete('cascade'))
    .addColumn('message', 'jsonb')
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('pending').check(sql`status in ('pending', 'sending', 'sent', 'failed', 'refused')`))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull())
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'timestamptz')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('sent_at', 'timestamptz')
    .execute();
  await sql`create index confirmation_emails_due on confirmation_emails (next_attempt_at) where status in ('pending', 'sending')`.execute(db);
  await db.schema.createIndex('confirmation_emails_created').on('confirmation_emails').column('created_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('confirmation_emails').ifExists().execute();
}
