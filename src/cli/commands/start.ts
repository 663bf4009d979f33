import { Option } from 'commander';
import { UsageError } from '../../common/errors.ts';
import type { RegisterCommand } from '../context.ts';

export const register: RegisterCommand = (program, cli) => {
  program
    .command('start')
    .description('run the service: migrations, scheduled polls, delivery, web pages')
    .addOption(new Option('--roles <roles>', 'comma-separated roles: poll,deliver,web').default('poll,deliver,web'))
    .action(async (opts: { roles: string }) => {
      const { ROLES, runService } = await import('../../service.ts');
      const roles = parseRoles(opts.roles, ROLES);
      const { createLogger } = await import('../../common/logger.ts');
      const c = cli.context();
      // The service logs at the configured level (one-shot commands keep only warnings).
      await runService(c.config, { roles, logger: createLogger(c.config.settings.logLevel), clock: c.clock });
    });
};

function parseRoles<R extends string>(value: string, known: readonly R[]): R[] {
  const roles = value
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  for (const r of roles) {
    if (!(known as readonly string[]).includes(r)) throw new UsageError(`--roles: unknown role "${r}" (expected ${known.join(', ')})`);
  }
  if (roles.length === 0) throw new UsageError('--roles: give at least one role');
  return roles as R[];
}
