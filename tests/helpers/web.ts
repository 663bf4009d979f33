import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { loadConfig, type AppConfig } from '../../src/config/load.ts';
import type { DB } from '../../src/db/connect.ts';
import type { LinkBuilder } from '../../src/channels/links.ts';
import { syncFeeds } from '../../src/feeds/repository.ts';
import { createChannels, webDepsFor, type Channels } from '../../src/runtime.ts';
import { systemClock, type Clock } from '../../src/common/clock.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { createMetrics, type Metrics } from '../../src/common/metrics.ts';
import type { WebDeps } from '../../src/web/deps.ts';
import { buildWebServer } from '../../src/web/server.ts';
import { openTestDatabase, type TestDatabase } from './db.ts';
import { startFeedServer, type FeedServer } from './feed-server.ts';
import { startSmtpServer, type TestSmtpServer } from './smtp.ts';
import { startTwilioServer, type TwilioServer } from './twilio-server.ts';

/**
 * The real web server (src/web/server.ts) in-process for a test, wired the way
 * `start` wires it (src/service.ts) but on the test's database: real channels
 * from createChannels(config) pointing at the in-process SMTP server and the
 * local Twilio-compatible server, an AppConfig loaded by loadConfig from a
 * CONFIG_DIR and an environment, and the test's clock.
 *
 * PUBLIC_BASE_URL is the server's own address (http://127.0.0.1:PORT), so every
 * link it mails or texts can be followed as it is, by fetch or by a browser.
 */

export const TWILIO_FROM = '+15005550006';
export const TEST_APP_SECRET = 'web-test-secret-0123456789abcdef';

export interface WebAppOptions {
  db: DB;
  /** SMTP_URL: confirmation emails go to this server (otherwise the .eml outbox). */
  smtp?: TestSmtpServer;
  /** TWILIO_* with TWILIO_API_BASE_URL: codes go to this server (otherwise the SMS outbox). */
  twilio?: TwilioServer;
  clock?: Clock;
  /** ADMIN_TOKEN (unset: /admin is disabled). */
  adminToken?: string;
  /** settings.yaml, as an object. `web.rateLimitPerMinute` defaults to 10 000 here. */
  settings?: Record<string, unknown>;
  /** feeds.yaml (default: no feeds). */
  feedsYaml?: string;
  /** More environment, applied last (e.g. METRICS_TOKEN, or an https PUBLIC_BASE_URL). */
  env?: Record<string, string>;
}

