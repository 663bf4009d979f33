import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { z } from 'zod';
import type { Channel } from '../db/types.ts';
import { isCountryCode } from '../common/countries.ts';

/**
 * Input validation for subscribers, shared by the CLI, the CSV import and the
 * web API. Each function returns a value or throws InputError naming the field.
 */
export class InputError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'InputError';
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

/** E.164 only: "+447700900123". Numbers without a country code are ambiguous. */
export function parsePhone(input: unknown): string | null {
  if (input === undefined || input === null || input === '') return null;
  if (typeof input !== 'string') throw new InputError('phone', 'must be a string');
  const raw = input.trim();
  if (!raw.startsWith('+')) throw new InputError('phone', `"${raw}" must be in international format, starting with + and the country code`);
  const parsed = parsePhoneNumberFromString(raw);
  if (!parsed?.isValid()) throw new InputError('phone', `"${raw}" is not a valid phone number`);
  const type = parsed.getType();
  // Alerts are texts: refuse numbers that are known not to receive SMS.
  if (type === 'FIXED_LINE' || type === 'VOIP' || type === 'TOLL_FREE' || type === 'PREMIUM_RATE' || type === 'SHARED_COST') {
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
  const codes = list.map((c) => c.toUpperCase());
  const unknown = codes.filter((c) => !isCountryCode(c));
  if (unknown.length) throw new InputError('countries', `unknown country code${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`);
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

export interface SubscriberInput {
  email: string;
  phone: string | null;
  countries: string[] | null;
  feeds: string[] | null;
  minLevel: number;
  keywords: string[];
  channels: Channel[];
}

/** Validates a whole subscriber; the first problem is thrown. */
export function parseSubscriber(raw: Record<string, unknown>, knownFeeds: ReadonlySet<string>): SubscriberInput {
  const email = parseEmail(raw.email);
  const phone = parsePhone(raw.phone);
  return {
    email,
    phone,
    countries: parseCountries(raw.countries ?? 'all'),
    feeds: parseFeeds(raw.feeds, knownFeeds),
    minLevel: parseMinLevel(raw.minLevel),
    keywords: parseKeywords(raw.keywords),
    channels: parseChannels(raw.channels, phone),
  };
}
