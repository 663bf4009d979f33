import { readFileSync } from 'node:fs';
import type { DB } from '../../db/connect.ts';
import { UsageError, errorMessage } from '../../common/errors.ts';
import type { SubscriberInput } from '../../subscriptions/validate.ts';
import { withDatabase, type CommandContext, type RegisterCommand } from '../context.ts';
import { formatJson, printListing } from '../output.ts';

type Validation = typeof import('../../subscriptions/validate.ts');

export const register: RegisterCommand = (program, cli) => {
  const subscribers = program.command('subscribers').description('subscriber commands');
  subscribers
    .command('add')
    .description('add (or update) a subscriber; --confirmed skips double opt-in and phone verification')
    .requiredOption('--email <email>', 'email address')
    .option('--phone <e164>', 'mobile number in E.164 form, e.g. +447700900123')
    .option('--countries <list>', 'ISO 3166-1 alpha-2 codes, comma-separated, or "all"', 'all')
    .option('--feeds <list>', 'only these feed ids')
    .option('--min-level <n>', 'minimum level 1–4 (events without a level always pass)', '1')
    .option('--keywords <list>', 'only events mentioning any of these words')
    .option('--channels <list>', 'email,sms', 'email')
    .option('--confirmed', 'already confirmed (admin import): no confirmation email, phone counts as verified')
    .option('--email-frequency <when>', 'routine events by email: immediate (default), daily or weekly digest')
    .option('--sms <which>', 'texts for urgent events only (default) or all')
    .option('--quiet-hours <HH:MM-HH:MM>', 'hold texts in these local hours (a raise to level 4 still goes); "none" clears')
    .option('--timezone <Area/City>', 'IANA time zone for quiet hours, digests and trip dates')
    .option('--json', 'JSON output')
    .action(
      async (opts: {
        email: string;
        phone?: string;
        countries: string;
        feeds?: string;
        minLevel: string;
        keywords?: string;
        channels: string;
        confirmed?: boolean;
        json?: boolean;
        emailFrequency?: string;
        sms?: string;
        quietHours?: string;
        timezone?: string;
      }) => {
        const c = await cli.context();
        const input = await validated((v) =>
          v.parseSubscriber(
            {
              email: opts.email,
              phone: opts.phone,
              countries: opts.countries,
              feeds: opts.feeds,
              minLevel: opts.minLevel,
              keywords: opts.keywords,
              channels: opts.channels,
              emailFrequency: opts.emailFrequency,
              sms: opts.sms,
              quietHours: opts.quietHours,
              timezone: opts.timezone,
            },
            new Set(c.config.feeds.map((f) => f.id)),
          ),
        );
        const result = await withDatabase(c, ({ db }) => addSubscriber(c, db, input, opts.confirmed ?? false));
        if (opts.json) cli.out(formatJson([{ email: input.email, ...result }]));
        else cli.out(`${result.created ? 'added' : 'updated'} ${input.email} (${result.status})${result.note ? ` — ${result.note}` : ''}`);
      },
    );

  subscribers
    .command('import <file>')
    .description(
      'bulk import of confirmed subscribers from CSV (header: email,phone,countries,min_level,keywords,channels; optional email_frequency,sms,quiet_hours,timezone)',
    )
    .option('--json', 'JSON output')
    .action(async (file: string, opts: { json?: boolean }) => {
      const c = await cli.context();
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        throw new UsageError(`cannot read ${file}: ${errorMessage(e)}`);
      }
      const [{ parseSubscriberCsv }, { upsertSubscriber }] = await Promise.all([
        import('../../subscriptions/csv.ts'),
        import('../../subscriptions/repository.ts'),
      ]);
      const parsed = parseSubscriberCsv(text, new Set(c.config.feeds.map((f) => f.id)));
      const imported = await withDatabase(c, async ({ db }) => {
        let n = 0;
        for (const row of parsed.rows) {
          await upsertSubscriber(db, row.input, { confirmed: true, now: c.clock.now(), defaultTimezone: c.config.settings.defaultTimezone });
          n++;
        }
        // Briefings queued for confirmed travelers who had trips go out now (retried by dispatch if not).
        await sendBriefings(c, db);
        return n;
      });
      if (opts.json) {
        cli.out(formatJson([{ imported, refused: parsed.refused.length, problems: parsed.refused }]));
      } else {
        cli.out(`imported ${imported} row(s), refused ${parsed.refused.length}`);
        for (const r of parsed.refused) cli.out(`line ${r.line}: ${r.reason}`);
      }
    });

  subscribers
    .command('list')
    .description('subscribers and what they follow')
    .option('--json', 'JSON output')
    .action(async (opts: { json?: boolean }) => {
      const c = await cli.context(undefined, { feeds: 'optional' });
      const { listSubscribers } = await import('../../subscriptions/repository.ts');
      const rows = await withDatabase(c, ({ db }) => listSubscribers(db));
      printListing(
        cli.out,
        opts.json,
        rows.map((r) => ({
          email: r.email,
          phone: r.phone,
          phoneVerified: r.phoneVerified,
          status: r.status,
          countries: r.countries ?? ['all'],
          feeds: r.feeds,
          minLevel: r.minLevel,
          keywords: r.keywords,
          channels: r.channels,
          emailStopped: r.emailStopped,
          smsStopped: r.smsStopped,
          createdAt: r.createdAt,
          emailFrequency: r.emailFrequency,
          sms: r.sms,
          quietHours: r.quietHours,
          timezone: r.timezone ?? c.config.settings.defaultTimezone,
        })),
        [
          'email',
          'phone',
          'status',
          'countries',
          'minLevel',
          'keywords',
          'channels',
          'emailFrequency',
          'sms',
          'quietHours',
          'timezone',
          'emailStopped',
          'smsStopped',
        ],
      );
    });

  subscribers
    .command('remove')
    .description('delete a subscriber, their subscriptions and delivery history')
    .requiredOption('--email <email>', 'email address')
    .action(async (opts: { email: string }) => {
      const email = await validated((v) => v.parseEmail(opts.email));
      const c = await cli.context();
      const { removeSubscriber } = await import('../../subscriptions/repository.ts');
      const removed = await withDatabase(c, ({ db }) => removeSubscriber(db, email));
      if (!removed) throw new UsageError(`no subscriber with email ${email}`);
      cli.out(`removed ${email}`);
    });
};

