import { allCountries, countryName, countrySearchNames } from '../common/countries.ts';
import type { SubscriberView } from '../subscriptions/repository.ts';
import type { Trip } from '../subscriptions/trip-repository.ts';
import type { TripPhase } from '../subscriptions/trip-window.ts';
import { TRIP_LIMITS } from '../subscriptions/trip-window.ts';
import { FIELD_ORDER, type FieldErrors, type FormField, type FormValues } from './forms.ts';
import { html, layout, type SafeHtml } from './html.ts';

/** Server-rendered pages: they work without JavaScript and carry no inline script or style. */

export const LEVEL_WORDS: Record<number, string> = {
  1: 'Everything, including level 1 (exercise normal precautions)',
  2: 'Level 2 and above (exercise increased caution)',
  3: 'Level 3 and above (reconsider travel)',
  4: 'Only level 4 (do not travel)',
};

/** A field's error, shown under its label; `aria-describedby` ties it to the input. */
function fieldError(field: FormField, errors: FieldErrors | undefined): SafeHtml | '' {
  const message = errors?.[field];
  return message ? html`<p class="field-error" id="${field}-error"><span class="sr-only">Error: </span>${message}</p>` : '';
}

/** `aria-describedby` and `aria-invalid` for an input: its hint, then its error if any. */
function describedBy(field: FormField, errors: FieldErrors | undefined, hint?: string): SafeHtml {
  const ids = [hint, errors?.[field] ? `${field}-error` : undefined].filter(Boolean).join(' ');
  return html`${ids ? html`aria-describedby="${ids}"` : ''} ${errors?.[field] ? html`aria-invalid="true"` : ''}`;
}

/**
 * Every problem at once, at the top, each a link to its field (the GOV.UK
 * pattern): a screen reader hears the list, a sighted visitor jumps to the field.
 */
function errorSummary(errors: FieldErrors | undefined, general?: string): SafeHtml | '' {
  const listed = FIELD_ORDER.filter((f) => errors?.[f]);
  if (!listed.length && !general) return '';
  return html`<div class="error error-summary" role="alert" id="error-summary">
<h2>${listed.length > 1 ? 'There are problems with the form' : 'There is a problem'}</h2>
${general ? html`<p>${general}</p>` : ''}
${listed.length ? html`<ul>${listed.map((f) => html`<li><a href="#${f}">${errors?.[f] ?? ''}</a></li>`)}</ul>` : ''}
</div>`;
}

/** A country's checkbox. Its name says what the bare level number beside it is ("Russia highest level now 4", not "Russia 4"). */
function countryItem(name: 'countries' | 'tripCountries', code: string, label: string, checked: boolean, highest: Map<string, number>): SafeHtml {
  const level = highest.get(code);
  return html`<li data-search="${countrySearchNames(code).join('|')}"><label class="choice"><input type="checkbox" name="${name}" value="${code}" ${checked ? html`checked` : ''}> <span class="name">${label}</span>${level ? html` <span class="sr-only">highest level now</span> <span class="lvl lvl${level}" title="highest level now">${level}</span>` : ''}</label></li>`;
}

/** The ids of one picker's parts: the destination picker keeps the ids it always had (links and tests point at them). */
interface PickerIds {
  /** The checkboxes' form name, also the fieldset's id (the error summary links to it). */
  name: 'countries' | 'tripCountries';
  filter: string;
  list: string;
  count: string;
}
const DESTINATION_IDS: PickerIds = { name: 'countries', filter: 'country-filter', list: 'country-list', count: 'country-count' };
const TRIP_IDS: PickerIds = { name: 'tripCountries', filter: 'tripCountries-filter', list: 'tripCountries-list', count: 'tripCountries-count' };

/**
 * The filterable part of a country picker: a scrolling checkbox list of every
 * country (the chosen ones first), with a filter box that /assets/picker.js
 * reveals and drives. Without JavaScript the list still works: tick and scroll.
 */
function pickerList(ids: PickerIds, chosen: ReadonlySet<string>, highest: Map<string, number>): SafeHtml {
  const countries = allCountries();
  const picked = countries.filter((c) => chosen.has(c.code));
  return html`<div class="picker" data-country-picker>
<label for="${ids.filter}" hidden>Find a country</label>
<span class="hint" id="${ids.filter}-hint" hidden>Type a few letters, such as “neth” or “uk”.</span>
<input type="search" id="${ids.filter}" autocomplete="off" aria-controls="${ids.list}" aria-describedby="${ids.filter}-hint" hidden>
<p class="picker-status" id="${ids.count}" aria-live="polite" hidden></p>
${picked.length ? html`<p class="group">Chosen</p><ul class="country-list chosen">${picked.map((c) => countryItem(ids.name, c.code, c.name, true, highest))}</ul><p class="group">All countries</p>` : ''}
<ul class="country-list all" id="${ids.list}" data-picker-list>
${countries.filter((c) => !chosen.has(c.code)).map((c) => countryItem(ids.name, c.code, c.name, false, highest))}
</ul>
</div>`;
}

