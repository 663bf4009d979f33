/**
 * The web server of `npm run bench:web`, in a child process of its own (so
 * autocannon's CPU is not spent on the event loop being measured): the real
 * server as `start --roles web` builds it (loadConfig, webDepsFor,
 * buildWebServer), plus one bench-only route, `GET /__floor/:bytes`, that
 * answers a static body of that many bytes held in memory — the floor: what
 * the same Fastify server, with the same plugins and hooks (helmet, CORS,
 * cookies, error handler), costs for an answer that needs no work at all.
 *
 * Configuration comes from the environment the bench sets (DATABASE_URL,
 * CONFIG_DIR, APP_SECRET, PORT=0); the port it listens on goes back by IPC.
 */
import { loadConfig } from '../../src/config/load.ts';
import { connectDatabase } from '../../src/db/connect.ts';
import { systemClock } from '../../src/common/clock.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { createMetrics } from '../../src/common/metrics.ts';
import { createChannels, webDepsFor } from '../../src/runtime.ts';
import { buildWebServer } from '../../src/web/server.ts';

export type WebServerMessage = { type: 'listening'; port: number };

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const database = await connectDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, role: 'service', logger: silentLogger });
  const channels = createChannels(config);
  const feeds = new Set(config.feeds.map((f) => f.id));
  const app = await buildWebServer(
    webDepsFor(config, database.db, { logger: silentLogger, clock: systemClock, channels, metrics: createMetrics(), knownFeeds: () => feeds }),
  );
  const bodies = new Map<number, Buffer>();
  app.get<{ Params: { bytes: string } }>('/__floor/:bytes', async (req, reply) => {
    const n = Math.min(Number(req.params.bytes) || 0, 50_000_000);
    let body = bodies.get(n);
    if (!body) {
      body = Buffer.alloc(n, 'a');
      bodies.set(n, body);
    }
    return reply.type('text/html; charset=utf-8').header('cache-control', 'public, max-age=60').send(body);
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.send!({ type: 'listening', port } satisfies WebServerMessage);
  // Stop with the parent, whatever way it ends.
  process.on('disconnect', () => {
    void app
      .close()
      .then(() => database.close())
      .finally(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
