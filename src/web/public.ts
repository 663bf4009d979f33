import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  countryOverviews,
  levelSeries,
  OVERVIEW_SORTS,
  orderGovernments,
  selectOverviews,
  type CountryOverview,
  type GovernmentLevel,
  type LevelSeries,
  type OverviewSort,
} from '../advisories/overview.ts';
import { currentAdvice, levelPoints, publicEvents, publicEventsJson, type EventPosition } from '../advisories/repository.ts';
import { countryName, isCountryCode } from '../common/countries.ts';
import { eventJson } from '../advisories/overview.ts';
import { eventsAtom } from './atom.ts';
import { messagePage } from './pages.ts';
import { sendRendered, type PublicCache } from './public-cache.ts';
import { alertsNewestFirst, countriesPage, countryPage, CSRF_SLOT } from './public-pages.ts';
import { HttpError, type WebDeps } from './deps.ts';

/**
 * The public face: every government's advice side by side per country, one
 * country's history, Atom feeds and a JSON API. Nothing here is personal, so
 * answers are rendered once per data version (PublicCache) and carry strong
 * ETags; only the country page's follow form gets a per-visitor CSRF token.
 */

const YEAR_MS = 365 * 24 * 3600 * 1000;
/** How many alerts a country page shows (the newest by the date shown) and its JSON lists (the last recorded). */
const RECENT_ALERTS = 10;
/**
 * Events per API page unless `limit` says otherwise (up to 500). Fifty: a page
 * of events with their full text is ~1.3 KB an event, and a 130 KB default page
 * took longer on the wire than everything else the answer cost.
 */
const EVENTS_PAGE_DEFAULT = 50;
const HTML = 'text/html; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';
const ATOM = 'application/atom+xml; charset=utf-8';

/** Routes readable from any origin (GET only): the API and the feeds. */
export const PUBLIC_READ_ROUTES = /^\/(api\/countries|api\/events|feed\.atom|countries\/[A-Za-z]{2}\/feed\.atom)(\/|\?|$)/;

export function encodeCursor(p: EventPosition): string {
  return Buffer.from(`${p.createdAt.getTime()}.${p.id}`).toString('base64url');
}

/** The keyset position in a cursor, or null when it is not one this API made. */
export function decodeCursor(cursor: string): EventPosition | null {
  const m = /^(\d{1,15})\.(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) return null;
  return { createdAt: new Date(Number(m[1])), id: Number(m[2]) };
}

/** An ISO 3166-1 alpha-2 code from a path or query, or a 404/400 naming it. */
function countryParam(raw: string, status: 400 | 404, field = 'country'): string {
  const cc = raw.toUpperCase();
  if (!/^[A-Z]{2}$/.test(cc) || !isCountryCode(cc)) throw new HttpError(status, `${field}: unknown country code "${raw.slice(0, 10)}"`, field);
  return cc;
}

function governmentJson(g: GovernmentLevel) {
  return {
    government: g.government,
    feed: g.feedId,
    feedName: g.feedName,
    level: g.level,
    levelText: g.levelText,
    title: g.title,
    link: g.link,
    updatedAt: g.updatedAt.toISOString(),
    publishedAt: g.publishedAt?.toISOString() ?? null,
  };
}

function seriesJson(s: LevelSeries) {
  return { government: s.government, steps: s.steps.map((t) => ({ from: t.from.toISOString(), to: t.to.toISOString(), level: t.level })) };
}

const SLOT = Buffer.from(CSRF_SLOT);

/** The cached country page with this visitor's CSRF token in its slot (bytes in, bytes out: no re-encoding of the page). */
function withCsrf(page: Buffer, token: string): Buffer {
  const at = page.indexOf(SLOT);
  if (at < 0) return page;
  return Buffer.concat([page.subarray(0, at), Buffer.from(token), page.subarray(at + SLOT.length)]);
}

