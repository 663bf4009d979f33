import { createRequire } from 'node:module';
import type * as PhoneNumbers from 'libphonenumber-js/max';
import * as z from 'zod';
import { isTimeZone } from '../config/schema.ts';
import type { Channel, EmailFrequency, SmsUrgency } from '../db/types.ts';
import { countryCodeSuggestion, isCountryCode, unknownCountryMessage } from '../common/countries.ts';

/**
 * Input validation for subscribers, shared by the CLI, the CSV import and the
 * web API. Each function returns a value or throws InputError naming the field.
 */
export class InputError extends Error {
  /** The message without its field. */
  readonly reason: string;

  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'InputError';
    this.reason = message;
  }
}

export const CHANNELS: readonly Channel[] = ['email', 'sms'];
const emailSchema = z.email();

export function parseEmail(input: unknown): string {
  if (typeof input !== 'string' || !input.trim()) throw new InputError('email', 'is required');
  const email = input.trim().toLowerCase();
  if (email.length > 254 || !emailSchema.safeParse(email).success) throw new InputError('email', `"${input.trim()}" is not a valid email address`);
  return email;
}

// libphonenumber-js with its full metadata takes about 40 ms to load: it is required at the
// first phone number parsed, not by every module that imports this one (trip limits, the
// confirmation sender, `dispatch`).
const requireCjs = createRequire(import.meta.url);
let phoneNumbers: typeof PhoneNumbers | undefined;

/** E.164 only: "+447700900123". Numbers without a country code are ambiguous. */
export function parsePhone(input: unknown): string | null {
  if (input === undefined || input === null || input === '') return null;
  if (typeof input !== 'string') throw new InputError('phone', 'must be a string');
  const raw = input.trim();
  if (!raw.startsWith('+')) throw new InputError('phone', `"${raw}" must be in international format, starting with + and the country code`);
  phoneNumbers ??= requireCjs('libphonenumber-js/max') as typeof PhoneNumbers;
  const parsed = phoneNumbers.parsePhoneNumberFromString(raw);
  if (!parsed?.isValid()) throw new InputError('phone', `"${raw}" is not a valid phone number`);
  const type = parsed.getType();
  // Alerts and codes are texts: only numbers known to be mobiles (or, where the
  // plan cannot tell, as in the US, fixed-or-mobile). Premium-rate, shared-cost,
  // personal, pager and unknown numbers are what SMS pumping targets.
  if (type !== 'MOBILE' && type !== 'FIXED_LINE_OR_MOBILE') {
    throw new InputError('phone', `"${raw}" is not a mobile number`);
  }
  return parsed.number;
}

/** Splits list fields written with commas, semicolons or spaces. */
export function splitList(input: unknown): string[] {
  if (input === undefined || input === null) return [];
  const parts = Array.isArray(input) ? input : [input];
  return parts
    .flatMap((p) => {
      if (typeof p !== 'string') throw new InputError('list', 'must contain strings');
      return p.split(/[,;\s]+/);
    })
    .map((s) => s.trim())
    .filter(Boolean);
}

/** `null` means every country ("all"). */
export function parseCountries(input: unknown): string[] | null {
  const list = splitList(input);
  if (list.length === 0) throw new InputError('countries', 'give at least one ISO 3166-1 alpha-2 code, or "all"');
  if (list.some((c) => c.toLowerCase() === 'all')) {
    if (list.length > 1) throw new InputError('countries', '"all" cannot be combined with country codes');
    return null;
  }
  // A whole country name ("Russia") is resolved; a short non-code ("UK", "RUS") is
  // refused with the code it probably meant (GB, RU): guessing at codes is riskier.
  const codes = list.map((c) => (c.length > 3 ? (countryCodeSuggestion(c) ?? c) : c).toUpperCase());
  const unknown = list.filter((_, i) => !isCountryCode(codes[i]!));
  if (unknown.length) throw new InputError('countries', unknownCountryMessage(unknown));
  return [...new Set(codes)].sort();
}

export function parseMinLevel(input: unknown): number {
  if (input === undefined || input === null || input === '') return 1;
  const n = typeof input === 'number' ? input : typeof input === 'string' && /^\s*\d+\s*$/.test(input) ? Number(input) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 4) throw new InputError('minLevel', 'must be a whole number from 1 to 4');
  return n;
}

export function parseKeywords(input: unknown): string[] {
  // Keywords are matched case-insensitively; phrases can't contain separators in list form.
  const list = splitList(input).map((k) => k.toLowerCase());
  if (list.length > 20) throw new InputError('keywords', 'at most 20 keywords');
  const long = list.find((k) => k.length > 60);
  if (long) throw new InputError('keywords', `"${long.slice(0, 20)}…" is too long (60 characters at most)`);
  return [...new Set(list)];
}

export function parseChannels(input: unknown, phone: string | null): Channel[] {
  const list = splitList(input).map((c) => c.toLowerCase());
  const channels = list.length ? list : ['email'];
  const bad = channels.filter((c) => !(CHANNELS as readonly string[]).includes(c));
  if (bad.length) throw new InputError('channels', `unknown channel ${bad.join(', ')} (expected email, sms)`);
  if (channels.includes('sms') && !phone) throw new InputError('channels', 'sms needs a phone number');
  return [...new Set(channels)] as Channel[];
}

