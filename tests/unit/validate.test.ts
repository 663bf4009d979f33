import { describe, expect, it } from 'vitest';
import { parseSubscriberCsv } from '../../src/subscriptions/csv.ts';
import {
  InputError,
  parseChannels,
  parseCountries,
  parseEmail,
  parseFeeds,
  parseKeywords,
  parseMinLevel,
  parsePhone,
  parsePreferences,
  parseSubscriber,
} from '../../src/subscriptions/validate.ts';

/**
 * Subscriber input validation (docs/contract.md, "Subscriptions and matching" and "Command line"), shared by `subscribers add`, the
 * CSV import and the web form: each parser returns the normalised value or
 * throws an InputError that names the field, phrased for a one-line refusal.
 */

function refusal(fn: () => unknown): InputError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return e as InputError;
  }
  throw new Error('expected an InputError, got a value');
}

function expectRefused(fn: () => unknown, field: string, reason: RegExp): void {
  const e = refusal(fn);
  expect(e.field).toBe(field);
  expect(e.message.startsWith(`${field}: `)).toBe(true);
  expect(e.message).toMatch(reason);
  expect(e.message).not.toContain('\n');
}

describe('parseEmail', () => {
  it.each([
    ['Traveler@Example.ORG', 'traveler@example.org'],
    ['  alice@example.org  ', 'alice@example.org'],
    ['user+alerts@example.co.uk', 'user+alerts@example.co.uk'],
    ['first.last@sub.example.com', 'first.last@sub.example.com'],
  ])('accepts %j as %j', (input, expected) => {
    expect(parseEmail(input)).toBe(expected);
  });

  it.each([
    [undefined, /is required/],
    ['', /is required/],
    ['   ', /is required/],
    [42, /is required/],
    ['not-an-email', /"not-an-email" is not a valid email address/],
    ['a@b', /"a@b" is not a valid email address/],
    ['a b@example.org', /is not a valid email address/],
    ['a@@example.org', /is not a valid email address/],
    ['@example.org', /is not a valid email address/],
    [`${'x'.repeat(250)}@example.org`, /is not a valid email address/],
  ])('refuses %j', (input, reason) => {
    expectRefused(() => parseEmail(input), 'email', reason);
  });
});

describe('parsePhone (E.164, mobile numbers only)', () => {
  it.each([
    [undefined, null],
    [null, null],
    ['', null],
    ['+447911123456', '+447911123456'],
    ['+44 7911 123456', '+447911123456'],
    ['+44 (0)7911 123456', '+447911123456'],
    ['+1 (415) 555-2671', '+14155552671'],
    ['+33 6 12 34 56 78', '+33612345678'],
    ['+33-6-12-34-56-78', '+33612345678'],
    ['  +49 151 12345678 ', '+4915112345678'],
    ['+380 50 123 4567', '+380501234567'],
    ['+61 412 345 678', '+61412345678'],
  ])('accepts %j as %j (formatting normalised)', (input, expected) => {
    expect(parsePhone(input)).toBe(expected);
  });

  it.each([
    ['07911123456', /"07911123456" must be in international format/],
    ['447911123456', /must be in international format, starting with \+ and the country code/],
    ['(415) 555-2671', /must be in international format/],
    ['abc', /must be in international format/],
    ['+1202555', /"\+1202555" is not a valid phone number/],
    ['+999123456', /is not a valid phone number/],
    ['+44 7911', /is not a valid phone number/],
    ['+447700900123', /is not a valid phone number/], // Ofcom's drama range: never assigned
  ])('refuses %j', (input, reason) => {
    expectRefused(() => parsePhone(input), 'phone', reason);
  });

  it.each([
    ['+44 20 7946 0000', 'London fixed line'],
    ['+33 1 23 45 67 89', 'Paris fixed line'],
    ['+49 30 123456', 'Berlin fixed line'],
    ['+1 800 555 0199', 'US toll-free'],
  ])('refuses %j (%s): alerts are texts', (input) => {
    expectRefused(() => parsePhone(input), 'phone', /is not a mobile number/);
  });

  it('refuses a non-string', () => {
    expectRefused(() => parsePhone(447911123456), 'phone', /must be a string/);
  });
});

