import { LEVEL_NAMES, orderGovernments, type GovernmentLevel } from '../advisories/overview.ts';
import { countryName } from '../common/countries.ts';
import { escapeHtml, safeUrl } from '../common/escape.ts';
import { truncateWords } from '../common/text.ts';
import { headerSafe, listHeaders, stripBidi, type MessageLinks, type RenderedEmail } from '../delivery/render.ts';
import { addDays } from '../subscriptions/trip-window.ts';

/**
 * The pre-trip briefing email, as a pure function: per destination, every
 * government's current level and its own wording side by side, the events of
 * the last 30 days, and the links. Feed text (titles, wording) reaches the
 * HTML only through escapeHtml, without bidi controls, and links only when
 * they are http(s).
 */
/** One government's current level for a destination, with its own words for it (`levelText`). */
export type BriefingGovernment = Pick<GovernmentLevel, 'government' | 'level' | 'levelText' | 'title' | 'link' | 'updatedAt' | 'publishedAt'>;

export interface BriefingEvent {
  government: string;
  title: string;
  level: number | null;
  previousLevel: number | null;
  link: string | null;
  createdAt: Date;
}

export interface BriefingDestination {
  country: string;
  governments: readonly BriefingGovernment[];
  /** Newest first. */
  events: readonly BriefingEvent[];
  /** Our public page with the country's history. */
  countryPage: string;
}

export interface BriefingInput {
  trips: readonly { countries: readonly string[]; from: string; to: string }[];
  leadDays: number;
  /** The traveler's calendar day now (their zone): a window that has begun is said to run from today. */
  today: string;
  destinations: readonly BriefingDestination[];
  /** How many days of events are listed. */
  eventDays: number;
}

const LEVEL_COLOURS: Record<number, string> = { 1: '#1e6b34', 2: '#8a6d00', 3: '#b45309', 4: '#b00020' };
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "1 Dec 2026" from "2026-12-01" (a calendar day: no zone involved). */
export function dayLabel(day: string): string {
  const [y, m, d] = day.split('-').map(Number);
  return `${d} ${MONTHS[(m ?? 1) - 1]} ${y}`;
}

function instantDay(at: Date): string {
  return dayLabel(at.toISOString().slice(0, 10));
}

/** The advice's date as its government gives it, or ours said to be ours (never ours passed off as the government's). */
function adviceDate(g: BriefingGovernment): string {
  return g.publishedAt ? `Dated ${instantDay(g.publishedAt)}` : `Date not given; recorded here ${instantDay(g.updatedAt)}`;
}

function places(countries: readonly string[]): string {
  return countries.map(countryName).join(', ');
}

function tripLine(t: BriefingInput['trips'][number]): string {
  return `${places(t.countries)}: ${t.from === t.to ? dayLabel(t.from) : `${dayLabel(t.from)} to ${dayLabel(t.to)}`}`;
}

function levelWords(g: BriefingGovernment): string {
  return `Level ${g.level} — ${LEVEL_NAMES[g.level] ?? ''}`;
}

function eventLevel(e: BriefingEvent): string | null {
  if (e.level === null) return null;
  if (e.previousLevel === null || e.previousLevel === e.level) return `Level ${e.level}`;
  return `Level ${e.previousLevel} → ${e.level}`;
}

function clean(s: string, max: number): string {
  return truncateWords(stripBidi(s).replace(/\s+/g, ' ').trim(), max);
}

