import { withDatabase, type RegisterCommand } from '../context.ts';
import { formatJson } from '../output.ts';

export const register: RegisterCommand = (program, cli) => {
  program
    .command('dispatch')
    .description('send every delivery (and pre-trip briefing and confirmation email) that is due now, then exit')
    .option('--json', 'JSON output')
    .action(async (opts: { json?: boolean }) => {
      const c = await cli.context();
      const [{ briefingDepsFor, createChannels, createDispatcher, travelerDepsFor }, { sendDueBriefings }, { sendDueConfirmations }] = await Promise.all([
        import('../../runtime.ts'),
        import('../../briefings/send.ts'),
        import('../../subscriptions/confirmations.ts'),
      ]);
      const summary = await withDatabase(c, async ({ db }) => {
        const channels = createChannels(c.config);
        const { dispatcher } = createDispatcher(c.config, db, c.logger, c.clock, { channels });
        try {
          const sent = await dispatcher.drain();
          // Briefings and confirmation emails waiting for a retry count as emails like the others
          // (a confirmation queued by `subscribers add` that met a 4xx goes out here, with no web process).
          const briefings = await sendDueBriefings(briefingDepsFor(c.config, db, c.logger, c.clock, channels));
          const { summary: confirmations } = await sendDueConfirmations(travelerDepsFor(c.config, db, c.logger, c.clock, channels));
          return {
            sent: sent.sent + briefings.sent + confirmations.sent,
            failed: sent.failed + briefings.failed + confirmations.failed,
            retrying: sent.retrying + briefings.retrying + confirmations.retrying,
            // A refused confirmation (a cap reached when it was prepared) was not sent by decision, not by error.
            skipped: sent.skipped + confirmations.refused,
          };
        } finally {
          await channels.close();
        }
      });
      if (opts.json) cli.out(formatJson([summary]));
      else cli.out(`sent ${summary.sent}, failed ${summary.failed}, retrying ${summary.retrying}${summary.skipped ? `, skipped ${summary.skipped}` : ''}`);
    });
};