describe('parseCountries', () => {
  it.each([
    ['all', null],
    ['ALL', null],
    [' All ', null],
    ['RU', ['RU']],
    ['ru,ua', ['RU', 'UA']],
    ['UA;ru', ['RU', 'UA']],
    ['ua ru', ['RU', 'UA']],
    ['RU, UA;RU ru', ['RU', 'UA']],
    [
      ['fr', 'DE'],
      ['DE', 'FR'],
    ],
    ['Russia;japan', ['JP', 'RU']],
  ])('%j → %j', (input, expected) => {
    expect(parseCountries(input)).toEqual(expected);
  });

  it.each([
    ['XX,RU', /unknown country code: XX$/],
    ['XX zz', /unknown country codes: XX, ZZ$/],
    ['uk', /unknown country code: UK \(did you mean GB, United Kingdom\?\)$/],
    ['RUS', /unknown country code: RUS \(did you mean RU, Russia\?\)$/],
    ['Narnia', /unknown country code: Narnia$/],
    ['all,RU', /"all" cannot be combined with country codes/],
    ['', /give at least one ISO 3166-1 alpha-2 code, or "all"/],
    [' ; ', /give at least one/],
    [undefined, /give at least one/],
  ])('refuses %j', (input, reason) => {
    expectRefused(() => parseCountries(input), 'countries', reason);
  });
});

describe('parseMinLevel', () => {
  it.each([
    [undefined, 1],
    [null, 1],
    ['', 1],
    ['1', 1],
    ['3', 3],
    [' 2 ', 2],
    [4, 4],
  ])('%j → %j', (input, expected) => {
    expect(parseMinLevel(input)).toBe(expected);
  });

  it.each([['0'], ['5'], ['-1'], ['2.5'], [2.5], ['three'], ['3a'], [0], [5], [true]])('refuses %j', (input) => {
    expectRefused(() => parseMinLevel(input), 'minLevel', /must be a whole number from 1 to 4/);
  });
});

describe('parseKeywords', () => {
  it.each([
    [undefined, []],
    ['', []],
    ['Concert', ['concert']],
    ['Concert, FESTIVAL', ['concert', 'festival']],
    ['strike;protest demonstration', ['strike', 'protest', 'demonstration']],
    ['Kyiv kyiv KYIV', ['kyiv']],
    ['МИТИНГ', ['митинг']],
  ])('%j → %j (lowercased, deduplicated)', (input, expected) => {
    expect(parseKeywords(input)).toEqual(expected);
  });

  it('refuses more than 20 keywords', () => {
    const words = Array.from({ length: 21 }, (_, i) => `word${i}`).join(',');
    expect(parseKeywords(words.split(',').slice(0, 20).join(','))).toHaveLength(20);
    expectRefused(() => parseKeywords(words), 'keywords', /at most 20 keywords/);
  });

  it('refuses a keyword over 60 characters', () => {
    expect(parseKeywords('k'.repeat(60))).toEqual(['k'.repeat(60)]);
    expectRefused(() => parseKeywords(`ok,${'k'.repeat(61)}`), 'keywords', /too long \(60 characters at most\)/);
  });
});

describe('parseChannels', () => {
  const phone = '+447911123456';
  it.each([
    [undefined, null, ['email']],
    ['', null, ['email']],
    ['email', null, ['email']],
    ['EMAIL', null, ['email']],
    ['email;email', null, ['email']],
    ['email,sms', phone, ['email', 'sms']],
    ['sms email', phone, ['sms', 'email']],
    ['SMS', phone, ['sms']],
  ])('%j with phone %j → %j', (input, ph, expected) => {
    expect(parseChannels(input, ph)).toEqual(expected);
  });

  it.each([
    ['sms', /sms needs a phone number/],
    ['email,sms', /sms needs a phone number/],
  ])('refuses %j without a phone', (input, reason) => {
    expectRefused(() => parseChannels(input, null), 'channels', reason);
  });

  it.each([
    ['fax', /unknown channel fax \(expected email, sms\)/],
    ['email,push', /unknown channel push/],
  ])('refuses %j', (input, reason) => {
    expectRefused(() => parseChannels(input, phone), 'channels', reason);
  });
});

describe('parseFeeds', () => {
  const known = new Set(['uk-fcdo', 'us-state-dept', 'us-embassy-russia']);
  it.each([
    [undefined, null],
    ['', null],
    ['uk-fcdo', ['uk-fcdo']],
    ['us-state-dept uk-fcdo;uk-fcdo', ['uk-fcdo', 'us-state-dept']],
  ])('%j → %j', (input, expected) => {
    expect(parseFeeds(input, known)).toEqual(expected);
  });

  it.each([
    ['nope', /unknown feed: nope$/],
    ['uk-fcdo,a,b', /unknown feeds: a, b$/],
    ['UK-FCDO', /unknown feed: UK-FCDO$/],
  ])('refuses %j', (input, reason) => {
    expectRefused(() => parseFeeds(input, known), 'feeds', reason);
  });
});

