import { withDatabase, type RegisterCommand } from '../context.ts';
import { formatJson } from '../output.ts';

export const register: RegisterCommand = (program, cli) => {
  program
    .command('digest')
    .description('send every digest due now (daily and weekly routine-event emails), then exit')
    .option('--json', 'JSON output')
    .action(async (opts: { json?: boolean }) => {
      const c = await cli.context();
      const [{ createChannels, digestDepsFor }, { runDigests }] = await Promise.all([import('../../runtime.ts'), import('../../digests/run.ts')]);
      const summary = await withDatabase(c, async ({ db }) => {
        const channels = createChannels(c.config);
        try {
          return await runDigests(digestDepsFor(c.config, db, c.logger, c.clock, channels));
        } finally {
          await channels.close();
        }
      });
      if (opts.json) cli.out(formatJson([summary]));
      else
        cli.out(
          `digests created ${summary.created}, sent ${summary.sent}, failed ${summary.failed}, retrying ${summary.retrying}${summary.skipped ? `, skipped ${summary.skipped}` : ''}`,
        );
    });
};
