import { Command, CommanderError, Option } from 'commander';
import { countrySummaries, listAdvisories, listEvents } from '../advisories/repository.ts';
import { governmentOf } from '../advisories/governments.ts';
import { countryName } from '../common/countries.ts';
import { ConfigError } from '../config/load.ts';
import { migrateToLatest, connectDatabase } from '../db/connect.ts';
import { pollFeeds } from '../feeds/poller.ts';
import { listFeeds, syncFeeds } from '../feeds/repository.ts';
import { nextCronRun } from '../feeds/scheduler.ts';
import { readFileSync } from 'node:fs';
import type { DB } from '../db/connect.ts';
import type { DeliveryStatus } from '../db/types.ts';
import { listDeliveries } from '../delivery/repository.ts';
import { createChannels, createDispatcher, pollDepsFor, travelerDepsFor } from '../runtime.ts';
import { requestSubscription } from '../subscriptions/service.ts';
import { ROLES, startService, type Role } from '../service.ts';
import { parseSubscriberCsv } from '../subscriptions/csv.ts';
import { getSubscriberView, listSubscribers, removeSubscriber, upsertSubscriber } from '../subscriptions/repository.ts';
import { InputError, parseEmail, parseSubscriber, type SubscriberInput } from '../subscriptions/validate.ts';
import { UsageError, errorMessage } from '../common/errors.ts';
import { formatJson, formatTable, type Cell } from './output.ts';
import { createContext, withDatabase, type CommandContext } from './context.ts';

type Env = Record<string, string | undefined>;

function listing(ctx: CommandContext, json: boolean | undefined, rows: Record<string, Cell>[], columns: string[]): void {
  ctx.out(json ? formatJson(rows) : formatTable(rows, columns));
}

function parseCountry(value: string): string {
  if (!/^[A-Za-z]{2}$/.test(value)) throw new UsageError(`--country: "${value}" is not an ISO 3166-1 alpha-2 code`);
  return value.toUpperCase();
}

function parseSince(value: string): Date {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new UsageError(`--since: "${value}" is not an ISO date-time`);
  return d;
}

function parseRoles(value: string): Role[] {
  const roles = value.split(',').map((r) => r.trim()).filter(Boolean);
  for (const r of roles) {
    if (!(ROLES as readonly string[]).includes(r)) throw new UsageError(`--roles: unknown role "${r}" (expected ${ROLES.join(', ')})`);
  }
  if (roles.length === 0) throw new UsageError('--roles: give at least one role');
  return roles as Role[];
}

