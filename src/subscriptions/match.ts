import type { Channel, SmsUrgency, SubscriberStatus, Urgency } from '../db/types.ts';
import { tripCountries, type TripDates } from './trip-window.ts';

/**
 * The matching rule (docs/contract.md, "Subscriptions and matching"), as pure
 * functions: one of its two homes. The set-based fan-out in delivery/repository.ts
 * implements the same rule in SQL; tests/integration/matching.test.ts runs one
 * table of cases through both. The dispatcher applies this rule again at send
 * time (`whyNotWanted`) to the subscriber's current subscriptions, and the digest
 * job does when it builds a digest (digests/run.ts), so an unsubscribe, a STOP, a
 * stopped address or a narrowed subscription after the fan-out wins.
 */
export interface MatchSubscription {
  countries: readonly string[] | null;
  feeds: readonly string[] | null;
  minLevel: number;
  keywords: readonly string[];
  channels: readonly Channel[];
}

export interface MatchSubscriber {
  status: SubscriberStatus;
  phone: string | null;
  phoneVerified: boolean;
  emailStopped: boolean;
  smsStopped: boolean;
}

export interface MatchEvent {
  feedId: string;
  countries: readonly string[];
  level: number | null;
  previousLevel: number | null;
  title: string;
  body: string;
  urgency: Urgency;
}

/** What routing adds to the subscriber's state: texts for urgent events only, or all. */
export interface MatchPreferences {
  sms: SmsUrgency;
}

/**
 * The subscriber's trips on the day of the event: a trip's countries count as
 * followed from `leadDays` before its first day through its last day, `today`
 * being the date in the subscriber's zone (subscriptions/trip-window.ts).
 */
export interface MatchTrips {
  trips: readonly (TripDates & { countries: readonly string[] })[];
  today: string;
  leadDays: number;
}

/** Whether the event is about a country the subscription follows, or one of a trip in its window. */
export function followsCountry(sub: Pick<MatchSubscription, 'countries'>, event: Pick<MatchEvent, 'countries'>, trips?: MatchTrips): boolean {
  // Worldwide items (no country) reach only those who follow every country.
  if (sub.countries === null || sub.countries.some((c) => event.countries.includes(c))) return true;
  if (!trips || trips.trips.length === 0) return false;
  const onTrip = tripCountries(trips.trips, trips.today, trips.leadDays);
  return event.countries.some((c) => onTrip.has(c));
}

/**
 * Level: events without a level always pass; otherwise the higher of the new
 * and previous level must reach the minimum, so a traveler following only
 * "level 3 and up" still hears that a level-4 destination came down to 2.
 */
export function passesLevel(minLevel: number, level: number | null, previousLevel: number | null): boolean {
  if (level === null) return true;
  return Math.max(level, previousLevel ?? 0) >= minLevel;
}

/** Whether a subscriber can be sent anything on a channel now: confirmed, channel not stopped, SMS only to a verified number. */
export function channelOpen(subscriber: MatchSubscriber, channel: Channel): boolean {
  if (subscriber.status !== 'confirmed') return false;
  return channel === 'email' ? !subscriber.emailStopped : subscriber.phone !== null && subscriber.phoneVerified && !subscriber.smsStopped;
}

export function matchingChannels(sub: MatchSubscription, subscriber: MatchSubscriber & MatchPreferences, event: MatchEvent, trips?: MatchTrips): Channel[] {
  if (subscriber.status !== 'confirmed') return [];
  if (!followsCountry(sub, event, trips)) return [];
  if (sub.feeds !== null && !sub.feeds.includes(event.feedId)) return [];
  if (!passesLevel(sub.minLevel, event.level, event.previousLevel)) return [];
  if (sub.keywords.length > 0) {
    const haystack = `${event.title}\n${event.body}`.toLowerCase();
    if (!sub.keywords.some((k) => haystack.includes(k.toLowerCase()))) return [];
  }
  // A routine event is texted only to those who asked for every text.
  return sub.channels.filter((ch) => channelOpen(subscriber, ch) && (ch !== 'sms' || event.urgency === 'urgent' || subscriber.sms === 'all'));
}

/**
 * Why a delivery fanned out earlier is no longer wanted on `channel`, or null when one of
 * the subscriber's current subscriptions still matches the event there (the dispatcher's
 * send-time check). The decision is `matchingChannels`'; the rest only names the reason.
 */
export function whyNotWanted(
  subscriptions: readonly MatchSubscription[],
  subscriber: MatchSubscriber & MatchPreferences,
  event: MatchEvent,
  channel: Channel,
  trips?: MatchTrips,
): string | null {
  if (subscriptions.some((sub) => matchingChannels(sub, subscriber, event, trips).includes(channel))) return null;
  if (subscriber.status !== 'confirmed') return `subscriber ${subscriber.status}`;
  if (!channelOpen(subscriber, channel)) {
    if (channel === 'email' || subscriber.smsStopped) return `${channel} stopped for this subscriber`;
    return 'no verified phone number';
  }
  if (subscriptions.length === 0) return 'no subscription';
  if (!subscriptions.some((sub) => sub.channels.includes(channel))) return `${channel} no longer chosen`;
  if (channel === 'sms' && event.urgency !== 'urgent' && subscriber.sms !== 'all') return 'texts only for urgent events';
  return 'the subscription no longer matches the event';
}
