import { InputError, parseCountries } from './validate.ts';
import { addDays, daysBetween, isCalendarDate, TRIP_LIMITS } from './trip-window.ts';

/**
 * Trip input, shared by the CLI, the JSON API and the manage page. Each
 * function returns a value or throws InputError naming the field (with the
 * API's `trips[i].` prefix where given), so nothing is stored on bad input.
 */
export interface TripInput {
  countries: string[];
  /** "YYYY-MM-DD" in the subscriber's zone. */
  from: string;
  to: string;
}

function parseDay(field: string, input: unknown): string {
  if (typeof input !== 'string' || input.trim() === '') throw new InputError(field, 'is required (a date, YYYY-MM-DD)');
  const s = input.trim();
  if (!isCalendarDate(s)) throw new InputError(field, `"${s.slice(0, 20)}" is not a date in the form YYYY-MM-DD`);
  return s;
}

/**
 * One trip. `today` is the subscriber's local date: a trip already over, one
 * starting more than about two years ahead, or lasting more than a year is
 * refused (a mistyped year would otherwise quietly follow nothing for a decade).
 */
export function parseTrip(raw: { countries: unknown; from: unknown; to: unknown }, today: string, prefix = ''): TripInput {
  const at = (f: string) => `${prefix}${f}`;
  let countries: string[] | null;
  try {
    countries = parseCountries(raw.countries);
  } catch (e) {
    if (e instanceof InputError) throw new InputError(at('countries'), e.reason);
    throw e;
  }
  if (countries === null) throw new InputError(at('countries'), 'a trip goes to named countries, not "all"');
  if (countries.length > TRIP_LIMITS.maxCountries) throw new InputError(at('countries'), `at most ${TRIP_LIMITS.maxCountries} countries on one trip`);
  const from = parseDay(at('from'), raw.from);
  const to = parseDay(at('to'), raw.to);
  if (to < from) throw new InputError(at('to'), `the last day (${to}) is before the first day (${from})`);
  if (to < today) throw new InputError(at('to'), `the last day (${to}) is in the past`);
  if (from > addDays(today, TRIP_LIMITS.maxDaysAhead)) {
    throw new InputError(at('from'), `the first day (${from}) is more than two years away; add the trip closer to the time`);
  }
  if (daysBetween(from, to) + 1 > TRIP_LIMITS.maxDays) throw new InputError(at('to'), 'a trip lasts a year at most');
  return { countries, from, to };
}

/** The API's `trips: [{countries, from, to}]`; absent means none. */
export function parseTrips(input: unknown, today: string): TripInput[] {
  if (input === undefined || input === null) return [];
  if (!Array.isArray(input)) throw new InputError('trips', 'must be a list of {countries, from, to}');
  if (input.length > TRIP_LIMITS.maxPerRequest) throw new InputError('trips', `at most ${TRIP_LIMITS.maxPerRequest} trips at once`);
  return input.map((t: unknown, i) => {
    const prefix = `trips[${i}].`;
    if (t === null || typeof t !== 'object' || Array.isArray(t)) throw new InputError(`trips[${i}]`, 'must be an object {countries, from, to}');
    const unknown = Object.keys(t).find((k) => !['countries', 'from', 'to'].includes(k));
    if (unknown) throw new InputError(`${prefix}${unknown}`, 'unknown field');
    const o = t as Record<string, unknown>;
    return parseTrip({ countries: o.countries, from: o.from, to: o.to }, today, prefix);
  });
}
