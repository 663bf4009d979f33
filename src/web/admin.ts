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

/** Deliveries per hour over 24 h as stacked bars: an inline SVG, no script. */
function chart(rows: { hour: Date; status: string; n: number }[], now: Date): SafeHtml {
  const hours = Array.from({ length: 24 }, (_, i) => new Date(Math.floor(now.getTime() / 3_600_000) * 3_600_000 - (23 - i) * 3_600_000));
  const byHour = new Map<number, Map<string, number>>();
  for (const r of rows) {
    const key = new Date(r.hour).getTime();
    const m = byHour.get(key) ?? new Map<string, number>();
    m.set(r.status, (m.get(r.status) ?? 0) + r.n);
    byHour.set(key, m);
  }
  const max = Math.max(1, ...hours.map((h) => [...(byHour.get(h.getTime())?.values() ?? [])].reduce((a, b) => a + b, 0)));
  const w = 24;
  const height = 120;
  const bars = hours.map((h, i) => {
    let y = height;
    const parts = [...(byHour.get(h.getTime()) ?? new Map<string, number>()).entries()].map(([status, n]) => {
      const bh = (n / max) * (height - 10);
      y -= bh;
      return html`<rect x="${i * w + 2}" y="${y.toFixed(1)}" width="${w - 4}" height="${bh.toFixed(1)}" fill="${STATUS_COLORS[status] ?? '#777'}"><title>${h.toISOString().slice(11, 16)} UTC: ${n} ${status}</title></rect>`;
    });
    return html`${parts}${i % 6 === 0 ? html`<text x="${i * w + 2}" y="${height + 14}">${h.toISOString().slice(11, 16)}</text>` : ''}`;
  });
  const totals = new Map<string, number>();
  for (const r of rows) totals.set(r.status, (totals.get(r.status) ?? 0) + r.n);
  return html`<svg class="chart" viewBox="0 0 ${24 * w} ${height + 20}" width="100%" role="img" aria-label="Deliveries per hour over the last 24 hours">${bars}</svg>
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
<h2>Feeds</h2>
<div class="scroll"><table><thead><tr><th>Feed</th><th>Last poll</th><th>Status</th><th>Failures</th><th>Advisories</th><th>Last error</th></tr></thead><tbody>
${feeds
  .filter((f) => f.inConfig)
  .map(
    (f) =>
      html`<tr><td>${f.id}</td><td>${f.lastPolledAt?.toISOString().replace(/\.\d+Z$/, 'Z') ?? '–'}</td><td>${f.lastStatus ?? 'never polled'}</td><td>${f.consecutiveFailures}</td><td>${f.advisories}</td><td>${f.lastError ?? ''}</td></tr>`,
  )}
</tbody></table></div>
<h2>Deliveries, last 24 hours</h2>
${chart(perHour, now)}
<h2>Recent events</h2>
<div class="scroll"><table><thead><tr><th>When</th><th>Feed</th><th>Kind</th><th>Country</th><th>Level</th><th>Title</th></tr></thead><tbody>
${events.map(
  (e) =>
    html`<tr><td>${e.createdAt.toISOString().replace(/\.\d+Z$/, 'Z')}</td><td>${e.feed}</td><td>${e.kind}</td><td>${e.countries.join(', ')}</td><td>${e.previousLevel !== null ? `${e.previousLevel} → ` : ''}${e.level ?? ''}</td><td>${e.link ? html`<a href="${e.link}" rel="noreferrer">${e.title}</a>` : e.title}</td></tr>`,
)}
</tbody></table></div>`;
    return reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(layout('Admin', body, { wide: true }));
  });
}
