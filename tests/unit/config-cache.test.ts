import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/app-config.ts';
import { loadConfigCached } from '../../src/config/cached.ts';
import { loadConfig } from '../../src/config/load.ts';

let dir: string;
let configDir: string;
let cache: { file: string; buildId: string };
let env: Record<string, string>;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'aa-cfg-cache-'));
  configDir = path.join(dir, 'config');
  cache = { file: path.join(dir, 'config-cache.json'), buildId: '1' };
  env = { CONFIG_DIR: configDir, DATA_DIR: path.join(dir, 'data') };
  mkdirSync(configDir);
  write('feeds.yaml', feedsYaml('Russia alerts'));
  write('settings.yaml', 'port: 8080\n');
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function write(file: string, text: string): void {
  writeFileSync(path.join(configDir, file), text);
}

const feedsYaml = (name: string) => `feeds:
  - id: us-embassy-russia
    name: ${name}
    url: https://ru.usembassy.gov/category/alert/feed/
    source: us-embassy
    countries: [ru]
    headers: { X-Token: secret }
`;

/** Rewrites the cached feed name, keeping the key: a value only the cache could have returned. */
function tamperCachedName(name: string): void {
  const entry = JSON.parse(readFileSync(cache.file, 'utf8')) as { feeds: { name: string }[] };
  entry.feeds[0]!.name = name;
  writeFileSync(cache.file, JSON.stringify(entry));
}

const comparable = (c: Awaited<ReturnType<typeof loadConfigCached>>) => ({ ...c, rereadWebhooks: undefined });

describe('loadConfigCached', () => {
  it('gives what loadConfig gives, then answers from the cache while the files are the same', async () => {
    const first = await loadConfigCached(env, cache);
    expect(comparable(first)).toEqual(comparable(loadConfig(env)));
    expect(first.feeds[0]).toMatchObject({ id: 'us-embassy-russia', countries: ['RU'], enabled: true, source: 'us-embassy' });
    // Private: the feeds' headers may be credentials.
    expect(statSync(cache.file).mode & 0o777).toBe(0o600);

    tamperCachedName('from the cache');
    const second = await loadConfigCached(env, cache);
    expect(second.feeds[0]!.name).toBe('from the cache');
    expect(second.settings.port).toBe(8080);
  });

  it('validates again when a file, the folder or the build differs', async () => {
    await loadConfigCached(env, cache);
    tamperCachedName('from the cache');
    write('feeds.yaml', feedsYaml('Russia alerts, edited'));
    expect((await loadConfigCached(env, cache)).feeds[0]!.name).toBe('Russia alerts, edited');

    tamperCachedName('from the cache');
    write('settings.yaml', 'port: 8081\n');
    const edited = await loadConfigCached(env, cache);
    expect(edited.settings.port).toBe(8081);
    expect(edited.feeds[0]!.name).toBe('Russia alerts, edited');

    tamperCachedName('from the cache');
    expect((await loadConfigCached(env, { ...cache, buildId: '2' })).feeds[0]!.name).toBe('Russia alerts, edited');
  });

  it('still checks the environment, and reports a bad file as loadConfig does (nothing cached)', async () => {
    await loadConfigCached(env, cache);
    await expect(loadConfigCached({ ...env, DATABASE_URL: 'postgres://db/x' }, cache)).rejects.toThrow(/APP_SECRET: is required/);

    write('feeds.yaml', 'feeds:\n  - id: Bad Id\n    url: ftp://x\n');
    const err = await loadConfigCached(env, cache).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.join('\n')).toMatch(/feeds\.yaml: feed "Bad Id" \(entry 1, line 2\): id: must match/);
  });

  it('a broken feeds.yaml loaded as optional (a listing) is not cached: the next command that needs the feeds still refuses', async () => {
    write('feeds.yaml', 'feeds:\n  - id: bad\n    url: ftp://x\n');
    const listing = await loadConfigCached(env, cache, { feeds: 'optional' });
    expect(listing.feeds).toEqual([]);
    expect(listing.feedsProblems).toEqual(['feeds.yaml: feed "bad" (entry 1, line 2): url: must be an http(s) URL']);
    expect(() => readFileSync(cache.file)).toThrow(/ENOENT/);
    await expect(loadConfigCached(env, cache)).rejects.toThrow(ConfigError);

    // Settings and the environment stay required.
    write('settings.yaml', 'port: nope\n');
    const refused = await loadConfigCached(env, cache, { feeds: 'optional' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConfigError);
    // Refused, the admin hears of both files at once.
    expect((refused as ConfigError).problems).toEqual([
      expect.stringMatching(/^settings\.yaml: port/),
      'feeds.yaml: feed "bad" (entry 1, line 2): url: must be an http(s) URL',
    ]);
  });

  it('an unreadable settings.yaml is reported, not taken for a missing one and answered from the cache', async () => {
    rmSync(path.join(configDir, 'settings.yaml'));
    expect((await loadConfigCached(env, cache)).settings.port).toBe(3000);
    // A directory where the file should be (EISDIR); a wrong owner or mode (EACCES) reads the same way.
    mkdirSync(path.join(configDir, 'settings.yaml'));
    const err = await loadConfigCached(env, cache).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.join('\n')).toMatch(/settings\.yaml: cannot be read: EISDIR/);
  });

  it('reads a configuration with webhooks.yaml in full every time (its secrets come from the environment)', async () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: ${VAR} is the config's own syntax
    write('webhooks.yaml', 'webhooks:\n  - id: ops\n    url: https://hooks.example.org/x\n    format: standard\n    secret: ${HOOK_SECRET}\n');
    const withSecret = { ...env, HOOK_SECRET: `whsec_${Buffer.alloc(24, 1).toString('base64')}` };
    const config = await loadConfigCached(withSecret, cache);
    expect(config.webhooks.map((w) => w.id)).toEqual(['ops']);
    expect(() => readFileSync(cache.file)).toThrow(/ENOENT/);
  });

  it('without a cache location (the TypeScript sources) is loadConfig', async () => {
    const config = await loadConfigCached(env, undefined);
    expect(comparable(config)).toEqual(comparable(loadConfig(env)));
  });
});
