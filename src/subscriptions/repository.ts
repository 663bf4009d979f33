import { sql, type Transaction } from 'kysely';
import type { DB } from '../db/connect.ts';
import { claimDue, completeClaimed, type GaveUp, type Outcome } from '../db/outbox.ts';
import type { Channel, Database, EmailFrequency, SmsUrgency, SubscriberStatus } from '../db/types.ts';
import { insertTrips, queueBriefing, unbriefedOpenTrips } from './trip-repository.ts';
import type { TripInput } from './trip-validate.ts';
import { localDate, zoneAfter } from './trip-window.ts';
import type { Preferences, SubscriberInput } from './validate.ts';

// All SQL about subscribers and their subscriptions.

type Tx = Transaction<Database>;

interface SubscriptionValues {
  countries: string[] | null;
  feeds: string[] | null;
  minLevel: number;
  keywords: string[];
  channels: Channel[];
}

/** A subscriber has one subscription from every entry point (CLI, import, web): replace it. */
async function replaceSubscription(tx: Tx, subscriberId: number, v: SubscriptionValues, now: Date): Promise<void> {
  await tx.deleteFrom('subscriptions').where('subscriber_id', '=', subscriberId).execute();
  await tx
    .insertInto('subscriptions')
    .values({
      subscriber_id: subscriberId,
      countries: v.countries,
      feeds: v.feeds,
      min_level: v.minLevel,
      keywords: v.keywords,
      channels: v.channels,
      created_at: now,
    })
    .execute();
}

/** Stores the preferences given; the ones left out keep their value. */
async function applyPreferences(tx: Tx, subscriberId: number, p: Partial<Preferences> | undefined): Promise<void> {
  if (!p || Object.keys(p).length === 0) return;
  await tx
    .updateTable('subscribers')
    .set({
      ...(p.emailFrequency !== undefined ? { email_frequency: p.emailFrequency } : {}),
      ...(p.sms !== undefined ? { sms_urgency: p.sms } : {}),
      ...(p.quietHours !== undefined ? { quiet_start: p.quietHours?.start ?? null, quiet_end: p.quietHours?.end ?? null } : {}),
      ...(p.timezone !== undefined ? { timezone: p.timezone } : {}),
    })
    .where('id', '=', subscriberId)
    .execute();
}

/** 'HH:MM:SS' columns → the "22:00-07:00" form people type. */
function quietHoursText(start: string | null, end: string | null): string | null {
  return start && end ? `${start.slice(0, 5)}-${end.slice(0, 5)}` : null;
}

export interface UpsertResult {
  id: number;
  created: boolean;
  status: SubscriberStatus;
  /** The pre-trip briefing queued because this confirmed someone with trips, if any. */
  briefingId: number | null;
}

/**
 * Adds a subscriber or updates the one with that email, replacing their
 * subscriptions with the given one. `confirmed` is the admin's import path:
 * it skips double opt-in and phone verification.
 */
export async function upsertSubscriber(
  db: DB,
  input: SubscriberInput,
  options: { confirmed: boolean; now: Date; defaultTimezone?: string },
): Promise<UpsertResult> {
  return db.transaction().execute(async (tx) => {
    const existing = await tx
      .selectFrom('subscribers')
      .select(['id', 'status', 'phone', 'phone_verified', 'timezone'])
      .where('email', '=', input.email)
      .forUpdate()
      .executeTakeFirst();
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
    await replaceSubscription(tx, id, input, options.now);
    await applyPreferences(tx, id, input.preferences);
    // An admin confirming someone who had trips (added while pending) briefs them, as
    // their own confirmation would have.
    let briefingId: number | null = null;
    if (existing && existing.status !== 'confirmed' && status === 'confirmed') {
      const zone = zoneAfter(input.preferences, existing.timezone, options.defaultTimezone ?? 'UTC');
      const today = localDate(options.now, zone);
      briefingId = await queueBriefing(tx, id, await unbriefedOpenTrips(tx, id, today), options.now);
    }
    return { id, created: !existing, status, briefingId };
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
  emailFrequency: EmailFrequency;
  sms: SmsUrgency;
  /** "22:00-07:00", or null. */
  quietHours: string | null;
  /** null: the service's default zone. */
  timezone: string | null;
}

/** A subscriber joined with their subscription: what listings and the manage page read. */
function subscriberRows(db: DB) {
  return db
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
      'subscribers.sms_stopped_at',
      'subscribers.created_at',
      'subscribers.email_frequency',
      'subscribers.sms_urgency',
      'subscribers.quiet_start',
      'subscribers.quiet_end',
      'subscribers.timezone',
      'subscribers.link_version',
      'subscriptions.countries',
      'subscriptions.feeds',
      'subscriptions.min_level',
      'subscriptions.keywords',
      'subscriptions.channels',
    ]);
}

