import path from 'node:path';
import type { Command } from 'commander';
import type { AppConfig } from '../config/load.ts';
import type { DatabaseHandle } from '../db/connect.ts';
import { systemClock, type Clock } from '../common/clock.ts';
import type { LogDestination, Logger } from '../common/logger.ts';

export type Env = Record<string, string | undefined>;

/** Where a command line's output goes: stdout, the one-line reasons (stderr), and log lines (stderr unless given). */
export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  log?: LogDestination;
  /** stdout is a terminal (a person is watching): `start` prints a human summary there. */
  terminal?: boolean;
}

/** What one command line runs with: where output goes and how to load the configuration. */
export interface Cli extends CliIo {
  env: Env;
  /**
   * Loads and validates the configuration; called inside an action so `--help` and
   * refusals need none (nor the modules it takes: YAML, zod, the logger).
   */
  context(logLevel?: string, options?: ContextOptions): Promise<CommandContext>;
}

/**
 * Each module in `commands/` exports one of these, adding its noun (and its
 * subcommands) to the program. Modules import their heavy dependencies
 * (database drivers, senders, the web server) inside the action with `import()`,
 * so a command loads only what it runs.
 */
export type RegisterCommand = (program: Command, cli: Cli) => void;

export interface CommandContext {
  config: AppConfig;
  logger: Logger;
  clock: Clock;
  out: (text: string) => void;
}

export interface ContextOptions {
  /** The service: it re-reads webhooks.yaml on SIGHUP, so its configuration is loaded in full (no cache). */
  service?: boolean;
  /**
   * `optional` for a read-only command that does not use the feeds: a feeds.yaml that cannot
   * be loaded is one warning line, not a refusal, so an admin who broke it can still
   * inspect the database (`config.feeds` is then empty, `config.feedsProblems` says why).
   */
  feeds?: 'required' | 'optional';
}

export async function createContext(env: Env, io: CliIo, logLevel?: string, options: ContextOptions = {}): Promise<CommandContext> {
  const loading = options.service
    ? import('../config/load.ts').then(({ loadConfig }) => loadConfig(env))
    : import('../config/cached.ts').then(({ loadConfigCached }) => loadConfigCached(env, undefined, { feeds: options.feeds ?? 'required' }));
  const [config, { createLogger }] = await Promise.all([loading, import('../common/logger.ts')]);
  if (config.feedsProblems.length) {
    io.err(
      `warning: ${path.join(config.configDir, 'feeds.yaml')} not loaded (${config.feedsProblems.join('; ')}); this command does not need it, other commands (start, migrate, poll, feeds sync, …) refuse until it is fixed`,
    );
  }
  // Commands keep stderr for their one-line reason; logs show only warnings unless asked, and
  // an expected failure (a feed that did not answer) without its stack. (`start` makes its own
  // logger for the service.)
  const logger = createLogger(logLevel ?? (config.settings.logLevel === 'info' ? 'warn' : config.settings.logLevel), io.log, 'brief');
  return { config, logger, clock: systemClock, out: io.out };
}

/** Opens the database (reaching a running service's embedded one if there is one), migrated. */
export async function withDatabase<T>(ctx: CommandContext, fn: (db: DatabaseHandle) => Promise<T>): Promise<T> {
  const { connectDatabase, migrateToLatest } = await import('../db/connect.ts');
  const handle = await connectDatabase({ databaseUrl: ctx.config.databaseUrl, dataDir: ctx.config.dataDir, role: 'command', logger: ctx.logger });
  try {
    await migrateToLatest(handle.db, ctx.logger);
    return await fn(handle);
  } finally {
    await handle.close();
  }
}
