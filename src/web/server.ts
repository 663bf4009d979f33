import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { DB } from '../db/connect.ts';
import type { Logger } from '../shared/logger.ts';

export interface WebDeps {
  db: DB;
  logger: Logger;
}

/** The HTTP side of `start`. Operational routes live here; traveler pages are added by the web feature. */
export function buildWebServer(deps: WebDeps): FastifyInstance {
  const app = Fastify({ loggerInstance: deps.logger.child({ component: 'web' }) as FastifyBaseLogger, bodyLimit: 64 * 1024, disableRequestLogging: true });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    try {
      await sql`select 1`.execute(deps.db);
      return { status: 'ready' };
    } catch {
      return reply.code(503).send({ status: 'unavailable', reason: 'database unreachable' });
    }
  });
  return app;
}
