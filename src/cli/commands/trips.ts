import { UsageError } from '../../common/errors.ts';
import { withDatabase, type RegisterCommand } from '../context.ts';
import { formatJson, printListing } from '../output.ts';

export const register: RegisterCommand = (program, cli) => {
  const trips = program.command('trips').description('trip commands: countries followed around dates, with a pre-trip briefing');
  trips
    .command('add')
    .description("add a trip; its countries are followed from trips.leadDays before the first day through the last day (dates in the subscriber's zone)")
    .requiredOption('--email <email>', "the subscriber's email address")
    .requiredOption('--countries <list>', 'ISO 3166-1 alpha-2 codes, comma-separated')
    .requiredOption('--from <YYYY-MM-DD>', 'first day')
    .requiredOption('--to <YYYY-MM-DD>', 'last day')
    .option('--json', 'JSON output')
    .action(async (opts: { email: string; countries: string; from: string; to: string; json?: boolean }) => {
      const [v, tv] = await Promise.all([import('../../subscriptions/validate.ts'), import('../../subscriptions/trip-validate.ts')]);
      const refuse = (e: unknown): never => {
        throw e instanceof v.InputError ? new UsageError(e.message) : e;
      };
      let email: string;
      try {
        email = v.parseEmail(opts.email);
      } catch (e) {
        return refuse(e);
      }
      const c = await cli.context();
      const [{ addTrips, tripOwnerByEmail, TooManyTripsError }, { todayIn, TRIP_LIMITS }] = await Promise.all([
        import('../../subscriptions/trip-repository.ts'),
        import('../../subscriptions/trip-window.ts'),
      ]);
      const result = await withDatabase(c, async ({ db }) => {
        const owner = await tripOwnerByEmail(db, email);
        if (!owner) throw new UsageError(`email: no subscriber with email ${email}`);
        const now = c.clock.now();
        const today = todayIn(owner.timezone, c.config.settings.defaultTimezone, now);
        let trip: import('../../subscriptions/trip-validate.ts').TripInput;
        try {
          trip = tv.parseTrip({ countries: opts.countries, from: opts.from, to: opts.to }, today);
        } catch (e) {
          return refuse(e);
        }
        let added: { added: number[]; briefingId: number | null };
        try {
          added = await addTrips(db, owner.id, [trip], { now, today, maxOpenTrips: TRIP_LIMITS.maxOpenTrips });
        } catch (e) {
          if (e instanceof TooManyTripsError) throw new UsageError(e.message);
          throw e;
        }
        if (added.added.length === 0) throw new UsageError(`${email} already has this trip`);
        const briefing = added.briefingId === null ? null : await sendBriefingNow(db, owner.id);
        return { id: added.added[0]!, email, countries: trip.countries, from: trip.from, to: trip.to, status: owner.status, briefing };
      });
      if (opts.json) cli.out(formatJson([result]));
      else {
        cli.out(String(result.id));
        // The id alone on stdout's first line (scripts read it); what happened after it.
        cli.out(
          result.briefing === 'sent'
            ? `pre-trip briefing sent to ${email}`
            : result.briefing === null
              ? `${email} is ${result.status}: the briefing goes out when they confirm`
              : `pre-trip briefing not sent yet (${result.briefing}); it is retried by the running service or the next dispatch`,
        );
      }

      /** The briefing goes out at once; a failure leaves it queued for the retries. */
      async function sendBriefingNow(db: import('../../db/connect.ts').DB, subscriberId: number): Promise<'sent' | 'retrying' | 'failed'> {
        const [{ createChannels, briefingDepsFor }, { sendDueBriefings }] = await Promise.all([import('../../runtime.ts'), import('../../briefings/send.ts')]);
        const channels = createChannels(c.config);
        try {
          const s = await sendDueBriefings(briefingDepsFor(c.config, db, c.logger, c.clock, channels), { subscriberId });
          return s.sent > 0 ? 'sent' : s.retrying > 0 ? 'retrying' : 'failed';
        } finally {
          await channels.close();
        }
      }
    });

  trips
    .command('list')
    .description("trips: id, subscriber, countries, first and last day, whether upcoming, followed now or past (in the subscriber's zone)")
    .option('--email <email>', "only this subscriber's")
    .option('--json', 'JSON output')
    .action(async (opts: { email?: string; json?: boolean }) => {
      const c = await cli.context(undefined, { feeds: 'optional' });
      const [{ listTrips }, { tripPhase, todayIn }] = await Promise.all([
        import('../../subscriptions/trip-repository.ts'),
        import('../../subscriptions/trip-window.ts'),
      ]);
      const email = opts.email?.trim().toLowerCase();
      const rows = await withDatabase(c, ({ db }) => listTrips(db, { email }));
      const now = c.clock.now();
      const { defaultTimezone, trips: settings } = c.config.settings;
      printListing(
        cli.out,
        opts.json,
        rows.map((t) => ({
          id: t.id,
          email: t.email,
          countries: t.countries,
          from: t.from,
          to: t.to,
          status: tripPhase({ firstDay: t.from, lastDay: t.to }, todayIn(t.timezone, defaultTimezone, now), settings.leadDays),
          timezone: t.timezone ?? defaultTimezone,
          createdAt: t.createdAt,
        })),
        ['id', 'email', 'countries', 'from', 'to', 'status', 'timezone'],
      );
    });

  trips
    .command('remove')
    .description('delete a trip')
    .requiredOption('--id <n>', 'the trip id (trips list)')
    .action(async (opts: { id: string }) => {
      if (!/^\d{1,15}$/.test(opts.id.trim())) throw new UsageError(`id: "${opts.id}" is not a trip id (a whole number)`);
      const id = Number(opts.id.trim());
      const c = await cli.context();
      const { removeTrip } = await import('../../subscriptions/trip-repository.ts');
      const removed = await withDatabase(c, ({ db }) => removeTrip(db, id));
      if (!removed) throw new UsageError(`id: no trip with id ${id}`);
      cli.out(`removed trip ${id}`);
    });
};