/** Runs subscriber validation, turning its failure into the CLI's one-line refusal. */
async function validated<T>(fn: (v: Validation) => T): Promise<T> {
  const v = await import('../../subscriptions/validate.ts');
  try {
    return fn(v);
  } catch (e) {
    if (e instanceof v.InputError) throw new UsageError(e.message);
    throw e;
  }
}

/** Sends the pre-trip briefings due now (one subscriber's, or all); returns how many went. */
async function sendBriefings(c: CommandContext, db: DB, subscriberId?: number): Promise<number> {
  const [{ createChannels, briefingDepsFor }, { sendDueBriefings }] = await Promise.all([import('../../runtime.ts'), import('../../briefings/send.ts')]);
  const channels = createChannels(c.config);
  try {
    return (await sendDueBriefings(briefingDepsFor(c.config, db, c.logger, c.clock, channels), subscriberId === undefined ? {} : { subscriberId })).sent;
  } finally {
    await channels.close();
  }
}

/**
 * `--confirmed` is the admin's import path. Without it the address gets the
 * same double opt-in as the web form: a confirmation email, and nothing sent
 * until the link is opened (a known subscriber keeps their current alerts).
 */
async function addSubscriber(c: CommandContext, db: DB, input: SubscriberInput, confirmed: boolean) {
  const { getSubscriberView, upsertSubscriber } = await import('../../subscriptions/repository.ts');
  if (confirmed) {
    const result = await upsertSubscriber(db, input, { confirmed, now: c.clock.now(), defaultTimezone: c.config.settings.defaultTimezone });
    const briefed = result.briefingId !== null && (await sendBriefings(c, db, result.id)) > 0;
    return { id: result.id, created: result.created, status: result.status, note: briefed ? `pre-trip briefing sent to ${input.email}` : null };
  }
  const [{ createChannels, travelerDepsFor }, { requestSubscription, VerificationLimitError }, { sendDueConfirmations }] = await Promise.all([
    import('../../runtime.ts'),
    import('../../subscriptions/service.ts'),
    import('../../subscriptions/confirmations.ts'),
  ]);
  const channels = createChannels(c.config);
  try {
    const traveler = travelerDepsFor(c.config, db, c.logger, c.clock, channels);
    // Through the confirmation outbox like the web's requests, sent at once; a
    // temporary refusal stays queued there and is retried by `dispatch` or any
    // `start` process with the web or deliver role.
    const queued = await requestSubscription(traveler, input.email, {
      countries: input.countries,
      feeds: input.feeds,
      minLevel: input.minLevel,
      keywords: input.keywords,
      channels: input.channels,
      phone: input.phone,
      ...(input.preferences ? { preferences: input.preferences } : {}),
    });
    const { results } = await sendDueConfirmations(traveler, { id: queued });
    const result = results[0];
    if (result?.outcome === 'refused') throw new VerificationLimitError('email', result.error ?? 'no confirmation email sent');
    if (result?.outcome === 'failed') throw new Error(`confirmation email not sent: ${result.error ?? 'unknown error'}`);
    const subscriberId = result?.subscriberId;
    if (subscriberId === undefined) throw new Error(`confirmation request queued but not recorded yet: ${result?.error ?? 'unknown error'}`);
    const view = await getSubscriberView(db, subscriberId);
    const note =
      result?.outcome === 'sent'
        ? `confirmation email sent to ${input.email}`
        : `confirmation email to ${input.email} queued: ${result?.error ?? 'will retry'}`;
    return { id: subscriberId, created: view?.status !== 'confirmed', status: view?.status ?? 'pending', note };
  } finally {
    await channels.close();
  }
}
