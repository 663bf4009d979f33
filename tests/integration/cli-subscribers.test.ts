import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DB } from '../../src/db/connect.ts';
import type { DeliveryChannel } from '../../src/db/types.ts';
import { fanOut } from '../../src/delivery/repository.ts';
import { cli, expectOneLineFailure, jsonArray, ok, type Env } from '../helpers/cli.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

/**
 * `subscribers add|list|remove|import`, `dispatch` and `deliveries list` on the test
 * database, run in this process through `main` (helpers/cli.ts; the real binary is
 * exercised in cli.test.ts). Without SMTP_URL or Twilio credentials, `dispatch`
 * writes to the file outbox in $DATA_DIR/outbox. The tests build on each other in
 * order: add, import, list, update, dispatch, deliveries, remove. Refusals that
 * need no database are in cli-refusals.test.ts.
 */

/** One urgent event for feed `ru` (Russia raised 3 → 4, mentioning a concert), fanned out as a poll would. */
async function recordEvent(db: DB): Promise<number> {
  const now = new Date();
  const title = 'Russia - Level 4: Do Not Travel';
  const body = 'Do not travel to Russia. Terrorists may target a concert hall or other large gatherings.';
  const advisory = await db
    .insertInto('advisories')
    .values({ feed_id: 'ru', key: 'ru', countries: ['RU'], level: 4, title, body, fingerprint: 'v2', first_seen_at: now, last_seen_at: now, changed_at: now })
    .returning('id')
    .executeTakeFirstOrThrow();
  const version = await db
    .insertInto('advisory_versions')
    .values({
      advisory_id: advisory.id,
      fingerprint: 'v2',
      countries: ['RU'],
      level: 4,
      level_text: 'Do Not Travel',
      title,
      body,
      link: 'https://travel.state.gov/ru',
      created_at: now,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const event = await db
    .insertInto('events')
    .values({
      feed_id: 'ru',
      advisory_id: advisory.id,
      kind: 'level-raised',
      urgency: 'urgent',
      countries: ['RU'],
      level: 4,
      previous_level: 3,
      title,
      link: 'https://travel.state.gov/ru',
      version_id: version.id,
      created_at: now,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  await fanOut(db, [event.id], now);
  return event.id;
}

let t: TestDatabase;
let work: string;
let dataDir: string;
let env: Env;

beforeAll(async () => {
  t = await openTestDatabase();
  work = mkdtempSync(path.join(tmpdir(), 'aa-subs-'));
  const configDir = path.join(work, 'config');
  mkdirSync(configDir);
  writeFileSync(
    path.join(configDir, 'feeds.yaml'),
    `feeds:
  - id: ru
    name: U.S. State Department — Russia
    url: http://127.0.0.1:9/never-polled.xml
    source: us-state-dept
    countries: [RU]
  - id: uk-fcdo
    url: http://127.0.0.1:9/never-polled.atom
    source: uk-fcdo
`,
  );
  // PGlite: DATA_DIR is the embedded database's own directory (from t.env); PostgreSQL: a temp dir for the outbox.
  dataDir = t.env.DATA_DIR ?? path.join(work, 'data');
  env = { CONFIG_DIR: configDir, ...t.cliEnv, DATA_DIR: dataDir };
  // The feed rows a poll would have registered (the event below references one).
  await t.db
    .insertInto('feeds')
    .values([
      { id: 'ru', name: 'U.S. State Department — Russia', url: 'http://127.0.0.1:9/never-polled.xml', source: 'us-state-dept' },
      { id: 'uk-fcdo', name: 'uk-fcdo', url: 'http://127.0.0.1:9/never-polled.atom', source: 'uk-fcdo' },
    ])
    .execute();
});

afterAll(async () => {
  await t?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

const run = (...args: string[]) => cli(args, env);

describe('advisory-alerts CLI: subscribers, dispatch, deliveries', () => {
  let eventId: number;

  it('subscribers add --confirmed adds a confirmed subscriber (the email lower-cased)', async () => {
    const r = await run(
      'subscribers',
      'add',
      '--email',
      'Alice@Example.org',
      '--countries',
      'RU,UA',
      '--min-level',
      '3',
      '--keywords',
      'concert',
      '--channels',
      'email',
      '--confirmed',
    );
    expect(ok(r)).toBe('added alice@example.org (confirmed)\n');
  });

  it('subscribers import adds the valid rows as confirmed and names each refused line with its reason', async () => {
    const csv = path.join(work, 'subscribers.csv');
    writeFileSync(
      csv,
      [
        'email,phone,countries,min_level,keywords,channels', //   line 1
        'bob@example.org,,RU;UA,2,embassy protest,email', //      line 2
        'not-an-email,,RU,,,', //                                 line 3
        'carol@example.org,+49 151 12345678,RU FR,,,', //         line 4 (phone, no channels: email + sms)
        'dave@example.org,,XX,,,', //                             line 5
        'erin@example.org,,,7,,', //                              line 6
        '', //                                                    line 7
        'frank@example.org,,,,,sms', //                           line 8
        'Bob@Example.org,,FR,,,', //                              line 9
        'grace@example.org,,all,,,email', //                      line 10
      ].join('\n'),
    );
    expect(
      ok(await run('subscribers', 'import', csv))
        .trimEnd()
        .split('\n'),
    ).toEqual([
      'imported 3 row(s), refused 5',
      'line 3: email: "not-an-email" is not a valid email address',
      'line 5: countries: unknown country code: XX',
      'line 6: minLevel: must be a whole number from 1 to 4',
      'line 8: channels: sms needs a phone number',
      'line 9: email: bob@example.org already appears on line 2',
    ]);
  });

  it('subscribers list --json shows each subscriber with what they follow, and nothing from a refused row', async () => {
    const listed = jsonArray(await run('subscribers', 'list', '--json'));
    expect(listed.map((s) => s.email).sort()).toEqual(['alice@example.org', 'bob@example.org', 'carol@example.org', 'grace@example.org']);
    const byEmail = new Map(listed.map((s) => [s.email, s]));
    expect(byEmail.get('alice@example.org')).toMatchObject({
      phone: null,
      phoneVerified: false,
      status: 'confirmed',
      countries: ['RU', 'UA'],
      feeds: null,
      minLevel: 3,
      keywords: ['concert'],
      channels: ['email'],
      emailStopped: null,
      smsStopped: null,
    });
    expect(byEmail.get('bob@example.org')).toMatchObject({
      status: 'confirmed',
      countries: ['RU', 'UA'],
      minLevel: 2,
      keywords: ['embassy', 'protest'],
      channels: ['email'],
    });
    expect(byEmail.get('carol@example.org')).toMatchObject({
      status: 'confirmed',
      phone: '+4915112345678',
      phoneVerified: true,
      countries: ['FR', 'RU'],
      minLevel: 1,
      channels: ['email', 'sms'],
    });
    expect(byEmail.get('grace@example.org')).toMatchObject({ status: 'confirmed', countries: ['all'], channels: ['email'] });
    for (const s of listed)
      expect(Object.keys(s)).toEqual(expect.arrayContaining(['email', 'phone', 'status', 'countries', 'minLevel', 'keywords', 'channels', 'createdAt']));
  });

  it('subscribers add of a known email updates that subscriber and replaces the subscription instead of duplicating', async () => {
    const r = await run(
      'subscribers',
      'add',
      '--email',
      'alice@example.org',
      '--countries',
      'ru',
      '--min-level',
      '2',
      '--keywords',
      'concert,festival',
      '--confirmed',
    );
    expect(ok(r)).toBe('updated alice@example.org (confirmed)\n');
    const alice = await t.db
      .selectFrom('subscribers')
      .innerJoin('subscriptions', 'subscriptions.subscriber_id', 'subscribers.id')
      .select(['email', 'countries', 'min_level', 'keywords'])
      .where('email', '=', 'alice@example.org')
      .execute();
    expect(alice).toEqual([{ email: 'alice@example.org', countries: ['RU'], min_level: 2, keywords: ['concert', 'festival'] }]);
    expect(
      Number(
        (
          await t.db
            .selectFrom('subscribers')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      ),
    ).toBe(4);
  });

  it('dispatch sends every due delivery (to the file outboxes without SMTP or Twilio) and prints the counts', async () => {
    // An event for Russia (level 3 → 4, a concert hall in the text): alice (keyword
    // concert), carol (RU, email + sms) and grace (all) match; bob's keywords don't.
    eventId = await recordEvent(t.db);
    const fanned = await t.db
      .selectFrom('deliveries')
      .innerJoin('subscribers', 'subscribers.id', 'deliveries.subscriber_id')
      .select(['email', 'channel'])
      .orderBy('email')
      .orderBy('channel')
      .execute();
    expect(fanned).toEqual([
      { email: 'alice@example.org', channel: 'email' },
      { email: 'carol@example.org', channel: 'email' },
      { email: 'carol@example.org', channel: 'sms' },
      { email: 'grace@example.org', channel: 'email' },
    ]);

    expect(ok(await run('dispatch'))).toBe('sent 4, failed 0, retrying 0\n');
    const emailDir = path.join(dataDir, 'outbox', 'email');
    const smsDir = path.join(dataDir, 'outbox', 'sms');
    const emls = readdirSync(emailDir).filter((f) => f.endsWith('.eml'));
    const texts = readdirSync(smsDir).filter((f) => f.endsWith('.txt'));
    expect(emls).toHaveLength(3);
    expect(texts).toHaveLength(1);
    const mails = emls.map((f) => readFileSync(path.join(emailDir, f), 'utf8'));
    expect(mails.map((m) => /^To: (.*)$/m.exec(m)?.[1]).sort()).toEqual(['alice@example.org', 'carol@example.org', 'grace@example.org']);
    for (const m of mails) {
      // Header block, long headers unfolded.
      const head = m.slice(0, m.indexOf('\n\n')).replace(/\r?\n[ \t]+/g, ' ');
      expect(head).toMatch(/^Subject: .*Russia/m);
      expect(head).toMatch(/^List-Unsubscribe: <https?:\/\/[^>]+\/unsubscribe\/[^>]+>$/m);
      expect(head).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click$/m);
    }
    expect(readFileSync(path.join(smsDir, texts[0]!), 'utf8')).toMatch(/^To: \+4915112345678\n/);
    expect(await t.db.selectFrom('deliveries').select('status').distinct().execute()).toEqual([{ status: 'sent' }]);
  });

  it('deliveries list --status sent --json shows each sent delivery with subscriber, event, channel and attempts', async () => {
    const sent = jsonArray(await run('deliveries', 'list', '--status', 'sent', '--json'));
    expect(sent.map((d) => `${d.subscriber}/${d.channel}`).sort()).toEqual([
      'alice@example.org/email',
      'carol@example.org/email',
      'carol@example.org/sms',
      'grace@example.org/email',
    ]);
    for (const d of sent) {
      expect(d).toMatchObject({ event: eventId, status: 'sent', attempts: 1, lastError: null });
      expect(Object.keys(d)).toEqual(expect.arrayContaining(['id', 'subscriber', 'event', 'channel', 'status', 'attempts', 'lastError']));
    }
    expect(jsonArray(await run('deliveries', 'list', '--status', 'failed', '--json'))).toEqual([]);
  });

  it("deliveries list labels a sent delivery's error as an earlier attempt's and shows when a waiting one is tried next; --json keeps its fields", async () => {
    const byAddress = async (email: string, channel: DeliveryChannel) =>
      (
        await t.db
          .selectFrom('deliveries')
          .innerJoin('subscribers', 'subscribers.id', 'deliveries.subscriber_id')
          .select('deliveries.id')
          .where('email', '=', email)
          .where('channel', '=', channel)
          .executeTakeFirstOrThrow()
      ).id;
    const [sms, alice, grace] = [
      await byAddress('carol@example.org', 'sms'),
      await byAddress('alice@example.org', 'email'),
      await byAddress('grace@example.org', 'email'),
    ];
    const before = await t.db.selectFrom('deliveries').selectAll().where('id', 'in', [sms, alice, grace]).execute();
    const next = new Date('2031-05-06T07:08:09Z');
    // A text that went out at the fourth attempt, an email waiting for its retry, one whose outcome is unknown.
    await t.db.updateTable('deliveries').set({ attempts: 4, last_error: 'Twilio: socket hang up' }).where('id', '=', sms).execute();
    await t.db
      .updateTable('deliveries')
      .set({ status: 'pending', sent_at: null, attempts: 2, last_error: 'SMTP 421 try later', next_attempt_at: next })
      .where('id', '=', alice)
      .execute();
    await t.db
      .updateTable('deliveries')
      .set({ status: 'uncertain', sent_at: null, last_error: 'timed out', next_attempt_at: next })
      .where('id', '=', grace)
      .execute();
    try {
      const lines = ok(await run('deliveries', 'list'))
        .trimEnd()
        .split('\n');
      expect(lines[0]).toMatch(/^id +subscriber +event +channel +status +attempts +nextAttempt +lastError +sentAt$/);
      const row = (id: number) => lines.find((l) => l.startsWith(`${id} `))!.split(/ {2,}/);
      expect(row(sms)).toEqual([
        String(sms),
        'carol@example.org',
        String(eventId),
        'sms',
        'sent',
        '4',
        '-',
        'earlier attempt: Twilio: socket hang up',
        expect.any(String),
      ]);
      expect(row(alice)).toEqual([
        String(alice),
        'alice@example.org',
        String(eventId),
        'email',
        'pending',
        '2',
        '2031-05-06T07:08:09Z',
        'SMTP 421 try later',
        '-',
      ]);
      expect(row(grace)).toEqual([String(grace), 'grace@example.org', String(eventId), 'email', 'uncertain', '1', '2031-05-06T07:08:09Z', 'timed out', '-']);

      const json = jsonArray(await run('deliveries', 'list', '--json'));
      expect(json.find((d) => d.id === sms)).toMatchObject({ status: 'sent', attempts: 4, lastError: 'Twilio: socket hang up', sentAt: expect.any(String) });
      expect(json.find((d) => d.id === alice)).toMatchObject({ status: 'pending', lastError: 'SMTP 421 try later', nextAttemptAt: '2031-05-06T07:08:09.000Z' });
    } finally {
      for (const b of before)
        await t.db
          .updateTable('deliveries')
          .set({ status: b.status, sent_at: b.sent_at, attempts: b.attempts, last_error: b.last_error, next_attempt_at: b.next_attempt_at })
          .where('id', '=', b.id)
          .execute();
    }
  });

  it('subscribers remove deletes the subscriber (email matched case-insensitively) with their delivery history', async () => {
    expect(ok(await run('subscribers', 'remove', '--email', 'Carol@Example.org'))).toBe('removed carol@example.org\n');
    const left = await t.db.selectFrom('subscribers').select('email').orderBy('email').execute();
    expect(left.map((s) => s.email)).toEqual(['alice@example.org', 'bob@example.org', 'grace@example.org']);
    const remaining = await t.db
      .selectFrom('deliveries')
      .innerJoin('subscribers', 'subscribers.id', 'deliveries.subscriber_id')
      .select('email')
      .orderBy('email')
      .execute();
    expect(remaining.map((r) => r.email)).toEqual(['alice@example.org', 'grace@example.org']);
    expect(existsSync(path.join(dataDir, 'outbox'))).toBe(true);
  });

  it('subscribers remove of an unknown email refuses with one line and removes nothing', async () => {
    expectOneLineFailure(await run('subscribers', 'remove', '--email', 'nobody@example.org'), /^error: no subscriber with email nobody@example\.org$/);
    expect(await t.db.selectFrom('subscribers').select('email').execute()).toHaveLength(3);
  });
});
