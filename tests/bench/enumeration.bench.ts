/**
 * `npm run bench:enumeration`: can the answer's timing of POST /api/subscriptions
 * tell a confirmed address from an unknown one? The real
 * web server (loadConfig, webDepsFor, buildWebServer, as `start --roles web`
 * builds it) on a scratch PostgreSQL database (DATABASE_URL or TEST_DATABASE_URL,
 * default postgres://postgres@127.0.0.1:5432/postgres); confirmation emails go
 * to the file outbox. Samples alternate a confirmed address and a never-seen
 * one, one request at a time with a pause between them (so the work each
 * request queues is done before the next is timed), after a warm-up.
 * Prints the median, p90 and the median difference. `--samples N` (default 110).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { systemClock } from '../../src/common/clock.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { createMetrics } from '../../src/common/metrics.ts';
import { loadConfig } from '../../src/config/load.ts';
import { connectDatabase, migrateToLatest } from '../../src/db/connect.ts';
import { createChannels, webDepsFor } from '../../src/runtime.ts';
import { upsertSubscriber } from '../../src/subscriptions/repository.ts';
import { parseSubscriber } from '../../src/subscriptions/validate.ts';
import { buildWebServer } from '../../src/web/server.ts';
import { benchDatabaseUrl, createDatabase, machineDescription, redactUrl } from './lib.ts';

const { values } = parseArgs({ options: { samples: { type: 'string', default: '110' } } });
const SAMPLES = Number(values.samples);

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function main(): Promise<void> {
  for (const line of machineDescription()) console.log(line);
  const base = benchDatabaseUrl();
  console.log(`PostgreSQL: ${redactUrl(base)} (a scratch database is created and dropped)`);
  const scratch = await createDatabase(base);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aa-bench-enum-'));
  writeFileSync(path.join(dir, 'feeds.yaml'), 'feeds: []\n');
  writeFileSync(path.join(dir, 'settings.yaml'), 'logLevel: warn\nweb:\n  rateLimitPerMinute: 100000\n');
  const config = loadConfig({ DATABASE_URL: scratch.url, CONFIG_DIR: dir, DATA_DIR: dir, APP_SECRET: randomBytes(32).toString('base64url') });
  const database = await connectDatabase({ databaseUrl: scratch.url, dataDir: dir, role: 'service', logger: silentLogger });
  const channels = createChannels(config);
  try {
    await migrateToLatest(database.db, silentLogger);
    const known = 'known@example.com';
    await upsertSubscriber(database.db, parseSubscriber({ email: known, countries: 'RU' }, new Set()), { confirmed: true, now: new Date() });
    const app = await buildWebServer(
      webDepsFor(config, database.db, { logger: silentLogger, clock: systemClock, channels, metrics: createMetrics(), knownFeeds: () => new Set() }),
    );
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/api/subscriptions`;
    const time = async (email: string): Promise<number> => {
      const started = performance.now();
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, countries: ['RU'] }) });
      await r.arrayBuffer();
      const ms = performance.now() - started;
      if (r.status !== 202) throw new Error(`answered ${r.status}`);
      return ms;
    };
    for (let i = 0; i < 20; i++) await time(i % 2 ? known : `warm-${i}@example.com`);
    const samples: Record<'known' | 'unknown', number[]> = { known: [], unknown: [] };
    for (let i = 0; i < SAMPLES * 2; i++) {
      await sleep(25);
      if (i % 2) samples.known.push(await time(known));
      else samples.unknown.push(await time(`new-${i}-${randomBytes(3).toString('hex')}@example.com`));
    }
    await app.close();
    const rows = (['known', 'unknown'] as const).map((k) => {
      const s = [...samples[k]].sort((a, b) => a - b);
      return { k, median: quantile(s, 0.5), p90: quantile(s, 0.9) };
    });
    console.log(`POST /api/subscriptions, ${SAMPLES} samples each, alternating:`);
    for (const r of rows) console.log(`  ${r.k.padEnd(8)} median ${r.median.toFixed(2)} ms   p90 ${r.p90.toFixed(2)} ms`);
    console.log(`  median difference (unknown − known): ${(rows[1]!.median - rows[0]!.median).toFixed(2)} ms`);
  } finally {
    await channels.close();
    await database.close();
    await scratch.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