/** Destinations as a country picker, with "Every destination" above it. */
function destinationPicker(selected: string[] | null | undefined, highest: Map<string, number>, errors?: FieldErrors): SafeHtml {
  const all = selected === null;
  return html`<fieldset id="countries" class="destinations" ${describedBy('countries', errors, 'countries-hint')}>
<legend>Destinations</legend>
<span class="hint" id="countries-hint">Tick every country you want alerts for. The number beside a country is the highest level any government gives it now, from 1 (normal precautions) to 4 (do not travel).</span>
${fieldError('countries', errors)}
<label class="choice"><input type="checkbox" name="all" value="1" ${all ? html`checked` : ''}> Every destination</label>
${pickerList(DESTINATION_IDS, new Set(selected ?? []), highest)}
</fieldset>`;
}

/**
 * The trip's countries: a second picker, folded in a <details> so the page is
 * not twice as long for those who add no trip; open when something is ticked
 * or refused, so what came back is in sight.
 */
function tripCountryPicker(selected: readonly string[] | undefined, highest: Map<string, number>, errors?: FieldErrors): SafeHtml {
  const chosen = new Set(selected ?? []);
  const open = chosen.size > 0 || Boolean(errors?.tripCountries || errors?.tripFrom || errors?.tripTo);
  return html`<details class="trip-countries" ${open ? html`open` : ''}>
<summary>Choose the countries of the trip</summary>
<fieldset id="tripCountries" ${describedBy('tripCountries', errors, 'tripCountries-hint')}>
<legend>Countries of the trip</legend>
<span class="hint" id="tripCountries-hint">Tick each country you will visit, up to ${TRIP_LIMITS.maxCountries}.</span>
${fieldError('tripCountries', errors)}
${pickerList(TRIP_IDS, chosen, highest)}
</fieldset>
</details>`;
}

function levelChoice(minLevel: number | undefined, errors?: FieldErrors): SafeHtml {
  const current = minLevel ?? 1;
  return html`<fieldset id="minLevel" ${describedBy('minLevel', errors, 'minLevel-hint')}>
<legend>How serious must a change be?</legend>
<span class="hint" id="minLevel-hint">Embassy security alerts have no level and always reach you.</span>
${fieldError('minLevel', errors)}
${[1, 2, 3, 4].map(
  (n) => html`<label class="choice"><input type="radio" name="minLevel" value="${n}" ${current === n ? html`checked` : ''}> ${LEVEL_WORDS[n] ?? ''}</label>`,
)}
</fieldset>`;
}

/** A trip as the manage page lists it. */
export interface TripRow extends Trip {
  phase: TripPhase;
}

const FREQUENCY_WORDS: Record<string, string> = {
  immediate: 'At once, one email per change',
  daily: 'In one email a day (urgent alerts still at once)',
  weekly: 'In one email a week, on Mondays (urgent alerts still at once)',
};
const SMS_WORDS: Record<string, string> = {
  urgent: 'Only urgent alerts (a raise to level 3 or 4, an embassy security alert)',
  all: 'Every alert',
};

/** Every IANA zone this server knows, for the time zone field's suggestions. */
const TIME_ZONES: readonly string[] = Intl.supportedValuesOf('timeZone');

function radios(
  name: FormField,
  words: Record<string, string>,
  current: string | undefined,
  errors: FieldErrors | undefined,
  legend: string,
  hint: string,
): SafeHtml {
  return html`<fieldset id="${name}" ${describedBy(name, errors, `${name}-hint`)}>
<legend>${legend}</legend>
<span class="hint" id="${name}-hint">${hint}</span>
${fieldError(name, errors)}
${Object.entries(words).map(
  ([value, label]) =>
    html`<label class="choice"><input type="radio" name="${name}" value="${value}" ${current === value ? html`checked` : ''}> ${label}</label>`,
)}
</fieldset>`;
}

