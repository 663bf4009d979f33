/**
 * Trip dates, as pure functions. A trip's dates are calendar days in the
 * subscriber's zone ("YYYY-MM-DD" strings, which compare correctly as text);
 * its countries are followed from `leadDays` before the first day through the
 * last day (docs/contract.md, "Preferences, digests and trips"). The fan-out
 * SQL (delivery/repository.ts) computes the same window with PostgreSQL's
 * zone rules; tests run the same cases through both.
 */
export interface TripDates {
  firstDay: string;
  lastDay: string;
}

/**
 * Bounds that keep trips what they are: a journey, not a standing subscription or a flood.
 * Here rather than in trip-validate.ts, which loads zod and the configuration schema: the
 * subscription service (and through it `dispatch`, which sends confirmations) needs the
 * bounds, not the validators.
 */
export const TRIP_LIMITS = {
  /** Countries on one trip (a multi-country tour, not "everywhere"). */
  maxCountries: 15,
  /** How far ahead a trip may start (about two years). */
  maxDaysAhead: 731,
  /** How long one trip may last. */
  maxDays: 366,
  /** Trips not yet over, per subscriber. */
  maxOpenTrips: 20,
  /** Trips in one API request. */
  maxPerRequest: 10,
} as const;

export type TripPhase = 'upcoming' | 'followed' | 'past';

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The calendar date at `now` in `timeZone` ("2026-03-01"). */
export function localDate(now: Date, timeZone: string): string {
  // The default zone needs no time-zone rules: the first Intl.DateTimeFormat with a zone
  // loads ICU's zone data, about 0.1 s of CPU in a one-shot `dispatch`.
  if (timeZone === 'UTC') return now.toISOString().slice(0, 10);
  let f = formatters.get(timeZone);
  if (!f) {
    // en-CA formats as YYYY-MM-DD.
    f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    formatters.set(timeZone, f);
  }
  return f.format(now);
}

/** The subscriber's date today, in their zone (or the service's default). */
export function todayIn(timezone: string | null, defaultTimezone: string, now: Date): string {
  return localDate(now, timezone ?? defaultTimezone);
}

/**
 * A subscriber's zone once a change is saved: the change's when it names one
 * (null: back to the default), else the one they had, else `defaultZone`.
 */
export function zoneAfter(change: { timezone?: string | null | undefined } | undefined, current: string | null, defaultZone: string): string {
  return (change?.timezone !== undefined ? change.timezone : current) ?? defaultZone;
}

/** `day` moved by `n` calendar days (no zone involved: dates, not instants). */
export function addDays(day: string, n: number): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** Whole days from `a` to `b` (positive when `b` is later). */
export function daysBetween(a: string, b: string): number {
  return Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / 86_400_000);
}

/** Whether "YYYY-MM-DD" is a real calendar date. */
export function isCalendarDate(s: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}

/** Before its window, inside it (its countries are followed), or over. */
export function tripPhase(trip: TripDates, today: string, leadDays: number): TripPhase {
  if (today > trip.lastDay) return 'past';
  return today >= addDays(trip.firstDay, -leadDays) ? 'followed' : 'upcoming';
}

/** The countries a subscriber's trips make followed today. */
export function tripCountries(trips: readonly (TripDates & { countries: readonly string[] })[], today: string, leadDays: number): Set<string> {
  return new Set(trips.filter((t) => tripPhase(t, today, leadDays) === 'followed').flatMap((t) => t.countries));
}
