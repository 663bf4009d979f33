import pkg from '../../package.json' with { type: 'json' };
import { Command, CommanderError } from 'commander';
import { errorMessage } from '../common/errors.ts';
import { createContext, type Cli, type CliIo, type Env, type RegisterCommand } from './context.ts';
import { register as advisories } from './commands/advisories.ts';
import { register as config } from './commands/config.ts';
import { register as countries } from './commands/countries.ts';
import { register as deliveries } from './commands/deliveries.ts';
import { register as digest } from './commands/digest.ts';
import { register as dispatch } from './commands/dispatch.ts';
import { register as events } from './commands/events.ts';
import { register as feeds } from './commands/feeds.ts';
import { register as migrate } from './commands/migrate.ts';
import { register as poll } from './commands/poll.ts';
import { register as start } from './commands/start.ts';
import { register as subscribers } from './commands/subscribers.ts';
import { register as trips } from './commands/trips.ts';

/**
 * One module per command noun in `commands/`, in the order `--help` lists them.
 * A new command is a new module exporting `register`, added here.
 */
const COMMANDS: readonly RegisterCommand[] = [
  start,
  migrate,
  config,
  poll,
  feeds,
  advisories,
  countries,
  events,
  subscribers,
  trips,
  dispatch,
  digest,
  deliveries,
];

export function buildProgram(env: Env, io: CliIo): Command {
  const { out, err } = io;
  const program = new Command('advisory-alerts')
    .description('Watches travel-advisory feeds and alerts subscribers when an advisory changes.')
    .version(pkg.version, '-V, --version', 'the version of advisory-alerts')
    .exitOverride()
    .configureOutput({ writeOut: (s) => out(s.trimEnd()), writeErr: (s) => err(s.trimEnd()) })
    .showHelpAfterError(false);
  const cli: Cli = { ...io, env, context: (logLevel, options) => createContext(env, io, logLevel, options) };
  for (const register of COMMANDS) register(program, cli);
  return program;
}

const processIo: CliIo = {
  out: (s) => process.stdout.write(`${s}\n`),
  err: (s) => process.stderr.write(`${s}\n`),
  terminal: process.stdout.isTTY === true,
};

/**
 * Runs one command line; returns the exit status. Reasons go to stderr as one line.
 * Everything it needs comes in through the arguments (the tests run commands in-process this way).
 */
export async function main(argv: string[], env: Env, io: CliIo = processIo): Promise<number> {
  const program = buildProgram(env, io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.exitCode === 0 ? 0 : 1;
    }
    // Loaded only now: a ConfigError can only come from a command that loaded the configuration.
    const { ConfigError } = await import('../config/app-config.ts');
    if (e instanceof ConfigError) {
      for (const p of e.problems) io.err(p);
      return 1;
    }
    io.err(`error: ${errorMessage(e)}`);
    return 1;
  }
}
