import type { RequestedSubscription } from '../subscriptions/repository.ts';
import {
  InputError,
  parseChannels,
  parseCountries,
  parseEmail,
  parseEmailFrequency,
  parseFeeds,
  parseKeywords,
  parseMinLevel,
  parsePhone,
  parseQuietHours,
  parseSmsUrgency,
  parseTimezone,
  type Preferences,
} from '../subscriptions/validate.ts';
import { parseTrip, type TripInput } from '../subscriptions/trip-validate.ts';
import { localDate } from '../subscriptions/trip-window.ts';

/**
 * The subscribe and manage forms: what the visitor typed, and every problem
 * with it in words a traveler can act on, each tied to its field. The JSON API
 * keeps the validators' developer wording (`phone: … must be …`); a person
 * filling a form gets "Enter your mobile number with its country code".
 */

/** What the visitor typed, exactly, so a refused form comes back as they left it. */
export interface FormValues {
  email?: string;
  /** `null`: every destination. */
  countries?: string[] | null;
  minLevel?: number;
  /** As typed ("concert, airport"). */
  keywords?: string;
  phone?: string;
  sms?: boolean;
  emailFrequency?: string;
  /** Texts for urgent events only, or all ('sms' is the "also by text message" box). */
  smsUrgency?: string;
  quietHours?: string;
  timezone?: string;
  /** A trip to add: the codes ticked in its picker, and the two days from the date inputs. */
  tripCountries?: string[];
  tripFrom?: string;
  tripTo?: string;
}

/** Field name (the input's id) → a plain-language message. Ordered as the form is. */
export type FieldErrors = Partial<Record<FormField, string>>;
export type FormField =
  | 'email'
  | 'countries'
  | 'minLevel'
  | 'keywords'
  | 'phone'
  | 'emailFrequency'
  | 'smsUrgency'
  | 'quietHours'
  | 'timezone'
  | 'tripCountries'
  | 'tripFrom'
  | 'tripTo';

/** The order fields appear on the page: the error summary lists them the same way. */
export const FIELD_ORDER: readonly FormField[] = [
  'email',
  'countries',
  'minLevel',
  'keywords',
  'phone',
  'emailFrequency',
  'smsUrgency',
  'quietHours',
  'timezone',
  'tripCountries',
  'tripFrom',
  'tripTo',
];

export type ParsedForm =
  | { ok: true; values: FormValues; email: string; request: RequestedSubscription }
  | { ok: false; values: FormValues; errors: FieldErrors };

type Body = Record<string, unknown>;

function list(v: unknown): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)];
}

function text(v: unknown): string {
  return typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : '';
}

const PHONE_EXAMPLE = 'for example +44 7911 123456';

/** A validator's refusal → what to tell a person. Unknown wording falls back to the validator's own, without the field prefix. */
export function plainMessage(field: FormField, err: InputError, typed: string): string {
  const detail = err.reason;
  switch (field) {
    case 'email':
      return typed.trim() === '' ? 'Enter your email address.' : 'Enter a full email address, like name@example.com.';
    case 'countries':
      return /unknown country/.test(detail)
        ? `We do not know ${detail.replace(/^unknown country codes?: /, '')}. Choose from the list.`
        : 'Choose a destination.';
    case 'minLevel':
      return 'Choose how serious a change must be.';
    case 'keywords':
      if (/at most 20/.test(detail)) return 'Enter 20 words at most.';
      if (/too long/.test(detail)) return `Each word or phrase can be 60 characters at most; ${detail.replace(/ is too long.*$/, '')} is longer.`;
      return 'Enter words separated by commas.';
    case 'phone':
      if (/international format/.test(detail)) return `Enter your mobile number with its country code, starting with + (${PHONE_EXAMPLE}).`;
      if (/not a mobile/.test(detail)) return 'This is not a mobile number. Text messages need a mobile number.';
      return `This is not a phone number we can text. Check the digits and the country code (${PHONE_EXAMPLE}).`;
    case 'emailFrequency':
      return 'Choose when routine changes are emailed: at once, daily or weekly.';
    case 'smsUrgency':
      return 'Choose which alerts come by text message.';
    case 'quietHours':
      return /must differ/.test(detail)
        ? 'Quiet hours must start and end at different times.'
        : `Enter quiet hours as two times from 00:00 to 23:59, such as 22:00-07:00; “${typed.trim().slice(0, 40)}” is not.`;
    case 'timezone':
      return `We do not know the time zone “${typed.trim().slice(0, 64)}”. Choose one from the list, such as Europe/London.`;
    case 'tripCountries':
      if (/unknown country/.test(detail))
        return `We do not know ${detail.replace(/^unknown country codes?: /, '')}. Choose the trip’s countries from the list.`;
      if (/at most/.test(detail)) return `A trip can have ${detail.replace(/^at most /, 'at most ')}; add another trip for the rest.`;
      return 'Tick the countries of your trip.';
    case 'tripFrom':
      if (/two years/.test(detail)) return 'The first day is more than two years away. Add the trip nearer the time.';
      return 'Enter the first day of your trip.';
    case 'tripTo':
      if (/before the first day/.test(detail)) return 'The last day is before the first day.';
      if (/in the past/.test(detail)) return 'This trip is over: the last day is in the past.';
      if (/a year/.test(detail)) return 'A trip can last a year at most.';
      return 'Enter the last day of your trip.';
  }
}

