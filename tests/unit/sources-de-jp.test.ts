import { readFileSync } from 'node:fs';
import { parse as parseCsv } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { diffAdvisories, type StoredAdvisory } from '../../src/advisories/detect.ts';
import type { AdvisoryItem } from '../../src/advisories/model.ts';
import { fingerprint } from '../../src/advisories/normalize.ts';
import { aaLevel, mofaLevel } from '../../src/advisories/wording.ts';
import { countryCodeFromAlpha3 } from '../../src/common/countries.ts';
import { renderEmail, renderSms, smsEncoding, smsSegments, subjectFor, type MessageEvent } from '../../src/delivery/render.ts';
import { FeedParseError } from '../../src/feeds/parse-xml.ts';
import { epochToDate } from '../../src/feeds/profiles/de-aa.ts';
import { foreignSourceLabel, governmentOf, isAlertSource } from '../../src/advisories/governments.ts';
import { profileFor } from '../../src/feeds/profiles/index.ts';
import { mofaCountry, parseJapanTime } from '../../src/feeds/profiles/jp-mofa.ts';
import { DE_FLAGS, deEntries, editedMail, germanDay, laterList, mailOf, type DeDoc } from '../helpers/de-jp-documents.ts';

/**
 * Germany's Auswärtiges Amt list and Japan's MOFA new-arrivals list on the real
 * captures (tests/fixtures/de-aa, tests/fixtures/jp-mofa): the pure mappers,
 * the profiles, and change detection between captured days.
 */

function fixture(relative: string): string {
  return readFileSync(new URL(`../fixtures/${relative}`, import.meta.url), 'utf8');
}

const FEED = { id: 'test', countries: [] as string[] };
const parse = (source: string, text: string): Promise<AdvisoryItem[]> => profileFor(source).parse(text, FEED);

const DE_0327 = fixture('de-aa/2026-03-27.json');
const DE_0402 = fixture('de-aa/2026-04-02.json');
const DE_0430 = fixture('de-aa/2026-04-30.json');
const JP_A = fixture('jp-mofa/newarrivalL_2026-01-16a.xml');
const JP_B = fixture('jp-mofa/newarrivalL_2026-01-16b.xml');

/** What the database would hold after storing `items` (ids are positions). */
function stored(items: AdvisoryItem[]): StoredAdvisory[] {
  return items.map((item, i) => ({
    id: i + 1,
    key: item.key,
    fingerprint: fingerprint(item),
    level: item.level,
    link: item.link,
    guid: item.guid,
    countries: item.countries,
    publishedAt: item.publishedAt,
    removed: false,
    versionId: i + 1,
  }));
}

describe('Germany: flags → level (first that holds)', () => {
  const none = { warning: false, partialWarning: false, situationWarning: false, situationPartWarning: false };
  it.each([
    [{}, 1, 'Reise- und Sicherheitshinweise'],
    [{ warning: true }, 4, 'Reisewarnung'],
    [{ partialWarning: true }, 3, 'Teilreisewarnung'],
    [{ situationWarning: true }, 2, 'Situationsbedingte Reisewarnung'],
    [{ situationPartWarning: true }, 2, 'Situationsbedingte Teilreisewarnung'],
    [{ warning: true, partialWarning: true, situationWarning: true }, 4, 'Reisewarnung'],
    [{ partialWarning: true, situationPartWarning: true }, 3, 'Teilreisewarnung'],
    [{ situationWarning: true, situationPartWarning: true }, 2, 'Situationsbedingte Reisewarnung'],
  ])('%o → %i (%s)', (flags, level, wording) => {
    const reading = aaLevel({ ...none, ...flags });
    expect(reading).toMatchObject({ level, wording });
    expect(reading.flags).toHaveLength(Object.keys(flags).length);
  });

  it('timestamps in seconds (as served) and milliseconds (as documented) are the same instant', () => {
    expect(epochToDate(1774438976)?.toISOString()).toBe('2026-03-25T11:42:56.000Z');
    expect(epochToDate(1774438976000)?.toISOString()).toBe('2026-03-25T11:42:56.000Z');
    expect(epochToDate(1499681492000)?.toISOString()).toBe('2017-07-10T10:11:32.000Z');
    expect(epochToDate('x')).toBeNull();
    expect(epochToDate(0)).toBeNull();
  });
});

