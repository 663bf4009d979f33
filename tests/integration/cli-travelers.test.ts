import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fanOut } from '../../src/delivery/repository.ts';
import { addDays, localDate } from '../../src/subscriptions/trip-window.ts';
import { cli, expectOneLineFailure, jsonArray, ok, type Env } from '../helpers/cli.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { insertEvent } from '../helpers/events.ts';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.ts';

/**
 * The travelers' commands in this process through `main` (helpers/cli.ts),
 * against the test database and the in-process SMTP server: `subscribers add`
 * with the preference options, `trips add|list|remove` (refusals store
 * nothing; a confirmed subscriber's trip mails the pre-trip briefing at once),
 * and `digest`. The tests build on each other in order. The command line
 * runs on the system clock, so trip dates are relative to today.
 */

let t: TestDatabase;
let smtp: TestSmtpServer;
let work: string;
let env: Env;
const run = (...args: string[]) => cli(args, env);
const TZ = 'Europe/Berlin';
const today = localDate(new Date(), TZ);
const FROM = addDays(today, 20);
const TO = addDays(today, 30);

beforeAll(async () => {
  t = await openTestDatabase();
  smtp = await startSmtpServer();
  work = mkdtempSync(path.join(tmpdir(), 'aa-travelers-'));
  const configDir = path.join(work, 'config');
  mkdirSync(configDir);
  writeFileSync(path.join(configDir, 'feeds.yaml'), 'feeds:\n  - id: us-state-dept\n    url: http://127.0.0.1:9/never-polled.xml\n    source: us-state-dept\n');
  env = {
    CONFIG_DIR: configDir,
    ...t.cliEnv,
    DATA_DIR: t.env.DATA_DIR ?? path.join(work, 'data'),
    SMTP_URL: smtp.url,
    MAIL_FROM: 'Advisory Alerts <alerts@example.org>',
    PUBLIC_BASE_URL: 'https://alerts.example.org',
  };
  // What the briefing shows for Russia: two governments' current levels (one
  // with hostile markup in its wording), an event of last week and one too old to list.
  const now = new Date();
  await t.db
    .insertInto('feeds')
    .values([
      { id: 'us-state-dept', name: 'U.S. State Department travel advisories', url: 'https://travel.state.gov/rss', source: 'us-state-dept' },
      { id: 'uk-fcdo-ru', name: 'UK FCDO — Russia', url: 'https://www.gov.uk/foreign-travel-advice/russia.atom', source: 'uk-fcdo' },
    ])
    .execute();
  const advisory = (feed: string, level: number, levelText: string, title: string, link: string) => ({
    feed_id: feed,
    key: `${feed}-ru`,
    countries: ['RU'],
    level,
    level_text: levelText,
    title,
    body: 'text',
    link,
    fingerprint: `${feed}-fp`,
    first_seen_at: now,
    last_seen_at: now,
    changed_at: new Date('2026-11-02T10:00:00Z'),
  });
  await t.db
    .insertInto('advisories')
    .values([
      advisory('us-state-dept', 4, 'Do Not Travel', 'Russia - Level 4: Do Not Travel', 'https://travel.state.gov/russia'),
      advisory(
        'uk-fcdo-ru',
        4,
        'Advise against all travel <script>alert(1)</script>',
        'Russia travel advice',
        'https://www.gov.uk/foreign-travel-advice/russia',
      ),
    ])
    .execute();
  await insertEvent(t.db, {
    at: new Date(now.getTime() - 7 * 86_400_000),
    feedId: 'us-state-dept',
    kind: 'updated',
    level: 4,
    previousLevel: 4,
    levelText: 'Do Not Travel',
    title: 'Russia - Level 4: Do Not Travel <b>updated</b>',
    link: 'https://travel.state.gov/russia',
  });
  await insertEvent(t.db, { at: new Date(now.getTime() - 45 * 86_400_000), feedId: 'us-state-dept', title: 'An event older than thirty days' });
});

