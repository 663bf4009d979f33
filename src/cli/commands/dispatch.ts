import { withDatabase, type RegisterCommand } from '../context.ts';
import { formatJson } from '../output.ts';

export const register: RegisterCommand = (program, cli) => {
  program
    .command('dispatch')
    .description('send every delivery (and pre-trip briefing) that is due now, then exit')
    .option('--json', 'JSON output')
    .action(async (opts: { json?: boolean }) => {
      const c = await cli.context();
      const [{ briefingDepsFor, createChannels, createDispatcher }, { sendDueBriefings }] = await Promise.all([
        import('../../runtime.ts'),
        import('../../trips/service.ts'),
      ]);
      const summary = await withDatabase(c, async ({ db }) => {
        const channels = createChannels(c.config);
        const { dispatcher } = createDispatcher(c.config, db, c.logger, c.clock, { channels });
        try {
          const sent = await dispatcher.drain();
          // Briefings waiting for a retry count as emails like the others.
          const briefings = await sendDueBriefings(briefingDepsFor(c.config, db, c.logger, c.clock, channels));
          return { ...sent, sent: sent.sent + briefings.sent, failed: sent.failed + briefings.failed, retrying: sent.retrying + briefings.retrying };
        } finally {
          await channels.close();
        }
      });
      if (opts.json) cli.out(formatJson([summary]));
      else cli.out(`sent ${summary.sent}, failed ${summary.failed}, retrying ${summary.retrying}${summary.skipped ? `, skipped ${summary.skipped}` : ''}`);
    });
};
