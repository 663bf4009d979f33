import { describe, expect, it } from 'vitest';
import { escapeHtml } from '../../src/common/escape.ts';
import {
  addressEmail,
  renderEmail,
  renderEventEmail,
  renderSms,
  smsEncoding,
  smsParts,
  smsSegments,
  subjectFor,
  textChanges,
  toGsmFriendly,
  type MessageEvent,
} from '../../src/delivery/render.ts';
import { profileFor } from '../../src/feeds/profiles/index.ts';
import { fixture } from '../helpers/feed-server.ts';
import { countSegments } from '../helpers/twilio-server.ts';

/**
 * Message rendering (docs/contract.md, "Delivery"): subjects that say what happened, "what changed"
 * for text updates, HTML escaping, and SMS that never exceed their segments.
 * SMS lengths are also checked with the fake Twilio server's own segment
 * counter, written independently of the code under test.
 */

function event(overrides: Partial<MessageEvent>): MessageEvent {
  return {
    id: 1,
    kind: 'new',
    feedName: 'U.S. State Department travel advisories',
    government: 'U.S. Department of State',
    countries: ['RU'],
    level: null,
    previousLevel: null,
    levelText: null,
    previousLevelText: null,
    title: 'Title',
    body: 'Body.',
    previousBody: null,
    link: null,
    publishedAt: null,
    ...overrides,
  };
}

async function israel() {
  const parse = (file: string) => profileFor('au-smartraveller').parse(fixture(`au-smartraveller/${file}`), { id: 'au', countries: [] });
  const [v1, v2] = await Promise.all([parse('index_v1.rss'), parse('index_v2.rss')]);
  return { before: v1.find((i) => i.key === 'iso:IL')!, after: v2.find((i) => i.key === 'iso:IL')! };
}

/** The Israel 3 → 4 raise, as the dispatcher builds it from the stored versions. */
async function israelEvent(): Promise<MessageEvent> {
  const { before, after } = await israel();
  return event({
    kind: 'level-raised',
    feedName: 'Smartraveller',
    government: 'Australia',
    countries: after.countries,
    level: after.level,
    previousLevel: before.level,
    levelText: after.levelText,
    previousLevelText: before.levelText,
    title: after.title,
    body: after.body,
    previousBody: before.body,
    link: after.link,
  });
}