describe('de-aa profile on the real captures', () => {
  it('one advisory per country: ISO codes (Kosovo XK), the flags read as levels, German titles kept', async () => {
    const doc = JSON.parse(DE_0430) as DeDoc;
    const entries = deEntries(doc);
    const items = await parse('de-aa', DE_0430);
    expect(items).toHaveLength(entries.length);
    expect(entries.length).toBe(199);
    const byCountry = new Map(items.map((i) => [i.countries[0]!, i]));
    for (const e of entries) {
      const item = byCountry.get(e.countryCode)!;
      expect(item, e.countryCode).toBeDefined();
      expect(item.key).toBe(`iso:${e.countryCode}`);
      expect(item.title).toBe(e.title);
      const expected = e.warning ? 4 : e.partialWarning ? 3 : e.situationWarning || e.situationPartWarning ? 2 : 1;
      expect(item.level, e.countryCode).toBe(expected);
      expect(item.publishedAt?.getTime()).toBe(e.lastModified * 1000);
    }
    expect(byCountry.get('XK')!.title).toBe('Kosovo: Reise- und Sicherheitshinweise');
    expect(byCountry.get('RU')).toMatchObject({ level: 3, levelText: 'Teilreisewarnung', title: 'Russische Föderation: Reise- und Sicherheitshinweise' });
    expect(byCountry.get('UA')).toMatchObject({ level: 4, levelText: 'Reisewarnung' });
    expect(byCountry.get('PL')).toMatchObject({ level: 1, levelText: 'Reise- und Sicherheitshinweise' });
    expect(byCountry.get('ET')!.title).toBe('Äthiopien: Reise- und Sicherheitshinweise');
  });

  it('03-27 → 04-02 → 04-30: 26 and more lastModified/effective-only changes, no flag change — nothing changes meaning', async () => {
    const [a, b, c] = await Promise.all([parse('de-aa', DE_0327), parse('de-aa', DE_0402), parse('de-aa', DE_0430)]);
    const before = deEntries(JSON.parse(DE_0327) as DeDoc);
    const after = new Map(deEntries(JSON.parse(DE_0402) as DeDoc).map((e) => [e.countryCode, e]));
    const touched = before.filter((e) => after.get(e.countryCode)!.lastModified !== e.lastModified);
    expect(touched).toHaveLength(26);
    expect(touched.every((e) => DE_FLAGS.every((f) => after.get(e.countryCode)![f] === e[f]))).toBe(true);

    const ab = diffAdvisories(stored(a), b, { baseline: false });
    expect(ab.changed).toEqual([]);
    expect(ab.added).toEqual([]);
    expect(ab.removed).toEqual([]);
    // The new dates are stored, silently.
    expect(ab.unchanged.filter((u) => u.refresh)).toHaveLength(26);

    const bc = diffAdvisories(stored(b), c, { baseline: false });
    expect(bc.changed).toEqual([]);
    expect(bc.unchanged.filter((u) => u.refresh).length).toBeGreaterThan(26);
  });

  it('a day with flag changes: exactly the implied events, for the right ISO countries', async () => {
    const day = germanDay(DE_0430, {
      RU: ['warning'], // Teilreisewarnung → Reisewarnung: 3 → 4
      QA: [], // Reisewarnung lifted: 4 → 1
      PL: ['situationWarning'], // 1 → 2
      TH: ['partialWarning', 'situationPartWarning'], // still 3, one more flag: text update
      XK: ['partialWarning'], // 1 → 3
    });
    const before = await parse('de-aa', DE_0430);
    const diff = diffAdvisories(stored(before), await parse('de-aa', day), { baseline: false });
    const events = diff.changed.map((c) => [c.item.countries[0], c.kind, c.stored.level, c.item.level, c.item.levelText]).sort();
    expect(events).toEqual([
      ['PL', 'level-raised', 1, 2, 'Situationsbedingte Reisewarnung'],
      ['QA', 'level-lowered', 4, 1, 'Reise- und Sicherheitshinweise'],
      ['RU', 'level-raised', 3, 4, 'Reisewarnung'],
      ['TH', 'updated', 3, 3, 'Teilreisewarnung'],
      ['XK', 'level-raised', 1, 3, 'Teilreisewarnung'],
    ]);
    expect(diff.added).toEqual([]);
    expect(diff.removed).toEqual([]);
  });

  it('millisecond timestamps read as the same instants: no change', async () => {
    const seconds = await parse('de-aa', germanDay(DE_0430, {}));
    const millis = await parse('de-aa', germanDay(DE_0430, {}, { milliseconds: true }));
    expect(millis.map((i) => i.publishedAt?.toISOString())).toEqual(seconds.map((i) => i.publishedAt?.toISOString()));
    expect(diffAdvisories(stored(seconds), millis, { baseline: false }).unchanged.every((u) => !u.refresh)).toBe(true);
  });

  it.each([
    ['{}', /empty object/],
    ['{"response": {}}', /no country entries/],
    ['{"response": {"contentList": [], "lastModified": 1732098978}}', /no country entries/],
    ['[]', /no "response" object/],
    ['<!doctype html><title>Wartungsarbeiten</title>', /not valid JSON/],
  ])('%s is a failing poll, not "every advisory removed"', async (body, reason) => {
    const err = await parse('de-aa', body).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FeedParseError);
    expect((err as Error).message).toMatch(reason);
  });
});

