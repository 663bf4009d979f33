import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, loadFeeds, loadSettings } from '../../src/config/load.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'aa-cfg-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function write(file: string, text: string): void {
  writeFileSync(path.join(dir, file), text);
}

const ONE_FEED = `feeds:
  - id: us-embassy-russia
    url: https://ru.usembassy.gov/category/alert/feed/
    source: us-embassy
    countries: [ru]
`;

/** The problems a ConfigError carries (fails the test if something else is thrown, or nothing). */
function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError, but the configuration was accepted');
}

describe('loadSettings', () => {
  it('accepts a missing settings.yaml, with every default', () => {
    const s = loadSettings(dir);
    expect(s).toMatchObject({
      defaultSchedule: '*/15 * * * *',
      port: 3000,
      mailFrom: 'Advisory Alerts <alerts@localhost>',
      logLevel: 'info',
      http: { timeoutSeconds: 30, maxBodyBytes: 5 * 1024 * 1024, maxRedirects: 5 },
      backoff: { baseSeconds: 60 },
    });
    expect(s.publicBaseUrl).toBeUndefined();
    expect(s.http.userAgent).toMatch(/advisory-alerts/);
  });

  it('accepts an empty settings.yaml (and one with comments only) as all defaults', () => {
    write('settings.yaml', '');
    expect(loadSettings(dir)).toEqual(loadSettingsFromNothing());
    write('settings.yaml', '# nothing set here\n');
    expect(loadSettings(dir)).toEqual(loadSettingsFromNothing());
  });

  it('keeps defaults for nested keys that are not given', () => {
    write('settings.yaml', 'http:\n  timeoutSeconds: 5\nport: 8080\n');
    const s = loadSettings(dir);
    expect(s.port).toBe(8080);
    expect(s.http.timeoutSeconds).toBe(5);
    expect(s.http.maxRedirects).toBe(5);
    expect(s.backoff.maxSeconds).toBe(6 * 3600);
  });

  it('names file and field of a bad value, and refuses unknown keys', () => {
    write('settings.yaml', 'port: "eighty"\nhttp:\n  timeoutSeconds: -1\ncolour: blue\ndefaultSchedule: "every hour"\n');
    const problems = problemsOf(() => loadSettings(dir));
    expect(problems).toContain('settings.yaml: port: Invalid input: expected number, received string');
    expect(problems.some((p) => p.startsWith('settings.yaml: http.timeoutSeconds: '))).toBe(true);
    expect(problems).toContain('settings.yaml: Unrecognized key: "colour"');
    expect(problems).toContain('settings.yaml: defaultSchedule: must be a valid cron expression');
  });

  it('suggests the key probably meant for a misspelt one, at any depth', () => {
    write('settings.yaml', 'prot: 3000\nhttp:\n  timeoutSecond: 5\ndelivery:\n  sms:\n    ratePerSecnod: 3\n');
    expect(problemsOf(() => loadSettings(dir)).sort()).toEqual([
      'settings.yaml: Unrecognized key: "prot" (did you mean "port"?)',
      'settings.yaml: delivery.sms: Unrecognized key: "ratePerSecnod" (did you mean "ratePerSecond"?)',
      'settings.yaml: http: Unrecognized key: "timeoutSecond" (did you mean "timeoutSeconds"?)',
    ]);
  });

  it('refuses invalid YAML with the file name', () => {
    write('settings.yaml', 'port: [3000\n');
    const problems = problemsOf(() => loadSettings(dir));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^settings\.yaml: invalid YAML: /);
  });
});

