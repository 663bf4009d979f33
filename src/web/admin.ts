import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { listEvents } from '../advisories/repository.ts';
import { safeEqual } from '../common/tokens.ts';
import { deliveriesPerHour } from '../delivery/repository.ts';
import { listFeeds } from '../feeds/repository.ts';
import { html, layout, type SafeHtml } from './html.ts';
import type { WebDeps } from './deps.ts';

/** Bearer token for scripts; Basic (any user, the token as password) so a browser can log in. */
function authorized(req: FastifyRequest, token: string): boolean {
  const h = req.headers.authorization ?? '';
  const bearer = /^Bearer\s+(.+)$/i.exec(h)?.[1];
  if (bearer) return safeEqual(bearer.trim(), token);
  const basic = /^Basic\s+(.+)$/i.exec(h)?.[1];
  if (basic) {
    // user:password; without the colon there is no password (indexOf -1 used
    // to make the whole value the password).
    const decoded = Buffer.from(basic, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 && safeEqual(decoded.slice(colon + 1), token);
  }
  return false;
}

// The legend's swatches use the st-<status> classes in app.css with the same colours (the CSP allows no inline style).
const STATUS_COLORS: Record<string, string> = { sent: '#2e7d32', pending: '#0b57b0', sending: '#6a1b9a', uncertain: '#b35900', failed: '#b3261e' };

/** The smallest 1, 2 or 5 × 10^k at or above `n`: a y-axis top people can read. */
export function niceCeiling(n: number): number {
  if (n <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 5, 10]) if (m * p >= n) return m * p;
  return 10 * p;
}

const HOUR_MS = 3_600_000;

/**
 * Deliveries per hour over 24 h as stacked bars: an inline SVG, no script. A
 * y-axis (0, half, top, with grid lines) says how many; hour labels every six
 * hours run to the last bar (the current hour, labelled too), centred under
 * their bars, and the drawing leaves room for them on both sides.
 */
export function deliveriesChart(rows: { hour: Date; status: string; n: number }[], now: Date): SafeHtml {
  const hours = Array.from({ length: 24 }, (_, i) => new Date(Math.floor(now.getTime() / HOUR_MS) * HOUR_MS - (23 - i) * HOUR_MS));
  const byHour = new Map<number, Map<string, number>>();
  for (const r of rows) {
    const key = new Date(r.hour).getTime();
    const m = byHour.get(key) ?? new Map<string, number>();
    m.set(r.status, (m.get(r.status) ?? 0) + r.n);
    byHour.set(key, m);
  }
  const top = niceCeiling(Math.max(0, ...hours.map((h) => [...(byHour.get(h.getTime())?.values() ?? [])].reduce((a, b) => a + b, 0))));
  const w = 24;
  const left = 40; // the y-axis labels
  // Half an hour label past the last bar, and the y-axis again on the right: on a
  // phone the chart opens at its right end, where the left axis is out of view.
  const right = 36;
  const plot = 120;
  const topPad = 8;
  const y = (n: number) => topPad + plot - (n / top) * plot;
  const ticks = top >= 2 && top % 2 === 0 ? [0, top / 2, top] : [0, top];
  const axis = ticks.map(
    (t) =>
      html`<line class="grid" x1="${left}" x2="${left + 24 * w}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}"></line><text class="y-label" x="${left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${t}</text><text class="y-label" x="${left + 24 * w + 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="start">${t}</text>`,
  );
  const bars = hours.map((h, i) => {
    let base = 0;
    const parts = [...(byHour.get(h.getTime()) ?? new Map<string, number>()).entries()].map(([status, n]) => {
      const y1 = y(base + n);
      const bh = y(base) - y1;
      base += n;
      return html`<rect x="${left + i * w + 2}" y="${y1.toFixed(1)}" width="${w - 4}" height="${bh.toFixed(1)}" fill="${STATUS_COLORS[status] ?? '#777'}"><title>${h.toISOString().slice(11, 16)} UTC: ${n} ${status}</title></rect>`;
    });
    const labelled = i % 6 === 5 || i === 23 || i === 0;
    return html`${parts}${labelled ? html`<text class="x-label" x="${left + i * w + w / 2}" y="${topPad + plot + 16}" text-anchor="middle">${h.toISOString().slice(11, 16)}</text>` : ''}`;
  });
  const totals = new Map<string, number>();
  for (const r of rows) totals.set(r.status, (totals.get(r.status) ?? 0) + r.n);
  return html`<div class="scroll chart-box" role="region" aria-label="Deliveries chart" tabindex="0"><svg class="chart" viewBox="0 0 ${left + 24 * w + right} ${topPad + plot + 22}" width="100%" role="img" aria-label="Deliveries per hour over the last 24 hours (UTC), from 0 to ${top}">${axis}<line class="axis" x1="${left}" x2="${left}" y1="${topPad}" y2="${topPad + plot}"></line>${bars}</svg></div>
<p class="chart-note">Hours in UTC; each bar is one hour, the last the current one.</p>
<p>${[...totals.entries()].map(([s, n]) => html`<span class="lvl ${s in STATUS_COLORS ? `st-${s}` : 'st-other'}">${n}</span> ${s} `)}</p>`;
}

