import { sql, type Kysely } from 'kysely';

// Frozen: written against Kysely<any>, never importing app code.
// 'skipped': the digest job re-checks the matching rule when it builds a digest;
// when none of its events is still wanted (the subscriber narrowed, stopped
// email or unsubscribed after the fan-out) no email goes and the digest is
// closed as skipped, its reason in last_error — not 'failed', which says a send went wrong.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table digests drop constraint if exists digests_status_check`.execute(db);
  await sql`alter table digests add constraint digests_status_check
    check (status in ('pending', 'sending', 'sent', 'failed', 'skipped'))`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`update digests set status = 'failed' where status = 'skipped'`.execute(db);
  await sql`alter table digests drop constraint if exists digests_status_check`.execute(db);
  await sql`alter table digests add constraint digests_status_check
    check (status in ('pending', 'sending', 'sent', 'failed'))`.execute(db);
}
