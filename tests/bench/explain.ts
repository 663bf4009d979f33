/**
 * EXPLAIN (ANALYZE, BUFFERS) of the hot delivery queries on a table of a
 * million deliveries: the hot queries must be served by indexes at that size. A script, not a test:
 *
 *   npx tsx tests/bench/explain.ts            # TEST_DATABASE_URL, DATABASE_URL or postgres://postgres@127.0.0.1:5432/postgres
 *
 * It creates a scratch database, migrates it, fills it with INSERT…SELECT
 * generate_series (100,000 confirmed subscribers in 20 countries, 10 events,
 * 1,000,000 deliveries — 3,000 pending and due, a few thousand retrying,
 * failed, leased or uncertain, the rest sent over the last 60 days — and one
 * attempt per delivery), ANALYZEs, and explains the queries exactly as the
 * application sends them: each is captured from the real function
 * (claimDue, fanOut, listDeliveries, deleteSentDeliveries, deleteOldAttempts)
 * through a Kysely instance whose driver executes nothing, then run under
 * EXPLAIN inside a transaction that is rolled back. The database is dropped at
 * the end (KEEP=1 keeps it).
 */
import { randomBytes } from 'node:crypto';
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, type CompiledQuery } from 'kysely';
import pg from 'pg';
import { connectDatabase, migrateToLatest } from '../../src/db/connect.ts';
import type { Database } from '../../src/db/types.ts';
import { claimDue, fanOut, listDeliveries } from '../../src/delivery/repository.ts';
import { deleteOldAttempts, deleteSentDeliveries } from '../../src/housekeeping/repository.ts';
import { silentLogger } from '../../src/common/logger.ts';

const BASE = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const SUBSCRIBERS = 100_000;
const EVENTS = 10; // SUBSCRIBERS × EVENTS deliveries
const COUNTRIES = ['RU', 'UA', 'BY', 'GE', 'AM', 'AZ', 'KZ', 'UZ', 'KG', 'TJ', 'TM', 'MD', 'TR', 'IR', 'IQ', 'SY', 'LB', 'IL', 'EG', 'LY'];

/** A Kysely that compiles and "runs" queries without a database, recording them. */
function capturing(): { db: Kysely<Database>; take(): CompiledQuery } {
  const captured: CompiledQuery[] = [];
  const db = new Kysely<Database>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (k) => new PostgresIntrospector(k),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
    log: (e) => {
      if (e.level === 'query') captured.push(e.query);
    },
  });
  return {
    db,
    take() {
      if (captured.length !== 1) throw new Error(`expected one query, captured ${captured.length}`);
      return captured.pop()!;
    },
  };
}

async function time<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const t = performance.now();
  const r = await fn();
  console.log(`  ${label}: ${Math.round(performance.now() - t)} ms`);
  return r;
}