/** The March 7 security alert of the U.S. Embassy in Moscow. */
async function moscowEvent(file = 'us-embassy-russia-alerts_v2.xml', title = 'Security Alert'): Promise<MessageEvent> {
  const items = await profileFor('us-embassy').parse(fixture(`us-embassy/${file}`), { id: 'ru', countries: ['RU'] });
  const alert = items.find((i) => i.title.startsWith(title))!;
  return event({
    feedName: 'U.S. Embassy Russia alerts (local copy)',
    government: 'United States',
    countries: alert.countries,
    levelText: alert.levelText,
    title: alert.title,
    body: alert.body,
    link: alert.link,
  });
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

describe('subjectFor', () => {
  it.each<[string, Partial<MessageEvent>, string]>([
    [
      'level raised',
      { kind: 'level-raised', level: 4, previousLevel: 3, levelText: 'Do Not Travel' },
      'Russia: U.S. Department of State raises to Level 4 — Do Not Travel',
    ],
    [
      'level lowered',
      { kind: 'level-lowered', level: 3, previousLevel: 4, levelText: 'Reconsider Travel' },
      'Russia: U.S. Department of State lowers to Level 3 — Reconsider Travel',
    ],
    [
      'new advisory',
      { kind: 'new', countries: ['KE'], level: 3, levelText: 'Reconsider Travel' },
      'Kenya: new U.S. Department of State advice, Level 3 — Reconsider Travel',
    ],
    [
      'updated advisory',
      { kind: 'updated', countries: ['UA'], level: 4, previousLevel: 4, levelText: 'Do Not Travel' },
      'Ukraine: U.S. Department of State updates its advice, still Level 4 — Do Not Travel',
    ],
    [
      'no wording: the scale name',
      { kind: 'level-raised', level: 2, previousLevel: 1 },
      'Russia: U.S. Department of State raises to Level 2 — Exercise increased caution',
    ],
    [
      'several countries',
      { kind: 'new', countries: ['RU', 'UA'], level: 4, levelText: 'Do Not Travel' },
      'Russia, Ukraine: new U.S. Department of State advice, Level 4 — Do Not Travel',
    ],
    [
      'no country',
      { kind: 'updated', countries: [], level: 2, levelText: 'Exercise Increased Caution' },
      'Worldwide: U.S. Department of State updates its advice, still Level 2 — Exercise Increased Caution',
    ],
    [
      "a sentence as wording: the government's short level name from it",
      {
        kind: 'level-raised',
        government: 'Australia',
        countries: ['IL'],
        level: 4,
        previousLevel: 3,
        levelText: 'Do not travel to Israel due to the volatile security situation and the risk of military conflict.',
      },
      'Israel: Australia raises to Level 4 — Do not travel',
    ],
    [
      "a phrase for part of the country does not name the country's level",
      {
        kind: 'updated',
        government: 'Australia',
        countries: ['TH'],
        level: 2,
        levelText: 'Do not travel to Narathiwat, Yala, Pattani and Songkhla provinces due to the ongoing violence there.',
      },
      'Thailand: Australia updates its advice, still Level 2 — Exercise increased caution',
    ],
    [
      'UK wording',
      {
        kind: 'level-raised',
        government: 'United Kingdom',
        level: 3,
        previousLevel: 2,
        levelText: 'FCDO advises against all but essential travel to Russia because of the military conflict.',
      },
      'Russia: United Kingdom raises to Level 3 — Against all but essential travel',
    ],
    ['embassy alert: date dropped, dash normalised', { title: 'Security Alert – U.S. Embassy Moscow (March 7, 2024)' }, 'Security Alert — U.S. Embassy Moscow'],
    ['embassy alert with a hyphen', { title: 'Demonstration Alert - U.S. Embassy Moscow (March 1, 2024)' }, 'Demonstration Alert — U.S. Embassy Moscow'],
    ['updated alert', { kind: 'updated', title: 'Security Alert – U.S. Embassy Moscow (March 7, 2024)' }, 'Updated: Security Alert — U.S. Embassy Moscow'],
    ['alert with a non-date parenthesis', { title: 'Message for U.S. Citizens (Update)' }, 'Message for U.S. Citizens (Update)'],
  ])('%s', (_name, e, subject) => {
    expect(subjectFor(event(e))).toBe(subject);
  });

  it('is cut at a word boundary, never mid-word', () => {
    const s = subjectFor(
      event({
        title:
          'Demonstration alert: protesters are expected to gather near the central railway station and the main government buildings throughout the weekend, with road closures',
      }),
    );
    expect(s.length).toBeLessThanOrEqual(150);
    expect(s).toMatch(/ buildings throughout the weekend…$/);
  });

  it('is at most 150 characters, cut with an ellipsis, never halfway through an emoji', () => {
    for (let pad = 140; pad <= 152; pad++) {
      const s = subjectFor(event({ title: `${'x'.repeat(pad)}${'🚨'.repeat(10)}` }));
      expect(s.length).toBeLessThanOrEqual(150);
      expect(s.endsWith('…')).toBe(true);
      expect(s).not.toMatch(LONE_SURROGATE);
    }
    const levelled = subjectFor(event({ kind: 'level-raised', level: 4, previousLevel: 3, levelText: 'Do not travel '.repeat(20) }));
    expect(levelled.length).toBeLessThanOrEqual(150);
    expect(levelled).toBe('Russia: U.S. Department of State raises to Level 4 — Do not travel');
  });
});

describe('urgent emails', () => {
  const links = { manage: 'https://x.test/manage/t', unsubscribe: 'https://x.test/u/t', unsubscribeOneClick: 'https://x.test/u/t' };
  it('say URGENT on the first line, in a banner and in the priority headers; routine ones do not', () => {
    const alert = { title: 'Security Alert – U.S. Embassy Moscow (March 7, 2024)' };
    const urgent = renderEmail(event({ ...alert, urgency: 'urgent' }), links, { listId: 'l.test' });
    expect(urgent.subject).toBe('Security Alert — U.S. Embassy Moscow');
    expect(urgent.text.split('\n')[0]).toBe('URGENT — act on this now');
    expect(urgent.html.indexOf('URGENT — act on this now')).toBeLessThan(urgent.html.indexOf('<h1'));
    expect(urgent.headers).toMatchObject({ Importance: 'high', 'X-Priority': '1' });
    const routine = renderEmail(event({ ...alert, urgency: 'routine' }), links, { listId: 'l.test' });
    expect(routine.subject).toBe('Security Alert — U.S. Embassy Moscow');
    expect(routine.text.split('\n')[0]).toBe('Security Alert — U.S. Embassy Moscow');
    expect(routine.html).not.toContain('URGENT');
    expect(routine.headers).not.toHaveProperty('Importance');
  });
});

describe('textChanges', () => {
  it('nothing before: nothing to list', () => {
    expect(textChanges(null, 'Anything at all.')).toEqual({ added: [], removed: [], changed: [] });
  });

  it('lists the sentences added and removed, not the ones kept; a reworded one as changed', () => {
    const before = 'Do not travel to Russia. Terrorists may attack with little warning. Carry your passport. Register with the embassy.';
    const after = 'Reconsider travel to Russia. Terrorists may attack with little warning. Carry your passport. Monitor local media.';
    expect(textChanges(before, after)).toEqual({
      added: ['Monitor local media.'],
      removed: ['Register with the embassy.'],
      changed: [{ after: 'Reconsider travel to Russia.', before: ['Do not travel to Russia.'] }],
    });
  });

  it('a sentence merged into a longer one is changed, not removed (Smartraveller, Israel 3 → 4)', async () => {
    const { before, after } = await israel();
    const changes = textChanges(before.body, after.body);
    expect(changes.removed).toEqual([]);
    expect(changes.added).toEqual([]);
    expect(changes.changed).toEqual([
      {
        after: 'Do not travel to Israel due to the volatile security situation and the risk of military conflict and terrorism in the region.',
        before: ['Reconsider your need to travel to Israel overall due to the volatile security situation and the risk of military conflict.'],
      },
      {
        after: 'Do not travel to Gaza, the West Bank or areas near the border with Lebanon and Syria.',
        before: ['Do not travel to Gaza.', 'Do not travel to areas near the border with Lebanon and Syria.'],
      },
    ]);
  });

  it('works across paragraphs and bullets', () => {
    const before = 'Location: Moscow, Russia\nActions to Take:\n• Avoid crowds.\n• Monitor local media for updates.';
    const after =
      'Location: Moscow, Russia\nActions to Take:\n• Avoid all large public events.\n• Monitor local media for updates.\nThe Embassy is closed on March 8.';
    expect(textChanges(before, after)).toEqual({
      added: ['• Avoid all large public events.', 'The Embassy is closed on March 8.'],
      removed: ['• Avoid crowds.'],
      changed: [],
    });
  });

  it('re-flowed whitespace is not a change', () => {
    expect(textChanges('One sentence here.  Another   one.', 'One sentence here.\n\nAnother one.')).toEqual({ added: [], removed: [], changed: [] });
  });
});

describe('escapeHtml', () => {
  it('escapes the five characters that matter, and only them', () => {
    expect(escapeHtml(`<a href="x" onclick='y()'>Tom & Jerry</a>`)).toBe('&lt;a href=&quot;x&quot; onclick=&#39;y()&#39;&gt;Tom &amp; Jerry&lt;/a&gt;');
    expect(escapeHtml('&amp;')).toBe('&amp;amp;');
    expect(escapeHtml('Москва — “quotes” 🚨')).toBe('Москва — “quotes” 🚨');
  });
});

describe('renderEmail', () => {
  const links = {
    manage: 'https://alerts.example.org/manage/m1.tok',
    unsubscribe: 'https://alerts.example.org/unsubscribe/u1.tok',
    unsubscribeOneClick: 'https://alerts.example.org/unsubscribe/u1.tok',
  };

  it('escapes feed text in the HTML and links only http(s) sources', () => {
    const e = event({ title: '<script>alert(1)</script> & "x"', body: 'Use <b>care</b> & stay safe.', link: 'javascript:alert(1)' });
    const mail = renderEmail(e, links, { listId: 'alerts.example.org' });
    expect(mail.html).not.toMatch(/<script|<b>|javascript:/i);
    expect(mail.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;');
    expect(mail.html).toContain('Use &lt;b&gt;care&lt;/b&gt; &amp; stay safe.');
    expect(mail.text).toContain('Use <b>care</b> & stay safe.');
    expect(mail.text).not.toContain('Source:');
    expect(mail.headers).toEqual({
      'List-Unsubscribe': `<${links.unsubscribeOneClick}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      'List-Id': 'Advisory Alerts <alerts.example.org>',
    });
  });

  it('says what changed for a level change', () => {
    const e = event({
      kind: 'level-lowered',
      level: 3,
      previousLevel: 4,
      levelText: 'Reconsider Travel',
      previousLevelText: 'Do Not Travel',
      link: 'https://travel.state.gov/russia.html',
    });
    const mail = renderEmail(e, links, { listId: 'l' });
    expect(mail.subject).toBe('Russia: U.S. Department of State lowers to Level 3 — Reconsider Travel');
    expect(mail.text).toContain('U.S. Department of State lowered its advice for Russia from Level 4 (Do Not Travel) to Level 3 (Reconsider Travel).');
    expect(mail.text).toContain('Source: https://travel.state.gov/russia.html');
    expect(mail.html).toContain('href="https://travel.state.gov/russia.html"');
  });
  it('links to every government’s advice for the country', () => {
    const withPage = { ...links, countryPage: 'https://alerts.example.org/countries/RU' };
    const mail = renderEmail(event({ countries: ['RU'] }), withPage, { listId: 'l' });
    expect(mail.text).toContain("See every government's advice for Russia: https://alerts.example.org/countries/RU");
    expect(mail.html).toContain('<a href="https://alerts.example.org/countries/RU">See every government’s advice for Russia</a>');
    expect(renderEmail(event({ countries: ['RU'] }), links, { listId: 'l' }).text).not.toContain('See every government');
  });
});

describe('renderEmail on real documents', () => {
  const links = {
    manage: 'https://alerts.example.org/manage/m1.tok',
    unsubscribe: 'https://alerts.example.org/unsubscribe/u1.tok',
    unsubscribeOneClick: 'https://alerts.example.org/unsubscribe/u1.tok',
  };

  it('Smartraveller Israel 3 → 4: short level names, nothing cut mid-word, the merged Gaza sentence not "removed"', async () => {
    const e = await israelEvent();
    const mail = renderEmail(e, links, { listId: 'l' });
    expect(mail.subject).toBe('Israel: Australia raises to Level 4 — Do not travel');
    expect(mail.text).toContain('Australia raised its advice for Israel from Level 3 (Reconsider your need to travel) to Level 4 (Do not travel).');
    expect(mail.text).not.toContain('Removed');
    expect(mail.html).not.toContain('Removed');
    expect(mail.text).toContain('Changed:\n* Do not travel to Israel due to');
    expect(mail.text).toContain('(before: Do not travel to Gaza. Do not travel to areas near the border with Lebanon and Syria.)');
    expect(mail.html).toContain('Before: Do not travel to Gaza. Do not travel to areas near the border with Lebanon and Syria.');
    expect(mail.text).toContain('From Smartraveller, Australia:');
    expect(mail.text).not.toMatch(/\w…/);
  });

  it('embassy alert: the source said plainly, without nested parentheses', async () => {
    const moscow = await moscowEvent();
    const mail = renderEmail(moscow, links, { listId: 'l' });
    expect(mail.subject).toBe('Security Alert — U.S. Embassy Moscow');
    expect(mail.text).toContain('New alert from U.S. Embassy Russia alerts (local copy), United States.');
    expect(mail.text).not.toMatch(/\([^)]*\(/);
    expect(mail.html).toContain('New alert from U.S. Embassy Russia alerts (local copy), United States.');
    // The summary names the source, so no second "From …:" line; the title (with its date) is quoted.
    expect(mail.text).not.toContain('From U.S. Embassy');
    expect(mail.html).not.toContain('From U.S. Embassy');
    expect(moscow.title).not.toBe(mail.subject);
    expect(mail.text).toContain(`\n${moscow.title}\n`);
  });

  it('an alert whose title is its subject says it once in the text and once in the HTML body', () => {
    const title = 'Security Alert: Demonstrations in Moscow';
    const mail = renderEmail(event({ title, link: 'https://ru.usembassy.gov/a1' }), links, { listId: 'l' });
    expect(mail.subject).toBe(title);
    expect(mail.text.split(title).length - 1).toBe(1);
    const body = mail.html.slice(mail.html.indexOf('<body'));
    expect(body.split(title).length - 1).toBe(1);
    expect(mail.text).toContain('Body.');
  });
});

describe('an event’s email rendered once and addressed per subscriber (the dispatcher’s way)', () => {
  const COUNTRY_PAGE = 'https://alerts.example.org/countries/RU';
  const ann = {
    manage: 'https://alerts.example.org/manage/ann.tok',
    unsubscribe: 'https://alerts.example.org/unsubscribe/ann.tok',
    unsubscribeOneClick: 'https://alerts.example.org/unsubscribe/ann.tok',
  };
  // Links are ours, but they are escaped like anything else in the HTML.
  const bob = {
    manage: 'https://alerts.example.org/manage/bob"><script>x</script>&.tok',
    unsubscribe: "https://alerts.example.org/unsubscribe/bob'&<.tok",
    unsubscribeOneClick: 'https://alerts.example.org/unsubscribe/bob-1click',
  };

  it.each<[string, () => Promise<MessageEvent>]>([
    ['a level raise with changed sentences (Smartraveller, Israel)', israelEvent],
    ['an urgent embassy alert', async () => ({ ...(await moscowEvent()), urgency: 'urgent' })],
    [
      'hostile feed text',
      async () =>
        event({
          kind: 'updated',
          title: '<script>alert(1)</script> =?utf-8?b?QQ==?= \u202eexe.pdf',
          body: 'Use <b>care</b> & "stay" safe.\n\n<img src=x onerror=alert(1)>',
          previousBody: 'Use care.',
          link: 'javascript:alert(1)',
        }),
    ],
  ])('%s: each subscriber gets the same email but for their own links, and nothing of the other', async (_name, make) => {
    const e = await make();
    const once = renderEventEmail(e, { listId: 'alerts.example.org', countryPage: COUNTRY_PAGE });
    const toAnn = addressEmail(once, ann);
    const toBob = addressEmail(once, bob);
    // The two emails differ by their links alone.
    const swapLinks = (s: string, encode: (x: string) => string) =>
      s.replace(encode(bob.manage), encode(ann.manage)).replace(encode(bob.unsubscribe), encode(ann.unsubscribe));
    expect(toBob.subject).toBe(toAnn.subject);
    expect(swapLinks(toBob.text, (x) => x)).toBe(toAnn.text);
    expect(swapLinks(toBob.html, escapeHtml)).toBe(toAnn.html);
    expect(toAnn.text).toContain(`Change your destinations or alerts: ${ann.manage}`);
    expect(JSON.stringify(toBob)).not.toContain('ann.tok');
    expect(JSON.stringify(toAnn)).not.toContain('bob');
    // Addressing one subscriber leaves the event's email as it was for the next.
    expect(addressEmail(once, ann)).toEqual(toAnn);

    expect(toBob.text.endsWith(`--\nChange your destinations or alerts: ${bob.manage}\nUnsubscribe: ${bob.unsubscribe}`)).toBe(true);
    expect(toBob.html).toContain(
      `<a href="${escapeHtml(bob.manage)}">Change your destinations or alerts</a> · <a href="${escapeHtml(bob.unsubscribe)}">Unsubscribe</a>`,
    );
    expect(toBob.html).not.toMatch(/<script|<img|<b>|javascript:|\u202e/i);
    expect(toBob.headers['List-Unsubscribe']).toBe(`<${bob.unsubscribeOneClick}>`);
    expect(toBob.subject).not.toContain('=?');
  });
});

describe('smsEncoding and smsSegments', () => {
  it.each<[string, string, 'GSM-7' | 'UCS-2', number, number]>([
    ['empty', '', 'GSM-7', 0, 1],
    ['160 GSM-7 characters: one segment', 'a'.repeat(160), 'GSM-7', 160, 1],
    ['161: two segments of 153', 'a'.repeat(161), 'GSM-7', 161, 2],
    ['306 = 2 × 153', 'a'.repeat(306), 'GSM-7', 306, 2],
    ['307', 'a'.repeat(307), 'GSM-7', 307, 3],
    ['GSM accents stay GSM-7', 'Café déjà vu, Ñoño, Øresund, Ä Ö Ü ß', 'GSM-7', 36, 1],
    ['extension characters count double: 80 € = 160 septets', '€'.repeat(80), 'GSM-7', 160, 1],
    ['81 € = 162 septets', '€'.repeat(81), 'GSM-7', 162, 2],
    ['{ } [ ] ~ ^ | \\ are extension characters', '{}[]~^|\\', 'GSM-7', 16, 1],
    ['an escape pair is never split: 152 + € + 152 needs 3', `${'a'.repeat(152)}€${'a'.repeat(152)}`, 'GSM-7', 306, 3],
    ['one ç (not GSM) makes it UCS-2', 'ça va', 'UCS-2', 5, 1],
    ['70 UCS-2 units: one segment', 'ж'.repeat(70), 'UCS-2', 70, 1],
    ['71: two segments of 67', 'ж'.repeat(71), 'UCS-2', 71, 2],
    ['134 = 2 × 67', 'ж'.repeat(134), 'UCS-2', 134, 2],
    ['135', 'ж'.repeat(135), 'UCS-2', 135, 3],
    ['an emoji is two UTF-16 units: 35 fit in one', '🚨'.repeat(35), 'UCS-2', 70, 1],
    ['36 emoji', '🚨'.repeat(36), 'UCS-2', 72, 2],
    ['a surrogate pair is never split: 66 + 🚨 + 66 needs 3', `${'ж'.repeat(66)}🚨${'ж'.repeat(66)}`, 'UCS-2', 134, 3],
    ['curly quotes force UCS-2', '“quoted”', 'UCS-2', 8, 1],
  ])('%s', (_name, text, encoding, units, segments) => {
    expect(smsEncoding(text)).toEqual({ encoding, units });
    expect(smsSegments(text)).toBe(segments);
    // The independent counter of the fake Twilio server agrees.
    expect(countSegments(text)).toBe(segments);
  });
});

describe('toGsmFriendly', () => {
  it('turns typographic punctuation into GSM-7 equivalents', () => {
    const s = toGsmFriendly('‘single’ “double” en–dash em—dash ellipsis… no\u00a0break thin\u2009space');
    expect(s).toBe('\'single\' "double" en-dash em-dash ellipsis... no break thin space');
    expect(smsEncoding(s).encoding).toBe('GSM-7');
  });

  it('leaves other text alone', () => {
    expect(toGsmFriendly('Москва 🚨 Café')).toBe('Москва 🚨 Café');
  });
});

describe('renderSms', () => {
  const HOME = 'https://alerts.example.org/';

  it('a short alert: who it is from, subject, gist, the source link and how to stop', () => {
    const e = event({
      title: 'Security Alert – U.S. Embassy Moscow (March 7, 2024)',
      body: 'Large  crowds\nare expected.',
      link: 'https://ru.usembassy.gov/a/',
    });
    expect(renderSms(e, { link: HOME })).toBe(
      'Advisory alert: Security Alert - U.S. Embassy Moscow. Large crowds are expected. https://ru.usembassy.gov/a/ Reply STOP to end',
    );
  });

  it('embassy alert (Moscow): the gist and the actions, fields kept apart, the link and STOP within 2 segments', async () => {
    const sms = renderSms(await moscowEvent(), { link: HOME });
    expect(smsSegments(sms)).toBeLessThanOrEqual(2);
    expect(countSegments(sms)).toBeLessThanOrEqual(2);
    expect(
      sms.startsWith(
        'Advisory alert: Security Alert - U.S. Embassy Moscow. The Embassy is monitoring reports that extremists have imminent plans to target large gatherings',
      ),
    ).toBe(true);
    expect(sms).toContain(' Avoid crowds. Monitor local media for updates. ');
    expect(sms).not.toMatch(/Russia Event|Event:|Location:|Actions to Take/);
    expect(sms.endsWith(' https://ru.usembassy.gov/security-alert-u-s-embassy-moscow-march-7-2024/ Reply STOP to end')).toBe(true);
  });

  it.each([
    ['one paragraph per action', 'Security Alert', ['Avoid crowds.', 'Monitor local media for updates.', 'Be aware of your surroundings.']],
    [
      'lines split by <br>, then an Assistance field',
      'Demonstration Alert',
      ['Avoid crowds and demonstrations.', 'Monitor local media for updates.', 'Keep a low profile.'],
    ],
  ])('"Actions to Take" written without bullets (%s): the actions are still the advice', async (_how, title, actions) => {
    const plain = await moscowEvent('us-embassy-russia-alerts_v2-plain-actions.xml', title);
    const bulleted = await moscowEvent('us-embassy-russia-alerts_v2.xml', title);
    expect(smsParts(plain).actions).toEqual(actions);
    expect(smsParts(plain)).toEqual(smsParts(bulleted));
    expect(smsParts(plain).gist).not.toMatch(/Assistance|Bolshoy/);
    const sms = renderSms(plain, { link: HOME });
    expect(sms).toContain(` ${actions[0]} `);
    expect(smsSegments(sms)).toBeLessThanOrEqual(2);
  });

  it('Smartraveller Israel 3 → 4: the level, the advice to leave, no sentence twice', async () => {
    const sms = renderSms(await israelEvent(), { link: HOME });
    expect(smsSegments(sms)).toBeLessThanOrEqual(2);
    expect(sms.startsWith('Advisory alert: Israel: Australia raises to Level 4 - Do not travel. Do not travel to Israel due to')).toBe(true);
    expect(sms).toContain("If you're in Israel and want to leave, take the first available commercial option.");
    expect(sms.endsWith(' https://www.smartraveller.gov.au/destinations/middle-east/israel-palestinian-territories Reply STOP to end')).toBe(true);
    const said = sms.split(/(?<=\.)\s+/).map((s) => s.replace(/\.+$/, ''));
    expect(new Set(said).size).toBe(said.length);
    expect(sms.match(/Do not travel to Israel due to/g)).toHaveLength(1);
  });

  it('no source link, or an unsafe one: our link', () => {
    expect(renderSms(event({ link: null }), { link: HOME })).toMatch(new RegExp(` ${HOME} Reply STOP to end$`));
    expect(renderSms(event({ link: 'javascript:alert(1)' }), { link: HOME })).toMatch(new RegExp(` ${HOME} Reply STOP to end$`));
  });

  it('a long body is cut on a word boundary to fit 2 segments', () => {
    const body = `Terrorists may attack with little or no warning, targeting ${Array.from({ length: 40 }, (_, i) => `tourist location ${i + 1}`).join(', ')}.`;
    const e = event({ kind: 'level-raised', level: 4, previousLevel: 3, levelText: 'Do Not Travel', body, link: 'https://travel.state.gov/russia.html' });
    const sms = renderSms(e, { link: HOME });
    expect(sms.startsWith('Advisory alert: Russia: U.S. Department of State raises to Level 4 - Do Not Travel. Do Not Travel.')).toBe(false);
    expect(sms.startsWith('Advisory alert: Russia: U.S. Department of State raises to Level 4 - Do Not Travel. Terrorists may attack')).toBe(true);
    expect(sms).toMatch(/[a-z0-9]\.\.\. https:\/\/travel\.state\.gov\/russia\.html Reply STOP to end$/);
    expect(smsSegments(sms)).toBe(2);
    expect(smsSegments(renderSms(e, { link: HOME, maxSegments: 1 }))).toBe(1);
  });

  it('a source link too long to leave room for the gist is replaced by ours', () => {
    const e = event({ title: 'Security alert', link: `https://example.org/${'a'.repeat(400)}` });
    const sms = renderSms(e, { link: HOME });
    expect(sms).toMatch(new RegExp(` ${HOME} Reply STOP to end$`));
    expect(smsSegments(sms)).toBeLessThanOrEqual(2);
  });

  it('a very long UCS-2 title with emoji is cut without breaking an emoji', () => {
    const e = event({ title: `${'Предупреждение '.repeat(3)}${'🚨'.repeat(60)}`, body: '', link: 'https://news.example/1' });
    const sms = renderSms(e, { link: HOME });
    expect(smsSegments(sms)).toBeLessThanOrEqual(2);
    expect(countSegments(sms)).toBeLessThanOrEqual(2);
    expect(sms).not.toMatch(LONE_SURROGATE);
    expect(sms).toMatch(/\.\.\. https:\/\/news\.example\/1( Reply STOP to end)?$/);
  });

  it('never exceeds maxSegments, whatever the input (seeded random inputs)', () => {
    // Mulberry32: deterministic, so a failure reproduces.
    let seed = 0x5eed1234;
    const random = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
      return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
    };
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const alphabets = [
      'abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ.,;:!?0123456789 ',
      'abc def ghi {}[]~^|\\€ ',
      'Москва предупреждение безопасность ',
      '北京上海警告安全旅行',
      '🚨🇷🇺👍🏽😀 ',
      '‘’“”–—… \u00a0',
      'éèùìòÇØøÅåÆæßÉÄÖÑÜäöñüà ç',
      'line\nbreak\r\n\t tab ',
    ];
    const text = (max: number) => {
      const mix = Array.from({ length: 1 + Math.floor(random() * 3) }, () => pick(alphabets));
      const n = Math.floor(random() * max);
      let s = '';
      while (s.length < n) {
        const alphabet = [...pick(mix)];
        s += alphabet[Math.floor(random() * alphabet.length)]!;
      }
      return s;
    };
    const kinds = ['new', 'updated', 'level-raised', 'level-lowered'] as const;
    for (let i = 0; i < 600; i++) {
      const levelled = random() < 0.5;
      const e = event({
        kind: pick(kinds),
        countries: pick([[], ['RU'], ['RU', 'UA', 'BY', 'KZ'], ['CD']]),
        level: levelled ? 1 + Math.floor(random() * 4) : null,
        previousLevel: levelled ? 1 + Math.floor(random() * 4) : null,
        levelText: levelled && random() < 0.7 ? text(90) : null,
        title: text(pick([20, 200, 600])),
        body: text(pick([0, 50, 500, 5000])),
        link: pick([null, 'https://ru.usembassy.gov/a/', `https://example.org/${'p/'.repeat(Math.floor(random() * 300))}`, 'javascript:alert(1)']),
      });
      const maxSegments = pick([1, 2, 2, 3]);
      const sms = renderSms(e, { link: HOME, maxSegments });
      const where = `case ${i}: ${JSON.stringify({ title: e.title.slice(0, 80), link: e.link?.slice(0, 60), maxSegments })}`;
      expect(smsSegments(sms), where).toBeLessThanOrEqual(maxSegments);
      expect(countSegments(sms), where).toBeLessThanOrEqual(maxSegments);
      expect(sms, where).not.toMatch(LONE_SURROGATE);
      const tail = sms.replace(/ Reply STOP to end$/, '');
      expect(tail.endsWith(` ${HOME}`) || (e.link?.startsWith('https://') && tail.endsWith(` ${e.link}`)), where).toBe(true);
    }
  });
});
