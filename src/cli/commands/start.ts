import { Option } from 'commander';
import { UsageError } from '../../common/errors.ts';
import { ROLES, type Role } from '../../roles.ts';
import type { RegisterCommand } from '../context.ts';
import type { RunningService } from '../../service.ts';

export const register: RegisterCommand = (program, cli) => {
  program
    .command('start')
    .description('run the service: migrations, scheduled polls, delivery, web pages')
    .addOption(new Option('--roles <roles>', 'comma-separated roles: poll,deliver,web').default('poll,deliver,web'))
    .action(async (opts: { roles: string }) => {
      const roles = parseRoles(opts.roles);
      const c = await cli.context(undefined, { service: true });
      const [{ runService }, { createLogger }, { startSummary, startupPollSummary }] = await Promise.all([
        import('../../service.ts'),
        import('../../common/logger.ts'),
        import('../summary.ts'),
      ]);
      const version = program.version() ?? '';
      // A person at a terminal gets a few lines of plain text on stdout; the JSON logs stay on stderr.
      const onStarted = cli.terminal
        ? (service: RunningService) => {
            const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
            cli.out(startSummary(service.summary(), { version, now: c.clock.now(), timeZone }));
            void service.startupPolls.then((outcomes) => cli.out(startupPollSummary(outcomes)));
          }
        : undefined;
      // The service logs at the configured level (one-shot commands keep only warnings).
      await runService(c.config, { roles, logger: createLogger(c.config.settings.logLevel, cli.log), clock: c.clock, ...(onStarted ? { onStarted } : {}) });
    });
};

function parseRoles(value: string): Role[] {
  const roles = value
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  for (const r of roles) {
    if (!(ROLES as readonly string[]).includes(r)) throw new UsageError(`--roles: unknown role "${r}" (expected ${ROLES.join(', ')})`);
  }
  if (roles.length === 0) throw new UsageError('--roles: give at least one role');
  return roles as Role[];
}