describe('Japan: danger levels → the common scale', () => {
  it.each([
    [{}, 1, null, 0],
    [{ 1: true }, 2, '十分注意してください', 1],
    [{ 1: true, 2: true }, 3, '不要不急の渡航は止めてください', 2],
    [{ 3: true }, 4, '渡航は止めてください（渡航中止勧告）', 3],
    [{ 1: true, 2: true, 3: true, 4: true }, 4, '退避してください。渡航は止めてください（退避勧告）', 4],
  ])('%o → %i', (flags, level, wording, japanLevel) => {
    expect(mofaLevel(flags)).toEqual({ level, wording, japanLevel });
  });

  it('leaveDate is Japan time', () => {
    expect(parseJapanTime('2026/01/16 00:00:00')?.toISOString()).toBe('2026-01-15T15:00:00.000Z');
    expect(parseJapanTime('2026/01/16 21:10:37')?.toISOString()).toBe('2026-01-16T12:10:37.000Z');
    expect(parseJapanTime('16.01.2026')).toBeNull();
  });

  it('MOFA country codes: the shipped table is the published one, read as ISO alpha-2', () => {
    const rows = parseCsv(fixture('jp-mofa/mofa-country-codes.csv'), { columns: true }) as { mofa_code: string; iso3: string; name: string }[];
    expect(rows.length).toBe(204);
    for (const r of rows) expect(mofaCountry(r.mofa_code), `${r.mofa_code} ${r.name}`).toBe(countryCodeFromAlpha3(r.iso3));
    // MOFA's own exceptions to "the telephone code".
    expect([mofaCountry('1000'), mofaCountry('9001'), mofaCountry('9007'), mofaCountry('0007'), mofaCountry('0974')]).toEqual(['US', 'CA', 'RU', 'KZ', 'QA']);
    expect(mofaCountry('0000')).toBeUndefined();
  });
});

