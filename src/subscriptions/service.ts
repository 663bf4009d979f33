import { createHash, createHmac, randomBytes, randomInt } from 'node:crypto';
import type { Settings } from '../config/schema.ts';
import type { DB } from '../db/connect.ts';
import type { EmailSender, SmsSender } from '../channels/senders.ts';
import { SendError } from '../channels/errors.ts';
import type { LinkBuilder } from '../channels/links.ts';
import type { Clock } from '../common/clock.ts';
import { countryName } from '../common/countries.ts';
import type { Logger } from '../common/logger.ts';
import { safeEqual } from '../common/tokens.ts';
import { confirmationMail } from './confirmation-mail.ts';
import {
  checkPhoneCode,
  confirmSubscription,
  enqueueConfirmation,
  recordSubscriptionRequest,
  reserveVerificationSend,
  saveManageChange,
  startPhoneVerification,
  subscriberForConfirmToken,
  type ManageChange,
  type ConfirmationMessage,
  type ConfirmResult,
  type RequestedSubscription,
  type SubscriberView,
  type VerifyResult,
  type VerificationRefusal,
} from './repository.ts';
import { addTrips, TooManyTripsError } from './trip-repository.ts';
import { localDate, TRIP_LIMITS, zoneAfter } from './trip-window.ts';

/**
 * The traveler's side of subscriptions: double opt-in, phone verification.
 * Thin orchestration over the repository and the two channels.
 */
export interface TravelerDeps {
  db: DB;
  logger: Logger;
  clock: Clock;
  email: EmailSender;
  sms: SmsSender;
  links: LinkBuilder;
  publicBaseUrl: string;
  secret: string;
  /** Caps on phone codes and confirmation emails (settings `verification.*`). */
  verification: Settings['verification'];
  /** The zone of travelers who chose none: trip dates are days in it. */
  defaultTimezone: string;
  /**
   * Sends a subscriber's queued pre-trip briefing now (briefings/send.ts). The
   * briefing is queued in the transaction that adds the trips; when this is
   * absent or fails, the periodic job sends it.
   */
  sendBriefings?: (subscriberId: number) => Promise<unknown>;
  /** Leases and back-off of the confirmation outbox: the delivery outbox's settings. */
  delivery: Pick<Settings['delivery'], 'leaseSeconds' | 'maxAttempts' | 'retryBaseSeconds' | 'retryMaxSeconds'>;
}

/** Sends a queued briefing now without holding up the answer; the periodic job retries what fails. */
export function briefNow(deps: TravelerDeps, subscriberId: number): void {
  deps
    .sendBriefings?.(subscriberId)
    .catch((err: unknown) => deps.logger.error({ err, subscriber: subscriberId }, 'pre-trip briefing not sent now; retried later'));
}

/**
 * A change refused because of one field (a cap on codes, a number the
 * provider refuses, the provider down): the page names the field and answers
 * `status`; nothing was saved.
 */
export class FieldError extends Error {
  /** The message without its field: what a page shows beside the field. */
  readonly reason: string;

  constructor(
    readonly field: 'phone' | 'email' | 'tripCountries',
    message: string,
    readonly status: number,
    options?: { cause?: unknown },
  ) {
    super(`${field}: ${message}`, options);
    this.name = 'FieldError';
    this.reason = message;
  }
}

/** A phone code or confirmation email refused by a cap. */
export class VerificationLimitError extends FieldError {
  constructor(field: 'phone' | 'email', message: string) {
    super(field, message, 429);
    this.name = 'VerificationLimitError';
  }
}

function recipientHash(deps: TravelerDeps, channel: 'email' | 'sms', recipient: string): string {
  return createHmac('sha256', deps.secret).update(`verification:${channel}:${recipient}`).digest('base64url');
}

const REFUSALS: Record<VerificationRefusal, string> = {
  cooldown: 'we sent one a moment ago; wait a minute before asking again',
  recipient: 'too many were sent there today; try again tomorrow',
  subscriber: 'too many codes were asked for from this subscription today; try again tomorrow',
  global: 'we cannot send codes right now; try again later',
};

export const CONFIRM_TTL_MS = 48 * 3600 * 1000;
export const PHONE_CODE_TTL_MS = 10 * 60 * 1000;
export const PHONE_CODE_MAX_ATTEMPTS = 5;

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

function codeHash(secret: string, subscriberId: number, code: string): string {
  return createHmac('sha256', secret).update(`phone:${subscriberId}:${code}`).digest('base64url');
}

