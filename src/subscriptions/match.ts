import type { Channel } from '../db/types.ts';

/**
 * The matching rule (SPEC §6), as a pure function. The set-based fan-out in
 * delivery/repository.ts implements the same rule in SQL; the integration
 * tests run one table of cases through both.
 */
export interface MatchSubscription {
  countries: readonly string[] | null;
  feeds: readonly string[] | null;
  minLevel: number;
  keywords: readonly string[];
  channels: readonly Channel[];
}

export interface MatchSubscriber {
  status: 'pending' | 'confirmed' | 'unsubscribed';
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

export function matchingChannels(sub: MatchSubscription, subscriber: MatchSubscriber, event: MatchEvent): Channel[] {
  if (subscriber.status !== 'confirmed') return [];
  // Worldwide items (no country) reach only those who follow every country.
  if (sub.countries !== null && !sub.countries.some((c) => event.countries.includes(c))) return [];
  if (sub.feeds !== null && !sub.feeds.includes(event.feedId)) return [];
  if (!passesLevel(sub.minLevel, event.level, event.previousLevel)) return [];
  if (sub.keywords.length > 0) {
    const haystack = `${event.title}\n${event.body}`.toLowerCase();
    if (!sub.keywords.some((k) => haystack.includes(k.toLowerCase()))) return [];
  }
  return sub.channels.filter((ch) =>
    ch === 'email' ? !subscriber.emailStopped : subscriber.phone !== null && subscriber.phoneVerified && !subscriber.smsStopped,
  );
}
