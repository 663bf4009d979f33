import type { FastifyRequest } from 'fastify';
import type { Metrics } from '../common/metrics.ts';
import type { Logger } from '../common/logger.ts';
import type { Settings } from '../config/schema.ts';
import type { DB } from '../db/connect.ts';
import type { TravelerDeps } from '../subscriptions/service.ts';

/** What the web server and every route module are built from (see `webDepsFor` in src/runtime.ts). */
export interface WebDeps {
  db: DB;
  logger: Logger;
  settings: Settings;
  metrics: Metrics;
  traveler: TravelerDeps;
  knownFeeds: () => ReadonlySet<string>;
  publicBaseUrl: string;
  adminToken: string | undefined;
  /** When set, /metrics wants it as a bearer token. */
  metricsToken: string | undefined;
  twilioAuthToken: string | undefined;
  secret: string;
}

/** A refusal with a status and a message naming the field. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** The media type alone, lower case: "application/x-www-form-urlencoded; charset=json" is a form. */
export function mediaType(req: FastifyRequest): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

/** A body the form parsers read: what a cross-site form can send, so it must carry the CSRF token. */
export function isFormBody(req: FastifyRequest): boolean {
  const type = mediaType(req);
  return type === 'application/x-www-form-urlencoded' || type === 'multipart/form-data';
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * An API route one of our pages posts a form to (the phone code form): a form there is a
     * person's, answered with a page, errors included.
     */
    pageForms?: boolean;
  }
}

/**
 * Answer in JSON: the body is JSON, or it is an API route and the body is not a form its route
 * takes from our pages. A form anywhere else in the API comes from a script (`curl -d` sends
 * one), which reads JSON.
 */
export function wantsJson(req: FastifyRequest): boolean {
  const type = mediaType(req);
  return type === 'application/json' || (req.url.startsWith('/api/') && !(isFormBody(req) && req.routeOptions.config.pageForms === true));
}
