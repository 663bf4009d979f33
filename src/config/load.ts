import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CORE_SCHEMA, load as loadYaml } from 'js-yaml';
import { feedsFileSchema, settingsSchema, webhooksFileSchema, type FeedConfig, type Settings, type WebhookConfig } from './schema.ts';
import { problemWording, yamlVerdict, zodProblems } from './problems.ts';
import { assembleConfig, ConfigError, configDirs, envProblems, type AppConfig, type Env } from './app-config.ts';

export { appSecret, ConfigError, type AppConfig } from './app-config.ts';

/** A configuration file as read: its text (for the lines of problems) and what it parsed to. */
interface ReadFile {
  text: string;
  value: unknown;
}

function readYaml(dir: string, file: string, problems: string[]): ReadFile | undefined {
  const full = path.join(dir, file);
  let text: string;
  try {
    text = readFileSync(full, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    problems.push(`${file}: cannot be read: ${(err as Error).message}`);
    return undefined;
  }
  try {
    // js-yaml with the YAML 1.2 core schema (what `yaml` reads by default; duplicate keys
    // refused too) parses a 200-feed feeds.yaml about ten times faster than `yaml` — a
    // large share of every one-shot command's start.
    // An empty (or comments-only) file is an empty mapping, not a missing file.
    return { text, value: loadYaml(text, { schema: CORE_SCHEMA, filename: file }) ?? {} };
  } catch {
    // Whatever js-yaml refuses, `yaml` reads again: it decides, and words the problems
    // with their line and column.
  }
  const verdict = yamlVerdict(file, text);
  if ('problems' in verdict) {
    problems.push(...verdict.problems);
    return undefined;
  }
  return { text, value: verdict.value };
}

/**
 * zod compiles a fast checker for an object schema at its first parse: worth it for the
 * feed schema (hundreds of feeds), not for settings.yaml and webhooks.yaml, parsed once a
 * process (the compile cost several ms of a one-shot command's start).
 */
const ONE_OBJECT = { jitless: true } as const;

export function loadFeeds(configDir: string): FeedConfig[] {
  const problems: string[] = [];
  const read = readYaml(configDir, 'feeds.yaml', problems);
  if (problems.length) throw new ConfigError(problems);
  if (read === undefined) throw new ConfigError([`feeds.yaml: not found in ${configDir}`]);
  const parsed = feedsFileSchema.safeParse(read.value);
  if (!parsed.success) throw new ConfigError(zodProblems('feeds.yaml', read.text, read.value, feedsFileSchema, parsed.error));
  return parsed.data.feeds;
}

/**
 * Replaces `${NAME}` in every string of a parsed YAML document with the
 * environment variable NAME: secrets stay out of the config files. An unset
 * variable is a problem named by file, entry and field.
 */
function withEnvironment(
  value: unknown,
  env: Env,
  word: (path: readonly PropertyKey[], message: string) => string,
  at: PropertyKey[],
  problems: string[],
): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
      const v = env[name];
      if (v === undefined || v === '') problems.push(word(at, `environment variable ${name} is not set`));
      return v ?? '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => withEnvironment(v, env, word, [...at, i], problems));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withEnvironment(v, env, word, [...at, k], problems)]));
  }
  return value;
}

/** `webhooks.yaml` is optional: undefined when there is no file (a reload tells that apart from an empty list). */
export function readWebhooksFile(configDir: string, env: Env): WebhookConfig[] | undefined {
  const problems: string[] = [];
  const read = readYaml(configDir, 'webhooks.yaml', problems);
  if (problems.length) throw new ConfigError(problems);
  if (read === undefined) return undefined;
  const resolved = withEnvironment(read.value, env, problemWording('webhooks.yaml', read.text, read.value), [], problems);
  if (problems.length) throw new ConfigError(problems);
  const parsed = webhooksFileSchema.safeParse(resolved, ONE_OBJECT);
  if (!parsed.success) throw new ConfigError(zodProblems('webhooks.yaml', read.text, read.value, webhooksFileSchema, parsed.error));
  return parsed.data.webhooks;
}

/** `webhooks.yaml` is optional: no file, no webhooks. */
export function loadWebhooks(configDir: string, env: Env): WebhookConfig[] {
  return readWebhooksFile(configDir, env) ?? [];
}

export function loadSettings(configDir: string): Settings {
  const problems: string[] = [];
  const read = readYaml(configDir, 'settings.yaml', problems);
  if (problems.length) throw new ConfigError(problems);
  const parsed = settingsSchema.safeParse(read?.value ?? {}, ONE_OBJECT);
  if (!parsed.success) throw new ConfigError(zodProblems('settings.yaml', read?.text ?? '', read?.value, settingsSchema, parsed.error));
  return parsed.data;
}

export interface LoadOptions {
  /**
   * `optional`: for a command that does not use the feeds (a listing of the database), a
   * feeds.yaml that cannot be loaded leaves `feeds` empty and its problems in `feedsProblems`
   * instead of refusing: an admin who broke the file can still look at the database.
   */
  feeds?: 'required' | 'optional';
}

/**
 * The one place that reads `process.env` (through `env`) and the config files.
 * Everything else receives the resulting object.
 */
export function loadConfig(env: Env = process.env, options: LoadOptions = {}): AppConfig {
  const { configDir, dataDir } = configDirs(env);
  const problems = envProblems(env);
  let settings: Settings | undefined;
  let feeds: FeedConfig[] | undefined;
  let feedsProblems: string[] = [];
  let webhooks: WebhookConfig[] | undefined;
  const readFeeds = () => {
    try {
      feeds = loadFeeds(configDir);
    } catch (err) {
      if (options.feeds !== 'optional' || !(err instanceof ConfigError)) throw err;
      feeds = [];
      feedsProblems = err.problems;
    }
  };
  for (const load of [() => (settings = loadSettings(configDir)), readFeeds, () => (webhooks = loadWebhooks(configDir, env))]) {
    try {
      load();
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.problems);
      else throw err;
    }
  }
  // Refused for another reason: the admin hears of every file's problems at once.
  if (problems.length || !settings || !feeds || !webhooks) throw new ConfigError([...problems, ...feedsProblems]);
  return assembleConfig(env, { configDir, dataDir, settings, feeds, feedsProblems, webhooks }, () => readWebhooksFile(configDir, env));
}
