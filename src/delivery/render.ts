import { diffArrays } from 'diff';
import type { EventKind, Urgency } from '../db/types.ts';
import { shortLevelName } from '../advisories/wording.ts';
import { countryName } from '../common/countries.ts';
import { LEVEL_NAMES } from '../advisories/overview.ts';
import { escapeHtml, safeUrl } from '../common/escape.ts';
import { cutUnits, truncateWords } from '../common/text.ts';

/**
 * Message rendering: pure functions from an event (and the versions before and
 * after) to an email and an SMS. Feed content is untrusted; it reaches the HTML
 * only as escaped text (profiles already reduced it to plain text), and links
 * only when they are http(s).
 */
export interface MessageEvent {
  id: number;
  kind: EventKind;
  feedName: string;
  government: string;
  countries: string[];
  level: number | null;
  previousLevel: number | null;
  levelText: string | null;
  previousLevelText: string | null;
  title: string;
  body: string;
  previousBody: string | null;
  link: string | null;
  publishedAt: Date | null;
  /** Absent means routine (see advisories/urgency.ts). */
  urgency?: Urgency;
  /**
   * Set for sources whose wording is not English ("Japan (MOFA)"): the subject
   * then starts with it and names the countries in English, so a reader knows
   * whose words follow before meeting them in Japanese or German.
   */
  sourceLabel?: string | null;
}

/** The links that are the subscriber's own (signed with their token). */
export interface SubscriberLinks {
  manage: string;
  unsubscribe: string;
  /** RFC 8058 one-click target (POST). */
  unsubscribeOneClick: string;
}

export interface MessageLinks extends SubscriberLinks {
  /** The public page of the event's (first) country: every government's advice side by side. */
  countryPage?: string | undefined;
}

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
  headers: Record<string, string>;
}

function placeOf(e: MessageEvent): string {
  if (e.countries.length === 0) return 'Worldwide';
  return e.countries.map(countryName).join(', ');
}

/** The government's short name for the level ("Do not travel"), else the common scale's. */
export function levelName(level: number, wording: string | null): string {
  return shortLevelName(level, wording) ?? LEVEL_NAMES[level] ?? '';
}

/** Who said it, plainly: "U.S. Embassy Russia alerts, United States"; a generic feed is its own name. */
export function sourceLine(e: Pick<MessageEvent, 'feedName' | 'government'>): string {
  return e.government === e.feedName ? e.feedName : `${e.feedName}, ${e.government}`;
}

/** "Qatar, Bahrain, Kuwait and 15 more": a subject stays readable for a region-wide notice. */
function shortPlace(e: MessageEvent): string {
  if (e.countries.length <= 3) return placeOf(e);
  return `${e.countries.slice(0, 3).map(countryName).join(', ')} and ${e.countries.length - 3} more`;
}

function levelTail(e: MessageEvent): string {
  return e.kind === 'level-raised'
    ? ` (raised from ${e.previousLevel})`
    : e.kind === 'level-lowered'
      ? ` (lowered from ${e.previousLevel})`
      : e.kind === 'new'
        ? ' (new advisory)'
        : ' (advisory updated)';
}

/**
 * "Israel: Australia raises to Level 4 — Do not travel",
 * "Security Alert — U.S. Embassy Moscow" (alerts keep their own title);
 * for a non-English source the government comes first and the wording stays its own:
 * "Japan (MOFA): Qatar — Level 3 — 不要不急の渡航は止めてください (raised from 2)".
 */
export function subjectFor(e: MessageEvent): string {
  if (e.sourceLabel) {
    const what =
      e.level === null ? `${e.kind === 'updated' ? 'Updated: ' : ''}${e.title}` : `Level ${e.level} — ${levelName(e.level, e.levelText)}${levelTail(e)}`;
    return truncateWords(`${e.sourceLabel}: ${shortPlace(e)} — ${what}`, 150);
  }
  if (e.level === null) {
    // Embassy alert titles: "Security Alert – U.S. Embassy Moscow (March 7, 2024)".
    const title = e.title.replace(/\s*\([^)]*\d{4}\)\s*$/, '').replace(/\s+[-–]\s+/g, ' — ');
    return truncateWords(e.kind === 'updated' ? `Updated: ${title}` : title, 150);
  }
  const level = `Level ${e.level} — ${levelName(e.level, e.levelText)}`;
  const what =
    e.kind === 'level-raised'
      ? `${e.government} raises to ${level}`
      : e.kind === 'level-lowered'
        ? `${e.government} lowers to ${level}`
        : e.kind === 'new'
          ? `new ${e.government} advice, ${level}`
          : `${e.government} updates its advice, still ${level}`;
  return truncateWords(`${placeOf(e)}: ${what}`, 150);
}

