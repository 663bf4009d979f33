import type { Element } from 'domhandler';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { ManualClock } from '../helpers/poll.ts';
import { startSmtpServer, type ReceivedMail, type TestSmtpServer } from '../helpers/smtp.ts';
import { getSubscriberView, upsertSubscriber } from '../../src/subscriptions/repository.ts';
import { parseSubscriber } from '../../src/subscriptions/validate.ts';
import { Page } from '../helpers/dom.ts';
import { CookieJar, form, getFormPage, postFormTo, startWebApp, submitForm, waitFor, type WebApp } from '../helpers/web.ts';

/**
 * Trips through the JSON API: `trips: [{countries, from, to}]` in POST
 * /api/subscriptions, refused field by field with nothing stored; stored when
 * the traveler confirms, and the pre-trip briefing mailed then (real web
 * server, in-process SMTP, injected clock: "today" is 1 November 2026).
 */

let t: TestDatabase;
let smtp: TestSmtpServer;
let web: WebApp;
const clock = new ManualClock(new Date('2026-11-01T12:00:00Z'));

beforeAll(async () => {
  t = await openTestDatabase();
  smtp = await startSmtpServer();
  web = await startWebApp({ db: t.db, smtp, clock, feedsYaml: 'feeds: []\n' });
});
afterAll(async () => {
  await web?.close();
  await smtp?.stop();
  await t?.close();
});
beforeEach(async () => {
  await t.reset();
  smtp.reset();
  await t.db.insertInto('feeds').values({ id: 'ca', name: 'Canada travel advice', url: 'https://travel.gc.ca/feed', source: 'ca-travel' }).execute();
  const at = new Date('2026-10-20T08:00:00Z');
  await t.db
    .insertInto('advisories')
    .values({
      feed_id: 'ca',
      key: 'RU',
      countries: ['RU'],
      level: 4,
      level_text: 'Avoid all travel',
      title: 'Russia travel advice',
      body: 'Avoid all travel to Russia.',
      link: 'https://travel.gc.ca/destinations/russia',
      fingerprint: 'ru',
      first_seen_at: at,
      last_seen_at: at,
      changed_at: at,
    })
    .execute();
});