export interface WebApp {
  baseUrl: string;
  app: FastifyInstance;
  config: AppConfig;
  deps: WebDeps;
  secret: string;
  clock: Clock;
  links: LinkBuilder;
  metrics: Metrics;
  channels: Channels;
  /** baseUrl + path. */
  url(pathname: string): string;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function settingsYaml(overrides: Record<string, unknown> = {}): string {
  const web = { rateLimitPerMinute: 10_000, ...((overrides.web as Record<string, unknown> | undefined) ?? {}) };
  // JSON is YAML.
  return JSON.stringify({ ...overrides, web });
}

export async function startWebApp(options: WebAppOptions): Promise<WebApp> {
  const root = mkdtempSync(path.join(tmpdir(), 'aa-web-'));
  const configDir = path.join(root, 'config');
  mkdirSync(configDir, { recursive: true });
  writeFileSync(path.join(configDir, 'feeds.yaml'), options.feedsYaml ?? 'feeds: []\n');
  writeFileSync(path.join(configDir, 'settings.yaml'), settingsYaml(options.settings));
  const clock = options.clock ?? systemClock;

  // The port must be known before the config (PUBLIC_BASE_URL is the server itself):
  // take a free one, and start over with another should someone grab it in between.
  let lastError: unknown;
  for (let attempt = 0; attempt < 10; attempt++) {
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    const env: Record<string, string> = {
      CONFIG_DIR: configDir,
      DATA_DIR: path.join(root, 'data'),
      PORT: String(port),
      PUBLIC_BASE_URL: baseUrl,
      APP_SECRET: TEST_APP_SECRET,
      MAIL_FROM: 'Advisory Alerts <alerts@example.org>',
    };
    if (options.smtp) env.SMTP_URL = options.smtp.url;
    if (options.twilio) {
      env.TWILIO_ACCOUNT_SID = options.twilio.accountSid;
      env.TWILIO_AUTH_TOKEN = options.twilio.authToken;
      env.TWILIO_FROM = TWILIO_FROM;
      env.TWILIO_API_BASE_URL = options.twilio.baseUrl;
    }
    if (options.adminToken) env.ADMIN_TOKEN = options.adminToken;
    Object.assign(env, options.env);
    const config = loadConfig(env);
    await syncFeeds(options.db, config.feeds);
    const metrics = createMetrics();
    const channels = createChannels(config);
    const feedIds = new Set(config.feeds.map((f) => f.id));
    // As `start` builds them for the web role.
    const deps = webDepsFor(config, options.db, { logger: silentLogger, clock, channels, metrics, knownFeeds: () => feedIds });
    const app = await buildWebServer(deps);
    try {
      await app.listen({ port, host: '127.0.0.1' });
    } catch (err) {
      lastError = err;
      await app.close();
      await channels.close();
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
      break;
    }
    return {
      baseUrl,
      app,
      config,
      deps,
      secret: deps.secret,
      clock,
      links: deps.traveler.links,
      metrics,
      channels,
      url: (pathname) => `${baseUrl}${pathname}`,
      async close() {
        await app.close();
        await channels.close();
        rmSync(root, { recursive: true, force: true });
      },
    };
  }
  rmSync(root, { recursive: true, force: true });
  throw new Error(`could not start the web server: ${String(lastError)}`);
}

/** Where the feed server serves the U.S. Embassy Moscow alerts in the web tests. */
export const EMBASSY_PATH = '/ru/alerts';

/** feeds.yaml with the one feed of the web tests: the embassy's alerts, served by `feeds`. */
export function embassyFeedsYaml(feeds: FeedServer): string {
  return `feeds:
  - id: us-embassy-russia
    name: "U.S. Embassy & Consulates in Russia — alerts"
    url: ${feeds.url(EMBASSY_PATH)}
    source: us-embassy
    countries: [RU]
`;
}

/** Everything a web test talks to, started together (startWebStack). */
export interface WebStack {
  t: TestDatabase;
  smtp: TestSmtpServer;
  twilio: TwilioServer;
  feeds: FeedServer;
  web: WebApp;
  /** The embassy feed's feeds.yaml, for a second server on the same peers. */
  feedsYaml: string;
  /** Between tests: empties the database (feeds registered again, as `start` does at boot) and the mail and SMS servers. */
  reset(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The test database, an SMTP server, a Twilio-compatible server (fresh credentials), a
 * feed server and the web server over them with the embassy feed configured.
 */
export async function startWebStack(clock: Clock, options: Omit<Partial<WebAppOptions>, 'db' | 'smtp' | 'twilio' | 'clock'> = {}): Promise<WebStack> {
  const [t, smtp, twilio, feeds] = await Promise.all([
    openTestDatabase(),
    startSmtpServer(),
    startTwilioServer(`AC${randomBytes(16).toString('hex')}`, randomBytes(16).toString('hex')),
    startFeedServer(),
  ]);
  const stopPeers = () => Promise.all([t.close(), smtp.stop(), twilio.stop(), feeds.stop()]);
  const feedsYaml = embassyFeedsYaml(feeds);
  let web: WebApp;
  try {
    web = await startWebApp({ db: t.db, smtp, twilio, clock, feedsYaml, ...options });
  } catch (err) {
    await stopPeers();
    throw err;
  }
  return {
    t,
    smtp,
    twilio,
    feeds,
    web,
    feedsYaml,
    async reset() {
      await t.reset();
      await syncFeeds(t.db, web.config.feeds);
      smtp.reset();
      twilio.reset();
    },
    async close() {
      await web.close();
      await stopPeers();
    },
  };
}

/**
 * startWebStack for a whole file (or describe block): started before its tests and handed
 * to `use`, reset before each test, closed after the last.
 */
export function useWebStack(clock: Clock, options: Parameters<typeof startWebStack>[1], use: (stack: WebStack) => void): void {
  let stack: WebStack | undefined;
  beforeAll(async () => {
    stack = await startWebStack(clock, options);
    use(stack);
  }, 120_000);
  afterAll(() => stack?.close(), 120_000);
  beforeEach(() => stack?.reset());
}

/** POSTs `body` as JSON to the app's `path`. */
export function postJsonTo(app: WebApp, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(app.url(path), { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

// Waiting for a mail or a text to arrive: the one waitFor of the test helpers.
export { waitFor } from './wait.ts';

/** A minimal cookie jar for one client: name=value pairs from Set-Cookie, sent back as Cookie. */
export class CookieJar {
  private cookies = new Map<string, string>();

  store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const pair = line.split(';')[0] ?? '';
      const i = pair.indexOf('=');
      if (i > 0) this.cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
  }

  get(name: string): string | undefined {
    return this.cookies.get(name);
  }

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/** The CSRF token of a page's form (the hidden `_csrf` input). */
export function csrfTokenOf(html: string): string {
  const token = /<input type="hidden" name="_csrf" value="([^"]+)">/.exec(html)?.[1];
  if (!token) throw new Error('no _csrf field in the page');
  return token;
}

/**
 * `application/x-www-form-urlencoded` from pairs (repeat a name for a multi-select), or from
 * fields by name, a list standing for a name repeated (ticked boxes: `countries: ['RU', 'UA']`).
 */
export function form(fields: [string, string][] | Record<string, string | readonly string[]>): URLSearchParams {
  if (Array.isArray(fields)) return new URLSearchParams(fields);
  return new URLSearchParams(
    Object.entries(fields).flatMap(([name, v]): [string, string][] => (typeof v === 'string' ? [[name, v]] : v.map((one) => [name, one]))),
  );
}

/** A GET of the app's `path` that keeps the page's cookies in `jar`; returns the answer, its HTML and its form's CSRF token. */
export async function getFormPage(app: WebApp, path: string, jar: CookieJar): Promise<{ res: Response; html: string; csrf: string }> {
  const res = await fetch(app.url(path), { headers: { cookie: jar.header() } });
  jar.store(res);
  const html = await res.text();
  return { res, html, csrf: csrfTokenOf(html) };
}

/** A new visitor's form post: GET `pagePath` (for its cookie and CSRF token), then POST `fields` with that token to `action`. */
export async function submitForm(app: WebApp, pagePath: string, action: string, fields: Record<string, string | readonly string[]>): Promise<Response> {
  const jar = new CookieJar();
  const { csrf } = await getFormPage(app, pagePath, jar);
  return postFormTo(app, action, form({ _csrf: csrf, ...fields }), jar);
}

/** POSTs a form body to the app's `path` with `jar`'s cookies (if any), redirects not followed. */
export function postFormTo(app: WebApp, path: string, body: URLSearchParams, jar?: CookieJar): Promise<Response> {
  return fetch(app.url(path), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(jar ? { cookie: jar.header() } : {}) },
    body,
    redirect: 'manual',
  });
}
