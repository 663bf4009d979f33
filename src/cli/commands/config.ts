import type { RegisterCommand } from '../context.ts';

export const register: RegisterCommand = (program, cli) => {
  const config = program.command('config').description('configuration commands');
  config
    .command('check')
    .description(`validate CONFIG_DIR (feeds.yaml, settings.yaml) and the environment`)
    .action(async () => {
      const c = cli.context();
      const enabled = c.config.feeds.filter((f) => f.enabled).length;
      const { feedWarnings } = await import('../../config/warnings.ts');
      for (const w of feedWarnings(c.config.feeds)) cli.err(`warning: ${w}`);
      cli.out(`${c.config.configDir}: OK — ${c.config.feeds.length} feed(s), ${enabled} enabled`);
    });
};