/**
 * Wrong tokens per client address per minute: past the limit every try is a
 * 429, right token or not, until the minute is over. In memory, per process:
 * with a 16-character minimum token length this only has to make guessing slow.
 */
function failureLimiter(max: number, windowMs: number, now: () => number) {
  const failures = new Map<string, { count: number; resetAt: number }>();
  return {
    blockedFor(key: string): number {
      const f = failures.get(key);
      if (!f || f.resetAt <= now()) return 0;
      return f.count >= max ? f.resetAt - now() : 0;
    },
    fail(key: string): void {
      const t = now();
      if (failures.size > 10_000) for (const [k, f] of failures) if (f.resetAt <= t) failures.delete(k);
      const f = failures.get(key);
      if (!f || f.resetAt <= t) failures.set(key, { count: 1, resetAt: t + windowMs });
      else f.count++;
    },
  };
}

export function registerAdminRoutes(app: FastifyInstance, deps: WebDeps): void {
  const limiter = failureLimiter(deps.settings.web.adminAttemptsPerMinute, 60_000, () => Date.now());
  app.get('/admin', async (req, reply: FastifyReply) => {
    if (!deps.adminToken) return reply.code(404).type('text/plain').send('the admin page is disabled (set ADMIN_TOKEN)');
    const wait = limiter.blockedFor(req.ip);
    if (wait > 0) {
      return reply
        .code(429)
        .header('retry-after', String(Math.ceil(wait / 1000)))
        .type('text/plain')
        .send(`too many wrong admin tokens; try again in ${Math.ceil(wait / 1000)} s`);
    }
    if (!authorized(req, deps.adminToken)) {
      limiter.fail(req.ip);
      return reply.code(401).header('www-authenticate', 'Basic realm="advisory-alerts admin", charset="UTF-8"').type('text/plain').send('admin token required');
    }
    const now = deps.traveler.clock.now();
    const [feeds, events, perHour] = await Promise.all([
      listFeeds(deps.db),
      listEvents(deps.db, { newestFirst: true, limit: 30 }),
      deliveriesPerHour(deps.db, new Date(now.getTime() - 24 * 3_600_000)),
    ]);
    const body = html`<h1>Status</h1>
<h2 id="feeds">Feeds</h2>
<div class="scroll" role="region" aria-labelledby="feeds" tabindex="0"><table class="admin"><thead><tr><th>Feed</th><th>Last poll</th><th>Status</th><th>Failures</th><th>Advisories</th><th>Last error</th></tr></thead><tbody>
${feeds
  .filter((f) => f.inConfig)
  .map(
    (f) =>
      html`<tr><td data-label="Feed">${f.id}</td><td data-label="Last poll">${f.lastPolledAt?.toISOString().replace(/\.\d+Z$/, 'Z') ?? '–'}</td><td data-label="Status">${f.lastStatus ?? 'never polled'}</td><td data-label="Failures">${f.consecutiveFailures}</td><td data-label="Advisories">${f.advisories}</td><td data-label="Last error">${f.lastError ?? ''}</td></tr>`,
  )}
</tbody></table></div>
<h2>Deliveries, last 24 hours</h2>
${deliveriesChart(perHour, now)}
<h2 id="events">Recent events</h2>
<div class="scroll" role="region" aria-labelledby="events" tabindex="0"><table class="admin"><thead><tr><th>When</th><th>Feed</th><th>Kind</th><th>Country</th><th>Level</th><th>Title</th></tr></thead><tbody>
${events.map(
  (e) =>
    html`<tr><td data-label="When">${e.createdAt.toISOString().replace(/\.\d+Z$/, 'Z')}</td><td data-label="Feed">${e.feed}</td><td data-label="Kind">${e.kind}</td><td data-label="Country">${e.countries.join(', ')}</td><td data-label="Level">${e.previousLevel !== null ? `${e.previousLevel} → ` : ''}${e.level ?? ''}</td><td data-label="Title">${e.link ? html`<a href="${e.link}" rel="noreferrer">${e.title}</a>` : e.title}</td></tr>`,
)}
</tbody></table></div>`;
    return reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(layout('Admin', body, { wide: true }));
  });
}
