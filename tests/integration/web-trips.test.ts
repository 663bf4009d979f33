import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { ManualClock } from '../helpers/poll.ts';
import { startSmtpServer, type ReceivedMail, type TestSmtpServer } from '../helpers/smtp.ts';
import { startWebApp, waitFor, type WebApp } from '../helpers/web.ts';

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
    expect((await fetch(confirmLink(confirmMail))).status).toBe(200);
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
