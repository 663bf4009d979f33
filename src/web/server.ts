import cookie from '@fastify/cookie';
import cors from '@fastify/cors';
import csrf from '@fastify/csrf-protection';
import formbody from '@fastify/formbody';
import rateLimit from '@fastify/rate-limit';
import helmet from 'helmet';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import { countEventsByKind, countrySummaries, publicDataVersion } from '../advisories/repository.ts';
import type { Settings } from '../config/schema.ts';
import type { DB } from '../db/connect.ts';
import { countByStatus } from '../delivery/repository.ts';
import { listFeeds } from '../feeds/repository.ts';
import { safeEqual } from '../common/tokens.ts';
import { registerAdminRoutes } from './admin.ts';
import { HttpError, wantsJson, type WebDeps } from './deps.ts';
import { CSS, PICKER_JS } from './html.ts';
import { messagePage } from './pages.ts';
import { PublicCache } from './public-cache.ts';
import { PUBLIC_READ_ROUTES, registerPublicRoutes } from './public.ts';
import { registerTravelerRoutes } from './traveler.ts';
import { registerTwilioWebhook } from './twilio-webhook.ts';

/**
 * Cached map country → highest current level, for the destination picker: read
 * again when the public pages' data version moves (a poll's change, a feed removed
 * or disabled by a sync), so the picker and /countries never show different levels.
 */
function highestLevels(db: DB, cache: PublicCache): () => Promise<Map<string, number>> {
  let cached: { version: string; value: Promise<Map<string, number>> } | undefined;
  return async () => {
    const version = await cache.currentVersion();
    if (cached?.version !== version) {
      const value = countrySummaries(db).then((rows) => new Map(rows.map((c) => [c.country, c.highestLevel])));
      cached = { version, value };
      // A failed read is not kept: the next page asks again.
      value.catch(() => {
        if (cached?.value === value) cached = undefined;
      });
    }
    return cached.value;
  };
}

/**
 * A hop count becomes the function Fastify builds from one (its typings only
 * take the function): the client is the address the nth proxy from us saw,
 * so entries a client put in X-Forwarded-For itself are never believed.
 */
function trustProxyOption(setting: Settings['web']['trustProxy']): false | string[] | ((address: string, hop: number) => boolean) {
  return typeof setting === 'number' ? (_address, hop) => hop < setting : setting;
}

