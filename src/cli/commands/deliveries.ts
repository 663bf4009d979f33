import { Option } from 'commander';
import type { DeliveryStatus } from '../../db/types.ts';
import { withDatabase, type RegisterCommand } from '../context.ts';
import { printListing } from '../output.ts';

export const register: RegisterCommand = (program, cli) => {
  const deliveries = program.command('deliveries').description('delivery commands');
  deliveries
    .command('list')
    .description('deliveries: subscriber, event, channel, status, attempts, last error')
    .addOption(
      new Option(
        '--status <status>',
        "only this status ('digest': a routine email waiting for its digest; 'digested': sent inside one; 'skipped': no longer wanted at send time)",
      ).choices(['pending', 'sending', 'sent', 'failed', 'uncertain', 'digest', 'digested', 'skipped'] satisfies DeliveryStatus[]),
    )
    .option('--json', 'JSON output')
    .action(async (opts: { status?: DeliveryStatus; json?: boolean }) => {
      const c = await cli.context(undefined, { feeds: 'optional' });
      const { listDeliveries } = await import('../../delivery/repository.ts');
      const rows = await withDatabase(c, ({ db }) => listDeliveries(db, { status: opts.status }));
      printListing(
        cli.out,
        opts.json,
        rows.map((d) => ({ ...d })),
        ['id', 'subscriber', 'event', 'channel', 'status', 'attempts', 'lastError', 'sentAt'],
      );
    });
};
