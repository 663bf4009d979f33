import type { DB } from '../db/connect.ts';
import type { Channel, SubscriberStatus } from '../db/types.ts';
import type { SubscriberInput } from './validate.ts';

// All SQL about subscribers and their subscriptions.

export interface UpsertResult {
  id: number;
  created: boolean;
  status: SubscriberStatus;
}

/**
 * Adds a subscriber or updates the one with that email, replacing their
 * subscriptions with the given one. `confirmed` is the admin's import path:
 * it skips double opt-in and phone verification.
 */
export async function upsertSubscriber(db: DB, input: SubscriberInput, options: { confirmed: boolean; now: Date }): Promise<UpsertResult> {
  return db.transaction().execute(async (tx) => {
    const existing = await tx.selectFrom('subscribers').select(['id', 'status', 'phone', 'phone_verified']).where('email', '=', input.email).forUpdate().executeTakeFirst();
    let id: number;
    let status: SubscriberStatus;
    if (existing) {
      const phoneChanged = existing.phone !== input.phone;
      status = options.confirmed ? 'confirmed' : existing.status === 'unsubscribed' ? 'pending' : existing.status;
      await tx
        .updateTable('subscribers')
        .set({
          phone: input.phone,
          phone_verified: input.phone !== null && (options.confirmed || (!phoneChanged && existing.phone_verified)),
          status,
          ...(status === 'confirmed' && existing.status !== 'confirmed' ? { confirmed_at: options.now, unsubscribed_at: null } : {}),
          // A number the admin (re)confirms is a fresh start for the SMS channel.
          ...(phoneChanged || options.confirmed ? { sms_stopped_at: null, sms_stop_reason: null } : {}),
          ...(options.confirmed ? { email_stopped_at: null, email_stop_reason: null } : {}),
        })
        .where('id', '=', existing.id)
        .execute();
      await tx.deleteFrom('subscriptions').where('subscriber_id', '=', existing.id).execute();
      id = existing.id;
    } else {
      status = options.confirmed ? 'confirmed' : 'pending';
      const row = await tx
        .insertInto('subscribers')
        .values({
          email: input.email,
          phone: input.phone,
          phone_verified: options.confirmed && input.phone !== null,
          status,
          confirmed_at: options.confirmed ? options.now : null,
          created_at: options.now,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      id = row.id;
    }
    await tx
      .insertInto('subscriptions')
      .values({
        subscriber_id: id,
        countries: input.countries,
        feeds: input.feeds,
        min_level: input.minLevel,
        keywords: input.keywords,
        channels: input.channels,
        created_at: options.now,
      })
      .execute();
    return { id, created: !existing, status };
  });
}

export interface SubscriberListing {
  id: number;
  email: string;
  phone: string | null;
  phoneVerified: boolean;
  status: SubscriberStatus;
  countries: string[] | null;
  feeds: string[] | null;
  minLevel: number;
  keywords: string[];
  channels: Channel[];
  emailStopped: string | null;
  smsStopped: string | null;
  createdAt: Date;
}

export async function listSubscribers(db: DB): Promise<SubscriberListing[]> {
  const rows = await db
    .selectFrom('subscribers')
    .leftJoin('subscriptions', 'subscriptions.subscriber_id', 'subscribers.id')
    .select([
      'subscribers.id',
      'subscribers.email',
      'subscribers.phone',
      'subscribers.phone_verified',
      'subscribers.status',
      'subscribers.email_stop_reason',
      'subscribers.sms_stop_reason',
      'subscribers.created_at',
      'subscriptions.countries',
      'subscriptions.feeds',
      'subscriptions.min_level',
      'subscriptions.keywords',
      'subscriptions.channels',
    ])
    .orderBy('subscribers.id')
    .orderBy('subscriptions.id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    email: r.email,
    phone: r.phone,
    phoneVerified: r.phone_verified,
    status: r.status,
    countries: r.countries,
    feeds: r.feeds,
    minLevel: r.min_level ?? 1,
    keywords: r.keywords ?? [],
    channels: r.channels ?? [],
    emailStopped: r.email_stop_reason,
    smsStopped: r.sms_stop_reason,
    createdAt: r.created_at,
  }));
}

/** Deletes the subscriber, their subscriptions and their delivery history. */
export async function removeSubscriber(db: DB, email: string): Promise<boolean> {
  const r = await db.deleteFrom('subscribers').where('email', '=', email).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** A permanent failure (unknown recipient, invalid number, STOP) stops one channel. */
export async function stopChannel(db: DB, subscriberId: number, channel: Channel, reason: string, now: Date): Promise<void> {
  const q = db.updateTable('subscribers').where('id', '=', subscriberId);
  if (channel === 'email') await q.set({ email_stopped_at: now, email_stop_reason: reason }).execute();
  else await q.set({ sms_stopped_at: now, sms_stop_reason: reason }).execute();
}