function sentences(text: string): string[] {
  return text
    .split(/\n+/)
    .flatMap((p) => p.split(/(?<=[.!?])\s+(?=[A-Z0-9“"‘'(•])/))
    .map((s) => s.replace(/\s+/g, ' ').trim())
    .filter(Boolean);
}

export interface TextChanges {
  added: string[];
  removed: string[];
  /** A reworded, merged or split sentence: what it says now, and what it replaced. */
  changed: { after: string; before: string[] }[];
}

function wordsOf(s: string): string[] {
  return s.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/**
 * How much a removed sentence lives on in an added one: the words they share
 * in order (a longest common subsequence, from the diff library), as a share
 * of the removed sentence and of both. "Do not travel to Gaza." merged into
 * "Do not travel to Gaza, the West Bank or …" scores 1.
 */
function similarity(removed: string, added: string): number {
  const a = wordsOf(removed);
  const b = wordsOf(added);
  if (a.length === 0 || b.length === 0) return 0;
  let common = 0;
  for (const part of diffArrays(a, b)) if (!part.added && !part.removed) common += part.value.length;
  if (common < 2) return 0;
  return Math.max(common / a.length >= 0.6 && common >= 3 ? common / a.length : 0, (2 * common) / (a.length + b.length));
}

const SIMILAR = 0.5;

/** The last diff: a dispatcher renders the same event for every subscriber in a row. */
let lastDiff: { before: string; after: string; changes: TextChanges } | undefined;

function copyChanges(c: TextChanges): TextChanges {
  return { added: [...c.added], removed: [...c.removed], changed: c.changed.map((x) => ({ after: x.after, before: [...x.before] })) };
}

/**
 * For a text update: the sentences added, removed, and changed. A removed
 * sentence whose words live on in an added one (reworded, merged into a longer
 * one) is shown as changed, never as removed: "Removed: Do not travel to Gaza"
 * would read as if the warning had been lifted.
 */
export function textChanges(before: string | null, after: string): TextChanges {
  if (before === null) return { added: [], removed: [], changed: [] };
  if (lastDiff?.before === before && lastDiff.after === after) return copyChanges(lastDiff.changes);
  const added: string[] = [];
  const removed: string[] = [];
  for (const part of diffArrays(sentences(before), sentences(after))) {
    if (part.added) added.push(...part.value);
    else if (part.removed) removed.push(...part.value);
  }
  const pairedWith = new Map<string, string[]>();
  const unpaired: string[] = [];
  for (const r of removed) {
    let best: string | undefined;
    let bestScore = SIMILAR;
    for (const a of added) {
      const score = similarity(r, a);
      if (score >= bestScore) [best, bestScore] = [a, score];
    }
    if (best === undefined) unpaired.push(r);
    else pairedWith.set(best, [...(pairedWith.get(best) ?? []), r]);
  }
  const changes: TextChanges = {
    added: added.filter((a) => !pairedWith.has(a)),
    removed: unpaired,
    changed: added.filter((a) => pairedWith.has(a)).map((a) => ({ after: a, before: pairedWith.get(a)! })),
  };
  lastDiff = { before, after, changes: copyChanges(changes) };
  return changes;
}

/** True when whatChanged's sentence already says who published it (an alert without a level). */
function summaryNamesSource(e: MessageEvent): boolean {
  return e.level === null && (e.kind === 'new' || e.kind === 'updated');
}

function whatChanged(e: MessageEvent): string[] {
  const was = e.previousLevel === null ? '' : `Level ${e.previousLevel} (${levelName(e.previousLevel, e.previousLevelText)})`;
  const now = e.level === null ? '' : `Level ${e.level} (${levelName(e.level, e.levelText)})`;
  switch (e.kind) {
    case 'level-raised':
    case 'level-lowered':
      return [`${e.government} ${e.kind === 'level-raised' ? 'raised' : 'lowered'} its advice for ${placeOf(e)} from ${was} to ${now}.`];
    case 'new':
      return [summaryNamesSource(e) ? `New alert from ${sourceLine(e)}.` : `New advice from ${e.government} for ${placeOf(e)}: ${now}.`];
    case 'updated':
      return [summaryNamesSource(e) ? `${sourceLine(e)} updated this alert.` : `${e.government} updated its advice for ${placeOf(e)} (still ${now}).`];
  }
}

const MAX_QUOTE = 4000;

/**
 * An urgent event's email says so before anything else: as the first line of
 * the text, as a red banner on top of the HTML, and with the priority headers
 * mail clients flag. The subject stays the plain "what happened" line people
 * filter and search on.
 */
const URGENT_LINE = 'URGENT — act on this now';

// Bidirectional-text controls: in a feed title they can reverse what a reader
// sees (an "exe.pdf" that is a ".fdp.exe", a URL that reads as another one).
const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function stripBidi(s: string): string {
  return s.replace(BIDI_CONTROLS, '');
}

/** The event's feed-supplied text without bidi controls: what every rendering starts from. */
export function neutralized(e: MessageEvent): MessageEvent {
  return {
    ...e,
    feedName: stripBidi(e.feedName),
    title: stripBidi(e.title),
    body: stripBidi(e.body),
    previousBody: e.previousBody === null ? null : stripBidi(e.previousBody),
    levelText: e.levelText === null ? null : stripBidi(e.levelText),
    previousLevelText: e.previousLevelText === null ? null : stripBidi(e.previousLevelText),
  };
}

/**
 * A feed title with a MIME encoded-word ("=?utf-8?b?…?=") would go into an
 * all-ASCII Subject as is, and mail clients would decode it into text the
 * feed never showed. Break the "=?" opener so it stays literal text.
 */
export function headerSafe(subject: string): string {
  return subject.replace(/=\?/g, '= ?');
}

/**
 * An event's email before it is addressed: all of it but the subscriber's own links, so
 * the same for every subscriber of the event. The dispatcher renders it once per event and
 * addresses it once per message; every subscriber still gets what renderEmail gives.
 */
export interface EventEmail {
  readonly subject: string;
  /** The text part up to the subscriber's links. */
  readonly text: string;
  /** The HTML part up to the subscriber's links. */
  readonly html: string;
  readonly urgent: boolean;
  readonly listId: string;
}

export function renderEmail(event: MessageEvent, links: MessageLinks, options: { listId: string }): RenderedEmail {
  return addressEmail(renderEventEmail(event, { listId: options.listId, countryPage: links.countryPage }), links);
}

/** The subscriber's links (escaped in the HTML like everything else) and list headers, added to the event's email. */
export function addressEmail(email: EventEmail, links: SubscriberLinks): RenderedEmail {
  return {
    subject: email.subject,
    text: `${email.text}Change your destinations or alerts: ${links.manage}\nUnsubscribe: ${links.unsubscribe}`,
    html: `${email.html}<a href="${escapeHtml(links.manage)}">Change your destinations or alerts</a> · <a href="${escapeHtml(links.unsubscribe)}">Unsubscribe</a></p>
</div></body></html>`,
    headers: {
      ...listHeaders(links, email.listId),
      ...(email.urgent ? { Importance: 'high', 'X-Priority': '1' } : {}),
    },
  };
}

export function renderEventEmail(event: MessageEvent, options: { listId: string; countryPage?: string | undefined }): EventEmail {
  const e = neutralized(event);
  const urgent = e.urgency === 'urgent';
  const subject = subjectFor(e);
  const changes: TextChanges =
    e.kind === 'updated' || e.kind === 'level-raised' || e.kind === 'level-lowered'
      ? textChanges(e.previousBody, e.body)
      : { added: [], removed: [], changed: [] };
  const source = safeUrl(e.link);
  const quote = truncateWords(e.body, MAX_QUOTE);
  const summary = whatChanged(e);
  // Said once: an alert's summary already names its source ("New alert from …"),
  // and a title that is the subject word for word is not quoted under it again.
  const fromLine = summaryNamesSource(e) ? null : `From ${sourceLine(e)}:`;
  const quotedTitle = e.title === subject ? null : e.title;
  const first = e.countries[0];
  const countryPage = options.countryPage && first ? { url: options.countryPage, name: countryName(first) } : null;

  const text = [
    ...(urgent ? [URGENT_LINE, ''] : []),
    subject,
    '',
    ...summary,
    ...(changes.changed.length ? ['', 'Changed:', ...changes.changed.flatMap((c) => [`* ${c.after}`, `  (before: ${c.before.join(' ')})`])] : []),
    ...(changes.added.length ? ['', 'Added:', ...changes.added.map((s) => `+ ${s}`)] : []),
    ...(changes.removed.length ? ['', 'Removed:', ...changes.removed.map((s) => `- ${s}`)] : []),
    '',
    ...(fromLine ? [fromLine, ''] : []),
    ...(quotedTitle ? [quotedTitle, ''] : []),
    quote,
    '',
    ...(source ? [`Source: ${source}`, ''] : []),
    ...(countryPage ? [`See every government's advice for ${countryPage.name}: ${countryPage.url}`, ''] : []),
    '--',
    '',
  ].join('\n');

  const para = (s: string) => `<p style="margin:0 0 12px">${escapeHtml(s)}</p>`;
  const list = (items: string[], label: string, color: string) =>
    items.length
      ? `<p style="margin:12px 0 4px"><strong>${label}</strong></p><ul style="margin:0 0 12px;padding-left:20px;color:${color}">${items.map((s) => `<li>${escapeHtml(s)}</li>`).join('')}</ul>`
      : '';
  const changed = changes.changed.length
    ? `<p style="margin:12px 0 4px"><strong>Changed</strong></p><ul style="margin:0 0 12px;padding-left:20px">${changes.changed
        .map((c) => `<li>${escapeHtml(c.after)}<br><span style="color:#555;font-size:13px">Before: ${escapeHtml(c.before.join(' '))}</span></li>`)
        .join('')}</ul>`
    : '';
  const quoted = quote
    .split(/\n{2,}/)
    .map((p) => `<p style="margin:0 0 10px">${escapeHtml(p).replace(/\n/g, '<br>')}</p>`)
    .join('');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(subject)}</title></head>
<body style="margin:0;padding:0;background:#f4f4f4;font-family:Arial,Helvetica,sans-serif;color:#1a1a1a">
<div style="max-width:600px;margin:0 auto;padding:16px;background:#ffffff">
${urgent ? `<p style="margin:0 0 12px;padding:8px 12px;background:#b00020;color:#ffffff;font-weight:bold;letter-spacing:0.05em">${URGENT_LINE}</p>` : ''}
<h1 style="font-size:20px;line-height:1.3;margin:0 0 12px">${escapeHtml(subject)}</h1>
${summary.map(para).join('')}
${changed}${list(changes.added, 'Added', '#0b5d1e')}${list(changes.removed, 'Removed', '#8a1c1c')}
${fromLine ? `<p style="margin:16px 0 6px;color:#555">${escapeHtml(fromLine)}</p>` : ''}
<blockquote style="margin:${fromLine ? '0' : '16px'} 0 16px;padding:8px 12px;border-left:4px solid #999;background:#fafafa">
${quotedTitle ? `<p style="margin:0 0 10px"><strong>${escapeHtml(quotedTitle)}</strong></p>` : ''}
${quoted}
</blockquote>
${source ? `<p style="margin:0 0 16px"><a href="${escapeHtml(source)}">Read it at the source</a></p>` : ''}
${countryPage ? `<p style="margin:0 0 16px"><a href="${escapeHtml(countryPage.url)}">See every government’s advice for ${escapeHtml(countryPage.name)}</a></p>` : ''}
<hr style="border:0;border-top:1px solid #ddd;margin:16px 0">
<p style="font-size:13px;color:#555;margin:0">You get this because you follow ${escapeHtml(placeOf(e))} on Advisory Alerts.
`;

  return { subject: headerSafe(subject), text, html, urgent, listId: options.listId };
}

/** The list headers every email to a subscriber carries (RFC 2369, RFC 8058 one-click, RFC 2919). */
export function listHeaders(links: SubscriberLinks, listId: string): Record<string, string> {
  return {
    'List-Unsubscribe': `<${links.unsubscribeOneClick}>`,
    'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    'List-Id': `Advisory Alerts <${listId}>`,
  };
}

// GSM 03.38 basic set plus the extension table (which costs two septets).
const GSM_BASIC = new Set('@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà');
const GSM_EXTENDED = new Set('^{}\\[~]|€');

/** Typographic characters that would force UCS-2 (70 chars a segment) for no reason. */
export function toGsmFriendly(s: string): string {
  return s
    .replace(/[‘’‚‛′]/g, "'")
    .replace(/[“”„‟″]/g, '"')
    .replace(/[–—―]/g, '-')
    .replace(/…/g, '...')
    .replace(/[\u00a0\u2000-\u200b\u202f]/g, ' ');
}

export function smsEncoding(s: string): { encoding: 'GSM-7' | 'UCS-2'; units: number } {
  let septets = 0;
  for (const ch of s) {
    if (GSM_BASIC.has(ch)) septets += 1;
    else if (GSM_EXTENDED.has(ch)) septets += 2;
    else return { encoding: 'UCS-2', units: [...s].reduce((n, c) => n + (c.codePointAt(0)! > 0xffff ? 2 : 1), 0) };
  }
  return { encoding: 'GSM-7', units: septets };
}

export function smsSegments(s: string): number {
  const { encoding, units } = smsEncoding(s);
  const single = encoding === 'GSM-7' ? 160 : 70;
  const multi = encoding === 'GSM-7' ? 153 : 67;
  if (units <= single) return 1;
  // A character is never split across two segments (an escape + extension
  // septet, a surrogate pair): one that doesn't fit starts the next segment.
  let segments = 1;
  let used = 0;
  for (const ch of s) {
    const width = encoding === 'GSM-7' ? (GSM_EXTENDED.has(ch) ? 2 : 1) : ch.codePointAt(0)! > 0xffff ? 2 : 1;
    if (used + width > multi) {
      segments++;
      used = 0;
    }
    used += width;
  }
  return segments;
}

// Hiragana, katakana, CJK ideographs and full-width forms: text in these
// scripts has no spaces between words, so any character ends a usable prefix.
const NO_SPACE_SCRIPT = /[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]/;

/** Offsets where the gist may be cut: before each space, and after each character of a spaceless script. */
function gistCuts(gist: string): number[] {
  const cuts: number[] = [];
  let i = 0;
  for (const ch of gist) {
    if (ch === ' ' && i > 0) cuts.push(i);
    i += ch.length;
    if (NO_SPACE_SCRIPT.test(ch)) cuts.push(i);
  }
  if (cuts[cuts.length - 1] !== gist.length) cuts.push(gist.length);
  return cuts;
}

/** Who the text is from, first (the verification texts say the same), and how to stop, last. */
export const SMS_PREFIX = 'Advisory alert: ';
export const SMS_STOP_HINT = 'Reply STOP to end';

// "Label: value" fields of embassy alerts ("Location:", "Event:", "Actions to Take:").
const FIELD = /^([A-Z][A-Za-z.'’ ]{1,30}):\s*(.*)$/;
const ACTION_LABEL = /^(actions?( to take)?|what (you|to) (should )?do|advice|recommendations?)$/i;
const SKIPPED_LABEL = /^(assistance|contact|contacts|location|date|time|dates?)$/i;
// Advice a traveler acts on, outside an "Actions to Take" list.
const ACTION_WORDS = /\b(leave|avoid|monitor|follow|contact|register|enrol+|shelter|carry|keep|stay|be aware|take|check|review|should)\b/i;

interface SmsParts {
  /** What happened: the first sentence of the event, or the advice's level sentence. */
  gist: string | null;
  /** What to do, in the document's order. */
  actions: string[];
}

function sentence(s: string): string {
  const t = s
    .replace(/^[•*-]\s*/, '')
    .replace(/\s+/g, ' ')
    .trim();
  return t && !/[.!?]$/.test(t) ? `${t}.` : t;
}

/**
 * The gist and the actions of an advisory or alert, chosen before any cutting
 * so that the advice survives a short budget. Fields that a feed puts on their
 * own lines become sentences of their own (never "Moscow, Russia Event: …").
 */
export function smsParts(e: MessageEvent): SmsParts {
  const actions: string[] = [];
  const statements: string[] = [];
  let inActions = false;
  // Whether the current action section is a bulleted list: then a plain line after
  // the bullets is prose again. Written one action per line (paragraphs, <br>), every
  // line is an action until the next field ("Assistance:").
  let bulleted = false;
  // A line starting in lower case continues the one before (a hard-wrapped paragraph).
  const lines = e.body.replace(/\n+(?=[a-z])/g, ' ').split(/\n+/);
  for (const line of lines.map((l) => l.trim()).filter(Boolean)) {
    const field = FIELD.exec(line);
    let text = line;
    if (field && !/[.!?]/.test(field[1]!)) {
      const label = field[1]!.trim();
      inActions = ACTION_LABEL.test(label);
      bulleted = false;
      if (SKIPPED_LABEL.test(label)) continue;
      text = field[2]!;
    } else if (/^[•*-]/.test(line)) {
      bulleted = true;
    } else if (bulleted) {
      inActions = false;
    }
    for (const s of sentences(text).map(sentence).filter(Boolean)) (inActions ? actions : statements).push(s);
  }
  // The level's own sentence says why ("… due to the risk of conflict"); a bare
  // level name ("Do Not Travel") only repeats the subject.
  const levelSentence = e.levelText && e.level !== null && e.levelText.trim() !== shortLevelName(e.level, e.levelText) ? sentence(e.levelText) : null;
  const gist = levelSentence ?? statements[0] ?? null;
  // Without an explicit list, advice sentences other than the gist are the actions;
  // a sentence that restates a level ("Do not travel to Gaza") is not an action.
  if (actions.length === 0) {
    for (const s of statements) if (s !== gist && ACTION_WORDS.test(s) && shortLevelName(e.level ?? 0, s) === null) actions.push(s);
  }
  return { gist, actions: [...new Set(actions)].filter((a) => a !== gist) };
}

/**
 * At most `maxSegments` segments: "Advisory alert:", the subject, the gist and
 * the actions (whole sentences first; the gist is cut at a word boundary to
 * leave room for at least one action), a link and the STOP hint.
 */
export function renderSms(event: MessageEvent, options: { link: string; maxSegments?: number }): string {
  const e = neutralized(event);
  const max = options.maxSegments ?? 2;
  const subject = toGsmFriendly(subjectFor(e));
  const { gist: rawGist, actions: rawActions } = smsParts(e);
  const gist = rawGist ? toGsmFriendly(rawGist) : null;
  const actions = rawActions.map(toGsmFriendly);
  // The source's link, unless it is so long that it leaves no room for the gist: then ours.
  const source = safeUrl(e.link);
  const link = source && smsSegments(`${SMS_PREFIX}${cutUnits(subject, 40)}... ${source} ${SMS_STOP_HINT}`) <= max ? source : options.link;
  const build = (content: string[], stop = true) =>
    `${SMS_PREFIX}${subject}.${content.length ? ` ${content.join(' ')}` : ''} ${link}${stop ? ` ${SMS_STOP_HINT}` : ''}`;
  const fits = (content: string[], stop = true) => smsSegments(build(content, stop)) <= max;

  // Actions that fit whole, in order, with the whole gist if possible.
  const take = (withGist: string | null) => {
    const chosen: string[] = [];
    for (const a of actions) if (fits([...(withGist ? [withGist] : []), ...chosen, a])) chosen.push(a);
    return chosen;
  };
  if (gist) {
    const all = take(gist);
    if (fits([gist, ...all]) && (all.length > 0 || actions.length === 0)) return build([gist, ...all]);
  }
  // The gist does not fit beside an action: keep up to two actions whole, and
  // as much of the gist as fits, cut at a word boundary.
  for (let keep = Math.min(2, actions.length); keep >= 0; keep--) {
    const kept = take(null).slice(0, keep);
    if (kept.length < keep) continue;
    if (!gist) {
      if (fits(kept)) return build(kept);
      continue;
    }
    const cut = longestFitting(gist, (g) => fits([g, ...kept]));
    if (cut && (cut.split(' ').length >= 6 || keep === 0)) return build([cut, ...kept]);
  }
  if (fits([])) return build([]);
  if (fits([], false)) return build([], false);
  // Even the subject is too long (a very long UCS-2 title): cut it.
  let cut = subject;
  while (cut.length > 10 && smsSegments(`${SMS_PREFIX}${cut}... ${link}`) > max) cut = cutUnits(cut, cut.length - 10);
  return `${SMS_PREFIX}${cut}... ${link}`;
}

/**
 * The longest prefix of `text` (with "..." when cut) that `fits`, or null: cut at
 * a word boundary, or after any character of a script written without spaces.
 */
function longestFitting(text: string, fits: (s: string) => boolean): string | null {
  if (fits(text)) return text;
  const cuts = gistCuts(text).slice(0, -1);
  const prefix = (n: number) =>
    `${text
      .slice(0, cuts[n - 1])
      .trimEnd()
      .replace(/[,;:、-]+$/, '')}...`;
  let lo = 0;
  let hi = cuts.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(prefix(mid))) lo = mid;
    else hi = mid - 1;
  }
  return lo > 0 ? prefix(lo) : null;
}
