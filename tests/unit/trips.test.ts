import { describe, expect, it } from 'vitest';
import { renderBriefing } from '../../src/briefings/render.ts';
import { parseTrip, parseTrips } from '../../src/subscriptions/trip-validate.ts';
import { addDays, daysBetween, isCalendarDate, localDate, tripCountries, tripPhase } from '../../src/subscriptions/trip-window.ts';

const links = { manage: 'https://a.example/manage/m', unsubscribe: 'https://a.example/unsubscribe/u', unsubscribeOneClick: 'https://a.example/unsubscribe/u' };

describe('trip dates', () => {
  it('local dates follow the zone; days are added without one', () => {
    const at = new Date('2026-11-16T23:30:00Z');
    expect(localDate(at, 'UTC')).toBe('2026-11-16');
    expect(localDate(at, 'Europe/Berlin')).toBe('2026-11-17');
    expect(localDate(at, 'America/Los_Angeles')).toBe('2026-11-16');
    expect(addDays('2026-12-01', -14)).toBe('2026-11-17');
    expect(addDays('2028-02-28', 1)).toBe('2028-02-29');
    expect(addDays('2026-03-28', 2)).toBe('2026-03-30');
    expect(daysBetween('2026-12-01', '2026-12-14')).toBe(13);
    expect([isCalendarDate('2027-02-29'), isCalendarDate('2028-02-29'), isCalendarDate('2026-1-5'), isCalendarDate('2026-13-01')]).toEqual([
      false,
      true,
      false,
      false,
    ]);
  });

  it.each<[string, string]>([
    ['2026-11-16', 'upcoming'],
    ['2026-11-17', 'followed'],
    ['2026-12-14', 'followed'],
    ['2026-12-15', 'past'],
  ])('a 1–14 December trip with 14 lead days, on %s: %s', (today, phase) => {
    expect(tripPhase({ firstDay: '2026-12-01', lastDay: '2026-12-14' }, today, 14)).toBe(phase);
  });

  it('the countries of the trips in their window only', () => {
    const trips = [
      { countries: ['RU', 'GE'], firstDay: '2026-12-01', lastDay: '2026-12-14' },
      { countries: ['JP'], firstDay: '2027-03-01', lastDay: '2027-03-10' },
    ];
    expect([...tripCountries(trips, '2026-12-05', 14)].sort()).toEqual(['GE', 'RU']);
    expect([...tripCountries(trips, '2027-02-20', 14)]).toEqual(['JP']);
    expect([...tripCountries(trips, '2026-12-05', 0)].sort()).toEqual(['GE', 'RU']);
  });
});

describe('trip input', () => {
  const today = '2026-11-01';
  it('accepts names and codes, sorts and de-duplicates them', () => {
    expect(parseTrip({ countries: 'Russia, ge, RU', from: '2026-12-01', to: '2026-12-01' }, today)).toEqual({
      countries: ['GE', 'RU'],
      from: '2026-12-01',
      to: '2026-12-01',
    });
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['last day before first', { to: '2026-11-30' }, /^to: the last day \(2026-11-30\) is before the first day/],
    ['already over', { from: '2026-10-01', to: '2026-10-31' }, /^to: .* is in the past$/],
    ['ten years away', { from: '2036-12-01', to: '2036-12-14' }, /^from: .* more than two years away/],
    ['just over two years away', { from: addDays(today, 732), to: addDays(today, 740) }, /^from: /],
    ['longer than a year', { to: '2027-12-02' }, /^to: a trip lasts a year at most$/],
    ['sixteen countries', { countries: 'AD AE AF AG AL AM AO AR AT AU AZ BA BB BD BE BF' }, /^countries: at most 15 countries/],
    ['an unknown country', { countries: 'RU XX' }, /^countries: unknown country code: XX$/],
    ['"all"', { countries: 'all' }, /^countries: a trip goes to named countries/],
    ['no first day', { from: '' }, /^from: is required/],
    ['a date that does not exist', { to: '2027-02-29' }, /^to: "2027-02-29" is not a date/],
  ])('refuses %s, naming the field', (_name, over, message) => {
    expect(() => parseTrip({ countries: 'RU', from: '2026-12-01', to: '2026-12-14', ...over }, today)).toThrow(message);
  });

  it('exactly two years ahead and exactly a year long are accepted', () => {
    expect(parseTrip({ countries: 'RU', from: addDays(today, 731), to: addDays(today, 731) }, today).from).toBe('2028-11-01');
    expect(parseTrip({ countries: 'RU', from: '2026-12-01', to: '2027-12-01' }, today).to).toBe('2027-12-01');
  });

  it('the API list names the trip and field at fault', () => {
    expect(parseTrips(undefined, today)).toEqual([]);
    expect(() =>
      parseTrips(
        [
          { countries: ['RU'], from: '2026-12-01', to: '2026-12-14' },
          { countries: ['RU'], from: '2026-12-01', to: 'x' },
        ],
        today,
      ),
    ).toThrow(/^trips\[1\]\.to: "x" is not a date/);
    expect(() => parseTrips([null], today)).toThrow(/^trips\[0\]: must be an object/);
    expect(() => parseTrips('RU', today)).toThrow(/^trips: must be a list/);
    expect(() =>
      parseTrips(
        Array.from({ length: 11 }, () => ({ countries: 'RU', from: '2026-12-01', to: '2026-12-14' })),
        today,
      ),
    ).toThrow(/^trips: at most 10/);
  });
});

