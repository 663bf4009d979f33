import { describe, expect, it } from 'vitest';
import { ServiceProcess } from '../../helpers/cli.ts';
import { testDbKind } from '../../helpers/db.ts';
import { EMBASSY_V1, faultEnvironment, makeConfig } from '../../helpers/faults.ts';
import { waitFor } from '../../helpers/wait.ts';

/**
 * Fault test: several `start --roles poll` processes on one database.
 * One file per failure mode; their shared environment and seeding are in
 * tests/helpers/faults.ts. Figures worth keeping (duplicates, timings, memory) are
 * printed with console.info, so a run's output carries the evidence.
 */

describe.skipIf(testDbKind() !== 'postgres')(
  'fault: several `start --roles poll` processes on one database (PostgreSQL only; set TEST_DATABASE_URL)',
  { timeout: 300_000 },
  () => {
    const fault = faultEnvironment();

    it('three `start --roles poll` processes: each 1-second slot of a feed is fetched once', async () => {
      // Proves (contract, "Scale") "each scheduled poll of a feed runs once across all of them": with three
      // processes scheduling the same feed every second, the PostgreSQL-backed run coordinator lets
      // exactly one of them run each slot — the feed server sees at most one request per slot
      // (three without coordination), and poll_runs never has two rows for one slot.
      fault.feeds.set('/slots', { body: EMBASSY_V1 });
      const cfg = makeConfig(
        fault.work,
        `feeds:\n  - id: slots\n    url: ${fault.feeds.url('/slots')}\n    source: us-embassy\n    countries: [RU]\n    schedule: "*/1 * * * * *"\n`,
        'http:\n  timeoutSeconds: 10\n',
      );
      const procs = [1, 2, 3].map((i) => ServiceProcess.named(`poll-${i}`, ['start', '--roles', 'poll'], { ...cfg, ...fault.t.env }));
      await Promise.all(procs.map((p) => p.waitForLog('feeds scheduled', (l) => l.msg === 'feeds scheduled')));
      const anyDead = () => procs.map((p) => p.dead()).find(Boolean);
      // The baseline (first) poll done, measure the steady state until five more fetches:
      // coordinated, they take at least four slot boundaries; three uncoordinated
      // processes would make them within two slots.
      await waitFor('the baseline poll', () => fault.feeds.count('/slots') >= 1, { dead: anyDead });
      const c0 = fault.feeds.count('/slots');
      const t0 = Date.now();
      await waitFor('five more fetches of the feed', () => fault.feeds.count('/slots') >= c0 + 5, { dead: anyDead });
      const c1 = fault.feeds.count('/slots');
      const t1 = Date.now();
      for (const p of procs) expect(p.exit, p.stderr).toBeUndefined();
      await Promise.all(procs.map((p) => p.stop()));

      const slotsInWindow = Math.floor(t1 / 1000) - Math.floor(t0 / 1000);
      const requests = c1 - c0;
      const runs = await fault.t.db
        .selectFrom('poll_runs')
        .select(['started_at', 'finished_at', 'status'])
        .where('feed_id', '=', 'slots')
        .orderBy('started_at')
        .execute();
      // Scheduled slots are claimed as `poll:<feed>:<slot>`; the poll every process makes at
      // start as `start:<feed>:<minute>` (one per minute across processes), so a start-up poll
      // is a run too, and may share a second with a scheduled one.
      const allClaims = await fault.t.db
        .selectFrom('cron_claims')
        .select(['key', 'owner', 'claimed_at'])
        .where((eb) => eb.or([eb('key', 'like', 'poll:slots:%'), eb('key', 'like', 'start:slots:%')]))
        .execute();
      const claims = allClaims.filter((c) => c.key.startsWith('poll:'));
      const startClaims = allClaims.filter((c) => c.key.startsWith('start:'));
      // (a start-up poll begins just after its claim: the same second or, across a boundary, the next)
      const startSeconds = new Set(startClaims.flatMap((c) => [0, 1].map((d) => Math.floor(c.claimed_at.getTime() / 1000) + d)));
      const byOwner = new Map<string, number>();
      for (const c of claims) byOwner.set(c.owner, (byOwner.get(c.owner) ?? 0) + 1);
      const perSlot = new Map<number, string[]>();
      for (const r of runs) {
        const slot = Math.floor(r.started_at.getTime() / 1000);
        perSlot.set(slot, [...(perSlot.get(slot) ?? []), r.started_at.toISOString()]);
      }
      const lateness = runs.map((r) => r.started_at.getTime() % 1000);
      console.info(
        `[slots] window ${t1 - t0} ms = ${slotsInWindow} slots, ${requests} requests in it; total: ${fault.feeds.count('/slots')} requests, ${runs.length} poll_runs, ${claims.length} claimed slots, ${startClaims.length} start-up polls; ` +
          `claims per process: ${procs.map((p) => `${p.name}=${[...byOwner].filter(([o]) => o.endsWith(`:${p.pid}`)).reduce((n, [, k]) => n + k, 0)}`).join(' ')}; ` +
          `poll start after its slot: max ${Math.max(...lateness)} ms`,
      );

      // At most one fetch per slot (±1 at the window's edges), and polling did go on.
      expect(requests).toBeLessThanOrEqual(slotsInWindow + 1);
      expect(requests).toBeGreaterThanOrEqual(5);
      // Every fetch is one poll run, every poll run came from one claimed slot, no slot has two runs.
      expect(runs).toHaveLength(fault.feeds.count('/slots'));
      expect(runs.length).toBeLessThanOrEqual(claims.length + startClaims.length);
      // No slot has two scheduled runs: a second run in a slot is only allowed beside a start-up poll.
      expect([...perSlot].filter(([slot, v]) => v.length > (startSeconds.has(slot) ? 2 : 1))).toEqual([]);
      // Claims came only from the three processes.
      const pids = new Set(procs.map((p) => String(p.pid)));
      for (const owner of [...byOwner.keys(), ...startClaims.map((c) => c.owner)]) expect(pids.has(owner.split(':').at(-1)!)).toBe(true);
    });
  },
);