async function seed(client: pg.Client, now: Date): Promise<{ newEvent: number }> {
  await client.query(`insert into feeds (id, name, url, source) values ('bench', 'Bench', 'https://example.org/feed', 'generic')`);
  await time('10 + 1 events (advisories, versions)', async () => {
    await client.query(
      `insert into advisories (feed_id, key, countries, title, body, fingerprint, first_seen_at, last_seen_at, changed_at)
       select 'bench', 'k' || g, $1::text[], 'Alert ' || g, 'Avoid crowds.', 'f' || g, $2, $2, $2 from generate_series(1, $3) g`,
      [['RU'], now, EVENTS + 1],
    );
    await client.query(
      `insert into advisory_versions (advisory_id, fingerprint, countries, title, body, created_at)
       select id, fingerprint, countries, title, body, $1 from advisories order by id`,
      [now],
    );
    await client.query(`update advisories a set version_id = v.id from advisory_versions v where v.advisory_id = a.id`);
    await client.query(
      `insert into events (feed_id, advisory_id, kind, countries, title, version_id, created_at)
       select 'bench', a.id, 'new', $1::text[], a.title, a.version_id, $2 from advisories a order by a.id`,
      [['RU'], now],
    );
  });
  await time(`${SUBSCRIBERS.toLocaleString('en')} subscribers + subscriptions`, async () => {
    await client.query(
      `insert into subscribers (email, status, created_at, confirmed_at)
       select 'traveler-' || g || '@example.org', 'confirmed', $1, $1 from generate_series(1, $2) g`,
      [now, SUBSCRIBERS],
    );
    // 1 in 10 follows every country; the rest one country each (RU: 1 in 20 of them).
    await client.query(
      `insert into subscriptions (subscriber_id, countries, channels, created_at)
       select id, case when id % 10 = 0 then null else array[($2::text[])[1 + id % 20]] end, '{email}', $1 from subscribers`,
      [now, COUNTRIES],
    );
  });
  const events = (await client.query<{ id: string }>(`select id from events order by id`)).rows.map((r) => Number(r.id));
  const old = events.slice(0, EVENTS);
  await time(`${(SUBSCRIBERS * EVENTS).toLocaleString('en')} deliveries`, async () => {
    // Row n (1-based): the first 3,000 pending and due, then 2,000 retrying later, 500 failed,
    // 200 leased (live), 100 leased (expired), 100 uncertain, the rest sent over the last 60 days.
    await client.query(
      `insert into deliveries (subscriber_id, event_id, channel, status, attempts, next_attempt_at, lease_owner, lease_until, last_error, provider_id, created_at, sent_at)
       select x.sid, x.eid, 'email', st.status,
              case when st.status = 'pending' and n <= 3000 then 0 else 1 end,
              case when n <= 3000 then $1::timestamptz - interval '1 minute'
                   when n <= 5000 then $1::timestamptz + interval '10 minutes'
                   else $1::timestamptz - (n % 86400) * interval '60 seconds' end,
              case when st.status = 'sending' then 'host:1:abc' end,
              case when n between 5501 and 5700 then $1::timestamptz + interval '2 minutes'
                   when n between 5701 and 5800 then $1::timestamptz - interval '1 minute' end,
              case when st.status in ('failed', 'pending') and n > 3000 then 'SMTP 451' end,
              case when st.status = 'sent' then '<m' || n || '@example.org>' end,
              $1::timestamptz - (n % 86400) * interval '60 seconds',
              case when st.status = 'sent' then $1::timestamptz - (n % 86400) * interval '60 seconds' end
       from (select row_number() over () as n, sub.id as sid, ev.id as eid
             from (select id from subscribers order by id limit $2) sub cross join unnest($3::bigint[]) ev(id)) x
       cross join lateral (select case when n <= 5000 then 'pending'
                                       when n <= 5500 then 'failed'
                                       when n <= 5800 then 'sending'
                                       when n <= 5900 then 'uncertain'
                                       else 'sent' end as status) st`,
      [now, SUBSCRIBERS, old],
    );
  });
  await time('1 attempt per delivery', () =>
    client.query(
      `insert into delivery_attempts (delivery_id, attempted_at, outcome, error, duration_ms)
       select id, coalesce(sent_at, created_at), case status when 'sent' then 'sent' when 'failed' then 'failed' when 'uncertain' then 'uncertain' else 'retry' end, last_error, 20
       from deliveries where status <> 'pending' or attempts > 0`,
    ),
  );
  await time('poll runs, cron claims', async () => {
    await client.query(
      `insert into poll_runs (feed_id, started_at, finished_at, status, http_status)
       select 'bench', $1::timestamptz - g * interval '1 minute', $1::timestamptz - g * interval '1 minute', 'not-modified', 304 from generate_series(1, 100000) g`,
      [now],
    );
  });
  await time('VACUUM ANALYZE', () => client.query('vacuum analyze'));
  return { newEvent: events[EVENTS]! };
}

/** The key lines of a plan: node types with their timings and rows, buffers, planning and execution time. */
function keyLines(plan: string[]): string[] {
  return plan.filter((l) =>
    /Scan|Sort|Limit|Join|Nested Loop|Hash|Insert|Update|Delete|LockRows|Buffers: shared|Planning Time|Execution Time|Index Cond|Filter|Rows Removed|Trigger/.test(
      l,
    ),
  );
}