describe('jp-mofa profile on the real lists', () => {
  it('T40 notices are advisories keyed by country; everything else is an alert keyed by keyCd', async () => {
    const items = await parse('jp-mofa', JP_B);
    expect(items).toHaveLength(26);
    const advisories = items.filter((i) => i.level !== null);
    expect(advisories.map((i) => [i.key, i.level, i.guid]).sort()).toEqual([
      ['iso:AE', 2, '2026T004'],
      ['iso:IR', 4, '2026T007'],
      ['iso:OM', 2, '2026T005'],
      ['iso:QA', 2, '2026T006'],
    ]);
    const qatar = advisories.find((i) => i.key === 'iso:QA')!;
    // As published: the title with its tag, the lead's Japanese text.
    expect(qatar.title).toBe('カタールの危険情報 【危険レベルの発出】（新規）');
    expect(qatar.levelText).toBe('十分注意してください');
    expect(qatar.body).toContain('カタール全土に危険レベル1（十分注意してください）を発出します。');
    expect(qatar.link).toBe('https://www.anzen.mofa.go.jp/info/pchazardspecificinfo_2026T006.html');
    expect(qatar.publishedAt?.toISOString()).toBe('2026-01-15T15:00:00.000Z');

    const alerts = items.filter((i) => i.level === null);
    expect(alerts.every((a) => a.key === `mail:${a.guid}`)).toBe(true);
    expect(alerts.find((a) => a.guid === '161861')).toMatchObject({ countries: ['NP'], title: '集会に対する注意喚起', levelText: '領事メール' });
    // A wide-area notice names 18 countries (MOFA codes in the document's order).
    const wide = alerts.find((a) => a.guid === '2026C006')!;
    expect(wide.countries).toEqual(['AF', 'AE', 'YE', 'IL', 'IQ', 'OM', 'QA', 'KW', 'SA', 'SY', 'TR', 'BH', 'JO', 'LB', 'EG', 'ER', 'DJ', 'SD']);
  });

  it('several notices for one country: the newest leaveDate wins, whatever the order', async () => {
    const january = mailOf(JP_B, '2026T006');
    const february = editedMail(january, {
      keyCd: '2026T031',
      leaveDate: '2026/02/20 00:00:00',
      title: 'カタールの危険情報【危険レベル引上げ】',
      risk: { 2: 1 },
    });
    for (const list of [laterList(JP_B, { add: [february], lastModified: '2026/02/20 09:00:00' }), JP_B.replace(january, `${january}\n    ${february}`)]) {
      const qatar = (await parse('jp-mofa', list)).find((i) => i.key === 'iso:QA')!;
      expect(qatar).toMatchObject({ guid: '2026T031', level: 3, levelText: '不要不急の渡航は止めてください', title: 'カタールの危険情報【危険レベル引上げ】' });
    }
  });

  it('a → b: the four new notices are the only new items; alerts and advisories keep their keys', async () => {
    const [a, b] = await Promise.all([parse('jp-mofa', JP_A), parse('jp-mofa', JP_B)]);
    const diff = diffAdvisories(stored(a), b, { baseline: false, retainsWhenAbsent: profileFor('jp-mofa').retainsWhenAbsent });
    expect(diff.added.map((x) => x.item.key).sort()).toEqual(['iso:AE', 'iso:IR', 'iso:OM', 'iso:QA']);
    expect(diff.changed).toEqual([]);
    expect(diff.removed).toEqual([]);
  });

  it('items leaving the window: alerts are recorded as gone, a country’s danger level stays in force', async () => {
    const b = await parse('jp-mofa', JP_B);
    const later = laterList(JP_B, { drop: ['161832', '161833', '2026C006', '2026T006'], lastModified: '2026/01/20 09:00:00' });
    const diff = diffAdvisories(stored(b), await parse('jp-mofa', later), { baseline: false, retainsWhenAbsent: profileFor('jp-mofa').retainsWhenAbsent });
    expect(diff.removed.map((r) => r.key).sort()).toEqual(['mail:161832', 'mail:161833', 'mail:2026C006']);
    expect(diff.changed).toEqual([]);
    expect(diff.added).toEqual([]);
  });

  it('refuses what is not a MOFA list', async () => {
    await expect(parse('jp-mofa', '<rss version="2.0"><channel/></rss>')).rejects.toThrow(/no <opendata> root/);
    await expect(parse('jp-mofa', '<opendata><mail>')).rejects.toBeInstanceOf(FeedParseError);
    await expect(parse('jp-mofa', '<!DOCTYPE x [<!ENTITY a "aaaa">]><opendata/>')).rejects.toThrow(/entities/);
    // A broken document leaves nothing behind for the next one.
    expect(await parse('jp-mofa', JP_B)).toHaveLength(26);
  });
});

