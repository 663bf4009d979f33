import type { RegisterCommand } from '../context.ts';

export const register: RegisterCommand = (program, cli) => {
  const config = program.command('config').description('configuration commands');
  config
    .command('check')
    .description(`validate CONFIG_DIR (feeds.yaml, settings.yaml) and the environment`)
    .action(async () => {
      // The configuration only: no logger (a check is run often, from cron and by hand).
      const [{ loadConfig }, { feedWarnings }] = await Promise.all([import('../../config/load.ts'), import('../../feeds/config-warnings.ts')]);
      const config = loadConfig(cli.env);
      const enabled = config.feeds.filter((f) => f.enabled).length;
      for (const w of feedWarnings(config.feeds)) cli.err(`warning: ${w}`);
      cli.out(`${config.configDir}: OK — ${config.feeds.length} feed(s), ${enabled} enabled`);
    });
};