async function explain(client: pg.Client, name: string, q: CompiledQuery): Promise<void> {
  await client.query('begin');
  try {
    const r = await client.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers) ${q.sql}`, q.parameters as unknown[]);
    const plan = r.rows.map((x) => x['QUERY PLAN']);
    const seq = plan.filter((l) => /Seq Scan on (deliveries|delivery_attempts)\b/.test(l));
    console.log(`\n=== ${name} ===`);
    console.log(q.sql.replace(/\s+/g, ' ').trim().slice(0, 400) + (q.sql.length > 400 ? ' …' : ''));
    console.log('---');
    for (const l of keyLines(plan)) console.log(l);
    console.log(
      `--- ${seq.length ? `SEQUENTIAL SCAN of a big table: ${seq.map((s) => s.trim()).join('; ')}` : 'no sequential scan of deliveries / delivery_attempts'}`,
    );
    if (process.env.FULL) for (const l of plan) console.log(`  | ${l}`);
  } finally {
    await client.query('rollback');
  }
}

async function main(): Promise<void> {
  const name = `aa_explain_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: BASE });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(BASE);
  url.pathname = `/${name}`;
  const handle = await connectDatabase({ databaseUrl: url.href, dataDir: '/nonexistent', role: 'command', logger: silentLogger });
  const client = new pg.Client({ connectionString: url.href });
  try {
    await migrateToLatest(handle.db, silentLogger);
    await client.connect();
    const version = (await client.query<{ server_version: string }>('show server_version')).rows[0]!.server_version;
    console.log(`PostgreSQL ${version}, scratch database ${name}; seeding:`);
    const now = new Date();
    const { newEvent } = await seed(client, now);
    const counts = await client.query<{ status: string; n: string }>(`select status, count(*) as n from deliveries group by 1 order by 1`);
    const size = await client.query<{ s: string }>(`select pg_size_pretty(pg_total_relation_size('deliveries')) as s`);
    console.log(`deliveries: ${counts.rows.map((r) => `${r.status} ${Number(r.n).toLocaleString('en')}`).join(', ')} (${size.rows[0]!.s} with indexes)`);
    const indexes = await client.query<{ indexdef: string }>(`select indexdef from pg_indexes where tablename = 'deliveries' order by indexname`);
    for (const i of indexes.rows) console.log(`  ${i.indexdef}`);

    const cap = capturing();
    await claimDue(cap.db, { owner: 'bench:1:explain', limit: 200, leaseMs: 120_000, now });
    await explain(client, 'claimDue (dispatcher claim, batchSize 200; 3,000 due)', cap.take());
    // The steady state: nothing (or less than a batch) is due, which is what every idle
    // dispatcher asks every idlePollMs — each branch of the claim runs to its end.
    await claimDue(cap.db, { owner: 'bench:1:explain', limit: 200, leaseMs: 120_000, now: new Date(now.getTime() - 2 * 3600_000) });
    await explain(client, 'claimDue when nothing is due (an idle dispatcher, every idlePollMs)', cap.take());

    await fanOut(cap.db, [newEvent], now);
    await explain(client, 'fanOut (one new RU event)', cap.take());

    await listDeliveries(cap.db, { status: 'pending' });
    await explain(client, 'listDeliveries --status pending', cap.take());

    await listDeliveries(cap.db, { status: 'failed' });
    await explain(client, 'listDeliveries --status failed (for comparison: no index on status)', cap.take());

    await deleteSentDeliveries(cap.db, new Date(now.getTime() - 30 * 86_400_000));
    await explain(client, 'housekeeping: deleteSentDeliveries (sent > 30 days ago, one batch of 10,000)', cap.take());

    await deleteOldAttempts(cap.db, new Date(now.getTime() - 50 * 86_400_000));
    await explain(client, 'housekeeping: deleteOldAttempts (> 50 days ago, one batch of 10,000)', cap.take());
  } finally {
    await client.end().catch(() => {});
    await handle.close();
    if (!process.env.KEEP) await admin.query(`drop database if exists ${name} with (force)`);
    else console.log(`kept ${url.href}`);
    await admin.end();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
