import { withDatabase, type RegisterCommand } from '../context.ts';
import { formatJson } from '../output.ts';

export const register: RegisterCommand = (program, cli) => {
  program
    .command('dispatch')
    .description('send every delivery that is due now, then exit')
    .option('--json', 'JSON output')
    .action(async (opts: { json?: boolean }) => {
      const c = await cli.context();
      const { createDispatcher } = await import('../../runtime.ts');
      const summary = await withDatabase(c, async ({ db }) => {
        const { dispatcher, close } = createDispatcher(c.config, db, c.logger, c.clock);
        try {
          return await dispatcher.drain();
        } finally {
          await close();
        }
      });
      if (opts.json) cli.out(formatJson([summary]));
      else cli.out(`sent ${summary.sent}, failed ${summary.failed}, retrying ${summary.retrying}${summary.skipped ? `, skipped ${summary.skipped}` : ''}`);
    });
};
