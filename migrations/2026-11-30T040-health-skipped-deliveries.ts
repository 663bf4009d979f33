import { sql, type Kysely } from 'kysely';

// Frozen: written against Kysely<any>, never importing app code.
// 'skipped': the dispatcher re-checks the matching rule on the subscriber's
// current subscription at send time; a delivery the subscriber no longer wants
// (unsubscribed, channel stopped, subscription narrowed after the fan-out) is
// closed without sending, its reason in last_error and in its attempt row.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table deliveries drop constraint if exists deliveries_status_check`.execute(db);
  await sql`alter table deliveries add constraint deliveries_status_check
    check (status in ('pending', 'sending', 'sent', 'failed', 'uncertain', 'digest', 'digested', 'skipped'))`.execute(db);
  await sql`alter table delivery_attempts drop constraint if exists delivery_attempts_outcome_check`.execute(db);
  await sql`alter table delivery_attempts add constraint delivery_attempts_outcome_check
    check (outcome in ('sent', 'retry', 'failed', 'uncertain', 'skipped'))`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`update deliveries set status = 'failed' where status = 'skipped'`.execute(db);
  await sql`update delivery_attempts set outcome = 'failed' where outcome = 'skipped'`.execute(db);
  await sql`alter table deliveries drop constraint if exists deliveries_status_check`.execute(db);
  await sql`alter table deliveries add constraint deliveries_status_check
    check (status in ('pending', 'sending', 'sent', 'failed', 'uncertain', 'digest', 'digested'))`.execute(db);
  await sql`alter table delivery_attempts drop constraint if exists delivery_attempts_outcome_check`.execute(db);
  await sql`alter table delivery_attempts add constraint delivery_attempts_outcome_check
    check (outcome in ('sent', 'retry', 'failed', 'uncertain'))`.execute(db);
}