afterAll(async () => {
  await smtp?.stop();
  await t?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('subscribers add: the preference options', () => {
  it('stores each preference given; those left out keep their value; "none" clears the quiet hours', async () => {
    ok(
      await run(
        'subscribers',
        'add',
        '--email',
        'ann@example.org',
        '--countries',
        'FR',
        '--email-frequency',
        'weekly',
        '--sms',
        'all',
        '--quiet-hours',
        '22:00-07:00',
        '--timezone',
        TZ,
        '--confirmed',
      ),
    );
    const list = async () => jsonArray(await run('subscribers', 'list', '--json')).find((r) => r.email === 'ann@example.org');
    expect(await list()).toMatchObject({ emailFrequency: 'weekly', sms: 'all', quietHours: '22:00-07:00', timezone: TZ });
    ok(await run('subscribers', 'add', '--email', 'ann@example.org', '--countries', 'FR', '--quiet-hours', 'none', '--confirmed'));
    expect(await list()).toMatchObject({ emailFrequency: 'weekly', sms: 'all', quietHours: null, timezone: TZ });
  });

  it.each<[string, string[], RegExp]>([
    ['an unknown zone', ['--timezone', 'Mars/Olympus'], /^error: timezone: "Mars\/Olympus" is not a time zone name/],
    ['25:00-07:00', ['--quiet-hours', '25:00-07:00'], /^error: quietHours: "25:00-07:00" is not a time range/],
    ['an unknown frequency', ['--email-frequency', 'hourly'], /^error: emailFrequency: must be one of immediate, daily, weekly/],
    ['an unknown SMS choice', ['--sms', 'some'], /^error: sms: must be one of urgent, all/],
  ])('refuses %s in one line and changes nothing', async (_name, args, pattern) => {
    expectOneLineFailure(await run('subscribers', 'add', '--email', 'ann@example.org', '--countries', 'FR', ...args, '--confirmed'), pattern);
    const ann = jsonArray(await run('subscribers', 'list', '--json')).find((r) => r.email === 'ann@example.org');
    expect(ann).toMatchObject({ emailFrequency: 'weekly', sms: 'all', quietHours: null, timezone: TZ });
  });
});

describe('trips add|list|remove and the pre-trip briefing', () => {
  let tripId: number;

  it('trips add prints the id and mails the briefing at once: every government side by side, last 30 days, links, escaped', async () => {
    const r = await run('trips', 'add', '--email', 'ann@example.org', '--countries', 'RU,GE', '--from', FROM, '--to', TO);
    const out = ok(r).split('\n');
    expect(out[0]).toMatch(/^\d+$/);
    expect(out[1]).toBe('pre-trip briefing sent to ann@example.org');
    tripId = Number(out[0]);
    await smtp.settled();
    const mails = smtp.to('ann@example.org');
    expect(mails).toHaveLength(1);
    const mail = mails[0]!;
    expect(mail.subject).toBe('Your pre-trip briefing: Georgia, Russia');
    // Text part: the trip, each government's level and own words, the recent event, not the old one, links.
    expect(mail.text).toContain('Georgia, Russia:');
    expect(mail.text).toContain('== Russia ==');
    expect(mail.text).toContain('* United States: Level 4 — Do not travel');
    expect(mail.text).toContain('In its own words: "Do Not Travel"');
    expect(mail.text).toContain('* United Kingdom: Level 4 — Do not travel');
    expect(mail.text).toContain('https://www.gov.uk/foreign-travel-advice/russia');
    expect(mail.text).toContain('United States: Russia - Level 4: Do Not Travel <b>updated</b> (Level 4)');
    expect(mail.text).not.toContain('older than thirty days');
    expect(mail.text).toContain('== Georgia ==');
    expect(mail.text).toContain('No government we read has published a level for this destination yet.');
    expect(mail.text).toContain('https://alerts.example.org/countries/RU');
    expect(mail.text).toMatch(/from \d+ \w{3} \d{4} \(14 days before you leave\)/);
    // HTML part: a table per destination, feed text escaped, never live markup.
    expect(mail.html).toContain('<th');
    expect(mail.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(mail.html).not.toContain('<script>');
    expect(mail.html).toContain('Do Not Travel &lt;b&gt;updated&lt;/b&gt;');
    expect(mail.html).toContain('href="https://travel.state.gov/russia"');
    // Like every email to a subscriber: manage and one-click unsubscribe.
    expect(mail.headers.get('list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
    expect(mail.text).toMatch(/Change your trips, destinations or alerts: https:\/\/alerts\.example\.org\/manage\//);
  });

  it('trips list shows the trip as upcoming, in the subscriber’s zone; --email filters', async () => {
    const rows = jsonArray(await run('trips', 'list', '--json'));
    expect(rows).toEqual([
      { id: tripId, email: 'ann@example.org', countries: ['GE', 'RU'], from: FROM, to: TO, status: 'upcoming', timezone: TZ, createdAt: expect.any(String) },
    ]);
    expect(jsonArray(await run('trips', 'list', '--email', 'nobody@example.org', '--json'))).toEqual([]);
    expect(ok(await run('trips', 'list'))).toMatch(/^id\s+email\s+countries\s+from\s+to\s+status\s+timezone\n\d+\s+ann@example\.org\s+GE,RU/);
  });

  it.each<[string, string[], RegExp]>([
    ['a last day before the first', ['--from', TO, '--to', FROM], /^error: to: the last day \(.+\) is before the first day/],
    ['an unknown country', ['--countries', 'RU,XX'], /^error: countries: unknown country code: XX/],
    ['a country name that is not a code', ['--countries', 'UK'], /^error: countries: unknown country code: UK \(did you mean GB, United Kingdom\?\)/],
    ['"all"', ['--countries', 'all'], /^error: countries: a trip goes to named countries/],
    ['a trip ten years away', ['--from', addDays(today, 3650), '--to', addDays(today, 3660)], /^error: from: the first day .* is more than two years away/],
    [
      'sixty countries',
      [
        '--countries',
        'AD,AE,AF,AG,AL,AM,AO,AR,AT,AU,AZ,BA,BB,BD,BE,BF,BG,BH,BI,BJ,BN,BO,BR,BS,BT,BW,BY,BZ,CA,CD,CF,CG,CH,CI,CL,CM,CN,CO,CR,CU,CV,CY,CZ,DE,DJ,DK,DM,DO,DZ,EC,EE,EG,ER,ES,ET,FI,FJ,FM,FR,GA',
      ],
      /^error: countries: at most 15 countries on one trip/,
    ],
    ['a trip already over', ['--from', addDays(today, -10), '--to', addDays(today, -1)], /^error: to: the last day .* is in the past/],
    ['a date that does not exist', ['--from', '2027-02-30'], /^error: from: "2027-02-30" is not a date in the form YYYY-MM-DD/],
    ['an unknown subscriber', ['--email', 'nobody@example.org'], /^error: email: no subscriber with email nobody@example.org/],
  ])('trips add refuses %s in one line, stores nothing and mails nothing', async (_name, args, pattern) => {
    const base: Record<string, string> = { '--email': 'ann@example.org', '--countries': 'JP', '--from': FROM, '--to': TO };
    for (let i = 0; i < args.length; i += 2) base[args[i]!] = args[i + 1]!;
    const mailsBefore = smtp.messages.length;
    expectOneLineFailure(await run('trips', 'add', ...Object.entries(base).flat()), pattern);
    expect(jsonArray(await run('trips', 'list', '--json'))).toHaveLength(1);
    expect(await t.db.selectFrom('briefings').select('id').execute()).toHaveLength(1);
    expect(smtp.messages.length).toBe(mailsBefore);
  });

  it('a pending subscriber’s trip is stored without a briefing (it goes out when they confirm)', async () => {
    await t.db.insertInto('subscribers').values({ email: 'pat@example.org', status: 'pending', created_at: new Date() }).execute();
    const out = ok(await run('trips', 'add', '--email', 'pat@example.org', '--countries', 'JP', '--from', FROM, '--to', TO)).split('\n');
    expect(out[1]).toBe('pat@example.org is pending: the briefing goes out when they confirm');
    await smtp.settled();
    expect(smtp.to('pat@example.org')).toEqual([]);
  });

  it('trips remove deletes by id; an unknown or malformed id is refused in one line', async () => {
    expect(ok(await run('trips', 'remove', '--id', String(tripId)))).toBe(`removed trip ${tripId}\n`);
    expectOneLineFailure(await run('trips', 'remove', '--id', String(tripId)), /^error: id: no trip with id \d+$/);
    expectOneLineFailure(await run('trips', 'remove', '--id', 'abc'), /^error: id: "abc" is not a trip id/);
    expect(jsonArray(await run('trips', 'list', '--json')).map((r) => r.email)).toEqual(['pat@example.org']);
  });
});

describe('an admin confirming a pending traveler who has trips', () => {
  it('subscribers add --confirmed mails the briefing about the trips added while pending', async () => {
    const out = ok(await run('subscribers', 'add', '--email', 'pat@example.org', '--countries', 'FR', '--confirmed'));
    expect(out).toBe('updated pat@example.org (confirmed) — pre-trip briefing sent to pat@example.org\n');
    await smtp.settled();
    const mails = smtp.to('pat@example.org');
    expect(mails.map((m) => m.subject)).toEqual(['Your pre-trip briefing: Japan']);
    // Confirming again is not a new confirmation: no second briefing.
    expect(ok(await run('subscribers', 'add', '--email', 'pat@example.org', '--countries', 'FR', '--confirmed'))).toBe('updated pat@example.org (confirmed)\n');
    await smtp.settled();
    expect(smtp.to('pat@example.org')).toHaveLength(1);
  });
});

describe('digest', () => {
  it('sends the due digest of a daily subscriber once, grouped by country, and nothing on a second run', async () => {
    ok(await run('subscribers', 'add', '--email', 'dan@example.org', '--countries', 'RU', '--email-frequency', 'daily', '--timezone', TZ, '--confirmed'));
    // A routine event two days ago: its digest (the latest 08:00 in Berlin since) is due.
    const at = new Date(Date.now() - 2 * 86_400_000);
    const eventId = await insertEvent(t.db, {
      at,
      feedId: 'us-state-dept',
      kind: 'updated',
      level: 4,
      previousLevel: 4,
      title: 'Russia - Level 4: Do Not Travel',
    });
    await fanOut(t.db, [eventId], at, { defaultTimezone: 'UTC' });
    expect(ok(await run('digest'))).toBe('digests created 1, sent 1, failed 0, retrying 0\n');
    await smtp.settled();
    const mails = smtp.to('dan@example.org');
    expect(mails).toHaveLength(1);
    expect(mails[0]!.subject).toMatch(/^Your daily travel advisory digest: 1 update \(\d{4}-\d{2}-\d{2}\)$/);
    expect(mails[0]!.text).toContain('== Russia ==');
    expect(jsonArray(await run('digest', '--json'))).toEqual([{ created: 0, sent: 0, failed: 0, retrying: 0, skipped: 0 }]);
    expect(smtp.to('dan@example.org')).toHaveLength(1);
  });
});

describe('deliveries list --status with the digest statuses', () => {
  it('lists the emails a digest took as "digested", and refuses a status that does not exist', async () => {
    const digested = jsonArray(await run('deliveries', 'list', '--status', 'digested', '--json'));
    expect(digested.map((d) => [d.subscriber, d.channel, d.status])).toEqual([['dan@example.org', 'email', 'digested']]);
    expect(jsonArray(await run('deliveries', 'list', '--status', 'digest', '--json'))).toEqual([]);
    const r = await run('deliveries', 'list', '--status', 'lost');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Allowed choices are pending, sending, sent, failed, uncertain, digest, digested/);
  });
});
