import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { assembleConfig, configDirs, envProblems, type AppConfig, type Env } from './app-config.ts';
import type { LoadOptions } from './load.ts';
import type { FeedConfig, Settings } from './schema.ts';

/**
 * Where the compiled build keeps the last validated configuration: beside the build that
 * validated it, in dist/ (a build empties it, and only whoever installed the code can write
 * there). From the TypeScript sources there is none: every run validates.
 */
function compiledCache(): { file: string; buildId: string } | undefined {
  if (!import.meta.url.endsWith('.js')) return undefined;
  const dist = path.dirname(fileURLToPath(import.meta.url));
  try {
    const { startedAt } = JSON.parse(readFileSync(path.join(dist, 'build-info.json'), 'utf8')) as { startedAt: number };
    return { file: path.join(dist, 'config-cache.json'), buildId: String(startedAt) };
  } catch {
    // No build-info.json: not a build made by scripts/build.mjs, nothing to key a cache on.
    return undefined;
  }
}

interface CacheEntry {
  key: string;
  settings: Settings;
  feeds: FeedConfig[];
}

/** A file's text, or null when there is none; a file that exists but cannot be read throws. */
function readText(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** The files the cached part depends on, exactly as read, and the key they make; undefined when it cannot be cached. */
function cacheInputs(configDir: string, buildId: string): { key: string; texts: (string | null)[] } | undefined {
  // webhooks.yaml takes secrets from the environment: such a configuration is read every time.
  if (existsSync(path.join(configDir, 'webhooks.yaml'))) return undefined;
  let texts: (string | null)[];
  try {
    texts = [readText(path.join(configDir, 'settings.yaml')), readText(path.join(configDir, 'feeds.yaml'))];
  } catch {
    // A file there but unreadable (EACCES, EISDIR) is not a missing one, whose defaults the cache
    // may hold: the full load reports it.
    return undefined;
  }
  if (texts[1] === null) return undefined;
  const key = createHash('sha256')
    .update(JSON.stringify([buildId, configDir, ...texts]))
    .digest('hex');
  return { key, texts };
}

/**
 * loadConfig for commands: when settings.yaml and feeds.yaml are byte for byte the ones this
 * build last validated (from the same folder, with no webhooks.yaml), their validated
 * contents are taken from the cache, and neither js-yaml nor zod is loaded — for 200 feeds
 * about 45 ms of a one-shot command's CPU. The environment is checked every time. Anything
 * else is the full load, whose result (when valid) becomes the cache.
 */
export async function loadConfigCached(
  env: Env,
  cache: { file: string; buildId: string } | undefined = compiledCache(),
  options: LoadOptions = {},
): Promise<AppConfig> {
  const { configDir, dataDir } = configDirs(env);
  const inputs = cache ? cacheInputs(configDir, cache.buildId) : undefined;
  if (cache && inputs && envProblems(env).length === 0) {
    let entry: CacheEntry | undefined;
    try {
      entry = JSON.parse(readFileSync(cache.file, 'utf8')) as CacheEntry;
    } catch {
      // No cache yet, or one cut short: this run validates and writes it.
    }
    if (entry?.key === inputs.key) {
      return assembleConfig(env, { configDir, dataDir, settings: entry.settings, feeds: entry.feeds, webhooks: [] }, () => []);
    }
  }
  const { loadConfig } = await import('./load.ts');
  const config = loadConfig(env, options);
  // Written only when the files were valid and did not change while they were validated.
  if (cache && inputs && config.feedsProblems.length === 0 && cacheInputs(configDir, cache.buildId)?.key === inputs.key) {
    const entry: CacheEntry = { key: inputs.key, settings: config.settings, feeds: config.feeds };
    const temporary = `${cache.file}.${process.pid}`;
    try {
      // Private: feeds.yaml may carry credentials in a feed's headers.
      writeFileSync(temporary, JSON.stringify(entry), { mode: 0o600 });
      renameSync(temporary, cache.file);
    } catch {
      // A build the running user cannot write to (installed by another user, read-only):
      // the cache is only a shortcut, and every run validates instead.
    }
  }
  return config;
}