describe('parseSubscriber', () => {
  it('defaults: every country, level 1, no keywords, email only', () => {
    expect(parseSubscriber({ email: 'A@Example.org' }, new Set())).toEqual({
      email: 'a@example.org',
      phone: null,
      countries: null,
      feeds: null,
      minLevel: 1,
      keywords: [],
      channels: ['email'],
    });
  });

  it('throws the first problem, naming its field', () => {
    expectRefused(() => parseSubscriber({ email: 'bad', countries: 'XX' }, new Set()), 'email', /"bad"/);
    expectRefused(() => parseSubscriber({ email: 'a@example.org', phone: '+44 20 7946 0000', channels: 'sms' }, new Set()), 'phone', /not a mobile/);
    expectRefused(() => parseSubscriber({ email: 'a@example.org', channels: 'sms' }, new Set()), 'channels', /sms needs a phone number/);
  });
});

describe('parseSubscriberCsv', () => {
  const known = new Set(['uk-fcdo']);
  const HEADER = 'email,phone,countries,min_level,keywords,channels';

  it('imports good rows and reports every refused row with its line number and reason', () => {
    const text = [
      HEADER, //                                                   line 1
      'alice@example.org,,RU;UA,3,concert festival,email', //     line 2
      'not-an-email,,RU,,,', //                                    line 3
      'bob@example.org,+49 151 12345678,DE FR,,,', //              line 4
      '', //                                                       line 5 (skipped)
      'carol@example.org,,XX,,,', //                               line 6
      'Alice@Example.org,,FR,,,', //                               line 7: duplicate of line 2
      'dave@example.org,,,5,,', //                                 line 8
      'erin@example.org,,,,,sms', //                               line 9
      'frank@example.org,+44 20 7946 0000,,,,', //                 line 10
      'grace@example.org,,all,2,,email', //                        line 11
    ].join('\n');
    const r = parseSubscriberCsv(text, known);
    expect(r.rows.map((x) => [x.line, x.input.email])).toEqual([
      [2, 'alice@example.org'],
      [4, 'bob@example.org'],
      [11, 'grace@example.org'],
    ]);
    expect(r.rows[0]!.input).toEqual({
      email: 'alice@example.org',
      phone: null,
      countries: ['RU', 'UA'],
      feeds: null,
      minLevel: 3,
      keywords: ['concert', 'festival'],
      channels: ['email'],
    });
    // A row with a phone and no channels gets both: that is why the number is there.
    expect(r.rows[1]!.input).toMatchObject({ phone: '+4915112345678', countries: ['DE', 'FR'], channels: ['email', 'sms'] });
    expect(r.rows[2]!.input).toMatchObject({ countries: null, minLevel: 2 });
    expect(r.refused).toEqual([
      { line: 3, reason: 'email: "not-an-email" is not a valid email address' },
      { line: 6, reason: 'countries: unknown country code: XX' },
      { line: 7, reason: 'email: alice@example.org already appears on line 2' },
      { line: 8, reason: 'minLevel: must be a whole number from 1 to 4' },
      { line: 9, reason: 'channels: sms needs a phone number' },
      { line: 10, reason: 'phone: "+44 20 7946 0000" is not a mobile number' },
    ]);
  });

  it('accepts a byte-order mark, CRLF line ends, a header in any case and order, and only the email column', () => {
    const bom = parseSubscriberCsv('\uFEFFemail,countries\r\nx@example.org,ru\r\n\r\ny@example.org,zz\r\n', known);
    expect(bom.rows).toEqual([{ line: 2, input: expect.objectContaining({ email: 'x@example.org', countries: ['RU'] }) }]);
    expect(bom.refused).toEqual([{ line: 4, reason: 'countries: unknown country code: ZZ' }]);

    const reordered = parseSubscriberCsv(' Channels , EMAIL ,Phone\nemail;sms,z@example.org,+447911123456\n', known);
    expect(reordered.rows[0]!.input).toMatchObject({ email: 'z@example.org', phone: '+447911123456', channels: ['email', 'sms'], countries: null });

    const only = parseSubscriberCsv('email\nsolo@example.org\n', known);
    expect(only.rows[0]!.input).toEqual({
      email: 'solo@example.org',
      phone: null,
      countries: null,
      feeds: null,
      minLevel: 1,
      keywords: [],
      channels: ['email'],
    });
  });

  it.each([
    ['LF', '\n'],
    ['CRLF', '\r\n'],
  ])('a quoted cell spanning lines (%s): each row is reported at the line where it starts', (_name, nl) => {
    const text = [
      'email,countries,keywords', //                         line 1
      'a@example.org,RU,"strike', //                         line 2 (record spans 2–4)
      'protest', //                                           line 3
      'riot"', //                                             line 4
      '', //                                                  line 5
      'b@example.org,XX,', //                                 line 6
      'c@example.org,"RU', //                                 line 7 (record spans 7–8)
      'ZZ",', //                                              line 8
      'd@example.org,QQ,', //                                 line 9
    ].join(nl);
    const r = parseSubscriberCsv(text, known);
    expect(r.rows).toEqual([{ line: 2, input: expect.objectContaining({ email: 'a@example.org', keywords: ['strike', 'protest', 'riot'] }) }]);
    expect(r.refused).toEqual([
      { line: 6, reason: 'countries: unknown country code: XX' },
      { line: 7, reason: 'countries: unknown country code: ZZ' },
      { line: 9, reason: 'countries: unknown country code: QQ' },
    ]);
  });

  it('splits list fields on semicolons or spaces (commas need quoting) and checks feeds', () => {
    const r = parseSubscriberCsv(
      [
        'email,countries,keywords,feeds',
        'a@example.org,RU;UA,strike;Protest,uk-fcdo',
        'b@example.org,RU UA FR,kyiv odesa,',
        'c@example.org,"RU,UA",,',
        'd@example.org,RU,,nope',
      ].join('\n'),
      known,
    );
    expect(r.rows.map((x) => [x.input.countries, x.input.keywords, x.input.feeds])).toEqual([
      [['RU', 'UA'], ['strike', 'protest'], ['uk-fcdo']],
      [['FR', 'RU', 'UA'], ['kyiv', 'odesa'], null],
      [['RU', 'UA'], [], null],
    ]);
    expect(r.refused).toEqual([{ line: 5, reason: 'feeds: unknown feed: nope' }]);
  });

  it('refuses a file with an unknown column, naming it', () => {
    expectRefused(() => parseSubscriberCsv('email,colour\nx@example.org,red\n', known), 'csv', /unknown column: colour$/);
    expectRefused(() => parseSubscriberCsv('email,colour,size\nx@example.org,red,L\n', known), 'csv', /unknown columns: colour, size$/);
  });

  it('refuses a file without an email column', () => {
    expectRefused(() => parseSubscriberCsv('phone,countries\n+447911123456,RU\n', known), 'csv', /the header row has no "email" column/);
  });

  it('refuses malformed CSV with a one-line reason', () => {
    expectRefused(() => parseSubscriberCsv('email,countries\n"x@example.org,RU\n', known), 'csv', /quote not closed.*line 2/i);
  });

  it('an empty file imports nothing', () => {
    expect(parseSubscriberCsv('', known)).toEqual({ rows: [], refused: [] });
  });
});