const TRIP_FIELDS = { countries: 'tripCountries', from: 'tripFrom', to: 'tripTo' } as const;

/**
 * The form body → a subscription request, or every problem at once. A phone
 * typed without ticking "also by text message" is kept and used (after its
 * code is confirmed); the box ticked without a number is a question to answer.
 */
export function parseSubscriptionForm(
  body: Body,
  knownFeeds: ReadonlySet<string>,
  context: { now: Date; defaultTimezone: string; currentTimezone?: string | null },
): ParsedForm {
  const all = Boolean(body.all);
  const values: FormValues = {
    email: text(body.email),
    countries: all ? null : list(body.countries),
    minLevel: Number(text(body.minLevel) || body.minLevel) || 1,
    keywords: list(body.keywords).join(', '),
    phone: text(body.phone),
    sms: Boolean(body.sms),
    emailFrequency: text(body.emailFrequency),
    smsUrgency: text(body.smsUrgency),
    quietHours: text(body.quietHours),
    timezone: text(body.timezone),
    tripCountries: list(body.tripCountries),
    tripFrom: text(body.tripFrom),
    tripTo: text(body.tripTo),
  };
  const errors: FieldErrors = {};
  const attempt = <T>(field: FormField, typed: string, fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      errors[field] = plainMessage(field, e, typed);
      return undefined;
    }
  };
  const email = attempt('email', values.email ?? '', () => parseEmail(values.email));
  // Spaces, dots, dashes and brackets are how people write numbers; the + and digits are what count.
  const phone = attempt('phone', values.phone ?? '', () => parsePhone((values.phone ?? '').replace(/[\s().-]/g, '')));
  // How and when: a choice left out (a page without these fields) keeps its value; empty quiet hours or zone clear them.
  const preferences: Partial<Preferences> = {};
  if (values.emailFrequency) {
    const f = attempt('emailFrequency', values.emailFrequency, () => parseEmailFrequency(values.emailFrequency));
    if (f) preferences.emailFrequency = f;
  }
  if (values.smsUrgency) {
    const u = attempt('smsUrgency', values.smsUrgency, () => parseSmsUrgency(values.smsUrgency));
    if (u) preferences.sms = u;
  }
  if (body.quietHours !== undefined) {
    const q = attempt('quietHours', values.quietHours ?? '', () => parseQuietHours(values.quietHours));
    if (q !== undefined) preferences.quietHours = q;
  }
  if (body.timezone !== undefined) {
    const z = attempt('timezone', values.timezone ?? '', () => parseTimezone(values.timezone));
    if (z !== undefined) preferences.timezone = z;
  }
  // A trip to add, when any of its fields is filled in. Its days are in the traveler's zone.
  let trip: TripInput | undefined;
  const tripAsked = Boolean(values.tripCountries?.length || values.tripFrom || values.tripTo);
  if (tripAsked) {
    const today = localDate(context.now, preferences.timezone ?? context.currentTimezone ?? context.defaultTimezone);
    try {
      trip = parseTrip({ countries: values.tripCountries, from: values.tripFrom, to: values.tripTo }, today);
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      const field = TRIP_FIELDS[e.field as keyof typeof TRIP_FIELDS] ?? 'tripCountries';
      errors[field] = plainMessage(field, e, '');
    }
  }
  let countries: string[] | null | undefined;
  if (all) countries = null;
  // Someone who only wants to hear around a trip follows no other country.
  else if (values.countries?.length === 0 && tripAsked) countries = [];
  else if (values.countries?.length === 0) errors.countries = 'Choose at least one destination, tick “Every destination”, or add a trip.';
  else countries = attempt('countries', (values.countries ?? []).join(' '), () => parseCountries(values.countries));
  const minLevel = attempt('minLevel', text(body.minLevel), () => parseMinLevel(body.minLevel));
  const keywords = attempt('keywords', values.keywords ?? '', () => parseKeywords(values.keywords));
  if (values.sms && phone === null && !errors.phone) {
    errors.phone = `To get alerts by text message, enter your mobile number (${PHONE_EXAMPLE}), or untick “text message”.`;
  }
  const wantsSms = values.sms || Boolean(phone);
  const channels = attempt('phone', values.phone ?? '', () => parseChannels(wantsSms && phone ? ['email', 'sms'] : ['email'], phone ?? null));
  if (Object.keys(errors).length > 0 || email === undefined || countries === undefined || minLevel === undefined || keywords === undefined || !channels) {
    return { ok: false, values, errors };
  }
  return {
    ok: true,
    values,
    email,
    request: {
      countries,
      feeds: parseFeeds(undefined, knownFeeds),
      minLevel,
      keywords,
      channels,
      phone: phone ?? null,
      ...(Object.keys(preferences).length ? { preferences } : {}),
      ...(trip ? { trips: [trip] } : {}),
    },
  };
}