function describe(r: RequestedSubscription): string {
  const where = r.countries === null ? 'every destination' : r.countries.map(countryName).join(', ');
  const level = r.minLevel > 1 ? `, level ${r.minLevel} and above` : '';
  // The keywords are free text from whoever filled in the form: never echoed
  // into mail sent before the address owner opted in (a phishing link would be).
  const kw = r.keywords.length ? `, only when they mention the ${r.keywords.length === 1 ? 'word' : 'words'} you chose` : '';
  // Trips are country codes and dates, checked: safe to repeat.
  const trips = (r.trips ?? []).map((t) => `${t.countries.map(countryName).join(', ')} from ${t.from} to ${t.to}`);
  const destinations = r.countries?.length === 0 ? (trips.length ? 'your trips' : 'no destination') : where;
  return `${destinations}${level}${kw}, by ${r.channels.join(' and ')}${trips.length ? `; trips: ${trips.join('; ')}` : ''}`;
}

/**
 * Queues a subscription request: one insert into the confirmation outbox, the
 * same whatever the address, and nothing else. Everything that depends on
 * whether the address is known (the subscriber, the token, the caps, the
 * email) happens after the answer, in sendDueConfirmations
 * (subscriptions/confirmations.ts): neither the answer nor its timing can tell.
 */
export async function requestSubscription(deps: TravelerDeps, email: string, request: RequestedSubscription): Promise<number> {
  return enqueueConfirmation(deps.db, email, request, deps.clock.now());
}

/**
 * The work behind a queued request: records it (a new or unsubscribed address
 * becomes a pending subscriber; a known one keeps what they have until the
 * link is opened), counts it against the caps and renders the email. `refused`
 * names the cap that refused it: then nothing is sent.
 */
export async function prepareConfirmation(
  deps: TravelerDeps,
  email: string,
  request: RequestedSubscription,
): Promise<{ refused: string } | { subscriberId: number; message: ConfirmationMessage }> {
  const now = deps.clock.now();
  const token = randomBytes(24).toString('base64url');
  const to = request.newEmail ?? email;
  const { subscriberId } = await recordSubscriptionRequest(
    deps.db,
    email,
    request,
    { hash: hashToken(token), expiresAt: new Date(now.getTime() + CONFIRM_TTL_MS) },
    now,
  );
  // One count for every route (form, API, manage page, CLI): a victim's address
  // gets a few confirmation emails a day, however many requests name it.
  const v = deps.verification;
  const refused = await reserveVerificationSend(
    deps.db,
    { channel: 'email', recipientHash: recipientHash(deps, 'email', to), subscriberId: null },
    { perRecipientPerDay: v.emailsPerAddressPerDay, cooldownSeconds: v.emailCooldownSeconds },
    now,
  );
  if (refused) return { refused: `no confirmation email sent: ${REFUSALS[refused]}` };
  const link = `${deps.publicBaseUrl}/confirm/${token}`;
  return { subscriberId, message: { to, ...confirmationMail(request.newEmail ? 'move' : 'subscribe', describe(request), link) } };
}

export async function confirm(deps: TravelerDeps, token: string): Promise<ConfirmResult> {
  const result = await confirmSubscription(deps.db, hashToken(token), deps.clock.now(), { defaultTimezone: deps.defaultTimezone });
  if (result.ok && result.briefingId !== null) briefNow(deps, result.subscriberId);
  if (result.ok && result.firstUse && result.phone && !result.phoneVerified) {
    await sendPhoneCode(deps, result.subscriberId, result.phone).catch((err: unknown) =>
      deps.logger.warn({ subscriber: result.subscriberId, err }, 'could not send the phone verification code'),
    );
  }
  return result;
}

export async function sendPhoneCode(deps: TravelerDeps, subscriberId: number, phone: string): Promise<void> {
  const hash = await textPhoneCode(deps, subscriberId, phone);
  await startPhoneVerification(deps.db, subscriberId, phone, hash, deps.clock.now(), PHONE_CODE_TTL_MS);
}

/**
 * Texts a fresh code if the caps allow; returns the hash to store. Storing is
 * the caller's, so that the manage page saves the code with the rest of the
 * change or not at all.
 */
async function textPhoneCode(deps: TravelerDeps, subscriberId: number, phone: string): Promise<string> {
  const v = deps.verification;
  const refused = await reserveVerificationSend(
    deps.db,
    { channel: 'sms', recipientHash: recipientHash(deps, 'sms', phone), subscriberId },
    { perRecipientPerDay: v.smsPerNumberPerDay, perSubscriberPerDay: v.smsPerSubscriberPerDay, perHour: v.smsPerHour, cooldownSeconds: v.smsCooldownSeconds },
    deps.clock.now(),
  );
  if (refused) throw new VerificationLimitError('phone', `no code sent: ${REFUSALS[refused]}`);
  const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
  await deps.sms.send({ to: phone, body: `Advisory Alerts: your code is ${code}. It expires in 10 minutes.` }, `verify-${subscriberId}`);
  return codeHash(deps.secret, subscriberId, code);
}