describe('traveler preferences', () => {
  it('accepts each preference and leaves out the ones not given', () => {
    expect(parsePreferences({})).toEqual({});
    expect(parsePreferences({ emailFrequency: 'Weekly', sms: 'all', quietHours: '22:00-7:00', timezone: 'Asia/Tokyo' })).toEqual({
      emailFrequency: 'weekly',
      sms: 'all',
      quietHours: { start: '22:00', end: '07:00' },
      timezone: 'Asia/Tokyo',
    });
    expect(parsePreferences({ quietHours: 'none', timezone: '' })).toEqual({ quietHours: null, timezone: null });
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['an hour past 23', { quietHours: '25:00-07:00' }, /^quietHours: "25:00-07:00" is not a time range/],
    ['minutes past 59', { quietHours: '22:60-07:00' }, /^quietHours: /],
    ['no range', { quietHours: '22:00' }, /^quietHours: /],
    ['an empty range', { quietHours: '07:00-07:00' }, /^quietHours: the start and the end must differ/],
    ['an unknown zone', { timezone: 'Mars/Olympus_Mons' }, /^timezone: "Mars\/Olympus_Mons" is not a time zone name/],
    ['not a zone at all', { timezone: '../../etc/passwd' }, /^timezone: /],
    ['an unknown frequency', { emailFrequency: 'hourly' }, /^emailFrequency: must be one of immediate, daily, weekly/],
    ['an unknown SMS choice', { sms: 'none' }, /^sms: must be one of urgent, all/],
  ])('refuses %s, naming the field', (_name, raw, message) => {
    expect(() => parsePreferences(raw)).toThrow(message);
  });

  it('the CSV import reads the optional preference columns and refuses a bad row alone', () => {
    const csv = [
      'email,countries,email_frequency,sms,quiet_hours,timezone',
      'a@example.org,RU,daily,all,22:00-07:00,Europe/Berlin',
      'b@example.org,RU,,,25:00-07:00,',
      'c@example.org,RU,,,,',
    ].join('\n');
    const parsed = parseSubscriberCsv(csv, new Set());
    expect(parsed.rows.map((r) => [r.input.email, r.input.preferences])).toEqual([
      ['a@example.org', { emailFrequency: 'daily', sms: 'all', quietHours: { start: '22:00', end: '07:00' }, timezone: 'Europe/Berlin' }],
      ['c@example.org', undefined],
    ]);
    expect(parsed.refused).toEqual([{ line: 3, reason: expect.stringMatching(/^quietHours: /) }]);
  });
});