export function parseFeeds(input: unknown, knownFeeds: ReadonlySet<string>): string[] | null {
  const list = splitList(input);
  if (list.length === 0) return null;
  const unknown = list.filter((f) => !knownFeeds.has(f));
  if (unknown.length) throw new InputError('feeds', `unknown feed${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`);
  return [...new Set(list)].sort();
}

/** Quiet hours as local "HH:MM" times; `start` after `end` runs across midnight. */
export interface QuietHours {
  start: string;
  end: string;
}

/** How and when a traveler hears (see the README, "For travelers"). */
export interface Preferences {
  emailFrequency: EmailFrequency;
  sms: SmsUrgency;
  quietHours: QuietHours | null;
  /** IANA zone; null follows the service's default. */
  timezone: string | null;
}

export const EMAIL_FREQUENCIES: readonly EmailFrequency[] = ['immediate', 'daily', 'weekly'];
export const SMS_URGENCIES: readonly SmsUrgency[] = ['urgent', 'all'];

function oneOf<T extends string>(field: string, allowed: readonly T[], input: unknown): T {
  const v = typeof input === 'string' ? input.trim().toLowerCase() : input;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) throw new InputError(field, `must be one of ${allowed.join(', ')}`);
  return v as T;
}

export function parseEmailFrequency(input: unknown): EmailFrequency {
  return oneOf('emailFrequency', EMAIL_FREQUENCIES, input);
}

export function parseSmsUrgency(input: unknown): SmsUrgency {
  return oneOf('sms', SMS_URGENCIES, input);
}

const CLOCK_TIME = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** "22:00-07:00" (across midnight) or "13:00-14:30"; empty or "none" clears them. */
export function parseQuietHours(input: unknown): QuietHours | null {
  if (input === undefined || input === null) return null;
  if (typeof input !== 'string') throw new InputError('quietHours', 'must be a string like 22:00-07:00');
  const raw = input.trim();
  if (raw === '' || raw.toLowerCase() === 'none') return null;
  const m = /^(\d{1,2}:\d{2})\s*[-–]\s*(\d{1,2}:\d{2})$/.exec(raw);
  const pad = (t: string) => t.padStart(5, '0');
  if (!m || !CLOCK_TIME.test(pad(m[1]!)) || !CLOCK_TIME.test(pad(m[2]!))) {
    throw new InputError('quietHours', `"${raw.slice(0, 40)}" is not a time range HH:MM-HH:MM with times from 00:00 to 23:59`);
  }
  const start = pad(m[1]!);
  const end = pad(m[2]!);
  if (start === end) throw new InputError('quietHours', 'the start and the end must differ');
  return { start, end };
}

/** An IANA zone name ("Europe/Berlin"); empty means the service's default. */
export function parseTimezone(input: unknown): string | null {
  if (input === undefined || input === null) return null;
  if (typeof input !== 'string') throw new InputError('timezone', 'must be a time zone name such as Europe/Berlin');
  const tz = input.trim();
  if (tz === '') return null;
  if (tz.length > 64 || !isTimeZone(tz)) throw new InputError('timezone', `"${tz.slice(0, 64)}" is not a time zone name (Area/City, such as Europe/Berlin)`);
  return tz;
}

/** The preferences present in `raw` (absent ones stay as they are). */
export function parsePreferences(raw: Record<string, unknown>): Partial<Preferences> {
  const out: Partial<Preferences> = {};
  if (raw.emailFrequency !== undefined) out.emailFrequency = parseEmailFrequency(raw.emailFrequency);
  if (raw.sms !== undefined) out.sms = parseSmsUrgency(raw.sms);
  if (raw.quietHours !== undefined) out.quietHours = parseQuietHours(raw.quietHours);
  if (raw.timezone !== undefined) out.timezone = parseTimezone(raw.timezone);
  return out;
}

export interface SubscriberInput {
  email: string;
  phone: string | null;
  countries: string[] | null;
  feeds: string[] | null;
  minLevel: number;
  keywords: string[];
  channels: Channel[];
  /** Only the preferences given; the others keep their value (or default). */
  preferences?: Partial<Preferences>;
}

/** Validates a whole subscriber; the first problem is thrown. */
export function parseSubscriber(raw: Record<string, unknown>, knownFeeds: ReadonlySet<string>): SubscriberInput {
  const email = parseEmail(raw.email);
  const phone = parsePhone(raw.phone);
  const preferences = parsePreferences(raw);
  return {
    email,
    phone,
    countries: parseCountries(raw.countries ?? 'all'),
    feeds: parseFeeds(raw.feeds, knownFeeds),
    minLevel: parseMinLevel(raw.minLevel),
    keywords: parseKeywords(raw.keywords),
    channels: parseChannels(raw.channels, phone),
    ...(Object.keys(preferences).length > 0 ? { preferences } : {}),
  };
}
