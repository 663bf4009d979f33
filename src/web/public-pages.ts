import { levelName, type CountryOverview, type GovernmentLevel, type LevelSeries, type OverviewSort } from '../advisories/overview.ts';
import type { PublicEvent } from '../advisories/repository.ts';
import { textBlocks } from '../advisories/text-blocks.ts';
import { safeUrl } from '../common/escape.ts';
import { truncateWords } from '../common/text.ts';
import { html, layout, SafeHtml } from './html.ts';

/**
 * The public country pages. Server-rendered, no script, no inline style (the
 * CSP forbids both); every level is shown as a number and in words, so colour
 * is never the only cue. Feed text is untrusted and only ever escaped.
 */

export function levelTag(level: number, options: { short?: boolean } = {}): SafeHtml {
  return html`<span class="lvl lvl${level}">${level}<span class="${options.short ? 'sr-only' : 'lvl-words'}"> — ${levelName(level)}</span></span>`;
}

const dateFormat = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });

function date(d: Date): SafeHtml {
  return html`<time datetime="${d.toISOString()}">${dateFormat.format(d)}</time>`;
}

/**
 * The advice's date as its government gives it. When we first read old advice,
 * our own time would make it look issued today; when the feed gives no date,
 * ours is shown and said to be ours.
 */
function adviceDate(g: GovernmentLevel): SafeHtml {
  return g.publishedAt ? date(g.publishedAt) : html`not given (recorded here ${date(g.updatedAt)})`;
}

function sortLink(label: string, sort: OverviewSort, current: OverviewSort, query: string): SafeHtml {
  const params = new URLSearchParams({ ...(query ? { q: query } : {}), sort });
  // The sorted column says so through aria-sort on its header.
  return html`<a href="/countries?${params.toString()}"${sort === current ? html` aria-current="true"` : ''}>${label}</a>`;
}

function ariaSort(sort: OverviewSort, current: OverviewSort, direction: 'ascending' | 'descending'): SafeHtml {
  return sort === current ? html` aria-sort="${direction}"` : html``;
}

/**
 * One row of the country list. Every visitor gets all 250 rows × 10 cells, and
 * the page's size was most of its time on the wire, so the markup is lean while
 * still saying everything: the level's colour on the cell itself, its number and
 * its words (shown in the highest level's cell, for screen readers only in each
 * government's: `td > span` in the CSS), a date-only `datetime`.
 */
function countryRow(c: CountryOverview, governments: readonly string[]): SafeHtml {
  const cells = governments.map((g) => {
    const level = c.governments[g]?.level;
    return level === undefined
      ? html`<td class="none">—<span> no advice</span></td>`
      : html`<td class="l${level}">${level}<span> — ${levelName(level)}</span></td>`;
  });
  return html`<tr><th scope="row"><a href="/countries/${c.country}">${c.name}</a></th><td class="l${c.highestLevel}">${c.highestLevel} — ${levelName(c.highestLevel)}</td>${cells}${
    c.disagree ? html`<td class="disagree">⚠ Yes, levels ${c.lowestLevel} to ${c.highestLevel}</td>` : html`<td><span>No</span></td>`
  }<td><time datetime="${c.lastChange.toISOString().slice(0, 10)}">${dateFormat.format(c.lastChange)}</time></td></tr>
`;
}

