import { loadConfig, type AppConfig } from '../config/load.ts';
import { connectDatabase, migrateToLatest, type DatabaseHandle } from '../db/connect.ts';
import { systemClock, type Clock } from '../common/clock.ts';
import { createLogger, type Logger } from '../common/logger.ts';

export interface CommandContext {
  config: AppConfig;
  logger: Logger;
  clock: Clock;
  out: (text: string) => void;
}

export function createContext(env: Record<string, string | undefined>, out: (text: string) => void, logLevel?: string): CommandContext {
  const config = loadConfig(env);
  // Commands keep stderr for their one-line reason; logs show only warnings unless asked.
  const logger = createLogger(logLevel ?? (config.settings.logLevel === 'info' ? 'warn' : config.settings.logLevel));
  return { config, logger, clock: systemClock, out };
}

/** Opens the database (reaching a running service's embedded one if there is one), migrated. */
export async function withDatabase<T>(ctx: CommandContext, fn: (db: DatabaseHandle) => Promise<T>): Promise<T> {
  const handle = await connectDatabase({ databaseUrl: ctx.config.databaseUrl, dataDir: ctx.config.dataDir, role: 'command', logger: ctx.logger });
  try {
    await migrateToLatest(handle.db, ctx.logger);
    return await fn(handle);
  } finally {
    await handle.close();
  }
}
