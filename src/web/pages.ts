import { allCountries, countryName } from '../common/countries.ts';
import type { SubscriberView } from '../subscriptions/repository.ts';
import { html, layout, type SafeHtml } from './html.ts';

/** Server-rendered pages: they work without JavaScript and carry no inline script or style. */

export const LEVEL_WORDS: Record<number, string> = {
  1: 'Everything, including level 1 (exercise normal precautions)',
  2: 'Level 2 and above (exercise increased caution)',
  3: 'Level 3 and above (reconsider travel)',
  4: 'Only level 4 (do not travel)',
};

export interface FormValues {
  email?: string;
  countries?: string[] | null;
  minLevel?: number;
  keywords?: string[];
  phone?: string | null;
  sms?: boolean;
}

function destinationPicker(selected: string[] | null | undefined, highest: Map<string, number>): SafeHtml {
  const all = selected === null;
  const chosen = new Set(selected ?? []);
  return html`<fieldset>
<legend>Destinations</legend>
<span class="hint" id="dest-hint">Choose one or more countries (hold Ctrl or ⌘ to pick several). The number is the highest level any government currently gives it, from 1 (normal precautions) to 4 (do not travel).</span>
<label class="choice"><input type="checkbox" name="all" value="1" ${all ? html`checked` : ''}> Every destination</label>
<label for="countries">Countries</label>
<select id="countries" name="countries" multiple aria-describedby="dest-hint">
${allCountries().map(
  (c) =>
    html`<option value="${c.code}" ${chosen.has(c.code) ? html`selected` : ''}>${c.name}${highest.has(c.code) ? ` — level ${highest.get(c.code)}` : ''}</option>`,
)}
</select>
</fieldset>`;
}

function levelChoice(minLevel: number | undefined): SafeHtml {
  const current = minLevel ?? 1;
  return html`<fieldset>
<legend>How serious must a change be?</legend>
<span class="hint">Embassy security alerts have no level and always reach you.</span>
${[1, 2, 3, 4].map(
  (n) => html`<label class="choice"><input type="radio" name="minLevel" value="${n}" ${current === n ? html`checked` : ''}> ${LEVEL_WORDS[n] ?? ''}</label>`,
)}
</fieldset>`;
}

export function subscribePage(options: { csrf: string; values?: FormValues; error?: string; highest: Map<string, number> }): string {
  const v = options.values ?? {};
  return layout(
    'Get travel advisory alerts',
    html`<h1>Get an alert when travel advice changes</h1>
<p>We watch official travel advice from the U.S., UK, Canadian and Australian governments and U.S. embassies, and tell you — once — when advice for a place you care about changes.</p>
${options.error ? html`<div class="error" role="alert">${options.error}</div>` : ''}
<form method="post" action="/subscribe" novalidate>
<input type="hidden" name="_csrf" value="${options.csrf}">
<label for="email">Email address</label>
<span class="hint" id="email-hint">We send a link to confirm it’s you.</span>
<input type="email" id="email" name="email" autocomplete="email" required aria-describedby="email-hint" value="${v.email ?? ''}">
${destinationPicker(v.countries, options.highest)}
${levelChoice(v.minLevel)}
<label for="keywords">Only alerts mentioning… <span class="hint">Optional: words such as “concert, airport”, separated by commas.</span></label>
<input type="text" id="keywords" name="keywords" value="${(v.keywords ?? []).join(', ')}">
<label for="phone">Mobile number for text messages <span class="hint">Optional. In international form, e.g. +44 7911 123456. We text you a code to check it.</span></label>
<input type="tel" id="phone" name="phone" autocomplete="tel" value="${v.phone ?? ''}">
<label class="choice"><input type="checkbox" name="sms" value="1" ${v.sms ? html`checked` : ''}> Also send alerts by text message</label>
<button type="submit">Subscribe</button>
</form>`,
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
}): string {
  return layout(
    'Alerts confirmed',
    html`<h1>Your alerts are on</h1>
<div class="notice" role="status"><p>We will email ${options.email} when advice changes for ${describeCountries(options.view?.countries ?? null)}${
      options.view && options.view.minLevel > 1 ? `, at level ${options.view.minLevel} and up` : ''
    }${options.view?.keywords.length ? `, when it mentions ${options.view.keywords.map((k) => `“${k}”`).join(' or ')}` : ''}.</p></div>
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
  return countries.map(countryName).join(', ') || 'no destination';
}

export function managePage(options: {
  view: SubscriberView;
  csrf: string;
  action: string;
  unsubscribeAction: string;
  notices?: string[];
  error?: string;
  highest: Map<string, number>;
}): string {
  const v = options.view;
  return layout(
    'Your alerts',
    html`<h1>Your alerts</h1>
${(options.notices ?? []).map((n) => html`<div class="notice" role="status"><p>${n}</p></div>`)}
${options.error ? html`<div class="error" role="alert">${options.error}</div>` : ''}
<p>Alerts go to <strong>${v.email}</strong>${v.status !== 'confirmed' ? html` (<strong>${v.status}</strong>)` : ''} for ${describeCountries(v.countries)}${v.minLevel > 1 ? `, level ${v.minLevel} and above` : ''}.</p>
<form method="post" action="${options.action}">
<input type="hidden" name="_csrf" value="${options.csrf}">
<label for="email">Email address <span class="hint">A new address must be confirmed before alerts go there.</span></label>
<input type="email" id="email" name="email" autocomplete="email" value="${v.email}">
${destinationPicker(v.countries, options.highest)}
${levelChoice(v.minLevel)}
<label for="keywords">Only alerts mentioning… <span class="hint">Optional, separated by commas.</span></label>
<input type="text" id="keywords" name="keywords" value="${v.keywords.join(', ')}">
<label for="phone">Mobile number <span class="hint">${v.phone ? (v.phoneVerified ? 'Verified.' : 'Not verified yet: we text a code when you save.') : 'Optional, in international form.'}${v.smsStopped ? ' Text messages are stopped (you replied STOP); reply START to resume.' : ''}</span></label>
<input type="tel" id="phone" name="phone" autocomplete="tel" value="${v.phone ?? ''}">
<label class="choice"><input type="checkbox" name="sms" value="1" ${v.channels.includes('sms') ? html`checked` : ''}> Send alerts by text message too</label>
<button type="submit">Save changes</button>
</form>
<h2>Stop all alerts</h2>
<form method="post" action="${options.unsubscribeAction}">
<button type="submit" class="secondary">Unsubscribe from all alerts</button>
</form>`,
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
