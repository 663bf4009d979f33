import type { Kysely } from 'kysely';

// Frozen: written against Kysely<any>, never importing app code.
// The generation of a subscriber's manage and unsubscribe links: it goes up
// when the subscription moves to another address, so the links mailed to the
// old address stop working. 0 signs exactly as links did before it existed.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('subscribers')
    .addColumn('link_version', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('subscribers').dropColumn('link_version').execute();
}