export function buildProgram(env: Env, out: (text: string) => void, err: (text: string) => void): Command {
  const program = new Command('advisory-alerts')
    .description('Watches travel-advisory feeds and alerts subscribers when an advisory changes.')
    .exitOverride()
    .configureOutput({ writeOut: (s) => out(s.trimEnd()), writeErr: (s) => err(s.trimEnd()) })
    .showHelpAfterError(false);
  const ctx = () => createContext(env, out);

  program
    .command('start')
    .description('run the service: migrations, scheduled polls, delivery, web pages')
    .addOption(new Option('--roles <roles>', 'comma-separated roles: poll,deliver,web').default('poll,deliver,web'))
    .action(async (opts: { roles: string }) => {
      const roles = parseRoles(opts.roles);
      const c = createContext(env, out, undefined);
      const logger = c.logger.level === 'warn' ? (await import('../common/logger.ts')).createLogger(c.config.settings.logLevel) : c.logger;
      // Signals are taken from the start: one that arrives while the service is still
      // starting (migrations, database open) is acted on once it is up, instead of
      // Node's default of killing the process mid-migration (SIGTERM) or outright (SIGHUP).
      let stopSignal: string | undefined;
      let reloadRequested = false;
      let onSignal: (() => void) | undefined;
      const requestStop = (signal: string) => {
        if (stopSignal) return;
        stopSignal = signal;
        logger.info({ signal }, 'signal received');
        onSignal?.();
      };
      process.once('SIGTERM', () => requestStop('SIGTERM'));
      process.once('SIGINT', () => requestStop('SIGINT'));
      process.on('SIGHUP', () => {
        reloadRequested = true;
        onSignal?.();
      });
      const service = await startService(c.config, { roles, logger, clock: c.clock });
      await new Promise<void>((resolve) => {
        onSignal = () => {
          if (stopSignal) {
            onSignal = undefined;
            service.stop().then(resolve, (e: unknown) => {
              logger.error({ err: errorMessage(e) }, 'error while stopping');
              resolve();
            });
            return;
          }
          if (!reloadRequested) return;
          reloadRequested = false;
          // A reload that fails (database unreachable) is logged; it must not crash the service.
          service.reload().catch((e: unknown) => logger.error({ err: errorMessage(e) }, 'feeds.yaml reload failed; the previous configuration stays in force'));
        };
        onSignal();
      });
    });

  program
    .command('migrate')
    .description('apply pending database migrations')
    .action(async () => {
      const c = ctx();
      const handle = await connectDatabase({ databaseUrl: c.config.databaseUrl, dataDir: c.config.dataDir, role: 'command', logger: c.logger });
      try {
        const result = await migrateToLatest(handle.db, c.logger);
        const applied = (result.results ?? []).map((r) => r.migrationName);
        out(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
      } finally {
        await handle.close();
      }
    });

  program
    .command('config')
    .description('configuration commands')
    .command('check')
    .description(`validate CONFIG_DIR (feeds.yaml, settings.yaml) and the environment`)
    .action(() => {
      const c = ctx();
      const enabled = c.config.feeds.filter((f) => f.enabled).length;
      out(`${c.config.configDir}: OK — ${c.config.feeds.length} feed(s), ${enabled} enabled`);
    });

  program
    .command('poll')
    .description('poll now: all enabled feeds, or the named ones')
    .option('--feed <id>', 'a feed id (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--json', 'JSON output')
    .action(async (opts: { feed: string[]; json?: boolean }) => {
      const c = ctx();
      const known = new Map(c.config.feeds.map((f) => [f.id, f]));
      const unknown = opts.feed.filter((id) => !known.has(id));
      if (unknown.length) throw new UsageError(`unknown feed: ${unknown.join(', ')} (not in feeds.yaml)`);
      const feeds = opts.feed.length ? opts.feed.map((id) => known.get(id)!) : c.config.feeds.filter((f) => f.enabled);
      const results = await withDatabase(c, async ({ db }) => {
        await syncFeeds(db, c.config.feeds);
        return pollFeeds(pollDepsFor(c.config, db, c.logger, c.clock), feeds, { force: true });
      });
      const rows = results.map((r) => ({ feed: r.feed, status: r.status, new: r.new, updated: r.updated, unchanged: r.unchanged, removed: r.removed, events: r.events, baseline: r.baseline, error: r.error }));
      // A feed that failed is reported (and recorded) here, not turned into a
      // failed command: the poll itself did what was asked. Scripts read `--json`.
      listing(c, opts.json, rows, ['feed', 'status', 'new', 'updated', 'unchanged', 'removed', 'events', 'error']);
    });

  const feedsCmd = program.command('feeds').description('feed commands');
  feedsCmd
    .command('list')
    .description('each feed: last poll, status, failures, advisories stored, next poll')
    .option('--json', 'JSON output')
    .action(async (opts: { json?: boolean }) => {
      const c = ctx();
      const schedules = new Map(c.config.feeds.map((f) => [f.id, f.schedule ?? c.config.settings.defaultSchedule]));
      const rows = await withDatabase(c, async ({ db }) => {
        await syncFeeds(db, c.config.feeds);
        return listFeeds(db);
      });
      listing(
        c,
        opts.json,
        rows.map((f) => {
          const schedule = f.enabled && f.inConfig ? schedules.get(f.id) : undefined;
          let nextPoll = schedule ? nextCronRun(schedule) : null;
          if (nextPoll && f.notBefore && f.notBefore > nextPoll) nextPoll = f.notBefore;
          return {
            id: f.id,
            source: f.source,
            enabled: f.enabled && f.inConfig,
            lastPoll: f.lastPolledAt,
            status: f.lastStatus,
            failures: f.consecutiveFailures,
            advisories: f.advisories,
            nextPoll,
            lastError: f.lastError,
            url: f.url,
          };
        }),
        ['id', 'source', 'enabled', 'lastPoll', 'status', 'failures', 'advisories', 'nextPoll', 'lastError'],
      );
    });

  program
    .command('advisories')
    .description('advisory commands')
    .command('list')
    .description('current advisories')
    .option('--country <CC>', 'only advisories about this country (ISO 3166-1 alpha-2)')
    .option('--json', 'JSON output')
    .action(async (opts: { country?: string; json?: boolean }) => {
      const country = opts.country ? parseCountry(opts.country) : undefined;
      const c = ctx();
      const rows = await withDatabase(c, ({ db }) => listAdvisories(db, { country }));
      // The highest current level among the governments for each country, on every row.
      const highest = new Map<string, number>();
      for (const a of rows) {
        for (const cc of a.countries) if (a.level !== null) highest.set(cc, Math.max(highest.get(cc) ?? 0, a.level));
      }
      listing(
        c,
        opts.json,
        rows.map((a) => ({
          feed: a.feedId,
          government: governmentOf(a.source, a.feedName),
          country: country ?? a.country,
          countries: a.countries,
          level: a.level,
          wording: a.levelText,
          title: a.title,
          link: a.link,
          updatedAt: a.updatedAt,
          highestLevel: highest.get(country ?? a.country ?? '') ?? null,
        })),
        ['feed', 'government', 'country', 'level', 'wording', 'title', 'updatedAt', 'link'],
      );
    });

  program
    .command('countries')
    .description('country commands')
    .command('list')
    .description('every country with an advisory: highest level, which government says so, disagreement')
    .option('--json', 'JSON output')
    .action(async (opts: { json?: boolean }) => {
      const c = ctx();
      const rows = await withDatabase(c, ({ db }) => countrySummaries(db));
      listing(
        c,
        opts.json,
        rows.map((r) => ({
          country: r.country,
          name: countryName(r.country),
          highestLevel: r.highestLevel,
          saidBy: [...new Set(r.highestFeeds.map((f) => governmentOf(f.source, f.feedName)))],
          feeds: r.highestFeeds.map((f) => f.feedId),
          disagree: r.highestLevel - r.lowestLevel >= 2,
          levels: r.levels.map((l) => `${governmentOf(l.source, l.feedName)}:${l.level}`),
        })),
        ['country', 'name', 'highestLevel', 'saidBy', 'disagree', 'levels'],
      );
    });

  program
    .command('events')
    .description('event commands')
    .command('list')
    .description('recorded events')
    .option('--since <iso-time>', 'only events at or after this time')
    .option('--json', 'JSON output')
    .action(async (opts: { since?: string; json?: boolean }) => {
      const since = opts.since ? parseSince(opts.since) : undefined;
      const c = ctx();
      const rows = await withDatabase(c, ({ db }) => listEvents(db, { since }));
      listing(
        c,
        opts.json,
        rows.map((e) => ({ ...e })),
        ['id', 'feed', 'government', 'kind', 'urgency', 'country', 'level', 'previousLevel', 'title', 'createdAt', 'link'],
      );
    });

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
    .option('--json', 'JSON output')
    .action(async (opts: { email: string; phone?: string; countries: string; feeds?: string; minLevel: string; keywords?: string; channels: string; confirmed?: boolean; json?: boolean }) => {
      const c = ctx();
      const input = validated(() =>
        parseSubscriber(
          { email: opts.email, phone: opts.phone, countries: opts.countries, feeds: opts.feeds, minLevel: opts.minLevel, keywords: opts.keywords, channels: opts.channels },
          new Set(c.config.feeds.map((f) => f.id)),
        ),
      );
      const result = await withDatabase(c, ({ db }) => addSubscriber(c, db, input, opts.confirmed ?? false));
      if (opts.json) out(formatJson([{ email: input.email, ...result }]));
      else out(`${result.created ? 'added' : 'updated'} ${input.email} (${result.status})${result.note ? ` — ${result.note}` : ''}`);
    });

  subscribers
    .command('import <file>')
    .description('bulk import of confirmed subscribers from CSV (header: email,phone,countries,min_level,keywords,channels)')
    .option('--json', 'JSON output')
    .action(async (file: string, opts: { json?: boolean }) => {
      const c = ctx();
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        throw new UsageError(`cannot read ${file}: ${errorMessage(e)}`);
      }
      const parsed = parseSubscriberCsv(text, new Set(c.config.feeds.map((f) => f.id)));
      const imported = await withDatabase(c, async ({ db }) => {
        let n = 0;
        for (const row of parsed.rows) {
          await upsertSubscriber(db, row.input, { confirmed: true, now: c.clock.now() });
          n++;
        }
        return n;
      });
      if (opts.json) {
        out(formatJson([{ imported, refused: parsed.refused.length, problems: parsed.refused }]));
      } else {
        out(`imported ${imported} row(s), refused ${parsed.refused.length}`);
        for (const r of parsed.refused) out(`line ${r.line}: ${r.reason}`);
      }
    });

  subscribers
    .command('list')
    .description('subscribers and what they follow')
    .option('--json', 'JSON output')
    .action(async (opts: { json?: boolean }) => {
      const c = ctx();
      const rows = await withDatabase(c, ({ db }) => listSubscribers(db));
      listing(
        c,
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
        })),
        ['email', 'phone', 'status', 'countries', 'minLevel', 'keywords', 'channels', 'emailStopped', 'smsStopped'],
      );
    });

  subscribers
    .command('remove')
    .description('delete a subscriber, their subscriptions and delivery history')
    .requiredOption('--email <email>', 'email address')
    .action(async (opts: { email: string }) => {
      const email = validated(() => parseEmail(opts.email));
      const c = ctx();
      const removed = await withDatabase(c, ({ db }) => removeSubscriber(db, email));
      if (!removed) throw new UsageError(`no subscriber with email ${email}`);
      out(`removed ${email}`);
    });

  program
    .command('dispatch')
    .description('send every delivery that is due now, then exit')
    .option('--json', 'JSON output')
    .action(async (opts: { json?: boolean }) => {
      const c = ctx();
      const summary = await withDatabase(c, async ({ db }) => {
        const { dispatcher, close } = createDispatcher(c.config, db, c.logger, c.clock);
        try {
          return await dispatcher.drain();
        } finally {
          await close();
        }
      });
      if (opts.json) out(formatJson([summary]));
      else out(`sent ${summary.sent}, failed ${summary.failed}, retrying ${summary.retrying}`);
    });

  program
    .command('deliveries')
    .description('delivery commands')
    .command('list')
    .description('deliveries: subscriber, event, channel, status, attempts, last error')
    .addOption(new Option('--status <status>', 'only this status').choices(['pending', 'sending', 'sent', 'failed', 'uncertain']))
    .option('--json', 'JSON output')
    .action(async (opts: { status?: DeliveryStatus; json?: boolean }) => {
      const c = ctx();
      const rows = await withDatabase(c, ({ db }) => listDeliveries(db, { status: opts.status }));
      listing(
        c,
        opts.json,
        rows.map((d) => ({ ...d })),
        ['id', 'subscriber', 'event', 'channel', 'status', 'attempts', 'lastError', 'sentAt'],
      );
    });

  return program;
}

