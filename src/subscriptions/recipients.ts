import type { DB } from '../db/connect.ts';
import type { SubscriberStatus } from '../db/types.ts';

// The subscriber side of a claimed outbox email (a digest, a briefing): read
// at send time, not at queue time, so an address changed or stopped since is
// honoured.

export interface Recipient {
  email: string;
  /** The generation of the subscriber's manage/unsubscribe links. */
  linkVersion: number;
  status: SubscriberStatus;
  emailStopped: boolean;
  timezone: string | null;
}

/**
 * Pairs each claimed row with its subscriber, in one query. A row whose
 * subscriber was deleted since its claim is left out: the delete took the
 * row with it (on delete cascade), so there is nothing left to send or record.
 */
export async function withRecipients<R extends { subscriber_id: number }>(db: DB, rows: readonly R[]): Promise<{ row: R; to: Recipient }[]> {
  if (rows.length === 0) return [];
  const subs = await db
    .selectFrom('subscribers')
    .select(['id', 'email', 'status', 'email_stopped_at', 'timezone', 'link_version'])
    .where('id', 'in', [...new Set(rows.map((r) => r.subscriber_id))])
    .execute();
  const byId = new Map(
    subs.map((s) => [s.id, { email: s.email, linkVersion: s.link_version, status: s.status, emailStopped: s.email_stopped_at !== null, timezone: s.timezone }]),
  );
  return rows.flatMap((row) => {
    const to = byId.get(row.subscriber_id);
    return to ? [{ row, to }] : [];
  });
}
