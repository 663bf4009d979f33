import { countryName } from '../common/countries.ts';
import { escapeHtml, safeUrl } from '../common/escape.ts';
import { levelName, listHeaders, subjectFor, textChanges, type MessageEvent, type MessageLinks, type RenderedEmail } from '../delivery/render.ts';

/**
 * The digest email: every routine event since the previous digest, once,
 * grouped by country, each with its level before → after, the sentences
 * added, removed or reworded (as in the immediate email) and the source link.
 * Feed text reaches the HTML only through escapeHtml, links only when http(s).
 */
export interface DigestInput {
  frequency: 'daily' | 'weekly';
  /** The local date the digest is for ("2026-03-02"). */
  day: string;
  events: readonly MessageEvent[];
}

function levelLine(e: MessageEvent): string | null {
  if (e.level === null) return null;
  const now = `Level ${e.level} (${levelName(e.level, e.levelText)})`;
  if (e.previousLevel === null || e.previousLevel === e.level) return e.kind === 'new' ? `New: ${now}` : `Still ${now}`;
  return `Level ${e.previousLevel} → ${now}`;
}

interface Entry {
  heading: string;
  government: string;
  level: string | null;
  added: string[];
  removed: string[];
  changed: { after: string; before: string[] }[];
  link: string | null;
}

function entryOf(e: MessageEvent): Entry {
  const changes = e.kind === 'new' ? { added: [], removed: [], changed: [] } : textChanges(e.previousBody, e.body);
  return {
    heading: subjectFor(e),
    government: e.sourceLabel ? `${e.government} (${e.sourceLabel})` : e.government,
    level: levelLine(e),
    ...changes,
    link: safeUrl(e.link),
  };
}

/** Countries in name order, worldwide items last; an event about several countries is listed under its first. */
function grouped(events: readonly MessageEvent[]): [string, Entry[]][] {
  const groups = new Map<string, Entry[]>();
  for (const e of events) {
    const place = e.countries.length ? countryName(e.countries[0]!) : 'Worldwide';
    groups.set(place, [...(groups.get(place) ?? []), entryOf(e)]);
  }
  return [...groups.entries()].sort(([a], [b]) => (a === 'Worldwide' ? 1 : b === 'Worldwide' ? -1 : a.localeCompare(b)));
}

export function renderDigest(d: DigestInput, links: MessageLinks, options: { listId: string }): RenderedEmail {
  const n = d.events.length;
  const subject = `Your ${d.frequency} travel advisory digest: ${n} update${n === 1 ? '' : 's'} (${d.day})`;
  const groups = grouped(d.events);
  const text = [
    subject,
    '',
    'Routine changes for the destinations you follow. Urgent alerts were sent to you at once.',
    ...groups.flatMap(([place, entries]) => [
      '',
      `== ${place} ==`,
      ...entries.flatMap((x) => [
        '',
        `* ${x.heading}`,
        `  ${x.government}`,
        ...(x.level ? [`  ${x.level}`] : []),
        ...x.added.map((s) => `  + ${s}`),
        ...x.changed.map((c) => `  ~ ${c.after} (was: ${c.before.join(' ')})`),
        ...x.removed.map((s) => `  - ${s}`),
        ...(x.link ? [`  ${x.link}`] : []),
      ]),
    ]),
    '',
    '--',
    `Change your destinations, digest or alerts: ${links.manage}`,
    `Unsubscribe: ${links.unsubscribe}`,
  ].join('\n');

  const li = (items: string[], color: string, sign: string) => items.map((s) => `<li style="color:${color}">${sign} ${escapeHtml(s)}</li>`).join('');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(subject)}</title></head>
<body style="margin:0;padding:0;background:#f4f4f4;font-family:Arial,Helvetica,sans-serif;color:#1a1a1a">
<div style="max-width:600px;margin:0 auto;padding:16px;background:#ffffff">
<h1 style="font-size:20px;line-height:1.3;margin:0 0 8px">${escapeHtml(subject)}</h1>
<p style="margin:0 0 16px;color:#555">Routine changes for the destinations you follow. Urgent alerts were sent to you at once.</p>
${groups
  .map(
    ([place, entries]) => `<h2 style="font-size:17px;margin:20px 0 8px;border-bottom:1px solid #ddd">${escapeHtml(place)}</h2>
${entries
  .map(
    (x) => `<div style="margin:0 0 14px">
<p style="margin:0 0 4px"><strong>${escapeHtml(x.heading)}</strong><br><span style="color:#555">${escapeHtml(x.government)}</span></p>
${x.level ? `<p style="margin:0 0 4px">${escapeHtml(x.level)}</p>` : ''}
${x.added.length || x.removed.length || x.changed.length ? `<ul style="margin:0 0 4px;padding-left:20px">${li(x.added, '#0b5d1e', '+')}${x.changed.map((c) => `<li>~ ${escapeHtml(c.after)} <span style="color:#555">(was: ${escapeHtml(c.before.join(' '))})</span></li>`).join('')}${li(x.removed, '#8a1c1c', '−')}</ul>` : ''}
${x.link ? `<p style="margin:0"><a href="${escapeHtml(x.link)}">Read it at the source</a></p>` : ''}
</div>`,
  )
  .join('\n')}`,
  )
  .join('\n')}
<hr style="border:0;border-top:1px solid #ddd;margin:16px 0">
<p style="font-size:13px;color:#555;margin:0"><a href="${escapeHtml(links.manage)}">Change your destinations, digest or alerts</a> · <a href="${escapeHtml(links.unsubscribe)}">Unsubscribe</a></p>
</div></body></html>`;
  return { subject, text, html, headers: listHeaders(links, options.listId) };
}
