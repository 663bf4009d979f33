import type { RegisterCommand } from '../context.ts';

export const register: RegisterCommand = (program, cli) => {
  program
    .command('migrate')
    .description('apply pending database migrations')
    .action(async () => {
      const { connectDatabase, migrateToLatest } = await import('../../db/connect.ts');
      const c = await cli.context();
      const handle = await connectDatabase({ databaseUrl: c.config.databaseUrl, dataDir: c.config.dataDir, role: 'command', logger: c.logger });
      try {
        const result = await migrateToLatest(handle.db, c.logger);
        const applied = (result.results ?? []).map((r) => r.migrationName);
        // With the service, the one writer of the feeds table (see `feeds sync`).
        const { syncFeeds } = await import('../../feeds/repository.ts');
        await syncFeeds(handle.db, c.config.feeds);
        cli.out(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
      } finally {
        await handle.close();
      }
    });
};
