import { subscriberLinks, type LinkBuilder } from '../channels/links.ts';
import type { EmailSender } from '../channels/senders.ts';
import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
import type { Settings } from '../config/schema.ts';
import type { DB } from '../db/connect.ts';
import { afterFailedSend, leaseOwner } from '../db/outbox.ts';
import { messageEventOf } from '../delivery/dispatcher.ts';
import { loadContexts, type DeliveryContext } from '../delivery/repository.ts';
import { whyNotWanted } from '../subscriptions/match.ts';
import { renderDigest } from './render.ts';
import { claimDigests, completeDigest, createDueDigests, renewDigestLease, skipDigestDeliveries } from './repository.ts';

export interface DigestDeps {
  db: DB;
  logger: Logger;
  clock: Clock;
  settings: Pick<Settings, 'digestHour' | 'defaultTimezone' | 'delivery' | 'trips'>;
  email: EmailSender;
  links: LinkBuilder;
  listId: string;
  /** Called with each claimed digest's outcome (metrics). */
  onOutcome?: (outcome: DigestOutcome) => void;
}

export interface DigestSummary {
  created: number;
  sent: number;
  failed: number;
  retrying: number;
  /** Not sent: none of its events was still wanted (each delivery 'skipped' with its reason). */
  skipped: number;
}

export type DigestOutcome = Exclude<keyof DigestSummary, 'created'>;

/**
 * Sends every digest due now (the scheduled job and the `digest` command).
 * Two steps, each safe to repeat and to run in several processes at once:
 * creating a digest claims its waiting emails in one transaction (unique per
 * subscriber and period), then each digest is leased, sent and marked sent.
 * A crash before the send leaves it pending (sent by the next run); a crash
 * during the send leaves a lease that expires and the digest is sent again —
 * the same at-least-once rule as every other email, never a lost digest.
 */
export async function runDigests(deps: DigestDeps): Promise<DigestSummary> {
  const { db, clock, logger, settings } = deps;
  const owner = leaseOwner();
  const created = await createDueDigests(db, clock.now(), { digestHour: settings.digestHour, defaultTimezone: settings.defaultTimezone });
  const summary: DigestSummary = { created, sent: 0, failed: 0, retrying: 0, skipped: 0 };
  const count = (outcome: DigestOutcome) => {
    summary[outcome]++;
    deps.onOutcome?.(outcome);
  };
  const leaseMs = settings.delivery.leaseSeconds * 1000;
  const travelers = { defaultTimezone: settings.defaultTimezone, tripLeadDays: settings.trips.leadDays };
  for (;;) {
    const now = clock.now();
    const claims = await claimDigests(db, { owner, limit: 50, leaseMs, now });
    if (claims.length === 0) break;
    for (const d of claims) {
      // The matching rule again, as the dispatcher applies it at send time, on the subscriber's
      // subscriptions and trips as they are now: a narrowing, a stopped address or an
      // unsubscribe since the fan-out takes the events out of the digest.
      const contexts = await loadContexts(db, d.deliveryIds, travelers);
      const wanted: DeliveryContext[] = [];
      const skips: { id: number; reason: string }[] = [];
      for (const id of d.deliveryIds) {
        const ctx = contexts.get(id);
        if (!ctx) continue;
        const unwanted = whyNotWanted(ctx.subscriptions, ctx.subscriber, ctx.event, 'email', ctx.trips);
        if (unwanted === null) wanted.push(ctx);
        else skips.push({ id, reason: `not sent: ${unwanted}` });
      }
      await skipDigestDeliveries(db, owner, d.id, skips, clock.now());
      if (wanted.length === 0) {
        // Nothing left to send: no email, and the digest says why (the first delivery's reason).
        if (skips.length > 0) await completeDigest(db, owner, d.id, { status: 'skipped', error: skips[0]!.reason });
        else await completeDigest(db, owner, d.id, { status: 'failed', error: 'not sent: its events no longer exist' });
        count(skips.length > 0 ? 'skipped' : 'failed');
        continue;
      }
      const events = wanted.map((ctx) => messageEventOf(ctx));
      const links = subscriberLinks(deps.links, d.subscriberId, d.linkVersion);
      const mail = renderDigest({ frequency: d.frequency, day: d.period.split(':')[1] ?? d.period, events }, links, { listId: deps.listId });
      // The batch's claim may be older than the lease (a slow mail server): send only under a
      // fresh lease, or leave the digest to the process that took it over.
      if (!(await renewDigestLease(db, owner, d.id, { leaseMs, now: clock.now() }))) {
        logger.info({ digest: d.id }, 'digest taken over by another process before its send');
        continue;
      }
      try {
        await deps.email.send({ to: d.email, ...mail }, `digest-${d.id}`);
        const recorded = await completeDigest(db, owner, d.id, { status: 'sent', at: clock.now() });
        if (!recorded) logger.warn({ digest: d.id }, 'digest sent after its lease ran out: another process may send it too');
        count('sent');
      } catch (err) {
        const outcome = afterFailedSend(err, d.attempts, settings.delivery, clock.now());
        await completeDigest(db, owner, d.id, outcome);
        count(outcome.status === 'failed' ? 'failed' : 'retrying');
        logger.warn({ digest: d.id, err }, 'digest not sent');
      }
    }
  }
  if (summary.created || summary.sent || summary.failed || summary.skipped) logger.info(summary, 'digests run');
  return summary;
}