export function countriesPage(options: { rows: CountryOverview[]; total: number; governments: string[]; query: string; sort: OverviewSort }): string {
  const { rows, governments, query, sort } = options;
  const sortOption = (value: OverviewSort, label: string) => html`<option value="${value}" ${sort === value ? html`selected` : ''}>${label}</option>`;
  return layout(
    'Travel advice by country',
    html`<h1>Travel advice by country</h1>
<p>What each government currently advises for every destination, side by side, on one scale from 1 (exercise normal precautions) to 4 (do not travel). <a href="/feed.atom">Atom feed of every change</a> · <a href="/api/countries">JSON</a></p>
<form method="get" action="/countries" class="filter" role="search">
<div><label for="q">Country name</label>
<input type="text" id="q" name="q" value="${query}" autocomplete="off"></div>
<div><label for="sort">Sort by</label>
<select id="sort" name="sort">${sortOption('name', 'Name')}${sortOption('level', 'Highest level')}${sortOption('changed', 'Last change')}</select></div>
<button type="submit">Show</button>
</form>
<p role="status">${
      // total counts countries with a levelled advisory: feeds may well have answered
      // (an embassy's alerts carry no level), so the words say only what is missing.
      options.total === 0
        ? 'No government’s level has been read for any country yet. Countries appear here once a feed that publishes levels has answered; embassy alerts are on each country’s page.'
        : html`${rows.length === options.total ? `${rows.length} countries` : `${rows.length} of ${options.total} countries`}${query ? html` matching “${query}” · <a href="/countries?sort=${sort}">show all</a>` : ''}.`
    }</p>
<div class="scroll" tabindex="0" role="region" aria-label="Levels by country">
<table class="countries">
<caption class="sr-only">Each government’s level per country; a mark where they differ by two levels or more</caption>
<thead><tr>
<th scope="col"${ariaSort('name', sort, 'ascending')}>${sortLink('Country', 'name', sort, query)}</th>
<th scope="col"${ariaSort('level', sort, 'descending')}>${sortLink('Highest level', 'level', sort, query)}</th>
${governments.map((g) => html`<th scope="col">${g}</th>`)}
<th scope="col">Governments disagree</th>
<th scope="col"${ariaSort('changed', sort, 'descending')}>${sortLink('Last change', 'changed', sort, query)}</th>
</tr></thead>
<tbody>
${rows.map((c) => countryRow(c, governments))}
</tbody>
</table>
</div>
${rows.length === 0 && options.total > 0 ? html`<p>No country matches. <a href="/countries">Show every country</a>.</p>` : ''}`,
    { wide: true },
  );
}

// ---- The level chart: one small server-rendered SVG per government ----

const CHART = { width: 640, height: 120, left: 36, right: 8, top: 8, bottom: 22 };

function chart(series: LevelSeries, window: { from: Date; to: Date }, id: string): SafeHtml {
  const { width, height, left, right, top, bottom } = CHART;
  const span = window.to.getTime() - window.from.getTime() || 1;
  const x = (d: Date) => left + ((d.getTime() - window.from.getTime()) / span) * (width - left - right);
  const y = (level: number) => top + ((4 - level) / 3) * (height - top - bottom);
  const round = (n: number) => Math.round(n * 10) / 10;
  const points: string[] = [];
  for (const s of series.steps) {
    points.push(`${round(x(s.from))},${round(y(s.level))}`, `${round(x(s.to))},${round(y(s.level))}`);
  }
  const months: Date[] = [];
  const m = new Date(Date.UTC(window.from.getUTCFullYear(), window.from.getUTCMonth() + 1, 1));
  for (; m < window.to; m.setUTCMonth(m.getUTCMonth() + 1)) months.push(new Date(m));
  const monthFormat = new Intl.DateTimeFormat('en-GB', { month: 'short', timeZone: 'UTC' });
  const description = series.steps.map((s) => `level ${s.level} from ${dateFormat.format(s.from)}`).join(', then ');
  return html`<svg class="chart" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="${id}-t ${id}-d" preserveAspectRatio="none">
<title id="${id}-t">${series.government}: level over the last 12 months</title>
<desc id="${id}-d">${description || 'no level recorded'}</desc>
${[1, 2, 3, 4].map((l) => html`<line class="grid" x1="${left}" x2="${width - right}" y1="${y(l)}" y2="${y(l)}"></line><text x="${left - 6}" y="${y(l) + 4}" text-anchor="end">${l}</text>`)}
${months.map((d, i) => (i % 2 === 0 ? html`<text x="${round(x(d))}" y="${height - 6}" text-anchor="middle">${monthFormat.format(d)}</text>` : ''))}
${series.steps.map((s) => html`<rect class="band lvl${s.level}" x="${round(x(s.from))}" y="${round(y(s.level))}" width="${Math.max(1, round(x(s.to) - x(s.from)))}" height="${round(height - bottom - y(s.level))}"></rect>`)}
<polyline class="line" points="${points.join(' ')}"></polyline>
</svg>`;
}