describe('the briefing email', () => {
  const hostile = {
    government: 'United Kingdom',
    level: 3,
    levelText: 'Advise against <img src=x onerror=alert(1)> travel\u202e',
    title: 't',
    link: 'javascript:alert(1)',
    updatedAt: new Date('2026-11-01T00:00:00Z'),
    publishedAt: new Date('2021-02-10T15:00:00Z') as Date | null,
  };
  const mail = renderBriefing(
    {
      trips: [{ countries: ['RU'], from: '2026-12-01', to: '2026-12-14' }],
      leadDays: 14,
      today: '2026-11-10',
      eventDays: 30,
      destinations: [
        {
          country: 'RU',
          governments: [
            hostile,
            { ...hostile, government: 'United States', level: 4, levelText: 'Do Not Travel', link: 'https://travel.state.gov/ru', publishedAt: null },
          ],
          events: [
            {
              government: 'United States',
              title: 'Alert <script>',
              level: 4,
              previousLevel: 3,
              link: 'https://x.example/a?b=1&c=2',
              createdAt: new Date('2026-10-30T10:00:00Z'),
            },
          ],
          countryPage: 'https://a.example/countries/RU',
        },
      ],
    },
    links,
    { listId: 'a.example' },
  );

  it('lists governments in the usual order, levels in words, the window and the changes', () => {
    expect(mail.subject).toBe('Your pre-trip briefing: Russia');
    expect(mail.text.indexOf('* United States: Level 4')).toBeLessThan(mail.text.indexOf('* United Kingdom: Level 3'));
    expect(mail.text).toContain('from 17 Nov 2026 (14 days before you leave)');
    expect(mail.text).toContain('30 Oct 2026 — United States: Alert <script> (Level 3 → 4)');
    expect(mail.headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
  });

  it('dates each government’s advice by the government’s own date; ours only when it gives none, said to be ours', () => {
    expect(mail.text).toContain('Dated 10 Feb 2021');
    expect(mail.text).toContain('Date not given; recorded here 1 Nov 2026');
    expect(mail.html).toContain('Dated 10 Feb 2021');
    expect(mail.text + mail.html).not.toMatch(/updated 1 Nov 2026/i);
  });

  it('escapes feed text, drops bidi controls and non-http links', () => {
    expect(mail.html).not.toMatch(/<img|<script/);
    expect(mail.html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(mail.html).toContain('href="https://x.example/a?b=1&amp;c=2"');
    expect(mail.html).not.toContain('javascript:');
    expect(mail.text).not.toContain('javascript:');
    expect(mail.text + mail.html).not.toContain('\u202e');
  });

  it('a window that has already begun runs "from today", not from a past date', () => {
    const render = (today: string) =>
      renderBriefing({ trips: [{ countries: ['RU'], from: '2026-12-01', to: '2026-12-14' }], leadDays: 14, today, eventDays: 30, destinations: [] }, links, {
        listId: 'a.example',
      }).text;
    expect(render('2026-11-16')).toContain('from 17 Nov 2026 (14 days before you leave)');
    for (const today of ['2026-11-17', '2026-11-30']) {
      expect(render(today)).toContain('We send you alerts about these places from today until your last day');
      expect(render(today)).not.toContain('17 Nov 2026');
    }
  });
});
