import { withDatabase, type RegisterCommand } from '../context.ts';
import { parseSince } from '../options.ts';
import { printListing } from '../output.ts';

export const register: RegisterCommand = (program, cli) => {
  const events = program.command('events').description('event commands');
  events
    .command('list')
    .description('recorded events')
    .option('--since <iso-time>', 'only events at or after this time')
    .option('--json', 'JSON output')
    .action(async (opts: { since?: string; json?: boolean }) => {
      const since = opts.since ? parseSince(opts.since) : undefined;
      const c = await cli.context(undefined, { feeds: 'optional' });
      const { listEvents } = await import('../../advisories/repository.ts');
      const rows = await withDatabase(c, ({ db }) => listEvents(db, { since }));
      printListing(
        cli.out,
        opts.json,
        rows.map((e) => ({ ...e })),
        ['id', 'feed', 'government', 'kind', 'urgency', 'country', 'level', 'previousLevel', 'title', 'createdAt', 'link'],
      );
    });
};
