import { withDatabase, type RegisterCommand } from '../context.ts';
import { formatJson, formatTable, printListing } from '../output.ts';

export const register: RegisterCommand = (program, cli) => {
  const feeds = program.command('feeds').description('feed commands');
  feeds
    .command('list')
    .description('each feed: last poll, status, failures, advisories stored, next poll')
    .option('--json', 'JSON output')
    .action(async (opts: { json?: boolean }) => {
      const c = cli.context();
      const [{ listFeeds, syncFeeds }, { nextCronRun }] = await Promise.all([import('../../feeds/repository.ts'), import('../../feeds/scheduler.ts')]);
      const schedules = new Map(c.config.feeds.map((f) => [f.id, f.schedule ?? c.config.settings.defaultSchedule]));
      const rows = await withDatabase(c, async ({ db }) => {
        await syncFeeds(db, c.config.feeds);
        return listFeeds(db);
      });
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
  feeds
    .command('catalogue')
    .description('every feed this product can read: id, government, profile, URL or URL pattern, coverage (copy an entry into feeds.yaml)')
    .option('--json', 'JSON output')
    .action(async (opts: { json?: boolean }) => {
      // Static knowledge: no configuration or database needed.
      const { catalogueRows } = await import('../../feeds/catalogue.ts');
      const rows = catalogueRows();
      if (opts.json) cli.out(formatJson(rows));
      else cli.out(formatTable(rows.map(({ id, government, profile, url, coverage }) => ({ id, government, profile, url, coverage })), ['id', 'government', 'profile', 'url', 'coverage'], { maxWidth: 120 }));
    });
};