export function eventSummary(e: PublicEvent): string {
  switch (e.kind) {
    case 'level-raised':
      return `Raised to level ${e.level}${e.previousLevel ? ` from ${e.previousLevel}` : ''}`;
    case 'level-lowered':
      return `Lowered to level ${e.level}${e.previousLevel ? ` from ${e.previousLevel}` : ''}`;
    case 'new':
      return e.level ? `New advice at level ${e.level}` : 'New alert';
    default:
      return 'Wording updated';
  }
}

/**
 * An event's text in at most `max` characters, cut at a word in its second half (else
 * between characters), with "…" when cut. Line breaks, and so paragraphs, are kept.
 */
export function cutText(body: string, max = 600): string {
  return truncateWords(body, max, { minKept: max / 2 });
}

/** The first paragraphs of an event's text, cut at a word near `max` characters. */
export function excerpt(body: string, max = 600): string[] {
  return cutText(body, max)
    .split(/\n{2,}/)
    .map((p) => p.trim())
    .filter(Boolean);
}

/**
 * Stored advisory text as HTML: its paragraphs (line breaks kept) and bullet
 * lists (an embassy alert's "Actions to Take"), every word escaped.
 */
export function textHtml(text: string): SafeHtml {
  return html`${textBlocks(text).map((b) =>
    b.kind === 'list' ? html`<ul>${b.items.map((item) => html`<li>${lines(item)}</li>`)}</ul>` : html`<p>${lines(b.lines)}</p>`,
  )}`;
}

/** Lines of a paragraph or list item, each escaped, with <br> between them. */
function lines(texts: string[]): SafeHtml[] {
  return texts.map((line, i) => (i === 0 ? html`${line}` : html`<br>${line}`));
}

/**
 * The government's date of an alert, unless it is more than a day after we recorded the alert: a
 * feed's typo or a hostile item dated 2099 would otherwise sit atop the country's page for years.
 * The day of slack keeps date-only dates, pinned to UTC midnight, that a government in a zone
 * ahead of UTC published on its own calendar day before UTC's.
 */
function governmentDate(e: PublicEvent): Date | null {
  return e.publishedAt && e.publishedAt.getTime() <= e.createdAt.getTime() + 86_400_000 ? e.publishedAt : null;
}

/**
 * The date an alert is shown with: its government's, as for advice (our own
 * time would date an old post the day we first read it), else when we recorded it.
 */
function alertDate(e: PublicEvent): Date {
  return governmentDate(e) ?? e.createdAt;
}

/** Alerts newest first by the date each is shown with; recorded order breaks ties. */
export function alertsNewestFirst(alerts: readonly PublicEvent[]): PublicEvent[] {
  return [...alerts].sort((a, b) => alertDate(b).getTime() - alertDate(a).getTime() || b.createdAt.getTime() - a.createdAt.getTime() || b.id - a.id);
}

/**
 * One event. A change of advice is dated when we recorded the change; an alert
 * by its government's date, or ours said to be ours when the feed gives none.
 */
