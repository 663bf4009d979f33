import { UsageError } from '../../common/errors.ts';
import { withDatabase, type RegisterCommand } from '../context.ts';
import { repeatable } from '../options.ts';
import { printListing } from '../output.ts';

export const register: RegisterCommand = (program, cli) => {
  program
    .command('poll')
    .description('poll now: all enabled feeds, or the named ones')
    .option('--feed <id>', 'a feed id (repeatable)', repeatable, [] as string[])
    .option('--json', 'JSON output')
    .action(async (opts: { feed: string[]; json?: boolean }) => {
      const c = await cli.context();
      const known = new Map(c.config.feeds.map((f) => [f.id, f]));
      const unknown = opts.feed.filter((id) => !known.has(id));
      if (unknown.length) throw new UsageError(`unknown feed: ${unknown.join(', ')} (not in feeds.yaml)`);
      const feeds = opts.feed.length ? opts.feed.map((id) => known.get(id)!) : c.config.feeds.filter((f) => f.enabled);
      const [{ pollFeeds }, { checkFeedsMatch }, { pollDepsFor }, { syncWebhooks }, { feedWarnings }] = await Promise.all([
        import('../../feeds/poller.ts'),
        import('./feeds.ts'),
        import('../../poll-deps.ts'),
        import('../../delivery/repository.ts'),
        import('../../feeds/config-warnings.ts'),
      ]);

      const results = await withDatabase(c, async (database) => {
        const { db } = database;
        await checkFeedsMatch(c, database, feeds);
        // Events fan out to the endpoints of webhooks.yaml as they are now.
        await syncWebhooks(db, c.config.webhooks);
        return pollFeeds(pollDepsFor(c.config, db, c.logger, c.clock), feeds, { force: true });
      });
      const rows = results.map((r) => ({
        feed: r.feed,
        status: r.status,
        new: r.new,
        updated: r.updated,
        unchanged: r.unchanged,
        removed: r.removed,
        events: r.events,
        baseline: r.baseline,
        error: r.error,
        warning: r.warning,
      }));
      // The polled feeds' doubtful declarations (as `config check` says them) and what a
      // profile could not make sense of: on stderr, beside the logs, so stdout stays a listing.
      const polled = new Set(feeds.map((f) => f.id));
      for (const w of feedWarnings(c.config.feeds.map((f) => ({ ...f, enabled: polled.has(f.id) })))) cli.err(`warning: ${w}`);
      for (const r of results) if (r.warning) cli.err(`warning: feed ${r.feed}: ${r.warning}`);
      // A feed that failed is reported (and recorded) here, not turned into a
      // failed command: the poll itself did what was asked. Scripts read `--json`.
      printListing(cli.out, opts.json, rows, ['feed', 'status', 'new', 'updated', 'unchanged', 'removed', 'events', 'error']);
    });
};