/** The confirmation token from the email works here too, as long as it is valid. */
export async function subscriberForToken(deps: TravelerDeps, token: string, verifyManage: (t: string) => Promise<number | null>): Promise<number | null> {
  return (await verifyManage(token)) ?? (await subscriberForConfirmToken(deps.db, hashToken(token), deps.clock.now()));
}

export async function verifyPhone(deps: TravelerDeps, subscriberId: number, code: string): Promise<VerifyResult> {
  const expected = (h: string) => safeEqual(h, codeHash(deps.secret, subscriberId, code));
  return checkPhoneCode(deps.db, subscriberId, expected, deps.clock.now(), PHONE_CODE_MAX_ATTEMPTS);
}

/**
 * A change saved from the manage page. Destinations (added or removed), level,
 * keywords and channels apply at once: the page is reached through a signed
 * link mailed to the address (or its confirmation link), which already proves
 * the traveler owns it. A new address, or a subscription not yet confirmed,
 * waits for a confirmation by email (the same double opt-in as a new
 * subscription), and a new phone number gets a code. Returns what to tell the traveler.
 */
export async function saveManageChanges(deps: TravelerDeps, view: SubscriberView, email: string, request: RequestedSubscription): Promise<string[]> {
  const notices: string[] = [];
  const prefs = {
    countries: request.countries,
    minLevel: request.minLevel,
    keywords: request.keywords,
    channels: request.channels,
    ...(request.preferences ? { preferences: request.preferences } : {}),
  };
  let phone: ManageChange['phone'];
  if (request.phone !== view.phone) {
    phone = { number: request.phone };
    // The code goes out first, and is stored with the rest of the change in one
    // transaction: a refused or failed text (a cap, a number the provider
    // refuses, the provider down) saves nothing at all.
    if (request.phone) {
      const hash = await textPhoneCode(deps, view.id, request.phone).catch((err: unknown) => {
        throw phoneSendFailure(err, request.phone!);
      });
      phone.code = { hash, ttlMs: PHONE_CODE_TTL_MS };
      notices.push(`We texted a code to ${request.phone}. Enter it below to get alerts by SMS.`);
    }
  }
  // A confirmed traveler's new trip is theirs at once (the signed link proves the
  // address), with its briefing queued in the same transaction; a pending one's
  // waits in the confirmation request below, like the rest of the change.
  const trips = view.status === 'confirmed' ? (request.trips ?? []) : [];
  if (trips.length) {
    const zone = zoneAfter(request.preferences, view.timezone, deps.defaultTimezone);
    const now = deps.clock.now();
    try {
      const { briefingId } = await addTrips(deps.db, view.id, trips, { now, today: localDate(now, zone), maxOpenTrips: TRIP_LIMITS.maxOpenTrips });
      if (briefingId !== null) {
        briefNow(deps, view.id);
        notices.push(
          `Trip added. We are emailing you a briefing about ${trips
            .flatMap((t) => t.countries)
            .map(countryName)
            .join(', ')}.`,
        );
      } else notices.push('You already had this trip.');
    } catch (e) {
      if (e instanceof TooManyTripsError)
        throw new FieldError('tripCountries', `you have ${TRIP_LIMITS.maxOpenTrips} trips already; remove one first (nothing was changed)`, 400);
      throw e;
    }
  }
  await saveManageChange(deps.db, view.id, phone ? { prefs, phone } : { prefs }, deps.clock.now());
  const emailChanged = email !== view.email;
  if (emailChanged || view.status !== 'confirmed') {
    await requestSubscription(deps, view.email, { ...request, ...(emailChanged ? { newEmail: email } : {}) });
    notices.push(`We sent a confirmation link to ${email}. ${emailChanged ? 'Alerts go there' : 'Alerts start'} once you open it.`);
  }
  notices.unshift('Your changes are saved.');
  return notices;
}

/** Why a code could not be texted, on the phone field: the number (400) or the provider (503). */
function phoneSendFailure(err: unknown, phone: string): FieldError {
  if (err instanceof FieldError) return err;
  if (err instanceof SendError && !err.retryable)
    return new FieldError('phone', `we could not text a code to ${phone}: the number does not take our messages; check it (nothing was changed)`, 400, {
      cause: err,
    });
  return new FieldError('phone', 'we could not send a text message just now; try again in a few minutes (nothing was changed)', 503, { cause: err });
}
