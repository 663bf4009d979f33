import { sql, type Kysely } from 'kysely';

// Frozen: written against Kysely<any>, never importing app code.
export async function up(db: Kysely<any>): Promise<void> {
  // The dispatcher's claim reads 'uncertain' deliveries (a Twilio 5xx on create:
  // maybe sent) in an ordered scan of their own, which runs to its end whenever
  // the other kinds of due work come short of a batch — that is, on every idle
  // poll of every dispatcher. Without an index that scan read the whole table
  // (EXPLAIN on 1,000,000 deliveries: a sequential scan of ~300 ms, once per
  // second per process; tests/bench/explain.ts). Uncertain rows are few.
  await sql`create index deliveries_uncertain on deliveries (next_attempt_at) where status = 'uncertain'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('deliveries_uncertain').ifExists().execute();
}