function loadSettingsFromNothing() {
  const empty = mkdtempSync(path.join(tmpdir(), 'aa-cfg-empty-'));
  try {
    return loadSettings(empty);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
}

describe('loadFeeds', () => {
  it('applies the defaults: source generic, enabled, no alert on first poll', () => {
    write('feeds.yaml', 'feeds:\n  - id: plain\n    url: http://example.org/feed.xml\n');
    const [feed, ...rest] = loadFeeds(dir);
    expect(rest).toHaveLength(0);
    expect(feed).toEqual({
      id: 'plain',
      url: 'http://example.org/feed.xml',
      source: 'generic',
      enabled: true,
      alertOnFirstPoll: false,
      countries: [],
      headers: {},
      urgency: 'auto',
    });
    expect(feed!.schedule).toBeUndefined();
  });

  it('reads every optional field and upper-cases countries', () => {
    write(
      'feeds.yaml',
      `feeds:
  - id: us-embassy-russia
    name: U.S. Embassy & Consulates in Russia — alerts
    url: https://ru.usembassy.gov/category/alert/feed/
    source: us-embassy
    schedule: "*/10 * * * *"
    countries: [ru, By]
    enabled: false
    timeoutSeconds: 12
    headers:
      User-Agent: Mozilla/5.0 test
    alertOnFirstPoll: true
    urgency: routine
`,
    );
    const [feed] = loadFeeds(dir);
    expect(feed).toEqual({
      id: 'us-embassy-russia',
      name: 'U.S. Embassy & Consulates in Russia — alerts',
      url: 'https://ru.usembassy.gov/category/alert/feed/',
      source: 'us-embassy',
      schedule: '*/10 * * * *',
      countries: ['RU', 'BY'],
      enabled: false,
      timeoutSeconds: 12,
      headers: { 'User-Agent': 'Mozilla/5.0 test' },
      alertOnFirstPoll: true,
      urgency: 'routine',
    });
  });

  it('accepts node-cron six-field (seconds) schedules', () => {
    write('feeds.yaml', 'feeds:\n  - id: fast\n    url: http://example.org/\n    schedule: "*/5 * * * * *"\n');
    expect(loadFeeds(dir)[0]!.schedule).toBe('*/5 * * * * *');
  });

  it('names file, entry and field of a bad URL exactly', () => {
    write(
      'feeds.yaml',
      `feeds:
  - id: one
    url: http://example.org/1
  - id: two
    url: https://example.org/2
  - id: three
    url: ftp://example.org/3
`,
    );
    expect(problemsOf(() => loadFeeds(dir))).toEqual(['feeds.yaml: feed "three" (entry 3, line 6): url: must be an http(s) URL']);
  });

  it('refuses a URL that is not a URL at all, and a missing one', () => {
    write('feeds.yaml', 'feeds:\n  - id: one\n    url: not a url\n  - id: two\n');
    const problems = problemsOf(() => loadFeeds(dir));
    expect(problems).toContain('feeds.yaml: feed "one" (entry 1, line 2): url: must be an http(s) URL');
    expect(problems.some((p) => p.startsWith('feeds.yaml: feed "two" (entry 2, line 4): url: '))).toBe(true);
  });

  it('refuses duplicate ids, naming both entries', () => {
    write(
      'feeds.yaml',
      `feeds:
  - id: same
    url: http://example.org/1
  - id: other
    url: http://example.org/2
  - id: same
    url: http://example.org/3
`,
    );
    expect(problemsOf(() => loadFeeds(dir))).toEqual(['feeds.yaml: feed "same" (entry 3, line 6): id: duplicate id "same" (also entry 1)']);
  });

  it('refuses ids outside [a-z0-9-]+ and a missing id, naming each entry by what it has and its line', () => {
    write(
      'feeds.yaml',
      `feeds:
  - id: Upper_Case
    url: http://example.org/1
  - id: "with space"
    url: http://example.org/2
  - url: http://example.org/3
`,
    );
    const problems = problemsOf(() => loadFeeds(dir));
    expect(problems).toContain('feeds.yaml: feed "Upper_Case" (entry 1, line 2): id: must match [a-z0-9-]+');
    expect(problems).toContain('feeds.yaml: feed "with space" (entry 2, line 4): id: must match [a-z0-9-]+');
    // No id to name it by: its 1-based position and its line.
    expect(problems.some((p) => p.startsWith('feeds.yaml: feed entry 3 (line 6): id: '))).toBe(true);
    expect(problems).toHaveLength(3);
  });

  it('refuses an unknown source profile', () => {
    write('feeds.yaml', 'feeds:\n  - id: x\n    url: http://example.org/\n    source: us-embasy\n');
    const problems = problemsOf(() => loadFeeds(dir));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^feeds\.yaml: feed "x" \(entry 1, line 2\): source: /);
    expect(problems[0]).toContain('us-embassy');
  });

  it('refuses a bad cron schedule', () => {
    write(
      'feeds.yaml',
      'feeds:\n  - id: x\n    url: http://example.org/\n    schedule: "every 5 minutes"\n  - id: y\n    url: http://example.org/\n    schedule: "61 * * * *"\n',
    );
    expect(problemsOf(() => loadFeeds(dir))).toEqual([
      'feeds.yaml: feed "x" (entry 1, line 2): schedule: must be a valid cron expression',
      'feeds.yaml: feed "y" (entry 2, line 5): schedule: must be a valid cron expression',
    ]);
  });

  it('refuses unknown keys in an entry and at the top level, with the key probably meant', () => {
    write('feeds.yaml', 'feeds:\n  - id: x\n    url: http://example.org/\n    shedule: "* * * * *"\n');
    expect(problemsOf(() => loadFeeds(dir))).toEqual(['feeds.yaml: feed "x" (entry 1, line 2): Unrecognized key: "shedule" (did you mean "schedule"?)']);
    write('feeds.yaml', 'feed:\n  - id: x\n    url: http://example.org/\n');
    expect(problemsOf(() => loadFeeds(dir))).toEqual(['feeds.yaml: Unrecognized key: "feed" (did you mean "feeds"?)']);
    // Nothing close: no guess.
    write('feeds.yaml', 'feeds:\n  - id: x\n    url: http://example.org/\n    colour: blue\n');
    expect(problemsOf(() => loadFeeds(dir))).toEqual(['feeds.yaml: feed "x" (entry 1, line 2): Unrecognized key: "colour"']);
  });

  it('names the ninth entry as the ninth, by its id, and suggests the key meant for a typo', () => {
    const entries = Array.from({ length: 8 }, (_, i) => `  - id: feed-${i + 1}\n    url: https://example.org/${i + 1}\n`).join('');
    write(
      'feeds.yaml',
      `feeds:\n${entries}  - id: my-feed\n    url: not a url\n    urgencyy: urgent\n  - id: My_Feed\n    url: https://example.org/10\n  - url: https://example.org/11\n`,
    );
    expect(problemsOf(() => loadFeeds(dir))).toEqual([
      'feeds.yaml: feed "my-feed" (entry 9, line 18): url: must be an http(s) URL',
      'feeds.yaml: feed "my-feed" (entry 9, line 18): Unrecognized key: "urgencyy" (did you mean "urgency"?)',
      'feeds.yaml: feed "My_Feed" (entry 10, line 21): id: must match [a-z0-9-]+',
      'feeds.yaml: feed entry 11 (line 23): id: Invalid input: expected string, received undefined',
    ]);
  });

  it('refuses bad country codes and bad optional values, naming the field', () => {
    write(
      'feeds.yaml',
      `feeds:
  - id: x
    url: http://example.org/
    countries: [RU, RUS, XX, UK, Russia]
    enabled: "yes please"
    timeoutSeconds: 0
`,
    );
    const problems = problemsOf(() => loadFeeds(dir));
    expect(problems).toContain(
      'feeds.yaml: feed "x" (entry 1, line 2): countries[1]: must be an ISO 3166-1 alpha-2 code: unknown country code: RUS (did you mean RU, Russia?)',
    );
    // Two letters are not enough: XX is no country, and would match nothing.
    expect(problems).toContain('feeds.yaml: feed "x" (entry 1, line 2): countries[2]: must be an ISO 3166-1 alpha-2 code: unknown country code: XX');
    expect(problems).toContain(
      'feeds.yaml: feed "x" (entry 1, line 2): countries[3]: must be an ISO 3166-1 alpha-2 code: unknown country code: UK (did you mean GB, United Kingdom?)',
    );
    expect(problems).toContain(
      'feeds.yaml: feed "x" (entry 1, line 2): countries[4]: must be an ISO 3166-1 alpha-2 code: unknown country code: Russia (did you mean RU, Russia?)',
    );
    expect(problems.some((p) => p.startsWith('feeds.yaml: feed "x" (entry 1, line 2): enabled: '))).toBe(true);
    expect(problems.some((p) => p.startsWith('feeds.yaml: feed "x" (entry 1, line 2): timeoutSeconds: '))).toBe(true);
  });

  it('refuses invalid YAML (syntax, duplicate keys) with the file name', () => {
    write('feeds.yaml', 'feeds:\n  - id: x\n    url: "http://example.org/\n');
    const syntax = problemsOf(() => loadFeeds(dir));
    expect(syntax.length).toBeGreaterThan(0);
    for (const p of syntax) expect(p).toMatch(/^feeds\.yaml: invalid YAML: \S.*[^:]$/);

    write('feeds.yaml', 'feeds:\n  - id: x\n    url: http://example.org/\n    url: http://example.org/2\n');
    const dup = problemsOf(() => loadFeeds(dir));
    expect(dup).toHaveLength(1);
    expect(dup[0]).toMatch(/^feeds\.yaml: invalid YAML: .*unique/i);
  });

  it('names the line where an unclosed [ or quote opens, not only the end of the file where the parser stopped', () => {
    const entries = Array.from({ length: 35 }, (_, i) => `  - id: feed-${i + 1}\n    url: https://example.org/${i + 1}\n`).join('');
    // Line 73 is the last line; the parser gives up at line 74, column 1 (the end of the file).
    write('feeds.yaml', `feeds:\n${entries}  - id: broken\n    url: [unclosed\n`);
    expect(problemsOf(() => loadFeeds(dir))).toEqual([
      'feeds.yaml: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ] at line 73, column 10 (where it opens; still open at line 74, column 1, the end of the file)',
    ]);
    write('feeds.yaml', 'feeds:\n  - id: "broken\n    url: https://example.org/\n');
    expect(problemsOf(() => loadFeeds(dir))).toEqual([
      'feeds.yaml: invalid YAML: Missing closing "quote at line 2, column 9 (where it opens; still open at line 4, column 1, the end of the file)',
    ]);
    // An error the parser places where it is keeps its place.
    write('feeds.yaml', 'feeds:\n  - id: x\n   url: y\n');
    const [problem] = problemsOf(() => loadFeeds(dir));
    expect(problem).toMatch(/^feeds\.yaml: invalid YAML: .* at line 3, column \d+$/);
  });

  it('says a missing feeds.yaml is missing', () => {
    expect(problemsOf(() => loadFeeds(dir))).toEqual([`feeds.yaml: not found in ${dir}`]);
  });

  it('reads an empty feeds.yaml or an empty list as no feeds', () => {
    write('feeds.yaml', '');
    expect(loadFeeds(dir)).toEqual([]);
    write('feeds.yaml', 'feeds: []\n');
    expect(loadFeeds(dir)).toEqual([]);
  });
});