/** Email frequency, which alerts are texted, quiet hours and time zone (README, "For travelers"). */
function preferenceFields(v: FormValues, errors: FieldErrors | undefined, defaultTimezone: string): SafeHtml {
  return html`<h2>How and when you hear</h2>
${radios('emailFrequency', FREQUENCY_WORDS, v.emailFrequency || 'immediate', errors, 'Routine changes by email', 'Urgent alerts are always emailed at once.')}
${radios('smsUrgency', SMS_WORDS, v.smsUrgency || 'urgent', errors, 'Which alerts come by text message', 'Only if you give a mobile number.')}
<label for="quietHours">Quiet hours for text messages</label>
<span class="hint" id="quietHours-hint">Optional, such as 22:00-07:00 (24-hour clock, in your time zone). Texts wait until they end, except a raise to level 4. Leave empty for none.</span>
${fieldError('quietHours', errors)}
<input type="text" id="quietHours" name="quietHours" inputmode="numeric" autocomplete="off" placeholder="22:00-07:00" ${describedBy('quietHours', errors, 'quietHours-hint')} value="${v.quietHours ?? ''}">
<label for="timezone">Your time zone</label>
<span class="hint" id="timezone-hint">Such as Europe/London or Asia/Tokyo: for quiet hours, digests and trip dates. Empty: ${defaultTimezone}.</span>
${fieldError('timezone', errors)}
<input type="text" id="timezone" name="timezone" list="timezones" autocomplete="off" ${describedBy('timezone', errors, 'timezone-hint')} value="${v.timezone ?? ''}">
<datalist id="timezones">${TIME_ZONES.map((z) => html`<option value="${z}"></option>`)}</datalist>`;
}

/** The fields of one new trip: countries, and the first and last day with the browser's own date picker. */
function tripFields(v: FormValues, errors: FieldErrors | undefined, leadDays: number, heading: string, highest: Map<string, number>): SafeHtml {
  return html`<h2>${heading}</h2>
<p class="hint">We follow a trip’s countries for you from ${leadDays} days before its first day until its last day, and email you a briefing as soon as you add it.</p>
${tripCountryPicker(v.tripCountries, highest, errors)}
<label for="tripFrom">First day</label>
${fieldError('tripFrom', errors)}
<input type="date" id="tripFrom" name="tripFrom" ${describedBy('tripFrom', errors)} value="${v.tripFrom ?? ''}">
<label for="tripTo">Last day</label>
${fieldError('tripTo', errors)}
<input type="date" id="tripTo" name="tripTo" ${describedBy('tripTo', errors)} value="${v.tripTo ?? ''}">`;
}

const PHASE_WORDS: Record<TripPhase, string> = { upcoming: 'upcoming', followed: 'followed now', past: 'past' };

function tripLine(t: TripRow): SafeHtml {
  return html`<strong>${t.countries.map(countryName).join(', ')}</strong>: ${t.from} to ${t.to} <span class="tag">(${PHASE_WORDS[t.phase]})</span>`;
}

/** The traveler's trips, each with its own remove button (forms cannot nest, so this sits outside the main form). */
function tripList(trips: readonly TripRow[], csrf: string, action: string): SafeHtml {
  if (trips.length === 0) return html`<p>No trips yet.</p>`;
  return html`<ul class="trips">
${trips.map(
  (t) => html`<li class="trip trip-${t.phase}"><span>${tripLine(t)}</span>
<form method="post" action="${action}/trips/${t.id}/remove"><input type="hidden" name="_csrf" value="${csrf}"><button type="submit" class="secondary small" aria-label="Remove the trip to ${t.countries.map(countryName).join(', ')} from ${t.from}">Remove</button></form></li>`,
)}
</ul>`;
}

/** The service's zone (settings `defaultTimezone`) and `trips.leadDays`, for the form pages' hints. */
interface TravelerSettings {
  defaultTimezone: string;
  leadDays: number;
}

/** The scripts a form page loads: files from our own origin (the CSP allows no inline script). */
const FORM_SCRIPTS = ['/assets/picker.js'];

