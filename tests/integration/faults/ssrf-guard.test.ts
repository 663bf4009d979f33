import { syncFeeds } from '../../../src/feeds/repository.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import { settingsSchema } from '../../../src/config/schema.ts';
import { pollFeeds, type PollDeps } from '../../../src/feeds/poller.ts';
import { describe, expect, it } from 'vitest';
import { testDbKind } from '../../helpers/db.ts';
import { EMBASSY_V1, faultEnvironment } from '../../helpers/faults.ts';
import { ManualClock, feedConfig } from '../../helpers/poll.ts';

/**
 * Fault test: the SSRF guard on feed addresses.
 * One file per failure mode; their shared environment and seeding are in
 * tests/helpers/faults.ts. Figures worth keeping (duplicates, timings, memory) are
 * printed with console.info, so a run's output carries the evidence.
 */

describe.skipIf(testDbKind() !== 'postgres')('fault: the SSRF guard on feed addresses (PostgreSQL only; set TEST_DATABASE_URL)', { timeout: 300_000 }, () => {
  const fault = faultEnvironment();

  it('SSRF guard: with http.allowPrivateAddresses false a loopback feed is refused; by default it is polled', async () => {
    // Proves the issue's guard: `http.allowPrivateAddresses: false` refuses loopback addresses —
    // a literal 127.0.0.1 and a name resolving to it — before any request is made, and records
    // the reason on the feed; with the default setting the same feed is polled normally.
    const literal = feedConfig({ id: 'ssrf-literal', url: fault.feeds.set('/ssrf', { body: EMBASSY_V1 }), source: 'us-embassy', countries: ['RU'] });
    const byName = feedConfig({ id: 'ssrf-name', url: fault.feeds.url('/ssrf').replace('127.0.0.1', 'localhost'), source: 'us-embassy', countries: ['RU'] });
    await syncFeeds(fault.t.db, [literal, byName]);
    const guarded: PollDeps = {
      db: fault.t.db,
      logger: silentLogger,
      clock: new ManualClock(),
      settings: settingsSchema.parse({ http: { allowPrivateAddresses: false } }),
    };
    const before = fault.feeds.count('/ssrf');
    const refused = await pollFeeds(guarded, [literal, byName], { force: true });
    console.info(`[ssrf] ${refused.map((o) => `${o.feed}: "${o.error}"`).join('; ')}`);
    for (const o of refused) {
      expect(o.status).toBe('error');
      expect(o.error).toMatch(/not a public address/);
    }
    expect(refused[0]!.error).toContain('127.0.0.1');
    expect(fault.feeds.count('/ssrf')).toBe(before);
    const rows = await fault.t.db.selectFrom('feeds').select(['id', 'last_status', 'last_error']).where('id', 'like', 'ssrf-%').orderBy('id').execute();
    expect(rows.map((r) => r.last_status)).toEqual(['error', 'error']);
    for (const r of rows) expect(r.last_error).toMatch(/not a public address/);

    const open: PollDeps = { ...guarded, settings: settingsSchema.parse({}) };
    const allowed = await pollFeeds(open, [literal, byName], { force: true });
    expect(allowed.map((o) => [o.feed, o.status, o.new])).toEqual([
      ['ssrf-literal', 'ok', 2],
      ['ssrf-name', 'ok', 2],
    ]);
    expect(fault.feeds.count('/ssrf')).toBe(before + 2);
  });
});
