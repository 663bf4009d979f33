import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { DB } from '../../../src/db/connect.ts';
import { fanOut } from '../../../src/delivery/repository.ts';
import { runCli, ServiceProcess, type CliResult, type Env } from '../../helpers/cli.ts';
import { testDbKind } from '../../helpers/db.ts';
import { insertEvent } from '../../helpers/events.ts';
import { APP_SECRET, deliveryStatuses, faultEnvironment, makeConfig, recipients, seedSubscribers } from '../../helpers/faults.ts';
import type { TestSmtpServer } from '../../helpers/smtp.ts';
import { waitFor } from '../../helpers/wait.ts';

/**
 * Fault tests of the digest job on real PostgreSQL: three `digest` commands racing over
 * the same due digests, and a `digest` run killed with SIGKILL mid-send. Both use the
 * real binary against a real SMTP server (tests/helpers/smtp.ts) and the real clock: the
 * routine emails are recorded two days ago, so today's (or yesterday's) 08:00 UTC
 * digest has fallen due. Figures are printed with console.info, as in kill-9.test.ts.
 */

const TITLES = ['Routine notice one (seeded)', 'Routine notice two (seeded)', 'Routine notice three (seeded)'];
/** Each seeded event's own link: the one line of a digest entry that names it alone. */
const link = (i: number) => `https://travel.example/ru/notice-${i}`;

/** `n` confirmed daily-digest subscribers following RU, each with one routine email per title waiting as `digest`. */
async function seedDigests(db: DB, n: number): Promise<void> {
  const now = new Date();
  const at = new Date(now.getTime() - 2 * 24 * 3600_000);
  await db.transaction().execute(async (tx) => {
    await seedSubscribers(tx, n, now);
    await sql`update subscribers set email_frequency = 'daily'`.execute(tx);
    const ids: number[] = [];
    for (const [i, title] of TITLES.entries()) {
      ids.push(
        await insertEvent(tx, {
          at: new Date(at.getTime() + i * 60_000),
          kind: 'updated',
          level: 2,
          previousLevel: 2,
          urgency: 'routine',
          title,
          link: link(i),
        }),
      );
    }
    expect(await fanOut(tx, ids, at)).toBe(n * TITLES.length);
  });
  expect(await deliveryStatuses(db)).toEqual({ digest: n * TITLES.length });
}

/** Every subscriber got a digest listing each seeded event exactly once. */
function expectEachEventOnce(smtp: TestSmtpServer): void {
  for (const m of smtp.messages) {
    expect(m.subject).toMatch(/^Your daily travel advisory digest: 3 updates /);
    for (const i of TITLES.keys()) expect(m.text.split(`${link(i)}\n`).length - 1, `${m.envelope.to[0]}: ${link(i)}`).toBe(1);
  }
}

/** The end state: every digest sent, every waiting email digested into exactly one sent digest. */
async function expectAllSent(db: DB, n: number): Promise<void> {
  const digests = await sql<{ status: string; n: number; subscribers: number }>`
    select status, count(*)::int as n, count(distinct subscriber_id)::int as subscribers from digests group by status`.execute(db);
  expect(digests.rows).toEqual([{ status: 'sent', n, subscribers: n }]);
  expect(await deliveryStatuses(db)).toEqual({ digested: n * TITLES.length });
  const stray = await sql<{ n: number }>`
    select count(*)::int as n from deliveries d left join digests g on g.id = d.digest_id
    where g.id is null or g.subscriber_id <> d.subscriber_id or d.sent_at is null`.execute(db);
  expect(stray.rows[0]!.n).toBe(0);
}

function summaryOf(r: CliResult): { created: number; sent: number; failed: number; retrying: number } {
  expect(r.code, `${r.args.join(' ')} → stderr: ${r.stderr}`).toBe(0);
  return (JSON.parse(r.stdout) as { created: number; sent: number; failed: number; retrying: number }[])[0]!;
}

