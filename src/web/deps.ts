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

export function wantsJson(req: FastifyRequest): boolean {
  return /json/.test(req.headers['content-type'] ?? '') || (req.url.startsWith('/api/') && !/form/.test(req.headers['content-type'] ?? ''));
}