export async function buildWebServer(deps: WebDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger.child({ component: 'web' }) as FastifyBaseLogger,
    bodyLimit: deps.settings.web.bodyLimitBytes,
    // Request URLs carry tokens: they are never logged.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: trustProxyOption(deps.settings.web.trustProxy),
  });

  // Security headers (CSP and the rest), one middleware built once: the Fastify plugin
  // built a new one (options checked, the CSP parsed) for every request, ~12% of the
  // server's CPU per cached public answer.
  const securityHeaders = helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        'default-src': ["'self'"],
        'script-src': ["'self'"],
        'style-src': ["'self'"],
        'img-src': ["'self'", 'data:'],
        'form-action': ["'self'"],
        'frame-ancestors': ["'none'"],
        'base-uri': ["'none'"],
        'object-src': ["'none'"],
      },
    },
    // Links in emails must open these pages; the referrer would leak tokens.
    referrerPolicy: { policy: 'no-referrer' },
  });
  app.addHook('onRequest', (req, reply, done) => {
    securityHeaders(req.raw, reply.raw, (err?: unknown) => done(err instanceof Error ? err : undefined));
  });
  // The public API and feeds may be read from any web page (GET only); nothing else is cross-origin.
  await app.register(
    cors,
    () =>
      (
        req: FastifyRequest,
        cb: (err: Error | null, options: { origin: boolean | string; methods?: string[]; exposedHeaders?: string[]; maxAge?: number }) => void,
      ) => {
        cb(
          null,
          PUBLIC_READ_ROUTES.test(req.url) ? { origin: '*', methods: ['GET', 'HEAD'], exposedHeaders: ['ETag', 'Link'], maxAge: 86_400 } : { origin: false },
        );
      },
  );
  await app.register(formbody, { bodyLimit: deps.settings.web.bodyLimitBytes });
  // Only JSON and forms are accepted: anything else is a 415, not a confusing 400.
  app.removeContentTypeParser('text/plain');
  // RFC 8058 allows the one-click POST as multipart/form-data; only its one field matters.
  app.addContentTypeParser('multipart/form-data', { parseAs: 'string' }, (_req, body, done) => {
    done(null, /List-Unsubscribe[\s\S]*?One-Click/.test(String(body)) ? { 'List-Unsubscribe': 'One-Click' } : {});
  });
  await app.register(cookie, { secret: deps.secret });
  // Served over https (PUBLIC_BASE_URL), the cookie must never travel in clear.
  const secure = deps.publicBaseUrl.startsWith('https:');
  await app.register(csrf, { cookieOpts: { signed: true, httpOnly: true, sameSite: 'lax', path: '/', secure }, sessionPlugin: '@fastify/cookie' });
  await app.register(rateLimit, {
    global: false,
    max: deps.settings.web.rateLimitPerMinute,
    timeWindow: 60_000,
    errorResponseBuilder: (_req, ctx) => new HttpError(429, `too many requests; try again in ${Math.ceil(ctx.ttl / 1000)} s`),
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    let status = err instanceof HttpError ? err.statusCode : (err.statusCode ?? 500);
    let message = err.message;
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') message = `request body too large (limit ${deps.settings.web.bodyLimitBytes} bytes)`;
    else if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError) {
      status = 400;
      message = 'malformed JSON body';
    } else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') message = 'unsupported content type: send application/json or a form';
    else if (err.code?.startsWith('FST_CSRF')) {
      status = 403;
      // A form without this site's token: on a page, an expired one; in the API, a script's.
      message = wantsJson(req)
        ? 'this API takes JSON: send the body with Content-Type: application/json'
        : 'the form has expired or was not sent from this site; reload the page and try again';
    }
    if (status >= 500) {
      req.log.error({ err, route: req.routeOptions.url }, 'request failed');
      message = 'something went wrong on our side; please try again later';
    }
    const field = err instanceof HttpError ? err.field : undefined;
    if (wantsJson(req)) return reply.code(status).send({ error: message, ...(field ? { field } : {}) });
    return reply
      .code(status)
      .type('text/html; charset=utf-8')
      .send(messagePage(status === 429 ? 'Slow down' : 'Something is not right', message, { status: 'error' }));
  });
  app.setNotFoundHandler((req, reply) => {
    if (wantsJson(req)) return reply.code(404).send({ error: 'not found' });
    return reply
      .code(404)
      .type('text/html; charset=utf-8')
      .send(messagePage('Page not found', 'There is nothing at this address.', { status: 'error' }));
  });

  deps.metrics.setDbSnapshot(async () => {
    const [events, deliveries, feeds] = await Promise.all([countEventsByKind(deps.db), countByStatus(deps.db), listFeeds(deps.db)]);
    return {
      eventsByKind: events,
      deliveriesByStatus: deliveries,
      failingFeeds: feeds.filter((f) => f.inConfig && f.lastStatus === 'error').length,
      feedFailures: feeds.filter((f) => f.inConfig).map((f) => ({ feed: f.id, failures: f.consecutiveFailures })),
    };
  });

  app.get('/assets/app.css', async (_req, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(CSS));
  app.get('/assets/picker.js', async (_req, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'public, max-age=3600').send(PICKER_JS),
  );
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    try {
      await sql`select 1`.execute(deps.db);
      return { status: 'ready' };
    } catch {
      return reply.code(503).send({ status: 'unavailable', reason: 'database unreachable' });
    }
  });
  app.get('/metrics', async (req, reply: FastifyReply) => {
    if (deps.metricsToken) {
      const given = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim() ?? '';
      if (!safeEqual(given, deps.metricsToken))
        return reply.code(401).header('www-authenticate', 'Bearer realm="metrics"').type('text/plain').send('metrics token required');
    }
    return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });

  const publicCache = new PublicCache(() => publicDataVersion(deps.db), deps.settings.web.publicRefreshMs);
  registerTravelerRoutes(app, deps, highestLevels(deps.db, publicCache));
  registerPublicRoutes(app, deps, publicCache);
  registerTwilioWebhook(app, deps);
  registerAdminRoutes(app, deps);
  return app;
}