describe('loadConfig', () => {
  it('resolves directories and embedded defaults from a minimal environment', () => {
    write('feeds.yaml', ONE_FEED);
    const c = loadConfig({ CONFIG_DIR: dir, DATA_DIR: path.join(dir, 'data') });
    expect(c.configDir).toBe(dir);
    expect(c.dataDir).toBe(path.join(dir, 'data'));
    expect(c.databaseUrl).toBeUndefined();
    expect(c.smtpUrl).toBeUndefined();
    expect(c.port).toBe(3000);
    expect(c.publicBaseUrl).toBe('http://localhost:3000');
    expect(c.mailFrom).toBe('Advisory Alerts <alerts@localhost>');
    expect(c.twilio.apiBaseUrl).toBe('https://api.twilio.com');
    expect(c.adminToken).toBeUndefined();
    expect(c.feeds.map((f) => f.id)).toEqual(['us-embassy-russia']);
    expect(c.feeds[0]!.countries).toEqual(['RU']);
  });

  it('takes settings.yaml values when the environment is silent', () => {
    write('feeds.yaml', ONE_FEED);
    write('settings.yaml', 'port: 4100\npublicBaseUrl: https://alerts.example.org/\nmailFrom: Alerts <a@example.org>\n');
    const c = loadConfig({ CONFIG_DIR: dir });
    expect(c.port).toBe(4100);
    expect(c.publicBaseUrl).toBe('https://alerts.example.org');
    expect(c.mailFrom).toBe('Alerts <a@example.org>');
  });

  it('lets PORT, PUBLIC_BASE_URL and MAIL_FROM override settings.yaml', () => {
    write('feeds.yaml', ONE_FEED);
    write('settings.yaml', 'port: 4100\npublicBaseUrl: https://alerts.example.org\nmailFrom: Alerts <a@example.org>\n');
    const c = loadConfig({ CONFIG_DIR: dir, PORT: '5200', PUBLIC_BASE_URL: 'https://travel.example.com/', MAIL_FROM: 'Ops <ops@example.com>' });
    expect(c.port).toBe(5200);
    expect(c.publicBaseUrl).toBe('https://travel.example.com');
    expect(c.mailFrom).toBe('Ops <ops@example.com>');
  });

  it('derives the public base URL from PORT when neither the environment nor settings.yaml gives one', () => {
    write('feeds.yaml', ONE_FEED);
    write('settings.yaml', 'port: 4100\n');
    expect(loadConfig({ CONFIG_DIR: dir, PORT: '8081' }).publicBaseUrl).toBe('http://localhost:8081');
  });

  it('refuses DATABASE_URL without APP_SECRET, and accepts it with one', () => {
    write('feeds.yaml', ONE_FEED);
    expect(problemsOf(() => loadConfig({ CONFIG_DIR: dir, DATABASE_URL: 'postgres://u@db.example/advisories' }))).toEqual([
      'environment: APP_SECRET: is required when DATABASE_URL is set',
    ]);
    const c = loadConfig({ CONFIG_DIR: dir, DATABASE_URL: 'postgres://u@db.example/advisories', APP_SECRET: 'a-long-enough-secret-value' });
    expect(c.databaseUrl).toBe('postgres://u@db.example/advisories');
    expect(c.appSecretFromEnv).toBe('a-long-enough-secret-value');
  });

  it('refuses malformed environment values, naming the variable', () => {
    write('feeds.yaml', ONE_FEED);
    const problems = problemsOf(() =>
      loadConfig({ CONFIG_DIR: dir, PORT: 'http', PUBLIC_BASE_URL: 'ftp://x', DATABASE_URL: 'mysql://db', APP_SECRET: 'short', SMTP_URL: 'not a url' }),
    );
    expect(problems.some((p) => p.startsWith('environment: PORT: '))).toBe(true);
    expect(problems.some((p) => p.startsWith('environment: PUBLIC_BASE_URL: '))).toBe(true);
    expect(problems.some((p) => p.startsWith('environment: DATABASE_URL: '))).toBe(true);
    expect(problems.some((p) => p.startsWith('environment: APP_SECRET: '))).toBe(true);
    expect(problems.some((p) => p.startsWith('environment: SMTP_URL: '))).toBe(true);
  });

  it('takes HTTP_PROXY and TWILIO_CA_BUNDLE for Twilio only: checked when texts go to Twilio, ignored otherwise', () => {
    write('feeds.yaml', ONE_FEED);
    const twilio = { TWILIO_ACCOUNT_SID: `AC${'1'.repeat(32)}`, TWILIO_AUTH_TOKEN: 'token', TWILIO_FROM: '+15005550006' };
    // A machine-wide proxy setting that is not a URL is no concern of a service without Twilio.
    expect(loadConfig({ CONFIG_DIR: dir, HTTP_PROXY: 'proxy.corp:3128', TWILIO_CA_BUNDLE: path.join(dir, 'missing.pem') }).twilio).toMatchObject({
      accountSid: undefined,
    });
    expect(
      problemsOf(() => loadConfig({ CONFIG_DIR: dir, ...twilio, HTTP_PROXY: 'proxy.corp:3128', TWILIO_CA_BUNDLE: path.join(dir, 'missing.pem') })),
    ).toEqual([
      'environment: HTTP_PROXY: must be a http: or https: URL',
      `environment: TWILIO_CA_BUNDLE: cannot read ${path.join(dir, 'missing.pem')} (ENOENT)`,
    ]);
    write('ca.pem', '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
    const c = loadConfig({ CONFIG_DIR: dir, ...twilio, HTTP_PROXY: 'http://proxy.corp:3128', TWILIO_CA_BUNDLE: path.join(dir, 'ca.pem') });
    expect(c.twilio).toMatchObject({ proxyUrl: 'http://proxy.corp:3128', caFile: path.join(dir, 'ca.pem') });
  });

  it('refuses a PORT out of range', () => {
    write('feeds.yaml', ONE_FEED);
    const problems = problemsOf(() => loadConfig({ CONFIG_DIR: dir, PORT: '99999' }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^environment: PORT: /);
    expect(loadConfig({ CONFIG_DIR: dir, PORT: '0' }).port).toBe(0);
  });

  it('reports the problems of both files and the environment together', () => {
    write('feeds.yaml', 'feeds:\n  - id: x\n    url: gopher://x\n');
    write('settings.yaml', 'port: -1\n');
    const problems = problemsOf(() => loadConfig({ CONFIG_DIR: dir, DATABASE_URL: 'postgres://db/x' }));
    expect(problems).toContain('environment: APP_SECRET: is required when DATABASE_URL is set');
    expect(problems).toContain('feeds.yaml: feed "x" (entry 1, line 2): url: must be an http(s) URL');
    expect(problems.some((p) => p.startsWith('settings.yaml: port: '))).toBe(true);
  });
});
