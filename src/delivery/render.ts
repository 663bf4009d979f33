import { diffArrays } from 'diff';
import type { EventKind, Urgency } from '../db/types.ts';
import { countryName } from '../common/countries.ts';
import { escapeHtml } from '../common/escape.ts';

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
}

export interface MessageLinks {
  manage: string;
  unsubscribe: string;
  /** RFC 8058 one-click target (POST). */
  unsubscribeOneClick: string;
}

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
  headers: Record<string, string>;
}

const LEVEL_NAMES: Record<number, string> = {
  1: 'Exercise normal precautions',
  2: 'Exercise increased caution',
  3: 'Reconsider travel',
  4: 'Do not travel',
};

function safeUrl(url: string | null): string | null {
  if (!url) return null;
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
  } catch {
    return null;
  }
}

/** The first `n` UTF-16 units of `s`, never ending in half a surrogate pair (an emoji cut in two). */
function cutUnits(s: string, n: number): string {
  const cut = s.slice(0, Math.max(0, n));
  return /[\ud800-\udbff]$/.test(cut) ? cut.slice(0, -1) : cut;
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${cutUnits(s, max - 1).trimEnd()}…`;
}

function placeOf(e: MessageEvent): string {
  if (e.countries.length === 0) return 'Worldwide';
  return e.countries.map(countryName).join(', ');
}

function levelWords(level: number, text: string | null): string {
  return text ? truncate(text, 60) : (LEVEL_NAMES[level] ?? '');
}

/** "Russia: Level 4 — Do Not Travel (raised from 3)", "Security Alert — U.S. Embassy Moscow". */
export function subjectFor(e: MessageEvent): string {
  if (e.level === null) {
    // Embassy alert titles: "Security Alert – U.S. Embassy Moscow (March 7, 2024)".
    const title = e.title.replace(/\s*\([^)]*\d{4}\)\s*$/, '').replace(/\s+[-–]\s+/g, ' — ');
    return truncate(e.kind === 'updated' ? `Updated: ${title}` : title, 150);
  }
  const head = `${placeOf(e)}: Level ${e.level} — ${levelWords(e.level, e.levelText)}`;
  const tail =
    e.kind === 'level-raised'
      ? ` (raised from ${e.previousLevel})`
      : e.kind === 'level-lowered'
        ? ` (lowered from ${e.previousLevel})`
        : e.kind === 'new'
          ? ' (new advisory)'
          : ' (advisory updated)';
  return truncate(`${head}${tail}`, 150);
}

function sentences(text: string): string[] {
  return text
    .split(/\n+/)
    .flatMap((p) => p.split(/(?<=[.!?])\s+(?=[A-Z0-9“"‘'(•])/))
    .map((s) => s.replace(/\s+/g, ' ').trim())
    .filter(Boolean);
}

/** The last diff: a dispatcher renders the same event for every subscriber in a row. */
let lastDiff: { before: string; after: string; added: string[]; removed: string[] } | undefined;

/** For a text update: the sentences added and removed (SPEC §6 "what changed"). */
export function textChanges(before: string | null, after: string): { added: string[]; removed: string[] } {
  if (before === null) return { added: [], removed: [] };
  if (lastDiff?.before === before && lastDiff.after === after) return { added: [...lastDiff.added], removed: [...lastDiff.removed] };
  const added: string[] = [];
  const removed: string[] = [];
  for (const part of diffArrays(sentences(before), sentences(after))) {
    if (part.added) added.push(...part.value);
    else if (part.removed) removed.push(...part.value);
  }
  lastDiff = { before, after, added: [...added], removed: [...removed] };
  return { added, removed };
}

function whatChanged(e: MessageEvent): string[] {
  switch (e.kind) {
    case 'level-raised':
    case 'level-lowered':
      return [
        `${e.government} ${e.kind === 'level-raised' ? 'raised' : 'lowered'} its advice from Level ${e.previousLevel}${e.previousLevelText ? ` (${truncate(e.previousLevelText, 80)})` : ''} to Level ${e.level}${e.levelText ? ` (${truncate(e.levelText, 80)})` : ''}.`,
      ];
    case 'new':
      return [e.level === null ? `New alert from ${e.feedName}.` : `New advisory from ${e.government}: Level ${e.level}${e.levelText ? ` (${truncate(e.levelText, 80)})` : ''}.`];
    case 'updated':
      return [`${e.government} updated this ${e.level === null ? 'alert' : 'advisory'}${e.level !== null ? ` (still Level ${e.level})` : ''}.`];
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

export function renderEmail(e: MessageEvent, links: MessageLinks, options: { listId: string }): RenderedEmail {
  const urgent = e.urgency === 'urgent';
  const subject = subjectFor(e);
  const changes = e.kind === 'updated' || e.kind === 'level-raised' || e.kind === 'level-lowered' ? textChanges(e.previousBody, e.body) : { added: [], removed: [] };
  const source = safeUrl(e.link);
  const quote = truncate(e.body, MAX_QUOTE);
  const summary = whatChanged(e);

  const text = [
    ...(urgent ? [URGENT_LINE, ''] : []),
    subject,
    '',
    ...summary,
    ...(changes.added.length ? ['', 'Added:', ...changes.added.map((s) => `+ ${s}`)] : []),
    ...(changes.removed.length ? ['', 'Removed:', ...changes.removed.map((s) => `- ${s}`)] : []),
    '',
    `${e.government} (${e.feedName}) says:`,
    '',
    e.title,
    '',
    quote,
    '',
    ...(source ? [`Source: ${source}`, ''] : []),
    '--',
    `Change your destinations or alerts: ${links.manage}`,
    `Unsubscribe: ${links.unsubscribe}`,
  ].join('\n');

  const para = (s: string) => `<p style="margin:0 0 12px">${escapeHtml(s)}</p>`;
  const list = (items: string[], label: string, color: string) =>
    items.length
      ? `<p style="margin:12px 0 4px"><strong>${label}</strong></p><ul style="margin:0 0 12px;padding-left:20px;color:${color}">${items.map((s) => `<li>${escapeHtml(s)}</li>`).join('')}</ul>`
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
${list(changes.added, 'Added', '#0b5d1e')}${list(changes.removed, 'Removed', '#8a1c1c')}
<p style="margin:16px 0 6px;color:#555">${escapeHtml(e.government)} (${escapeHtml(e.feedName)}) says:</p>
<blockquote style="margin:0 0 16px;padding:8px 12px;border-left:4px solid #999;background:#fafafa">
<p style="margin:0 0 10px"><strong>${escapeHtml(e.title)}</strong></p>
${quoted}
</blockquote>
${source ? `<p style="margin:0 0 16px"><a href="${escapeHtml(source)}">Read it at the source</a></p>` : ''}
<hr style="border:0;border-top:1px solid #ddd;margin:16px 0">
<p style="font-size:13px;color:#555;margin:0">You get this because you follow ${escapeHtml(placeOf(e))} on Advisory Alerts.
<a href="${escapeHtml(links.manage)}">Change your destinations or alerts</a> · <a href="${escapeHtml(links.unsubscribe)}">Unsubscribe</a></p>
</div></body></html>`;

  return {
    subject,
    text,
    html,
    headers: {
      'List-Unsubscribe': `<${links.unsubscribeOneClick}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      'List-Id': `Advisory Alerts <${options.listId}>`,
      ...(urgent ? { Importance: 'high', 'X-Priority': '1' } : {}),
    },
  };
}

// GSM 03.38 basic set plus the extension table (which costs two septets).
const GSM_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
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

/** At most `maxSegments` segments: the gist (subject, then text) trimmed to fit, and a link. */
export function renderSms(e: MessageEvent, options: { link: string; maxSegments?: number }): string {
  const max = options.maxSegments ?? 2;
  const subject = toGsmFriendly(subjectFor(e));
  // The source's link, unless it is so long that it leaves no room for the gist: then ours.
  const source = safeUrl(e.link);
  const link = source && smsSegments(`${cutUnits(subject, 40)}... ${source}`) <= max ? source : options.link;
  const gist = toGsmFriendly(e.body.replace(/\s+/g, ' ').trim());
  const build = (g: string) => `${subject}${g ? `: ${g}` : ''} ${link}`;
  if (smsSegments(build(gist)) <= max) return build(gist);
  // Binary search the longest gist prefix (on word boundaries) that fits.
  const wordsList = gist.split(' ');
  let lo = 0;
  let hi = wordsList.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (smsSegments(build(`${wordsList.slice(0, mid).join(' ')}...`)) <= max) lo = mid;
    else hi = mid - 1;
  }
  if (lo > 0) return build(`${wordsList.slice(0, lo).join(' ')}...`);
  const bare = `${subject} ${link}`;
  if (smsSegments(bare) <= max) return bare;
  // Even the subject is too long (a very long UCS-2 title): cut it.
  let cut = subject;
  while (cut.length > 10 && smsSegments(`${cut}... ${link}`) > max) cut = cutUnits(cut, cut.length - 10);
  return `${cut}... ${link}`;
}
