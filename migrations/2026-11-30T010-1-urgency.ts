import { sql, type Kysely } from 'kysely';

// Frozen: written against Kysely<any>, never importing app code.
export async function up(db: Kysely<any>): Promise<void> {
  // Decided once, when the event is recorded (from the change, the source and the
  // feed's override), so routing, listings and messages all agree. Events recorded
  // before this column existed were delivered already; 'routine' is a safe default.
  await db.schema
    .alterTable('events')
    .addColumn('urgency', 'text', (c) => c.notNull().defaultTo('routine').check(sql`urgency in ('urgent', 'routine')`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('events').dropColumn('urgency').execute();
}