export function subscribePage(options: {
  csrf: string;
  values?: FormValues;
  errors?: FieldErrors;
  error?: string;
  highest: Map<string, number>;
  travelers: TravelerSettings;
}): string {
  const { travelers } = options;
  const v = options.values ?? {};
  const errors = options.errors;
  const failed = Boolean(options.error || (errors && Object.keys(errors).length));
  return layout(
    `${failed ? 'Error: ' : ''}Get travel advisory alerts`,
    html`<h1>Get an alert when travel advice changes</h1>
<p>We watch official travel advice from the U.S., UK, Canadian, Australian, German and Japanese governments and U.S. embassies, and tell you — once — when advice for a place you care about changes.</p>
${errorSummary(errors, options.error)}
<form method="post" action="/subscribe" novalidate>
<input type="hidden" name="_csrf" value="${options.csrf}">
<label for="email">Email address</label>
<span class="hint" id="email-hint">We send a link to confirm it’s you.</span>
${fieldError('email', errors)}
<input type="email" id="email" name="email" autocomplete="email" required ${describedBy('email', errors, 'email-hint')} value="${v.email ?? ''}">
${destinationPicker(v.countries, options.highest, errors)}
${levelChoice(v.minLevel, errors)}
<label for="keywords">Only alerts mentioning…</label>
<span class="hint" id="keywords-hint">Optional: words such as “concert, airport”, separated by commas.</span>
${fieldError('keywords', errors)}
<input type="text" id="keywords" name="keywords" ${describedBy('keywords', errors, 'keywords-hint')} value="${v.keywords ?? ''}">
<label for="phone">Mobile number for text messages</label>
<span class="hint" id="phone-hint">Optional. With the country code, e.g. +44 7911 123456. We text you a code to check it; a number given here gets urgent alerts by text.</span>
${fieldError('phone', errors)}
<input type="tel" id="phone" name="phone" autocomplete="tel" ${describedBy('phone', errors, 'phone-hint')} value="${v.phone ?? ''}">
<label class="choice"><input type="checkbox" name="sms" value="1" ${v.sms ? html`checked` : ''}> Also send alerts by text message</label>
${preferenceFields(v, errors, travelers.defaultTimezone)}
${tripFields(v, errors, travelers.leadDays, 'Going on a trip? (optional)', options.highest)}
<button type="submit">Subscribe</button>
</form>`,
    { scripts: FORM_SCRIPTS },
  );
}

export function checkInboxPage(): string {
  return layout(
    'Check your inbox',
    html`<h1>Check your inbox</h1>
<div class="notice" role="status"><p>If the address can receive alerts, we have sent it a link. Open it within 48 hours to start your alerts.</p></div>
<p><a href="/">Back to the start</a></p>`,
  );
}

export function confirmedPage(options: {
  email: string;
  view: SubscriberView | undefined;
  token: string;
  csrf: string;
  phonePending: boolean;
  manageUrl: string;
  /** The trips asked for with the subscription, so the traveler sees they were taken. */
  trips?: readonly TripRow[];
  leadDays: number;
}): string {
  const v = options.view;
  const trips = options.trips ?? [];
  return layout(
    'Alerts confirmed',
    html`<h1>Your alerts are on</h1>
<div class="notice" role="status"><p>We will email ${options.email} when advice changes for ${describeCountries(v?.countries ?? null)}${
      v && v.minLevel > 1 ? `, at level ${v.minLevel} and up` : ''
    }${v?.keywords.length ? `, when it mentions ${v.keywords.map((k) => `“${k}”`).join(' or ')}` : ''}.</p>
${v && v.emailFrequency !== 'immediate' ? html`<p>How: ${FREQUENCY_WORDS[v.emailFrequency] ?? v.emailFrequency}.</p>` : ''}</div>
${
  trips.length
    ? html`<h2>Your trips</h2>
<p>We follow each trip’s countries from ${options.leadDays} days before its first day until its last day, and are emailing you a briefing about them.</p>
<ul class="trips">
${trips.map((t) => html`<li class="trip trip-${t.phase}">${tripLine(t)}</li>`)}
</ul>`
    : ''
}
${options.phonePending ? phoneForm(options.token, options.csrf) : ''}
<p><a href="${options.manageUrl}">Change your destinations or alerts</a></p>`,
  );
}

export function phoneForm(token: string, csrf: string, error?: string): SafeHtml {
  return html`<h2>Check your mobile number</h2>
<p>We have sent a 6-digit code by text message. Enter it to receive alerts by SMS.</p>
${error ? html`<div class="error" role="alert">${error}</div>` : ''}
<form method="post" action="/api/phone/verify">
<input type="hidden" name="_csrf" value="${csrf}">
<input type="hidden" name="token" value="${token}">
<label for="code">Code</label>
<input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required>
<button type="submit">Verify</button>
</form>`;
}

export function messagePage(title: string, message: string, options: { status?: 'notice' | 'error'; extra?: SafeHtml } = {}): string {
  return layout(
    title,
    html`<h1>${title}</h1>
<div class="${options.status === 'error' ? 'error' : 'notice'}" role="${options.status === 'error' ? 'alert' : 'status'}"><p>${message}</p></div>
${options.extra ?? ''}
<p><a href="/">Back to the start</a></p>`,
  );
}

