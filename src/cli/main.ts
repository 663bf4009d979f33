import { Command, CommanderError, Option } from 'commander';
import { countrySummaries, listAdvisories, listEvents } from '../advisories/repository.ts';
import { governmentOf } from '../feeds/profiles/index.ts';
import { countryName } from '../shared/countries.ts';
import { ConfigError } from '../config/load.ts';
import { migrateToLatest, connectDatabase } from '../db/connect.ts';
import { pollFeeds } from '../feeds/poller.ts';
import { listFeeds, syncFeeds } from '../feeds/repository.ts';
import { nextCronRun } from '../feeds/scheduler.ts';
import { ROLES, startService, type Role } from '../service.ts';
import { UsageError, errorMessage } from '../shared/errors.ts';
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
      const logger = c.logger.level === 'warn' ? (await import('../shared/logger.ts')).createLogger(c.config.settings.logLevel) : c.logger;
      const service = await startService(c.config, { roles, logger, clock: c.clock });
      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = (signal: string) => {
          if (stopping) return;
          stopping = true;
          logger.info({ signal }, 'signal received');
          service.stop().then(resolve, (e: unknown) => {
            logger.error({ err: errorMessage(e) }, 'error while stopping');
            resolve();
          });
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
        process.on('SIGHUP', () => {
          void service.reload();
        });
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
        return pollFeeds({ db, logger: c.logger, clock: c.clock, settings: c.config.settings }, feeds, { force: true });
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
        ['id', 'feed', 'government', 'kind', 'country', 'level', 'previousLevel', 'title', 'createdAt', 'link'],
      );
    });

  return program;
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