describe('governments and messages', () => {
  it('Germany and Japan are named; Japan is an alert source for urgency', () => {
    expect([governmentOf('de-aa', 'x'), governmentOf('jp-mofa', 'x'), governmentOf('generic', 'Feed name')]).toEqual(['Germany', 'Japan', 'Feed name']);
    expect([foreignSourceLabel('jp-mofa'), foreignSourceLabel('de-aa'), foreignSourceLabel('us-state-dept')]).toEqual([
      'Japan (MOFA)',
      'Germany (Auswärtiges Amt)',
      null,
    ]);
    expect([isAlertSource('jp-mofa'), isAlertSource('us-embassy'), isAlertSource('de-aa'), isAlertSource('us-state-dept')]).toEqual([true, true, false, false]);
  });

  const base: MessageEvent = {
    id: 1,
    kind: 'level-raised',
    feedName: 'Japan MOFA new arrivals',
    government: 'Japan',
    countries: ['QA'],
    level: 3,
    previousLevel: 2,
    levelText: '不要不急の渡航は止めてください',
    previousLevelText: '十分注意してください',
    title: 'カタールの危険情報【危険レベル引上げ】',
    body: '●カタール全土の危険レベルを2（不要不急の渡航は止めてください）に引き上げます。\n●最新情報を確認してください。',
    previousBody: '●カタール全土に危険レベル1（十分注意してください）を発出します。',
    link: 'https://www.anzen.mofa.go.jp/info/pchazardspecificinfo_2026T031.html',
    publishedAt: null,
    sourceLabel: 'Japan (MOFA)',
  };
  const links = { manage: 'https://a.example/manage/t', unsubscribe: 'https://a.example/unsubscribe/t', unsubscribeOneClick: 'https://a.example/u/t' };

  it('the subject names the government and the country in English, the wording stays Japanese', () => {
    expect(subjectFor(base)).toBe('Japan (MOFA): Qatar — Level 3 — 不要不急の渡航は止めてください (raised from 2)');
    const alert = {
      ...base,
      kind: 'new' as const,
      level: null,
      previousLevel: null,
      levelText: '領事メール',
      title: '中東情勢に関する注意喚起',
      countries: ['SA', 'QA', 'KW', 'BH'],
    };
    expect(subjectFor(alert)).toBe('Japan (MOFA): Saudi Arabia, Qatar, Kuwait and 1 more — 中東情勢に関する注意喚起');
    expect(subjectFor({ ...base, sourceLabel: 'Germany (Auswärtiges Amt)', countries: ['RU'], level: 4, previousLevel: 3, levelText: 'Reisewarnung' })).toBe(
      'Germany (Auswärtiges Amt): Russia — Level 4 — Reisewarnung (raised from 3)',
    );
  });

  it('the email carries the Japanese text in both parts, escaped in HTML', () => {
    const mail = renderEmail({ ...base, body: `${base.body}\n<b>注意</b>` }, links, { listId: 'alerts.example' });
    expect(mail.text).toContain('●カタール全土の危険レベルを2（不要不急の渡航は止めてください）に引き上げます。');
    expect(mail.html).toContain('●カタール全土の危険レベルを2（不要不急の渡航は止めてください）に引き上げます。');
    expect(mail.html).toContain('&lt;b&gt;注意&lt;/b&gt;');
    expect(mail.html).toContain('<meta charset="utf-8">');
  });

  it('the SMS is UCS-2, at most two segments, the gist cut inside the Japanese text', () => {
    const sms = renderSms({ ...base, body: base.body.repeat(5) }, { link: 'https://a.example/', maxSegments: 2 });
    expect(smsEncoding(sms).encoding).toBe('UCS-2');
    expect(smsSegments(sms)).toBe(2);
    expect(smsEncoding(sms).units).toBeGreaterThan(120);
    expect(sms).toContain('Japan (MOFA): Qatar - Level 3 - 不要不急の渡航は止めてください (raised from 2)');
    // Cut after a Japanese character, not dropped for want of a space.
    expect(sms).toMatch(/●カタール全土[^ ]*[^ .]\.\.\. https:\/\/a\.example\//);
  });
});
