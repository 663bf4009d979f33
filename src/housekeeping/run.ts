import type { Settings } from '../config/schema.ts';
import type { DB } from '../db/connect.ts';
import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
import { verificationSendsHorizonMs } from '../subscriptions/repository.ts';
import {
  deleteEndedTrips,
  deleteExpiredTokens,
  deleteOldAttempts,
  deleteOldCronClaims,
  deleteOldPollRuns,
  deleteOldVerificationSends,
  deleteFinishedConfirmations,
  deleteOrphanVersions,
  deleteSentDeliveries,
} from './repository.ts';

const DAY = 24 * 3600 * 1000;

/** Retention: keeps the hot tables (deliveries, attempts, poll history) small. */
export async function runHousekeeping(deps: {
  db: DB;
  clock: Clock;
  logger: Logger;
  retention: Settings['retention'];
  verification: Settings['verification'];
  /** `trips.retentionDays`: trips that ended longer ago are deleted. */
  trips: Pick<Settings['trips'], 'retentionDays'>;
}): Promise<Record<string, number>> {
  const { db, retention } = deps;
  const now = deps.clock.now().getTime();
  const ago = (days: number) => new Date(now - days * DAY);
  const result = {
    sentDeliveries: await deleteSentDeliveries(db, ago(retention.sentDeliveriesDays)),
    attempts: await deleteOldAttempts(db, ago(retention.attemptsDays)),
    pollRuns: await deleteOldPollRuns(db, ago(retention.pollRunsDays)),
    versions: await deleteOrphanVersions(db, ago(retention.versionsDays)),
    cronClaims: await deleteOldCronClaims(db, ago(2)),
    tokens: await deleteExpiredTokens(db, new Date(now)),
    // Kept as long as the longest cap or cool-down window reads them, no longer.
    verificationSends: await deleteOldVerificationSends(db, new Date(now - verificationSendsHorizonMs(deps.verification))),
    // Dates in UTC: a day's difference in the traveler's zone does not matter after weeks.
    trips: await deleteEndedTrips(db, ago(deps.trips.retentionDays).toISOString().slice(0, 10)),
    // A queued subscribe request holds an address and what was asked: once it is
    // done with (sent, refused, given up), it goes when its link would have expired.
    confirmationEmails: await deleteFinishedConfirmations(db, ago(2)),
  };
  deps.logger.info(result, 'housekeeping done');
  return result;
}
