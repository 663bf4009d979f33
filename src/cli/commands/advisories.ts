import { withDatabase, type RegisterCommand } from '../context.ts';
import { parseCountry } from '../options.ts';
import { printListing } from '../output.ts';

export const register: RegisterCommand = (program, cli) => {
  const advisories = program.command('advisories').description('advisory commands');
  advisories
    .command('list')
    .description('current advisories')
    .option('--country <CC>', 'only advisories about this country (ISO 3166-1 alpha-2)')
    .option('--json', 'JSON output')
    .action(async (opts: { country?: string; json?: boolean }) => {
      const country = opts.country ? parseCountry(opts.country) : undefined;
      const c = await cli.context(undefined, { feeds: 'optional' });
      const [{ listAdvisories }, { governmentOf }] = await Promise.all([import('../../advisories/repository.ts'), import('../../advisories/governments.ts')]);
      const rows = await withDatabase(c, ({ db }) => listAdvisories(db, { country }));
      // The highest current level among the governments for each country, on every row.
      const highest = new Map<string, number>();
      for (const a of rows) {
        for (const cc of a.countries) if (a.level !== null) highest.set(cc, Math.max(highest.get(cc) ?? 0, a.level));
      }
      printListing(
        cli.out,
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
};