describe.skipIf(testDbKind() !== 'postgres')('fault: digest runs racing and killed (PostgreSQL only; set TEST_DATABASE_URL)', { timeout: 300_000 }, () => {
  const fault = faultEnvironment();

  /** Seeds `n` due digests; returns the environment of a `digest` process with that lease and mail-server delay. */
  async function prepare(n: number, options: { smtpDelayMs: number; leaseSeconds: number }): Promise<Env> {
    fault.smtpDelayMs = options.smtpDelayMs;
    await seedDigests(fault.t.db, n);
    const cfg = makeConfig(fault.work, 'feeds: []\n', `delivery:\n  leaseSeconds: ${options.leaseSeconds}\n`);
    return { ...cfg, APP_SECRET, SMTP_URL: fault.smtp.url, PUBLIC_BASE_URL: 'https://alerts.example.org', DATABASE_URL: fault.t.env.DATABASE_URL! };
  }

  it('three `digest` processes at once, a mail server slower than the lease: every subscriber gets exactly one digest, each event in it once', async () => {
    // Proves (contract, "Digests") "one digest email per subscriber per period" and "two
    // processes, or two runs, produce one digest" with real processes: creating a digest is
    // one transaction per (subscriber, period), and a process sends a claimed digest only
    // while it holds its lease. The mail server takes 30 ms a message, so a claimed batch
    // of 50 takes longer than the 1 s lease: the others take over its tail, and the process
    // that claimed it first must not send those too.
    const N = 300;
    const env = await prepare(N, { smtpDelayMs: 30, leaseSeconds: 1 });
    const started = Date.now();
    const runs = await Promise.all([1, 2, 3].map(() => runCli(['digest', '--json'], env)));
    const ms = Date.now() - started;
    const summaries = runs.map(summaryOf);
    await fault.smtp.settled();
    const r = recipients(fault.smtp);
    console.info(
      `[digest ×3] ${N} subscribers × ${TITLES.length} routine events, lease 1 s, SMTP 30 ms/message: ` +
        `processes created ${summaries.map((s) => s.created).join('/')} and sent ${summaries.map((s) => s.sent).join('/')} digests ` +
        `(${runs.map((x) => x.ms).join('/')} ms); ${r.total} messages, ${r.distinct} distinct recipients, ${r.total - r.distinct} duplicates; ${ms} ms in all`,
    );

    expect(summaries.reduce((n, s) => n + s.created, 0)).toBe(N);
    expect(summaries.reduce((n, s) => n + s.sent, 0)).toBe(N);
    expect(summaries.every((s) => s.failed === 0 && s.retrying === 0)).toBe(true);
    expect(r.distinct).toBe(N);
    expect(r.total).toBe(N);
    expectEachEventOnce(fault.smtp);
    await expectAllSent(fault.t.db, N);
  });

  it('kill -9 of a `digest` run mid-send, then `digest` again after the lease: nobody loses a digest, at most one is sent twice', async () => {
    // Proves (contract, "Digests") "a crash mid-digest neither loses nor doubles a digest",
    // within the at-least-once rule every email has: a run sends one digest at a time and
    // records its outcome before the next send, so the only digest a SIGKILL can leave sent
    // but unrecorded is the one whose send was in flight — at most 1 duplicate per killed
    // process. The SMTP server records each message and then takes 50 ms to answer, so the
    // kill lands almost surely in that window (the figures say whether it did). The other
    // digests the victim had claimed stay leased for the 2 s lease, then the next run sends
    // them; the ones it had recorded as sent are not sent again.
    const N = 200;
    const env = await prepare(N, { smtpDelayMs: 50, leaseSeconds: 2 });

    const victim = ServiceProcess.named('digest (victim)', ['digest', '--json'], env);
    // Mid-run: into its second claimed batch of 50, well before the end.
    await waitFor(
      'the first digest run to have sent 60 digests',
      () => {
        if (fault.smtp.messages.length > N - 40) throw new Error('the run was nearly done before it could be killed');
        return fault.smtp.messages.length >= 60;
      },
      { timeoutMs: 150_000, everyMs: 20, dead: victim.dead },
    );
    await victim.kill9();
    await fault.smtp.settled();
    const atKill = fault.smtp.messages.length;
    const state = await sql<{ sent: number; sending: number; pending: number }>`
      select count(*) filter (where status = 'sent')::int as sent, count(*) filter (where status = 'sending')::int as sending,
             count(*) filter (where status = 'pending')::int as pending
      from digests`.execute(fault.t.db);
    const before = state.rows[0]!;
    // Every digest exists (all are created in one transaction before the first send), and the
    // server holds at most one message more than the run recorded as sent: the one in flight.
    expect(before.sent + before.sending + before.pending).toBe(N);
    expect(before.sending).toBeGreaterThan(0);
    expect(atKill - before.sent).toBeGreaterThanOrEqual(0);
    expect(atKill - before.sent).toBeLessThanOrEqual(1);
    const orphaned = new Set(
      (
        await sql<{ email: string }>`select s.email from digests g join subscribers s on s.id = g.subscriber_id where g.status = 'sending'`.execute(fault.t.db)
      ).rows.map((x) => x.email),
    );

    // The next run, once the dead run's leases have lapsed (the database's clock is the one the claim compares with).
    await waitFor('the killed run’s leases to lapse', async () => {
      const r = await sql<{ n: number }>`select count(*)::int as n from digests where status = 'sending' and lease_until >= now()`.execute(fault.t.db);
      return r.rows[0]!.n === 0;
    });
    const rerun = summaryOf(await runCli(['digest', '--json'], env));
    await fault.smtp.settled();
    const r = recipients(fault.smtp);
    const duplicates = r.total - r.distinct;
    const doubled = [...r.perAddress].filter(([, n]) => n > 1).map(([to]) => to);
    console.info(
      `[digest kill -9] ${N} subscribers; killed after ${atKill} messages (digests: ${before.sent} recorded sent, ${before.sending} leased by the dead run, ` +
        `${before.pending} pending); the next run created ${rerun.created}, sent ${rerun.sent}; ${r.total} messages, ${r.distinct} distinct recipients, ` +
        `${duplicates} duplicate(s)${doubled.length ? ` (${doubled.join(', ')})` : ''}`,
    );

    expect(rerun).toEqual({ created: 0, sent: before.sending + before.pending, failed: 0, retrying: 0, skipped: 0 });
    expect(r.distinct).toBe(N);
    expect(duplicates).toBeLessThanOrEqual(1);
    // A duplicate can only be a digest the dead run held, never one it had recorded as sent.
    for (const to of doubled) expect(orphaned.has(to), to).toBe(true);
    expectEachEventOnce(fault.smtp);
    await expectAllSent(fault.t.db, N);
  });
});
