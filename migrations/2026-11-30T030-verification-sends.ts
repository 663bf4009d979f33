import { sql, type Kysely } from 'kysely';

// Frozen: written against Kysely<any>, never importing app code.
// Every phone code and confirmation email sent before opt-in, so caps per
// recipient, per subscriber and overall hold across processes. Recipients are
// stored hashed: the table only has to count them.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('verification_sends')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('channel', 'text', (c) => c.notNull().check(sql`channel in ('email', 'sms')`))
    .addColumn('recipient_hash', 'text', (c) => c.notNull())
    .addColumn('subscriber_id', 'bigint')
    .addColumn('sent_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('verification_sends_recipient').on('verification_sends').columns(['recipient_hash', 'sent_at']).execute();
  await db.schema.createIndex('verification_sends_subscriber').on('verification_sends').columns(['subscriber_id', 'sent_at']).execute();
  await db.schema.createIndex('verification_sends_channel').on('verification_sends').columns(['channel', 'sent_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('verification_sends').ifExists().execute();
}