function preferencesOf(r: {
  email_frequency: EmailFrequency;
  sms_urgency: SmsUrgency;
  quiet_start: string | null;
  quiet_end: string | null;
  timezone: string | null;
}) {
  return { emailFrequency: r.email_frequency, sms: r.sms_urgency, quietHours: quietHoursText(r.quiet_start, r.quiet_end), timezone: r.timezone };
}

export async function listSubscribers(db: DB): Promise<SubscriberListing[]> {
  const rows = await subscriberRows(db).orderBy('subscribers.id').orderBy('subscriptions.id').execute();
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
    ...preferencesOf(r),
  }));
}

/** Deletes the subscriber, their subscriptions and their delivery history. */
export async function removeSubscriber(db: DB, email: string): Promise<boolean> {
  const r = await db.deleteFrom('subscribers').where('email', '=', email).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

// --- The traveler's side: pending requests, confirmation tokens, phone codes.

export interface RequestedSubscription {
  countries: string[] | null;
  feeds: string[] | null;
  minLevel: number;
  keywords: string[];
  channels: Channel[];
  phone: string | null;
  /** Set when the change asks to move the subscription to a new address. */
  newEmail?: string;
  /** Only the preferences asked for; the others keep their value. */
  preferences?: Partial<Preferences>;
  /** Trips to add once the request is confirmed (validated when it was made). */
  trips?: TripInput[];
}

/**
 * Records a subscription request (double opt-in). A new or unsubscribed address
 * gets a pending subscriber whose subscription is the request itself. A known
 * confirmed subscriber keeps what they have until the mailed token is used;
 * the request waits in the token's payload.
 */
export async function recordSubscriptionRequest(
  db: DB,
  email: string,
  request: RequestedSubscription,
  token: { hash: string; expiresAt: Date },
  now: Date,
): Promise<{ subscriberId: number; alreadyConfirmed: boolean }> {
  return db.transaction().execute(async (tx) => {
    let sub = await tx.selectFrom('subscribers').select(['id', 'status']).where('email', '=', email).forUpdate().executeTakeFirst();
    const confirmed = sub?.status === 'confirmed';
    if (!sub) {
      sub = await tx.insertInto('subscribers').values({ email, status: 'pending', created_at: now }).returning(['id', 'status']).executeTakeFirstOrThrow();
    } else if (sub.status === 'unsubscribed') {
      await tx.updateTable('subscribers').set({ status: 'pending' }).where('id', '=', sub.id).execute();
    }
    if (!confirmed) {
      await replaceSubscription(tx, sub.id, request, now);
      await applyPreferences(tx, sub.id, request.preferences);
    }
    await tx
      .insertInto('subscriber_tokens')
      .values({
        token_hash: token.hash,
        subscriber_id: sub.id,
        purpose: 'confirm',
        payload: JSON.stringify(request),
        created_at: now,
        expires_at: token.expiresAt,
      })
      .execute();
    return { subscriberId: sub.id, alreadyConfirmed: confirmed };
  });
}

export type ConfirmResult =
  | {
      ok: true;
      subscriberId: number;
      email: string;
      phone: string | null;
      phoneVerified: boolean;
      request: RequestedSubscription;
      firstUse: boolean;
      /** Now: a used link opened again reports what happened since (an unsubscribe), not the old confirmation. */
      status: SubscriberStatus;
      /** The pre-trip briefing this confirmation queued, if it added or confirmed trips. */
      briefingId: number | null;
    }
  | { ok: false; reason: 'unknown' | 'expired' };

/**
 * Uses a confirmation token: the subscriber becomes confirmed and the request
 * in the token is applied (subscription replaced, phone and address updated).
 * Using it again (a mail client prefetching the link) is harmless.
 */
export async function confirmSubscription(
  db: DB,
  tokenHash: string,
  now: Date,
  travelers: { defaultTimezone: string } = { defaultTimezone: 'UTC' },
): Promise<ConfirmResult> {
  return db.transaction().execute(async (tx) => {
    const token = await tx
      .selectFrom('subscriber_tokens')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .where('purpose', '=', 'confirm')
      .forUpdate()
      .executeTakeFirst();
    if (!token) return { ok: false, reason: 'unknown' as const };
    if (token.expires_at <= now) return { ok: false, reason: 'expired' as const };
    const request = (typeof token.payload === 'string' ? JSON.parse(token.payload) : token.payload) as RequestedSubscription;
    const current = await tx.selectFrom('subscribers').selectAll().where('id', '=', token.subscriber_id).forUpdate().executeTakeFirstOrThrow();
    if (token.used_at === null) {
      const phoneChanged = current.phone !== request.phone;
      const moved = request.newEmail !== undefined && request.newEmail !== current.email;
      if (request.newEmail && request.newEmail !== current.email) {
        const taken = await tx.selectFrom('subscribers').select('id').where('email', '=', request.newEmail).executeTakeFirst();
        if (taken) {
          // The new address already has its own subscription; leave both as they are.
          await tx.updateTable('subscriber_tokens').set({ used_at: now }).where('token_hash', '=', tokenHash).execute();
          return { ok: false, reason: 'unknown' as const };
        }
      }
      await tx
        .updateTable('subscribers')
        .set({
          status: 'confirmed',
          confirmed_at: current.confirmed_at ?? now,
          unsubscribed_at: null,
          email: request.newEmail ?? current.email,
          phone: request.phone,
          ...(phoneChanged ? { phone_verified: false, sms_stopped_at: null, sms_stop_reason: null } : {}),
          ...(request.newEmail ? { email_stopped_at: null, email_stop_reason: null } : {}),
          // A move to another address retires every manage and unsubscribe link
          // mailed before: they went to the old address, which no longer owns it.
          ...(moved ? { link_version: current.link_version + 1 } : {}),
        })
        .where('id', '=', current.id)
        .execute();
      if (moved) {
        // So do the other confirmation links (they also open the phone code form).
        await tx
          .updateTable('subscriber_tokens')
          .set({ expires_at: now })
          .where('subscriber_id', '=', current.id)
          .where('token_hash', '!=', tokenHash)
          .where('expires_at', '>', now)
          .execute();
      }
      await replaceSubscription(tx, current.id, request, now);
      await applyPreferences(tx, current.id, request.preferences);
      // The request's trips, and the pre-trip briefing in the same transaction: about the
      // new trips for someone already confirmed, about every trip not over yet (some may
      // have been added by an admin while pending) for someone confirming now. The cap on
      // trips was applied to the request (a few trips each, each needing a click in the mailbox).
      const zone = zoneAfter(request.preferences, current.timezone, travelers.defaultTimezone);
      const today = localDate(now, zone);
      const added = await insertTrips(tx, current.id, request.trips ?? [], { now, today, maxOpenTrips: Number.POSITIVE_INFINITY });
      const briefed = current.status === 'confirmed' ? added : await unbriefedOpenTrips(tx, current.id, today);
      const briefingId = await queueBriefing(tx, current.id, briefed, now);
      await tx.updateTable('subscriber_tokens').set({ used_at: now }).where('token_hash', '=', tokenHash).execute();
      return {
        briefingId,
        ok: true as const,
        subscriberId: current.id,
        email: request.newEmail ?? current.email,
        phone: request.phone,
        phoneVerified: !phoneChanged && current.phone_verified,
        request,
        firstUse: true,
        status: 'confirmed' as const,
      };
    }
    return {
      ok: true as const,
      subscriberId: current.id,
      email: current.email,
      phone: current.phone,
      phoneVerified: current.phone_verified,
      request,
      firstUse: false,
      status: current.status,
      briefingId: null,
    };
  });
}

/** The subscriber a confirmation token belongs to, used or not, while it is valid. */
export async function subscriberForConfirmToken(db: DB, tokenHash: string, now: Date): Promise<number | null> {
  const t = await db.selectFrom('subscriber_tokens').select(['subscriber_id', 'expires_at']).where('token_hash', '=', tokenHash).executeTakeFirst();
  return t && t.expires_at > now ? t.subscriber_id : null;
}

export async function startPhoneVerification(db: DB | Tx, subscriberId: number, phone: string, codeHash: string, now: Date, ttlMs: number): Promise<void> {
  await db
    .insertInto('phone_verifications')
    .values({ subscriber_id: subscriberId, phone, code_hash: codeHash, attempts: 0, created_at: now, expires_at: new Date(now.getTime() + ttlMs) })
    .onConflict((oc) =>
      oc.column('subscriber_id').doUpdateSet({ phone, code_hash: codeHash, attempts: 0, created_at: now, expires_at: new Date(now.getTime() + ttlMs) }),
    )
    .execute();
}

export type VerifyResult = 'verified' | 'wrong-code' | 'expired' | 'too-many-attempts' | 'no-pending-code';

/** Checks a code; each wrong try counts, and the 5th wrong one burns the code. */
export async function checkPhoneCode(
  db: DB,
  subscriberId: number,
  matches: (codeHash: string) => boolean,
  now: Date,
  maxAttempts: number,
): Promise<VerifyResult> {
  return db.transaction().execute(async (tx) => {
    const v = await tx.selectFrom('phone_verifications').selectAll().where('subscriber_id', '=', subscriberId).forUpdate().executeTakeFirst();
    if (!v) return 'no-pending-code';
    if (v.attempts >= maxAttempts) return 'too-many-attempts';
    if (v.expires_at <= now) return 'expired';
    if (!matches(v.code_hash)) {
      await tx
        .updateTable('phone_verifications')
        .set({ attempts: v.attempts + 1 })
        .where('subscriber_id', '=', subscriberId)
        .execute();
      return v.attempts + 1 >= maxAttempts ? 'too-many-attempts' : 'wrong-code';
    }
    const sub = await tx.selectFrom('subscribers').select('phone').where('id', '=', subscriberId).executeTakeFirst();
    if (!sub || sub.phone !== v.phone) return 'no-pending-code';
    await tx.updateTable('subscribers').set({ phone_verified: true, sms_stopped_at: null, sms_stop_reason: null }).where('id', '=', subscriberId).execute();
    await tx.deleteFrom('phone_verifications').where('subscriber_id', '=', subscriberId).execute();
    return 'verified';
  });
}

export interface SubscriberView {
  id: number;
  email: string;
  phone: string | null;
  phoneVerified: boolean;
  status: SubscriberStatus;
  smsStopped: boolean;
  countries: string[] | null;
  feeds: string[] | null;
  minLevel: number;
  keywords: string[];
  channels: Channel[];
  emailFrequency: EmailFrequency;
  sms: SmsUrgency;
  quietHours: string | null;
  timezone: string | null;
  /** The generation its manage/unsubscribe links must carry. */
  linkVersion: number;
}

export async function getSubscriberView(db: DB, id: number): Promise<SubscriberView | undefined> {
  const r = await subscriberRows(db).where('subscribers.id', '=', id).orderBy('subscriptions.id').executeTakeFirst();
  if (!r) return undefined;
  return {
    id: r.id,
    email: r.email,
    phone: r.phone,
    phoneVerified: r.phone_verified,
    status: r.status,
    smsStopped: r.sms_stopped_at !== null,
    countries: r.countries,
    feeds: r.feeds,
    minLevel: r.min_level ?? 1,
    keywords: r.keywords ?? [],
    channels: r.channels ?? ['email'],
    ...preferencesOf(r),
    linkVersion: r.link_version,
  };
}

export interface ManageChange {
  /** Changes that need no new opt-in (fewer destinations, level, channels, keywords, how and when). */
  prefs: { countries: string[] | null; minLevel: number; keywords: string[]; channels: Channel[]; preferences?: Partial<Preferences> };
  /** A new or removed number: unverified until its code (already texted) comes back. */
  phone?: { number: string | null; code?: { hash: string; ttlMs: number } };
}

/**
 * Saves a change from the manage page in one transaction: the number and its
 * code with the rest, or nothing at all.
 */
export async function saveManageChange(db: DB, id: number, change: ManageChange, now: Date): Promise<void> {
  await db.transaction().execute(async (tx) => {
    if (change.phone) {
      const { number, code } = change.phone;
      await tx
        .updateTable('subscribers')
        .set({ phone: number, phone_verified: false, sms_stopped_at: null, sms_stop_reason: null })
        .where('id', '=', id)
        .execute();
      if (number && code) await startPhoneVerification(tx, id, number, code.hash, now, code.ttlMs);
      else await tx.deleteFrom('phone_verifications').where('subscriber_id', '=', id).execute();
    }
    const existing = await tx.selectFrom('subscriptions').select(['id', 'feeds']).where('subscriber_id', '=', id).orderBy('id').executeTakeFirst();
    await replaceSubscription(tx, id, { ...change.prefs, feeds: existing?.feeds ?? null }, now);
    await applyPreferences(tx, id, change.prefs.preferences);
  });
}

export async function unsubscribe(db: DB, id: number, now: Date): Promise<boolean> {
  const r = await db
    .updateTable('subscribers')
    .set({ status: 'unsubscribed', unsubscribed_at: now })
    .where('id', '=', id)
    .where('status', '!=', 'unsubscribed')
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Inbound STOP / START for a number: every subscriber with that number. */
export async function setSmsStoppedByPhone(db: DB, phone: string, stopped: boolean, now: Date): Promise<number> {
  const r = await db
    .updateTable('subscribers')
    .set(stopped ? { sms_stopped_at: now, sms_stop_reason: 'STOP received by SMS' } : { sms_stopped_at: null, sms_stop_reason: null })
    .where('phone', '=', phone)
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}

// --- Caps on messages sent before opt-in (phone codes, confirmation emails).

export interface VerificationLimits {
  /** Per recipient (address or number) in 24 hours. */
  perRecipientPerDay: number;
  /** Per subscriber in 24 hours (phone codes: a manage link can try many numbers). */
  perSubscriberPerDay?: number;
  /** For the whole service in one hour. */
  perHour?: number;
  cooldownSeconds: number;
}

export type VerificationRefusal = 'cooldown' | 'recipient' | 'subscriber' | 'global';

/** The per-recipient and per-subscriber caps count the sends of the last 24 hours. */
const CAP_WINDOW_MS = 24 * 3600_000;

/**
 * How long a verification_sends row can still count towards a cap or a
 * cool-down (the longest of the windows): older rows only take space, and
 * housekeeping deletes them.
 */
export function verificationSendsHorizonMs(v: { smsCooldownSeconds: number; emailCooldownSeconds: number }): number {
  return Math.max(CAP_WINDOW_MS, v.smsCooldownSeconds * 1000, v.emailCooldownSeconds * 1000);
}

/**
 * Counts and records one send, or says which cap refuses it. One transaction
 * per channel at a time (an advisory lock): two processes cannot both take
 * the last slot.
 */
export async function reserveVerificationSend(
  db: DB,
  send: { channel: Channel; recipientHash: string; subscriberId: number | null },
  limits: VerificationLimits,
  now: Date,
): Promise<VerificationRefusal | null> {
  return db.transaction().execute(async (tx) => {
    await sql`select pg_advisory_xact_lock(hashtext(${`verification:${send.channel}`}))`.execute(tx);
    const day = new Date(now.getTime() - CAP_WINDOW_MS);
    const recent = await tx
      .selectFrom('verification_sends')
      .select((eb) => [eb.fn.countAll<string>().as('n'), eb.fn.max('sent_at').as('last')])
      .where('recipient_hash', '=', send.recipientHash)
      .where('channel', '=', send.channel)
      .where('sent_at', '>', day)
      .executeTakeFirstOrThrow();
    const cooldownFrom = now.getTime() - limits.cooldownSeconds * 1000;
    if (recent.last && new Date(recent.last).getTime() > cooldownFrom) return 'cooldown';
    if (Number(recent.n) >= limits.perRecipientPerDay) return 'recipient';
    if (send.subscriberId !== null && limits.perSubscriberPerDay !== undefined) {
      const mine = await tx
        .selectFrom('verification_sends')
        .select((eb) => [eb.fn.countAll<string>().as('n'), eb.fn.max('sent_at').as('last')])
        .where('subscriber_id', '=', send.subscriberId)
        .where('channel', '=', send.channel)
        .where('sent_at', '>', day)
        .executeTakeFirstOrThrow();
      if (mine.last && new Date(mine.last).getTime() > cooldownFrom) return 'cooldown';
      if (Number(mine.n) >= limits.perSubscriberPerDay) return 'subscriber';
    }
    if (limits.perHour !== undefined) {
      const all = await tx
        .selectFrom('verification_sends')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('channel', '=', send.channel)
        .where('sent_at', '>', new Date(now.getTime() - 3600_000))
        .executeTakeFirstOrThrow();
      if (Number(all.n) >= limits.perHour) return 'global';
    }
    await tx
      .insertInto('verification_sends')
      .values({ channel: send.channel, recipient_hash: send.recipientHash, subscriber_id: send.subscriberId, sent_at: now })
      .execute();
    return null;
  });
}

// --- The confirmation emails' outbox (see subscriptions/confirmations.ts).

/** A rendered confirmation email, kept until it is sent or given up (it holds the link). */
export interface ConfirmationMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface ClaimedConfirmation {
  id: number;
  email: string;
  request: RequestedSubscription;
  subscriberId: number | null;
  message: ConfirmationMessage | null;
  /** Counting this one. */
  attempts: number;
}

function jsonColumn<T>(v: unknown): T {
  return (typeof v === 'string' ? JSON.parse(v) : v) as T;
}

/** One insert, the same for any address: all a subscribe request does before it is answered. */
export async function enqueueConfirmation(db: DB, email: string, request: RequestedSubscription, now: Date): Promise<number> {
  const r = await db
    .insertInto('confirmation_emails')
    .values({ email, request: JSON.stringify(request), next_attempt_at: now, created_at: now })
    .returning('id')
    .executeTakeFirstOrThrow();
  return Number(r.id);
}

/** Leases due confirmations (db/outbox.ts: pending ones whose time has come, and sending ones whose lease expired). */
export async function claimConfirmations(
  db: DB,
  options: { owner: string; limit: number; leaseMs: number; now: Date; id?: number | undefined },
): Promise<ClaimedConfirmation[]> {
  const only = options.id === undefined ? undefined : { column: 'id' as const, equals: options.id };
  const rows = await claimDue(db, 'confirmation_emails', ['id', 'email', 'request', 'subscriber_id', 'message', 'attempts'], { ...options, only });
  return rows.map((r) => ({
    id: r.id,
    email: r.email,
    request: jsonColumn<RequestedSubscription>(r.request),
    subscriberId: r.subscriber_id,
    message: r.message === null ? null : jsonColumn<ConfirmationMessage>(r.message),
    attempts: r.attempts,
  }));
}

/** The prepared email (subscriber and token recorded, caps passed): a retry sends this one, with the same link. */
export async function storeConfirmationMessage(db: DB, owner: string, id: number, subscriberId: number, message: ConfirmationMessage): Promise<void> {
  await db
    .updateTable('confirmation_emails')
    .set({ subscriber_id: subscriberId, message: JSON.stringify(message) })
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .execute();
}

export type ConfirmationOutcome = Outcome<GaveUp<'confirmation_emails'>>;

/** Records how a claimed confirmation ended; the link leaves the database unless it is to be retried. */
export async function completeConfirmation(db: DB, owner: string, id: number, outcome: ConfirmationOutcome): Promise<void> {
  await completeClaimed(db, 'confirmation_emails', owner, id, outcome, { clearWhenDone: ['message'] });
}

/** When the next confirmation falls due (a retry's back-off, or a lease to expire), if any is waiting. */
export async function nextConfirmationDue(db: DB): Promise<Date | null> {
  const r = await db
    .selectFrom('confirmation_emails')
    .select(sql<Date | null>`min(case when status = 'pending' then next_attempt_at else lease_until end)`.as('due'))
    .where('status', 'in', ['pending', 'sending'])
    .executeTakeFirst();
  return r?.due ? new Date(r.due) : null;
}
