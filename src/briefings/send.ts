import { countryOverviews } from '../advisories/overview.ts';
import { currentAdvice, publicEvents } from '../advisories/repository.ts';
import { subscriberLinks, type LinkBuilder } from '../channels/links.ts';
import type { EmailSender } from '../channels/senders.ts';
import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
import type { Settings } from '../config/schema.ts';
import type { DB } from '../db/connect.ts';
import { afterFailedSend, leaseOwner } from '../db/outbox.ts';
import { renderBriefing, type BriefingDestination } from './render.ts';
import { claimBriefings, completeBriefing, tripsByIds, type ClaimedBriefing } from '../subscriptions/trip-repository.ts';
import { todayIn } from '../subscriptions/trip-window.ts';

/** What sending briefings needs (the `start` job, `dispatch`, and right after a trip is added). */
export interface BriefingDeps {
  db: DB;
  logger: Logger;
  clock: Clock;
  settings: Pick<Settings, 'delivery' | 'trips' | 'defaultTimezone'>;
  email: EmailSender;
  links: LinkBuilder;
  listId: string;
  /** Called with each briefing's outcome (metrics). */
  onOutcome?: (outcome: keyof BriefingSummary) => void;
}

export interface BriefingSummary {
  sent: number;
  failed: number;
  retrying: number;
}

/** Events of this many days are listed per destination. */
export const BRIEFING_EVENT_DAYS = 30;
const BRIEFING_EVENTS_MAX = 12;

async function destinations(deps: BriefingDeps, countries: readonly string[]): Promise<BriefingDestination[]> {
  const since = new Date(deps.clock.now().getTime() - BRIEFING_EVENT_DAYS * 86_400_000);
  return Promise.all(
    countries.map(async (country) => {
      const [advice, events] = await Promise.all([
        currentAdvice(deps.db, { country }),
        publicEvents(deps.db, { country, since, limit: BRIEFING_EVENTS_MAX, newestFirst: true }),
      ]);
      const overview = countryOverviews(advice)[0];
      return {
        country,
        governments: overview ? Object.values(overview.governments) : [],
        events: events.map((e) => ({
          government: e.government,
          title: e.title,
          level: e.level,
          previousLevel: e.previousLevel,
          link: e.link,
          createdAt: e.createdAt,
        })),
        countryPage: deps.links.country(country),
      };
    }),
  );
}

async function sendOne(deps: BriefingDeps, owner: string, b: ClaimedBriefing): Promise<keyof BriefingSummary> {
  const { db, clock, settings } = deps;
  if (b.status !== 'confirmed' || b.emailStopped) {
    await completeBriefing(db, owner, b.id, { status: 'failed', error: `not sent: subscriber ${b.status === 'confirmed' ? 'stopped email' : b.status}` });
    return 'failed';
  }
  const trips = await tripsByIds(db, b.tripIds);
  if (trips.length === 0) {
    await completeBriefing(db, owner, b.id, { status: 'failed', error: 'not sent: the trips were removed' });
    return 'failed';
  }
  const countries = [...new Set(trips.flatMap((t) => t.countries))];
  const links = subscriberLinks(deps.links, b.subscriberId, b.linkVersion);
  const mail = renderBriefing(
    {
      trips,
      leadDays: settings.trips.leadDays,
      today: todayIn(b.timezone, settings.defaultTimezone, clock.now()),
      destinations: await destinations(deps, countries),
      eventDays: BRIEFING_EVENT_DAYS,
    },
    links,
    { listId: deps.listId },
  );
  try {
    await deps.email.send({ to: b.email, ...mail }, `briefing-${b.id}`);
    await completeBriefing(db, owner, b.id, { status: 'sent', at: clock.now() });
    return 'sent';
  } catch (err) {
    deps.logger.warn({ briefing: b.id, err }, 'briefing not sent');
    const outcome = afterFailedSend(err, b.attempts, settings.delivery, clock.now());
    await completeBriefing(db, owner, b.id, outcome);
    return outcome.status === 'failed' ? 'failed' : 'retrying';
  }
}

/**
 * Sends every briefing due now (or only one subscriber's: the one sent at once
 * after a trip is added). Each is leased, sent and marked sent; a crash during
 * the send lets the lease expire and the briefing goes again (at least once,
 * never lost), like digests. Retries wait for a back-off and are picked up by
 * the next run (the digest job, or `dispatch`).
 */
export async function sendDueBriefings(deps: BriefingDeps, options: { subscriberId?: number } = {}): Promise<BriefingSummary> {
  const owner = leaseOwner();
  const summary: BriefingSummary = { sent: 0, failed: 0, retrying: 0 };
  for (;;) {
    const claims = await claimBriefings(deps.db, {
      owner,
      limit: 20,
      leaseMs: deps.settings.delivery.leaseSeconds * 1000,
      now: deps.clock.now(),
      subscriberId: options.subscriberId,
    });
    if (claims.length === 0) break;
    for (const b of claims) {
      const outcome = await sendOne(deps, owner, b);
      summary[outcome]++;
      deps.onOutcome?.(outcome);
    }
  }
  if (summary.sent || summary.failed || summary.retrying) deps.logger.info(summary, 'briefings run');
  return summary;
}
