import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { sql, type Selectable, type Transaction } from 'kysely';
import { backoffMs } from '../common/backoff.ts';
import { AppError, errorMessage } from '../common/errors.ts';
import type { DB } from './connect.ts';
import type { Database } from './types.ts';

// The small outboxes (confirmation emails, pre-trip briefings, digests) work one
// way, written once here; what each row carries and how it is sent stays in its
// feature. A row is due when it is pending and its time has come, or when it is
// being sent under a lease that expired (its sender died): a process leases due
// rows, sends them, and records the outcome only while it still holds the lease,
// so a slow sender whose lease was taken over cannot overwrite the new holder's
// outcome. At least once, never lost — the rule of the main `deliveries` outbox,
// whose claim is its own (several partial indexes, channels, rate limits).
// This module knows no feature: it names the tables that have these columns.

/** Tables with the outbox columns: status, attempts, next_attempt_at, lease_owner, lease_until, last_error, sent_at. */
export type OutboxTable = 'confirmation_emails' | 'briefings' | 'digests';

type Row<T extends OutboxTable> = Selectable<Database[T]>;
type Column<T extends OutboxTable> = keyof Row<T> & string;

const host = hostname();

/**
 * A name on leases (the outboxes', the deliveries', a feed's poll): unique per
 * call, readable in the table (host and pid).
 */
export function leaseOwner(): string {
  return `${host}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

export interface ClaimOptions<T extends OutboxTable> {
  owner: string;
  limit: number;
  leaseMs: number;
  now: Date;
  /** Only the rows whose column holds this value (one subscriber's, one request). */
  only?: { column: Column<T>; equals: number } | undefined;
}

/**
 * Leases up to `limit` due rows of `table`, oldest due first, counting the
 * attempt, and returns the `columns` asked for. `skip locked` lets several
 * processes claim at once without waiting on each other or taking a row twice.
 */
export async function claimDue<T extends OutboxTable, C extends Column<T>>(
  db: DB,
  table: T,
  columns: readonly C[],
  options: ClaimOptions<T>,
): Promise<Pick<Row<T>, C>[]> {
  const leaseUntil = new Date(options.now.getTime() + options.leaseMs);
  const only = options.only ? sql`${sql.ref(options.only.column)} = ${options.only.equals}` : sql`true`;
  const rows = await sql<Pick<Row<T>, C>>`
    update ${sql.table(table)} o set status = 'sending', lease_owner = ${options.owner}, lease_until = ${leaseUntil}::timestamptz, attempts = o.attempts + 1
    where o.id in (
      select id from ${sql.table(table)}
      where ((status = 'pending' and next_attempt_at <= ${options.now}::timestamptz)
          or (status = 'sending' and lease_until < ${options.now}::timestamptz))
        and ${only}
      order by next_attempt_at
      limit ${options.limit}
      for update skip locked)
    returning ${sql.join(columns.map((c) => sql.ref(`o.${c}`)))}`.execute(db);
  return rows.rows;
}

/**
 * Renews `owner`'s lease on one claimed row just before its send; false when
 * the lease was lost. A run claims a batch at once and sends the rows one by
 * one, so with a slow mail server the last of a batch can come after its
 * claim's lease ran out, when another process may already have taken it over:
 * the one that sends is the one holding a fresh lease at the moment of sending.
 * A lease that ran out but that nobody took over is still ours (a claim
 * changes the owner).
 */
export async function renewLease(db: DB, table: OutboxTable, owner: string, id: number, options: { leaseMs: number; now: Date }): Promise<boolean> {
  const r = await sql`
    update ${sql.table(table)} set lease_until = ${new Date(options.now.getTime() + options.leaseMs)}::timestamptz
    where id = ${id} and lease_owner = ${owner} and status = 'sending'
    returning id`.execute(db);
  return r.rows.length > 0;
}

/** How a send ended: sent, to be tried again later, or given up (`failed`; confirmations also know `refused`). */
export type Outcome<GaveUp extends string = 'failed'> =
  | { status: 'sent'; at: Date }
  | { status: 'pending'; error: string; nextAttemptAt: Date }
  | { status: GaveUp; error: string };

/** The ways of giving up a row of this table: its statuses other than pending, sending and sent. */
export type GaveUp<T extends OutboxTable> = Exclude<Row<T> extends { status: infer S extends string } ? S : never, 'pending' | 'sending' | 'sent'>;

/**
 * Records a leased row's outcome and releases the lease, only while `owner`
 * still holds it; false when it no longer does (the lease expired and another
 * process took the row). `clearWhenDone` names columns that only a retry
 * needs and that should not outlive the row's last attempt (a confirmation
 * link). Takes a transaction, so a feature can record more with it.
 */
export async function completeClaimed<T extends OutboxTable>(
  db: DB | Transaction<Database>,
  table: T,
  owner: string,
  id: number,
  outcome: Outcome<GaveUp<T>>,
  options: { clearWhenDone?: readonly Column<T>[] } = {},
): Promise<boolean> {
  const sets = [sql`status = ${outcome.status}`, sql`lease_owner = null`, sql`lease_until = null`];
  if ('at' in outcome) sets.push(sql`sent_at = ${outcome.at}::timestamptz`, sql`last_error = null`);
  else sets.push(sql`last_error = ${outcome.error}`);
  if ('nextAttemptAt' in outcome) sets.push(sql`next_attempt_at = ${outcome.nextAttemptAt}::timestamptz`);
  else for (const c of options.clearWhenDone ?? []) sets.push(sql`${sql.ref(c)} = null`);
  const r = await sql`
    update ${sql.table(table)} set ${sql.join(sets)}
    where id = ${id} and lease_owner = ${owner} and status = 'sending'
    returning id`.execute(db);
  return r.rows.length > 0;
}

/** The retry settings (`delivery` in the config): the same for every email. */
export interface RetryRule {
  maxAttempts: number;
  retryBaseSeconds: number;
  retryMaxSeconds: number;
}

/**
 * What becomes of a row whose send threw on its `attempts`-th try: another try
 * after the jittered back-off, unless the error is permanent or no attempts
 * are left. Provider errors are classified (and their addresses masked) at the
 * channel; anything else (the database, a bug) is worth another try.
 */
export function afterFailedSend(
  err: unknown,
  attempts: number,
  rule: RetryRule,
  now: Date,
  random?: () => number,
): { status: 'pending'; error: string; nextAttemptAt: Date } | { status: 'failed'; error: string } {
  const error = errorMessage(err);
  const retryable = !(err instanceof AppError) || err.retryable;
  if (!retryable || attempts >= rule.maxAttempts) return { status: 'failed', error };
  const delay = backoffMs(attempts, {
    baseMs: rule.retryBaseSeconds * 1000,
    maxMs: rule.retryMaxSeconds * 1000,
    jitter: true,
    ...(random ? { random } : {}),
  });
  return { status: 'pending', error, nextAttemptAt: new Date(now.getTime() + delay) };
}
