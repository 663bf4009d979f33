import type { FeedConfig } from '../../config/schema.ts';
import { UsageError } from '../../common/errors.ts';
import type { DatabaseHandle } from '../../db/connect.ts';
import { withDatabase, type CommandContext, type RegisterCommand } from '../context.ts';
import { formatJson, formatTable, printListing } from '../output.ts';

/**
 * The feeds table has one writer: the service (at start and on SIGHUP), or an
 * explicit `migrate` / `feeds sync`. A one-shot command run from another
 * directory must not rewrite the running service's feeds from its own
 * feeds.yaml, so it compares, and `poll` stops when the feeds it would poll
 * differ. The exception is a database nobody has configured yet (first use,
 * before any `start`): there this feeds.yaml is adopted.
 */
export async function checkFeedsMatch(c: CommandContext, database: DatabaseHandle, feeds: readonly FeedConfig[]): Promise<void> {
  const { compareFeeds, syncFeeds } = await import('../../feeds/repository.ts');
  const comparison = await compareFeeds(database.db, c.config.feeds, { only: feeds.map((f) => f.id) });
  if (comparison.empty) {
    await syncFeeds(database.db, c.config.feeds);
    return;
  }
  if (comparison.differences.length) throw new UsageError(feedsDifferMessage(c, database, comparison.differences));
}

/** The difference, and the way out: a running service schedules the feeds.yaml it read, and reads it again on SIGHUP (not on a `feeds sync`). */
function feedsDifferMessage(c: CommandContext, database: DatabaseHandle, differences: readonly string[]): string {
  const differ = `feeds.yaml in ${c.config.configDir} differs from the database's feeds (the running service's, or the last "migrate"/"feeds sync"): ${differences.join('; ')}.`;
  const pid = database.servicePid;
  if (pid !== undefined) {
    return `${differ} A service (pid ${pid}) is running on this database: if this is its feeds.yaml, make it reload the file with "kill -HUP ${pid}"; otherwise point CONFIG_DIR at the service's configuration`;
  }
  const fix = `Point CONFIG_DIR at the service's configuration, or run "advisory-alerts feeds sync" to make this file the configuration`;
  // Only the embedded database's lock tells whether a service runs on it.
  return database.embedded ? `${differ} ${fix}` : `${differ} ${fix} (a service running with this feeds.yaml takes it on SIGHUP instead)`;
}

export const register: RegisterCommand = (program, cli) => {
  const feeds = program.command('feeds').description('feed commands');
  feeds
    .command('list')
    .description('each feed: last poll, status, failures, advisories stored, next poll')
    .option('--json', 'JSON output')
    .action(async (opts: { json?: boolean }) => {
      const c = await cli.context(undefined, { feeds: 'optional' });
      const [{ listFeeds, compareFeeds }, { nextCronRun }] = await Promise.all([import('../../feeds/repository.ts'), import('../../feeds/scheduler.ts')]);
      // Read-only: the database's feeds as the service runs them; a different
      // feeds.yaml here is pointed out, never written (a broken one was warned about).
      const [rows, note] = await withDatabase(c, async (database) => {
        const [rows, comparison] = await Promise.all([
          listFeeds(database.db),
          c.config.feedsProblems.length ? undefined : compareFeeds(database.db, c.config.feeds),
        ]);
        return [
          rows,
          comparison && !comparison.empty && comparison.differences.length ? feedsDifferMessage(c, database, comparison.differences) : undefined,
        ] as const;
      });
      if (note) cli.err(`note: ${note}; listing the database's feeds`);
      const schedules = new Map(rows.map((f) => [f.id, f.schedule ?? c.config.settings.defaultSchedule]));
      printListing(
        cli.out,
        opts.json,
        rows.map((f) => {
          const schedule = f.enabled && f.inConfig ? schedules.get(f.id) : undefined;
          let nextPoll = schedule ? nextCronRun(schedule) : null;
          if (nextPoll && f.notBefore && f.notBefore > nextPoll) nextPoll = f.notBefore;
          return {
            id: f.id,
            source: f.source,
            // A removed feed's row stays for its advisories and events; the table says so where it says enabled.
            enabled: f.inConfig ? f.enabled : opts.json ? false : 'removed',
            removed: !f.inConfig,
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
  feeds
    .command('catalogue')
    .description('every feed this product can read: id, government, profile, URL or URL pattern, coverage (copy an entry into feeds.yaml)')
    .option('--json', 'JSON output')
    .action(async (opts: { json?: boolean }) => {
      // Static knowledge: no configuration or database needed.
      const { catalogueRows } = await import('../../feeds/catalogue.ts');
      const rows = catalogueRows();
      if (opts.json) cli.out(formatJson(rows));
      else
        cli.out(
          formatTable(
            rows.map(({ id, government, profile, url, coverage }) => ({ id, government, profile, url, coverage })),
            ['id', 'government', 'profile', 'url', 'coverage'],
            { maxWidth: 120 },
          ),
        );
    });

  feeds
    .command('sync')
    .description("make this feeds.yaml the database's feeds (a running service stops polling what it removes; its reload writes its own back)")
    .action(async () => {
      const c = await cli.context();
      const { compareFeeds, syncFeeds } = await import('../../feeds/repository.ts');
      const [differences, pid, embedded] = await withDatabase(c, async ({ db, servicePid, embedded }) => {
        const { differences } = await compareFeeds(db, c.config.feeds);
        await syncFeeds(db, c.config.feeds);
        return [differences, servicePid, embedded] as const;
      });
      if (!differences.length) return void cli.out('feeds already match feeds.yaml');
      cli.out(`feeds synced from ${c.config.configDir}: ${differences.join('; ')}`);
      // What a running service does with it: its polls check the database, so what was taken
      // away stops; but it schedules, and on reload writes back, the feeds.yaml it loaded.
      const effect = (hup: string) =>
        `it stops polling the feeds removed, disabled or re-pointed here from their next poll; a reload (${hup}) or restart writes its own feeds.yaml back into the database, so change that file too unless it is this one`;
      if (pid !== undefined) cli.err(`note: a service (pid ${pid}) is running on this database: ${effect(`kill -HUP ${pid}`)}`);
      else if (!embedded) cli.err(`note: if a service runs on this database, ${effect('SIGHUP')}`);
    });
};
