import { withDatabase, type RegisterCommand } from '../context.ts';
import { printListing } from '../output.ts';

export const register: RegisterCommand = (program, cli) => {
  const countries = program.command('countries').description('country commands');
  countries
    .command('list')
    .description('every country with an advisory: highest level, which government says so, disagreement')
    .option('--json', 'JSON output')
    .action(async (opts: { json?: boolean }) => {
      const c = await cli.context(undefined, { feeds: 'optional' });
      const [{ countrySummaries }, { governmentOf }, { countryName }] = await Promise.all([
        import('../../advisories/repository.ts'),
        import('../../advisories/governments.ts'),
        import('../../common/countries.ts'),
      ]);
      const rows = await withDatabase(c, ({ db }) => countrySummaries(db));
      printListing(
        cli.out,
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
};