/** Turns a validation failure into the CLI's one-line refusal. */
function validated<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof InputError) throw new UsageError(e.message);
    throw e;
  }
}

/**
 * `--confirmed` is the admin's import path. Without it the address gets the
 * same double opt-in as the web form: a confirmation email, and nothing sent
 * until the link is opened (a known subscriber keeps their current alerts).
 */
async function addSubscriber(c: CommandContext, db: DB, input: SubscriberInput, confirmed: boolean) {
  if (confirmed) return { ...(await upsertSubscriber(db, input, { confirmed, now: c.clock.now() })), note: null };
  const channels = createChannels(c.config);
  try {
    const traveler = travelerDepsFor(c.config, db, c.logger, c.clock, channels);
    const { subscriberId, mailed } = await requestSubscription(traveler, input.email, {
      countries: input.countries,
      feeds: input.feeds,
      minLevel: input.minLevel,
      keywords: input.keywords,
      channels: input.channels,
      phone: input.phone,
    });
    await mailed;
    const view = await getSubscriberView(db, subscriberId);
    return { id: subscriberId, created: view?.status !== 'confirmed', status: view?.status ?? 'pending', note: `confirmation email sent to ${input.email}` };
  } finally {
    await channels.close();
  }
}

/** Runs one command line; returns the exit status. Reasons go to stderr as one line. */
export async function main(argv: string[], env: Env, io = { out: (s: string) => process.stdout.write(`${s}\n`), err: (s: string) => process.stderr.write(`${s}\n`) }): Promise<number> {
  const program = buildProgram(env, io.out, io.err);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.exitCode === 0 ? 0 : 1;
    }
    if (e instanceof ConfigError) {
      for (const p of e.problems) io.err(p);
      return 1;
    }
    io.err(`error: ${errorMessage(e)}`);
    return 1;
  }
}