function eventItem(e: PublicEvent, dated: 'recorded' | 'government'): SafeHtml {
  const link = safeUrl(e.link);
  const published = dated === 'government' ? governmentDate(e) : null;
  const when = dated === 'recorded' ? date(e.createdAt) : published ? date(published) : html`recorded here ${date(e.createdAt)}`;
  return html`<li class="event">
<h3>${e.title}</h3>
<p class="meta">${e.government} · ${eventSummary(e)}${e.levelText ? ` (“${e.levelText}”)` : ''} · ${when}</p>
${textHtml(cutText(e.body))}
${link ? html`<p><a href="${link}">Read it at the source<span class="sr-only">: ${e.title}</span></a></p>` : ''}
</li>`;
}

/**
 * Where the per-request CSRF token goes in a cached country page. It holds a
 * raw `<`, which escaped feed text can never contain.
 */
export const CSRF_SLOT = '<csrf-slot>';

export function countryPage(options: {
  country: string;
  name: string;
  overview: CountryOverview | undefined;
  governments: string[];
  series: LevelSeries[];
  window: { from: Date; to: Date };
  changes: PublicEvent[];
  /** The alerts to show, in order (public.ts picks the newest by alertsNewestFirst). */
  alerts: PublicEvent[];
}): string {
  const { country, name, overview, alerts } = options;
  const govs = overview ? options.governments.filter((g) => overview.governments[g]).map((g) => overview.governments[g]!) : [];
  return layout(
    `${name}: travel advice`,
    html`<p class="crumbs"><a href="/countries">All countries</a></p>
<h1>${name}: what each government advises</h1>
${
  overview
    ? html`<p class="summary">Highest level: ${levelTag(overview.highestLevel)}${
        overview.disagree
          ? html` <span class="disagree">⚠ Governments disagree: their levels range from ${overview.lowestLevel} to ${overview.highestLevel}.</span>`
          : ''
      }</p>
<div class="scroll" tabindex="0" role="region" aria-label="Advice by government">
<table>
<caption class="sr-only">Each government’s current advice for ${name}</caption>
<thead><tr><th scope="col">Government</th><th scope="col">Level</th><th scope="col">In their words</th><th scope="col">Government’s date</th><th scope="col">Source</th></tr></thead>
<tbody>
${govs.map((g) => {
  const link = safeUrl(g.link);
  return html`<tr><th scope="row">${g.government}</th><td>${levelTag(g.level)}</td><td>${g.levelText ?? g.title}</td><td>${adviceDate(g)}</td><td>${link ? html`<a href="${link}">${g.feedName}</a>` : g.feedName}</td></tr>`;
})}
</tbody>
</table>
</div>`
    : html`<p>No government’s levelled advice for ${name} is stored yet.</p>`
}
<form method="post" action="/subscribe" class="follow">
<h2 id="follow">Follow ${name}</h2>
<p>Get an email when any government changes its advice for ${name}, or an embassy publishes an alert.</p>
<input type="hidden" name="_csrf" value="${new SafeHtml(CSRF_SLOT)}">
<input type="hidden" name="countries" value="${country}">
<input type="hidden" name="minLevel" value="1">
<label for="follow-email">Email address</label>
<input type="email" id="follow-email" name="email" autocomplete="email" required>
<button type="submit">Follow ${name}</button>
</form>
<h2>Level over the last 12 months</h2>
${
  options.series.length
    ? options.series.map((s, i) => html`<figure class="history"><figcaption>${s.government}</figcaption>${chart(s, options.window, `chart-${i}`)}</figure>`)
    : html`<p>No level recorded in the last 12 months.</p>`
}
<h2>Recent changes</h2>
${options.changes.length ? html`<ul class="events">${options.changes.map((e) => eventItem(e, 'recorded'))}</ul>` : html`<p>No change recorded yet.</p>`}
<h2>Embassy and consular alerts</h2>
${alerts.length ? html`<ul class="events">${alerts.map((e) => eventItem(e, 'government'))}</ul>` : html`<p>No alert recorded.</p>`}
<p><a href="/countries/${country}/feed.atom">Atom feed for ${name}</a> · <a href="/api/countries/${country}">JSON</a></p>`,
    { wide: true },
  );
}
