import { Option } from 'commander';
import type { DeliveryStatus } from '../../db/types.ts';
import type { DeliveryListing } from '../../delivery/repository.ts';
import { withDatabase, type RegisterCommand } from '../context.ts';
import { printListing, type Cell } from '../output.ts';

/** Statuses with an attempt still to come, at `nextAttemptAt`; for the others it is history. */
const WAITING: ReadonlySet<DeliveryStatus> = new Set(['pending', 'uncertain']);
/** Delivered: an error kept from an attempt before is no longer what happened to it. */
const DELIVERED: ReadonlySet<DeliveryStatus> = new Set(['sent', 'digested']);

/**
 * A delivery as a row of the table: a sent one's error is labelled as an earlier attempt's
 * (alone it reads as a failure), and the next attempt is shown where one is to come.
 * `--json` keeps the stored fields as they are.
 */
export function deliveryTableRow(d: DeliveryListing): Record<string, Cell> {
  return {
    ...d,
    nextAttempt: WAITING.has(d.status) ? d.nextAttemptAt : null,
    lastError: d.lastError !== null && DELIVERED.has(d.status) ? `earlier attempt: ${d.lastError}` : d.lastError,
  };
}

export const register: RegisterCommand = (program, cli) => {
  const deliveries = program.command('deliveries').description('delivery commands');
  deliveries
    .command('list')
    .description('deliveries: subscriber, event, channel, status, attempts, next attempt (pending, uncertain), last error')
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
        rows.map((d) => (opts.json ? { ...d } : deliveryTableRow(d))),
        ['id', 'subscriber', 'event', 'channel', 'status', 'attempts', 'nextAttempt', 'lastError', 'sentAt'],
      );
    });
};