export function renderBriefing(input: BriefingInput, links: MessageLinks, options: { listId: string }): RenderedEmail {
  const everywhere = [...new Set(input.trips.flatMap((t) => t.countries))];
  const subject = headerSafe(truncateWords(`Your pre-trip briefing: ${places(everywhere)}`, 150));
  const firstDay = input.trips.map((t) => t.from).sort()[0];
  const followFrom = firstDay ? addDays(firstDay, -input.leadDays) : null;
  const intro = `Here is what every government we read says about your destination${everywhere.length === 1 ? '' : 's'} today, and what changed in the last ${input.eventDays} days.`;
  const following = !followFrom
    ? ''
    : followFrom > input.today
      ? `We send you alerts about these places from ${dayLabel(followFrom)} (${input.leadDays} days before you leave) until your last day, as you chose for your other alerts.`
      : `We send you alerts about these places from today until your last day, as you chose for your other alerts.`;
  const dests = input.destinations.map((d) => ({
    ...d,
    name: countryName(d.country),
    governments: orderGovernments(d.governments.map((g) => g.government)).map((name) => d.governments.find((g) => g.government === name)!),
  }));

  const text = [
    subject,
    '',
    'Your trip:',
    ...input.trips.map((t) => `  ${tripLine(t)}`),
    '',
    intro,
    ...(following ? [following] : []),
    ...dests.flatMap((d) => [
      '',
      `== ${d.name} ==`,
      '',
      ...(d.governments.length === 0
        ? ['No government we read has published a level for this destination yet.']
        : [
            'What each government says now:',
            ...d.governments.flatMap((g) => {
              const link = safeUrl(g.link);
              return [
                `* ${g.government}: ${levelWords(g)}`,
                ...(g.levelText ? [`    In its own words: "${clean(g.levelText, 200)}"`] : []),
                `    ${adviceDate(g)}${link ? ` — ${link}` : ''}`,
              ];
            }),
          ]),
      '',
      `Last ${input.eventDays} days:`,
      ...(d.events.length === 0
        ? ['  No changes or alerts.']
        : d.events.flatMap((e) => {
            const link = safeUrl(e.link);
            const level = eventLevel(e);
            return [`  ${instantDay(e.createdAt)} — ${e.government}: ${clean(e.title, 160)}${level ? ` (${level})` : ''}`, ...(link ? [`    ${link}`] : [])];
          })),
      '',
      `Every government's advice and its history: ${d.countryPage}`,
    ]),
    '',
    '--',
    `Change your trips, destinations or alerts: ${links.manage}`,
    `Unsubscribe: ${links.unsubscribe}`,
  ].join('\n');

  const cell = 'padding:8px;border-bottom:1px solid #e5e5e5;vertical-align:top;text-align:left';
  const badge = (level: number) =>
    `<span style="display:inline-block;padding:2px 8px;border-radius:10px;background:${LEVEL_COLOURS[level] ?? '#555'};color:#ffffff;font-weight:bold;white-space:nowrap">Level ${level}</span>`;
  const destinationHtml = (d: (typeof dests)[number]) => {
    const table =
      d.governments.length === 0
        ? '<p style="margin:0 0 12px;color:#555">No government we read has published a level for this destination yet.</p>'
        : `<table role="presentation" style="width:100%;border-collapse:collapse;margin:0 0 12px;font-size:14px">
<thead><tr><th style="${cell};color:#555">Government</th><th style="${cell};color:#555">Level</th><th style="${cell};color:#555">In its own words</th></tr></thead>
<tbody>${d.governments
            .map((g) => {
              const link = safeUrl(g.link);
              return `<tr><td style="${cell}"><strong>${escapeHtml(g.government)}</strong><br><span style="color:#555;font-size:12px">${escapeHtml(adviceDate(g))}</span></td>
<td style="${cell}">${badge(g.level)}<br><span style="font-size:12px">${escapeHtml(LEVEL_NAMES[g.level] ?? '')}</span></td>
<td style="${cell}">${g.levelText ? `“${escapeHtml(clean(g.levelText, 200))}”` : '<span style="color:#555">—</span>'}${link ? `<br><a href="${escapeHtml(link)}" style="font-size:13px">Read the advice</a>` : ''}</td></tr>`;
            })
            .join('\n')}</tbody></table>`;
    const events =
      d.events.length === 0
        ? '<p style="margin:0 0 12px;color:#555">No changes or alerts.</p>'
        : `<ul style="margin:0 0 12px;padding-left:20px;font-size:14px">${d.events
            .map((e) => {
              const link = safeUrl(e.link);
              const level = eventLevel(e);
              const title = escapeHtml(clean(e.title, 160));
              return `<li style="margin:0 0 6px"><span style="color:#555">${escapeHtml(instantDay(e.createdAt))}</span> — ${escapeHtml(e.government)}: ${link ? `<a href="${escapeHtml(link)}">${title}</a>` : title}${level ? ` <span style="color:#555">(${escapeHtml(level)})</span>` : ''}</li>`;
            })
            .join('')}</ul>`;
    return `<h2 style="font-size:18px;margin:24px 0 8px;padding-bottom:4px;border-bottom:2px solid #1a1a1a">${escapeHtml(d.name)}</h2>
<p style="margin:0 0 6px;font-weight:bold">What each government says now</p>
${table}
<p style="margin:0 0 6px;font-weight:bold">Last ${input.eventDays} days</p>
${events}
<p style="margin:0 0 12px"><a href="${escapeHtml(d.countryPage)}">Every government’s advice for ${escapeHtml(d.name)}, with its history</a></p>`;
  };
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(subject)}</title></head>
<body style="margin:0;padding:0;background:#f4f4f4;font-family:Arial,Helvetica,sans-serif;color:#1a1a1a">
<div style="max-width:640px;margin:0 auto;padding:16px;background:#ffffff">
<h1 style="font-size:22px;line-height:1.3;margin:0 0 8px">${escapeHtml(subject)}</h1>
<div style="margin:0 0 12px;padding:10px 12px;background:#eef4fb;border-left:4px solid #1d4f91">
<p style="margin:0 0 4px;font-weight:bold">Your trip</p>
${input.trips.map((t) => `<p style="margin:0">${escapeHtml(tripLine(t))}</p>`).join('\n')}
</div>
<p style="margin:0 0 8px">${escapeHtml(intro)}</p>
${following ? `<p style="margin:0 0 8px;color:#555">${escapeHtml(following)}</p>` : ''}
${dests.map(destinationHtml).join('\n')}
<hr style="border:0;border-top:1px solid #ddd;margin:16px 0">
<p style="font-size:13px;color:#555;margin:0"><a href="${escapeHtml(links.manage)}">Change your trips, destinations or alerts</a> · <a href="${escapeHtml(links.unsubscribe)}">Unsubscribe</a></p>
</div></body></html>`;
  return { subject, text, html, headers: listHeaders(links, options.listId) };
}