function postJson(body: unknown): Promise<Response> {
  return fetch(web.url('/api/subscriptions'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

async function mailTo(email: string, n: number): Promise<ReceivedMail> {
  return waitFor(`mail #${n} to ${email}`, async () => {
    await smtp.settled();
    return smtp.to(email)[n - 1];
  });
}

function confirmLink(mail: ReceivedMail): string {
  const m = new RegExp(`${web.baseUrl.replace(/[.:/]/g, '\\$&')}/confirm/[A-Za-z0-9_-]+`).exec(mail.text);
  expect(m, mail.text).not.toBeNull();
  return m![0];
}

const tripsOf = () =>
  t.db
    .selectFrom('trips')
    .select(['countries', sql<string>`first_day::text`.as('from')])
    .orderBy('id')
    .execute();

describe('POST /api/subscriptions with trips', () => {
  it('a new traveler with only a trip: stored at confirmation, then the briefing arrives at once', async () => {
    const r = await postJson({
      email: 'tia@example.org',
      countries: [],
      trips: [{ countries: ['RU'], from: '2026-12-01', to: '2026-12-14' }],
      timezone: 'Asia/Tokyo',
    });
    expect(r.status).toBe(202);
    const confirmMail = await mailTo('tia@example.org', 1);
    expect(confirmMail.text).toContain('alerts about your trips, by email; trips: Russia from 2026-12-01 to 2026-12-14');
    expect(await tripsOf()).toEqual([]);
    const confirmed = await fetch(confirmLink(confirmMail));
    expect(confirmed.status).toBe(200);
    const confirmedPage = await confirmed.text();
    expect(confirmedPage).toContain('when advice changes for the countries of your trips, around their dates');
    expect(confirmedPage).toContain('<strong>Russia</strong>: 2026-12-01 to 2026-12-14');
    // Alerts at once (the default) need no "How" line.
    expect(confirmedPage).not.toContain('How: ');
    expect(await tripsOf()).toEqual([{ countries: ['RU'], from: '2026-12-01' }]);
    const briefing = await mailTo('tia@example.org', 2);
    expect(briefing.subject).toBe('Your pre-trip briefing: Russia');
    expect(briefing.text).toContain('Russia: 1 Dec 2026 to 14 Dec 2026');
    expect(briefing.text).toContain('* Canada: Level 4 — Do not travel');
    expect(briefing.text).toContain('In its own words: "Avoid all travel"');
    expect(briefing.text).toContain('https://travel.gc.ca/destinations/russia');
    expect(briefing.html).toContain('“Avoid all travel”');
    // Following only the trip: no other country.
    const sub = await t.db.selectFrom('subscriptions').select('countries').executeTakeFirstOrThrow();
    expect(sub.countries).toEqual([]);
    // The link opened again adds nothing and mails nothing more.
    expect((await fetch(confirmLink(confirmMail))).status).toBe(200);
    await smtp.settled();
    expect(smtp.to('tia@example.org')).toHaveLength(2);
    expect(await t.db.selectFrom('briefings').select('status').execute()).toEqual([{ status: 'sent' }]);
  });

  it('a confirmed traveler adding a trip: briefed on the new trip only, after the link', async () => {
    const first = await postJson({ email: 'ulf@example.org', countries: ['FR'], trips: [{ countries: ['RU'], from: '2026-12-01', to: '2026-12-14' }] });
    expect(first.status).toBe(202);
    await fetch(confirmLink(await mailTo('ulf@example.org', 1)));
    await mailTo('ulf@example.org', 2);
    // Past the cool-down between two confirmation emails to one address.
    clock.advance(10 * 60_000);
    const again = await postJson({ email: 'ulf@example.org', countries: ['FR'], trips: [{ countries: ['JP'], from: '2027-01-10', to: '2027-01-20' }] });
    expect(again.status).toBe(202);
    await fetch(confirmLink(await mailTo('ulf@example.org', 3)));
    const briefing = await mailTo('ulf@example.org', 4);
    expect(briefing.subject).toBe('Your pre-trip briefing: Japan');
    expect(briefing.text).not.toContain('== Russia ==');
    expect((await tripsOf()).map((x) => x.countries)).toEqual([['RU'], ['JP']]);
  });

  it.each<[string, Record<string, unknown>, string, RegExp]>([
    ['a last day before the first', { trips: [{ countries: ['RU'], from: '2026-12-14', to: '2026-12-01' }] }, 'trips[0].to', /before the first day/],
    ['a trip ten years away', { trips: [{ countries: ['RU'], from: '2036-12-01', to: '2036-12-14' }] }, 'trips[0].from', /more than two years away/],
    [
      'sixty countries',
      {
        trips: [
          {
            countries:
              'AD AE AF AG AL AM AO AR AT AU AZ BA BB BD BE BF BG BH BI BJ BN BO BR BS BT BW BY BZ CA CD CF CG CH CI CL CM CN CO CR CU CV CY CZ DE DJ DK DM DO DZ EC EE EG ER ES ET FI FJ FM FR GA'.split(
                ' ',
              ),
            from: '2026-12-01',
            to: '2026-12-14',
          },
        ],
      },
      'trips[0].countries',
      /at most 15 countries/,
    ],
    ['an unknown country', { trips: [{ countries: ['RU', 'XX'], from: '2026-12-01', to: '2026-12-14' }] }, 'trips[0].countries', /unknown country code: XX/],
    [
      'a second trip that is wrong',
      {
        trips: [
          { countries: ['RU'], from: '2026-12-01', to: '2026-12-14' },
          { countries: ['JP'], from: 'soon', to: '2026-12-14' },
        ],
      },
      'trips[1].from',
      /not a date/,
    ],
    ['a trip with an unknown field', { trips: [{ countries: ['RU'], from: '2026-12-01', to: '2026-12-14', hotel: 'x' }] }, 'trips[0].hotel', /unknown field/],
    ['trips not a list', { trips: { countries: ['RU'] } }, 'trips', /must be a list/],
    ['a trip over in the traveler’s zone', { trips: [{ countries: ['RU'], from: '2026-10-01', to: '2026-10-31' }] }, 'trips[0].to', /in the past/],
    [
      'an unknown time zone',
      { timezone: 'Mars/Olympus', trips: [{ countries: ['RU'], from: '2026-12-01', to: '2026-12-14' }] },
      'timezone',
      /not a time zone name/,
    ],
    ['25:00-07:00', { quietHours: '25:00-07:00' }, 'quietHours', /not a time range/],
    ['no countries and no trips', { countries: [] }, 'countries', /at least one/],
  ])('refuses %s: 400 naming the field, nothing stored, nothing mailed', async (_name, extra, field, message) => {
    const r = await postJson({ email: 'vic@example.org', countries: ['FR'], ...extra });
    expect(r.status).toBe(400);
    const body = (await r.json()) as { error: string; field: string };
    expect(body.field).toBe(field);
    expect(body.error).toMatch(message);
    expect(body.error.startsWith(`${field}: `)).toBe(true);
    expect(await t.db.selectFrom('subscribers').select('id').execute()).toEqual([]);
    expect(await tripsOf()).toEqual([]);
    await smtp.settled();
    expect(smtp.messages).toEqual([]);
  });
});

describe('the subscribe and manage pages: preferences and trips', () => {
  async function getPage(pathname: string, jar: CookieJar) {
    const { res, html, csrf } = await getFormPage(web, pathname, jar);
    return { status: res.status, page: new Page(html), csrf };
  }
  const postForm = (pathname: string, body: URLSearchParams, jar: CookieJar) => postFormTo(web, pathname, body, jar);
  const input = (page: Page, id: string) => page.byId(id)!;
  const value = (page: Page, id: string) => input(page, id).attribs.value;
  const checked = (page: Page, name: string) => page.all('input', (el) => el.attribs.name === name && 'checked' in el.attribs).map((el) => el.attribs.value);
  const tripDetailsOpen = (page: Page) => 'open' in page.one('details', (el) => el.attribs.class === 'trip-countries').attribs;
  const errorOf = (page: Page, field: string) => {
    const el = page.byId(`${field}-error`);
    return el ? Page.text(el) : undefined;
  };

  async function confirmedTraveler(): Promise<{ id: number; manage: string }> {
    const input = parseSubscriber({ email: 'wes@example.org', countries: 'FR', timezone: 'Europe/Berlin', quietHours: '22:00-07:00' }, new Set());
    const { id } = await upsertSubscriber(t.db, input, { confirmed: true, now: clock.now() });
    const view = await getSubscriberView(t.db, id);
    return { id, manage: new URL(web.links.manage(id, view!.linkVersion)).pathname };
  }

  it('the subscribe page offers every preference and a trip with native date inputs', async () => {
    const { page } = await getPage('/', new CookieJar());
    expect(checked(page, 'emailFrequency')).toEqual(['immediate']);
    expect(checked(page, 'smsUrgency')).toEqual(['urgent']);
    expect(input(page, 'quietHours').attribs.name).toBe('quietHours');
    expect(input(page, 'timezone').attribs.list).toBe('timezones');
    expect(page.all('option', (el) => el.attribs.value === 'Asia/Tokyo')).toHaveLength(1);
    expect(input(page, 'tripFrom').attribs.type).toBe('date');
    expect(input(page, 'tripTo').attribs.type).toBe('date');
  });

  it('the trip’s countries are a second checkbox picker, folded, each box named by its country', async () => {
    const { page } = await getPage('/', new CookieJar());
    const boxes = page.all('input', (el) => el.attribs.name === 'tripCountries');
    expect(boxes.length).toBeGreaterThan(240);
    expect(boxes.every((el) => el.attribs.type === 'checkbox')).toBe(true);
    // Each box sits in its own label whose name is the country's (a level number may follow, named as such).
    const labelOf = (code: string) => Page.text(boxes.find((el) => el.attribs.value === code)!.parent as Element);
    expect(labelOf('GE')).toMatch(/^Georgia\b/);
    expect(labelOf('RU')).toMatch(/^Russia highest level now 4\b/);
    // Its own filter, list and status, apart from the destinations' (ids unique on the page).
    expect(input(page, 'tripCountries-filter').attribs['aria-controls']).toBe('tripCountries-list');
    expect(page.byId('tripCountries-list')!.attribs['data-picker-list']).toBeDefined();
    expect(page.all('div', (el) => 'data-country-picker' in el.attribs)).toHaveLength(2);
    const ids = [...page.html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
    expect(ids.length).toBe(new Set(ids).size);
    expect(Page.text(page.one('legend', (el) => Page.text(el) === 'Countries of the trip'))).toBe('Countries of the trip');
    // Folded until wanted: nothing is ticked on a new form.
    expect(tripDetailsOpen(page)).toBe(false);
  });

  it('dates without a country are refused on the trip’s countries, linked from the summary, folded list opened', async () => {
    const r = await submitForm(web, '/', '/subscribe', {
      email: 'abe@example.org',
      countries: 'FR',
      minLevel: '1',
      tripFrom: '2026-12-01',
      tripTo: '2026-12-14',
    });
    expect(r.status).toBe(400);
    const page = new Page(await r.text());
    expect(errorOf(page, 'tripCountries')).toBe('Error: Tick the countries of your trip.');
    expect(page.all('a', (el) => el.attribs.href === '#tripCountries')).toHaveLength(1);
    expect(page.byId('tripCountries')!.name).toBe('fieldset');
    expect(tripDetailsOpen(page)).toBe(true);
    expect(checked(page, 'countries')).toEqual(['FR']);
    expect(await t.db.selectFrom('subscribers').select('id').execute()).toEqual([]);
  });

  it('the subscribe form refuses a bad zone, 25:00-07:00 and a last day before the first, each on its field, keeps what was typed, stores nothing', async () => {
    const r = await submitForm(web, '/', '/subscribe', {
      email: 'xan@example.org',
      countries: 'FR',
      minLevel: '1',
      emailFrequency: 'daily',
      smsUrgency: 'all',
      quietHours: '25:00-07:00',
      timezone: 'Mars/Olympus',
      tripCountries: 'RU',
      tripFrom: '2026-12-14',
      tripTo: '2026-12-01',
    });
    expect(r.status).toBe(400);
    const page = new Page(await r.text());
    expect(errorOf(page, 'quietHours')).toMatch(/such as 22:00-07:00; “25:00-07:00” is not/);
    expect(errorOf(page, 'timezone')).toMatch(/We do not know the time zone “Mars\/Olympus”/);
    expect(errorOf(page, 'tripTo')).toMatch(/The last day is before the first day/);
    expect(input(page, 'quietHours').attribs['aria-invalid']).toBe('true');
    // What was typed comes back.
    expect(value(page, 'quietHours')).toBe('25:00-07:00');
    expect(value(page, 'timezone')).toBe('Mars/Olympus');
    // The trip's ticked country stays ticked, and its folded list opens to show it.
    expect(checked(page, 'tripCountries')).toEqual(['RU']);
    expect(tripDetailsOpen(page)).toBe(true);
    expect([value(page, 'tripFrom'), value(page, 'tripTo')]).toEqual(['2026-12-14', '2026-12-01']);
    expect(checked(page, 'emailFrequency')).toEqual(['daily']);
    expect(checked(page, 'smsUrgency')).toEqual(['all']);
    expect(await t.db.selectFrom('subscribers').select('id').execute()).toEqual([]);
  });

  it('a trip ticked on the subscribe form is stored at confirmation, with the preferences', async () => {
    const r = await submitForm(web, '/', '/subscribe', {
      email: 'yul@example.org',
      minLevel: '1',
      emailFrequency: 'weekly',
      smsUrgency: 'urgent',
      quietHours: '',
      timezone: 'Asia/Tokyo',
      tripCountries: ['RU', 'GE'],
      tripFrom: '2026-12-01',
      tripTo: '2026-12-14',
    });
    expect(r.status).toBe(202);
    const confirmed = await (await fetch(confirmLink(await mailTo('yul@example.org', 1)))).text();
    // The page that says the alerts are on also says how often and which trip it took.
    expect(confirmed).toContain('How: In one email a week, on Mondays (urgent alerts still at once).');
    expect(confirmed).toMatch(/<h2>Your trips<\/h2>[\s\S]*<strong>Georgia, Russia<\/strong>: 2026-12-01 to 2026-12-14/);
    expect((await mailTo('yul@example.org', 2)).subject).toBe('Your pre-trip briefing: Georgia, Russia');
    const s = await t.db.selectFrom('subscribers').select(['email_frequency', 'timezone']).executeTakeFirstOrThrow();
    expect(s).toEqual({ email_frequency: 'weekly', timezone: 'Asia/Tokyo' });
  });

  it('the manage page shows the preferences, changes the frequency, adds a trip (briefing mailed) and lists past trips as past', async () => {
    const { id, manage } = await confirmedTraveler();
    await t.db
      .insertInto('trips')
      .values({ subscriber_id: id, countries: ['IT'], first_day: '2026-08-01', last_day: '2026-08-10', created_at: clock.now() })
      .execute();
    const jar = new CookieJar();
    const before = await getPage(manage, jar);
    expect(checked(before.page, 'emailFrequency')).toEqual(['immediate']);
    expect(value(before.page, 'quietHours')).toBe('22:00-07:00');
    expect(value(before.page, 'timezone')).toBe('Europe/Berlin');
    expect(Page.text(before.page.one('li', (el) => el.attribs.class === 'trip trip-past'))).toMatch(/Italy: 2026-08-01 to 2026-08-10 \(past\)/);
    const r = await postForm(
      manage,
      form({
        _csrf: before.csrf,
        email: 'wes@example.org',
        countries: 'FR',
        minLevel: '1',
        emailFrequency: 'daily',
        smsUrgency: 'urgent',
        quietHours: '22:00-07:00',
        timezone: 'Europe/Berlin',
        tripCountries: 'RU',
        tripFrom: '2026-12-01',
        tripTo: '2026-12-14',
      }),
      jar,
    );
    expect(r.status).toBe(200);
    const after = new Page(await r.text());
    expect(checked(after, 'emailFrequency')).toEqual(['daily']);
    expect(Page.text(after.one('ul', (el) => el.attribs.class === 'trips'))).toMatch(
      /Italy: 2026-08-01 to 2026-08-10 \(past\).*Russia: 2026-12-01 to 2026-12-14 \(upcoming\)/,
    );
    expect((await mailTo('wes@example.org', 1)).subject).toBe('Your pre-trip briefing: Russia');
    expect((await t.db.selectFrom('subscribers').select('email_frequency').executeTakeFirstOrThrow()).email_frequency).toBe('daily');
  });

  it('the manage page refuses 25:00-07:00 and an unknown trip country code on their fields, keeps what was typed, changes nothing', async () => {
    const { manage } = await confirmedTraveler();
    const jar = new CookieJar();
    const { csrf } = await getPage(manage, jar);
    const r = await postForm(
      manage,
      form({
        _csrf: csrf,
        email: 'wes@example.org',
        countries: 'FR',
        minLevel: '1',
        emailFrequency: 'weekly',
        quietHours: '25:00-07:00',
        timezone: 'Europe/Berlin',
        tripCountries: ['GE', 'XX'],
        tripFrom: '2026-12-01',
        tripTo: '2026-12-14',
      }),
      jar,
    );
    expect(r.status).toBe(400);
    const page = new Page(await r.text());
    expect(errorOf(page, 'quietHours')).toBeDefined();
    expect(errorOf(page, 'tripCountries')).toBe('Error: We do not know XX. Choose the trip’s countries from the list.');
    expect(input(page, 'tripCountries').attribs['aria-invalid']).toBe('true');
    expect(value(page, 'quietHours')).toBe('25:00-07:00');
    // The known country ticked stays ticked; the unknown code is not offered back.
    expect(checked(page, 'tripCountries')).toEqual(['GE']);
    expect(checked(page, 'emailFrequency')).toEqual(['weekly']);
    const s = await t.db.selectFrom('subscribers').select(['email_frequency', 'quiet_start']).executeTakeFirstOrThrow();
    expect(s).toEqual({ email_frequency: 'immediate', quiet_start: '22:00:00' });
    expect(await tripsOf()).toEqual([]);
    await smtp.settled();
    expect(smtp.messages).toEqual([]);
  });

  it('a trip is removed by its own button; another subscriber’s trip cannot be', async () => {
    const { id, manage } = await confirmedTraveler();
    const other = await upsertSubscriber(t.db, parseSubscriber({ email: 'zed@example.org', countries: 'FR' }, new Set()), {
      confirmed: true,
      now: clock.now(),
    });
    const [mine, theirs] = await t.db
      .insertInto('trips')
      .values([
        { subscriber_id: id, countries: ['JP'], first_day: '2026-12-01', last_day: '2026-12-10', created_at: clock.now() },
        { subscriber_id: other.id, countries: ['JP'], first_day: '2026-12-01', last_day: '2026-12-10', created_at: clock.now() },
      ])
      .returning('id')
      .execute();
    const jar = new CookieJar();
    const { csrf, page } = await getPage(manage, jar);
    expect(page.all('form', (el) => el.attribs.action === `${manage}/trips/${mine!.id}/remove`)).toHaveLength(1);
    const removeOther = await postForm(`${manage}/trips/${theirs!.id}/remove`, form([['_csrf', csrf]]), jar);
    expect(removeOther.status).toBe(303);
    const removeMine = await postForm(`${manage}/trips/${mine!.id}/remove`, form([['_csrf', csrf]]), jar);
    expect(removeMine.status).toBe(303);
    expect(removeMine.headers.get('location')).toBe(manage);
    expect((await t.db.selectFrom('trips').select('subscriber_id').execute()).map((r) => r.subscriber_id)).toEqual([other.id]);
    // Without the CSRF token: refused.
    expect((await postForm(`${manage}/trips/${theirs!.id}/remove`, form([]), jar)).status).toBe(403);
  });
});