function describeCountries(countries: string[] | null): string {
  if (countries === null) return 'every destination';
  // No destination of their own: they follow only the countries of their trips.
  return countries.map(countryName).join(', ') || 'the countries of your trips, around their dates';
}

export function managePage(options: {
  view: SubscriberView;
  csrf: string;
  action: string;
  unsubscribeAction: string;
  notices?: string[];
  /** What the visitor typed, when the form comes back refused (otherwise the stored settings are shown). */
  values?: FormValues;
  errors?: FieldErrors;
  error?: string;
  highest: Map<string, number>;
  /** The manage token: /api/phone/verify takes it for the code form shown while the number is unverified. */
  token: string;
  trips?: readonly TripRow[];
  travelers: TravelerSettings;
}): string {
  const v = options.view;
  const { travelers } = options;
  const errors = options.errors;
  const typed: FormValues = options.values ?? {
    email: v.email,
    countries: v.countries,
    minLevel: v.minLevel,
    keywords: v.keywords.join(', '),
    phone: v.phone ?? '',
    sms: v.channels.includes('sms'),
    emailFrequency: v.emailFrequency,
    smsUrgency: v.sms,
    quietHours: v.quietHours ?? '',
    timezone: v.timezone ?? '',
  };
  const failed = Boolean(options.error || (errors && Object.keys(errors).length));
  return layout(
    `${failed ? 'Error: ' : ''}Your alerts`,
    html`<h1>Your alerts</h1>
${(options.notices ?? []).map((n) => html`<div class="notice" role="status"><p>${n}</p></div>`)}
${errorSummary(errors, options.error)}
${v.phone && !v.phoneVerified && !v.smsStopped ? phoneForm(options.token, options.csrf) : ''}
<p>Alerts go to <strong>${v.email}</strong>${v.status !== 'confirmed' ? html` (<strong>${v.status}</strong>)` : ''} for ${describeCountries(v.countries)}${v.minLevel > 1 ? `, level ${v.minLevel} and above` : ''}${
      v.keywords.length ? `, when they mention ${v.keywords.map((k) => `“${k}”`).join(' or ')}` : ''
    }.</p>
<form method="post" action="${options.action}" novalidate>
<input type="hidden" name="_csrf" value="${options.csrf}">
<label for="email">Email address</label>
<span class="hint" id="email-hint">A new address must be confirmed before alerts go there.</span>
${fieldError('email', errors)}
<input type="email" id="email" name="email" autocomplete="email" ${describedBy('email', errors, 'email-hint')} value="${typed.email ?? ''}">
${destinationPicker(typed.countries, options.highest, errors)}
${levelChoice(typed.minLevel, errors)}
<label for="keywords">Only alerts mentioning…</label>
<span class="hint" id="keywords-hint">Optional, separated by commas.</span>
${fieldError('keywords', errors)}
<input type="text" id="keywords" name="keywords" ${describedBy('keywords', errors, 'keywords-hint')} value="${typed.keywords ?? ''}">
<label for="phone">Mobile number</label>
<span class="hint" id="phone-hint">${v.phone ? (v.phoneVerified ? 'Verified.' : 'Not verified yet: we text a code when you save.') : 'Optional, with the country code, e.g. +44 7911 123456.'}${v.smsStopped ? ' Text messages are stopped (you replied STOP); reply START to resume.' : ''}</span>
${fieldError('phone', errors)}
<input type="tel" id="phone" name="phone" autocomplete="tel" ${describedBy('phone', errors, 'phone-hint')} value="${typed.phone ?? ''}">
<label class="choice"><input type="checkbox" name="sms" value="1" ${typed.sms ? html`checked` : ''}> Send alerts by text message too</label>
${preferenceFields(typed, errors, travelers.defaultTimezone)}
${tripFields(typed, errors, travelers.leadDays, 'Add a trip', options.highest)}
<button type="submit">Save changes</button>
</form>
<h2>Your trips</h2>
${tripList(options.trips ?? [], options.csrf, options.action)}
<h2>Stop all alerts</h2>
<form method="post" action="${options.unsubscribeAction}">
<button type="submit" class="secondary">Unsubscribe from all alerts</button>
</form>`,
    { scripts: FORM_SCRIPTS },
  );
}

export function unsubscribeAskPage(options: { email: string; action: string }): string {
  return layout(
    'Unsubscribe',
    html`<h1>Unsubscribe</h1>
<p>Stop all travel advisory alerts to <strong>${options.email}</strong>?</p>
<form method="post" action="${options.action}">
<button type="submit" class="secondary">Yes, unsubscribe</button>
</form>`,
  );
}