/** `cache`: the public answers' cache, shared with the subscribe pages' levels (one data version for both). */
export function registerPublicRoutes(app: FastifyInstance, deps: WebDeps, cache: PublicCache): void {
  const { db, settings } = deps;
  const { clock } = deps.traveler;
  const base = deps.publicBaseUrl.replace(/\/+$/, '');
  const maxAge = settings.web.publicMaxAgeSeconds;
  const publicCacheControl = `public, max-age=${maxAge}`;

  const overviews = async (): Promise<{ list: CountryOverview[]; governments: string[] }> => {
    const advice = await currentAdvice(db);
    return { list: countryOverviews(advice), governments: orderGovernments(advice.map((a) => a.government)) };
  };

  /** One country's current advice, 12-month history and recent events. */
  const countryData = async (cc: string) => {
    const to = clock.now();
    const window = { from: new Date(to.getTime() - YEAR_MS), to };
    const [advice, points, events] = await Promise.all([
      currentAdvice(db, { country: cc }),
      levelPoints(db, cc, window.from),
      publicEvents(db, { country: cc, limit: 40, newestFirst: true }),
    ]);
    const overview = countryOverviews(advice)[0];
    return {
      overview,
      governments: orderGovernments(advice.map((a) => a.government)),
      series: levelSeries(points, window),
      window,
      changes: events.filter((e) => e.level !== null).slice(0, 10),
      // Every alert among them: the page picks its newest by the government's date, the JSON its last recorded.
      alerts: events.filter((e) => e.level === null),
    };
  };
  // The chart's window ends today: a cached country view is also keyed by the day.
  const today = () => clock.now().toISOString().slice(0, 10);

  app.get<{ Querystring: { q?: string; sort?: string } }>('/countries', async (req, reply) => {
    const query = typeof req.query.q === 'string' ? req.query.q.trim().slice(0, 100) : '';
    const sort: OverviewSort = (OVERVIEW_SORTS as readonly string[]).includes(req.query.sort ?? '') ? (req.query.sort as OverviewSort) : 'name';
    const r = await cache.get(`page:countries:${sort}:${query}`, async () => {
      const { list, governments } = await overviews();
      return { type: HTML, body: countriesPage({ rows: selectOverviews(list, { query, sort }), total: list.length, governments, query, sort }) };
    });
    return sendRendered(req, reply, r, publicCacheControl);
  });

  app.get<{ Params: { cc: string } }>('/countries/:cc', async (req, reply) => {
    const raw = req.params.cc;
    if (!/^[A-Za-z]{2}$/.test(raw) || !isCountryCode(raw.toUpperCase())) {
      return reply
        .code(404)
        .type(HTML)
        .send(
          messagePage('Country not found', `There is no country with the code “${raw.slice(0, 10)}”. Choose one from the list of every country.`, {
            status: 'error',
            extra: undefined,
          }),
        );
    }
    const cc = raw.toUpperCase();
    if (raw !== cc) return reply.redirect(`/countries/${cc}`, 301);
    const r = await cache.get(`page:country:${cc}:${today()}`, async () => {
      const data = await countryData(cc);
      return {
        type: HTML,
        body: countryPage({ country: cc, name: countryName(cc), ...data, alerts: alertsNewestFirst(data.alerts).slice(0, RECENT_ALERTS) }),
      };
    });
    // The follow form carries this visitor's CSRF token: the page is personal, not cacheable by others.
    return reply.type(HTML).header('cache-control', 'private, no-store').send(withCsrf(r.body, reply.generateCsrf()));
  });

  const atom = (key: string, country: string | undefined) => async (req: FastifyRequest, reply: FastifyReply) => {
    const r = await cache.get(key, async () => {
      const events = await publicEvents(db, { country, limit: 50, newestFirst: true });
      const body = eventsAtom({
        events,
        baseUrl: base,
        selfPath: country ? `/countries/${country}/feed.atom` : '/feed.atom',
        alternatePath: country ? `/countries/${country}` : '/countries',
        title: country ? `Travel advice for ${countryName(country)} — every government` : 'Travel advice changes — every government, every country',
        now: clock.now(),
      });
      return { type: ATOM, body };
    });
    return sendRendered(req, reply, r, publicCacheControl);
  };
  app.get('/feed.atom', atom('atom:all', undefined));
  app.get<{ Params: { cc: string } }>('/countries/:cc/feed.atom', async (req, reply) => {
    const cc = countryParam(req.params.cc, 404);
    return atom(`atom:${cc}`, cc)(req, reply);
  });

  app.get('/api/countries', async (req, reply) => {
    const r = await cache.get('api:countries', async () => {
      const { list, governments } = await overviews();
      const countries = list.map((c) => ({
        country: c.country,
        name: c.name,
        highestLevel: c.highestLevel,
        lowestLevel: c.lowestLevel,
        disagree: c.disagree,
        lastChange: c.lastChange.toISOString(),
        url: `${base}/countries/${c.country}`,
        governments: Object.fromEntries(governments.filter((g) => c.governments[g]).map((g) => [g, governmentJson(c.governments[g]!)])),
      }));
      return { type: JSON_TYPE, body: JSON.stringify({ governments, countries }) };
    });
    return sendRendered(req, reply, r, publicCacheControl);
  });

  app.get<{ Params: { cc: string } }>('/api/countries/:cc', async (req, reply) => {
    const cc = countryParam(req.params.cc, 404);
    const r = await cache.get(`api:country:${cc}:${today()}`, async () => {
      const data = await countryData(cc);
      const o = data.overview;
      const body = {
        country: cc,
        name: countryName(cc),
        url: `${base}/countries/${cc}`,
        highestLevel: o?.highestLevel ?? null,
        lowestLevel: o?.lowestLevel ?? null,
        disagree: o?.disagree ?? false,
        lastChange: o?.lastChange.toISOString() ?? null,
        governments: o ? data.governments.filter((g) => o.governments[g]).map((g) => governmentJson(o.governments[g]!)) : [],
        history: { from: data.window.from.toISOString(), to: data.window.to.toISOString(), series: data.series.map(seriesJson) },
        recentChanges: data.changes.map(eventJson),
        recentAlerts: data.alerts.slice(0, RECENT_ALERTS).map(eventJson),
      };
      return { type: JSON_TYPE, body: JSON.stringify(body) };
    });
    return sendRendered(req, reply, r, publicCacheControl);
  });

  app.get<{ Querystring: Record<string, string | undefined> }>('/api/events', async (req, reply) => {
    const q = req.query;
    const unknown = Object.keys(q).find((k) => !['since', 'country', 'cursor', 'limit'].includes(k));
    if (unknown) throw new HttpError(400, `${unknown}: unknown parameter (use since, country, cursor, limit)`, unknown);
    let since: Date | undefined;
    if (q.since !== undefined) {
      since = new Date(q.since);
      if (!/^\d{4}-\d{2}-\d{2}/.test(q.since) || Number.isNaN(since.getTime()))
        throw new HttpError(400, 'since: must be an ISO 8601 time, e.g. 2026-03-01T00:00:00Z', 'since');
    }
    const country = q.country !== undefined ? countryParam(q.country, 400) : undefined;
    const after = q.cursor !== undefined ? decodeCursor(q.cursor) : undefined;
    if (after === null) throw new HttpError(400, 'cursor: not a cursor from this API (use nextCursor from the previous page)', 'cursor');
    const limit = q.limit === undefined ? EVENTS_PAGE_DEFAULT : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new HttpError(400, 'limit: must be a whole number from 1 to 500', 'limit');
    const key = `api:events:${since?.toISOString() ?? ''}:${country ?? ''}:${q.cursor ?? ''}:${limit}`;
    const r = await cache.get(key, async () => {
      // One more than asked tells whether another page follows.
      const rows = await publicEventsJson(db, { country, since, after, limit: limit + 1 });
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      const hasMore = rows.length > limit;
      const nextCursor = last ? encodeCursor(last.position) : (q.cursor ?? null);
      const headers: Record<string, string> = {};
      if (hasMore && nextCursor) {
        const params = new URLSearchParams({
          ...(q.since ? { since: q.since } : {}),
          ...(country ? { country } : {}),
          cursor: nextCursor,
          ...(q.limit ? { limit: q.limit } : {}),
        });
        headers.link = `<${base}/api/events?${params.toString()}>; rel="next"`;
      }
      // The events' JSON comes written (publicEventsJson): the page is their concatenation.
      return {
        type: JSON_TYPE,
        headers,
        body: `{"events":[${page.map((e) => e.json).join(',')}],"hasMore":${hasMore},"nextCursor":${JSON.stringify(nextCursor)}}`,
      };
    });
    return sendRendered(req, reply, r, publicCacheControl);
  });
}
