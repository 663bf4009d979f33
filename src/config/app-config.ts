import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FeedConfig, Settings, WebhookConfig } from './schema.ts';

// The configuration object and what it takes from the environment, apart from the files'
// parsers and schemas (js-yaml, zod) so a command whose files are known valid loads neither
// (see cached.ts).

/** A configuration problem, already phrased for the admin: `file: path: message`. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

/** Twilio's own REST API: where texts go unless TWILIO_API_BASE_URL says otherwise. */
export const TWILIO_API_URL = 'https://api.twilio.com';

export interface AppConfig {
  configDir: string;
  dataDir: string;
  /** `undefined` means the embedded PGlite database in `$DATA_DIR/pglite`. */
  databaseUrl: string | undefined;
  smtpUrl: string | undefined;
  twilio: {
    accountSid: string | undefined;
    authToken: string | undefined;
    from: string | undefined;
    messagingServiceSid: string | undefined;
    apiBaseUrl: string;
    /** HTTP_PROXY: Twilio's API is reached through this proxy (CONNECT), as the twilio library does. */
    proxyUrl: string | undefined;
    /** TWILIO_CA_BUNDLE: a PEM file of certificate authorities trusted for Twilio's API. */
    caFile: string | undefined;
  };
  port: number;
  publicBaseUrl: string;
  adminToken: string | undefined;
  /** When set, /metrics wants it as a bearer token. */
  metricsToken: string | undefined;
  mailFrom: string;
  /** Resolved lazily for embedded mode: see `appSecret()`. */
  appSecretFromEnv: string | undefined;
  settings: Settings;
  feeds: FeedConfig[];
  /**
   * Why feeds.yaml was not loaded, for a command that asked for the feeds as optional
   * (see LoadOptions); `feeds` is then empty. Always empty for everything that needs the feeds.
   */
  feedsProblems: readonly string[];
  /** Outgoing webhook endpoints (`webhooks.yaml`, optional), secrets resolved from the environment. */
  webhooks: WebhookConfig[];
  /**
   * Reads `webhooks.yaml` again (SIGHUP), with the environment this configuration was loaded
   * from; undefined when there is no such file. Throws ConfigError.
   */
  rereadWebhooks: () => WebhookConfig[] | undefined;
}

export type Env = Record<string, string | undefined>;

export function envProblems(env: Env): string[] {
  const problems: string[] = [];
  const url = (name: string, protocols: string[]) => {
    const v = env[name];
    if (!v) return;
    try {
      const u = new URL(v);
      if (!protocols.includes(u.protocol)) problems.push(`environment: ${name}: must be a ${protocols.join(' or ')} URL`);
    } catch {
      problems.push(`environment: ${name}: is not a valid URL`);
    }
  };
  url('DATABASE_URL', ['postgres:', 'postgresql:']);
  url('SMTP_URL', ['smtp:', 'smtps:']);
  url('TWILIO_API_BASE_URL', ['http:', 'https:']);
  url('PUBLIC_BASE_URL', ['http:', 'https:']);
  if (env.PORT && (!/^\d{1,5}$/.test(env.PORT) || Number(env.PORT) > 65535)) problems.push('environment: PORT: must be a port number (0-65535)');
  if (env.DATABASE_URL && !env.APP_SECRET) {
    problems.push('environment: APP_SECRET: is required when DATABASE_URL is set');
  }
  if ((env.TWILIO_ACCOUNT_SID || env.TWILIO_AUTH_TOKEN) && !(env.TWILIO_ACCOUNT_SID && env.TWILIO_AUTH_TOKEN)) {
    problems.push('environment: TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN: set both or neither');
  }
  if (env.TWILIO_ACCOUNT_SID && env.TWILIO_AUTH_TOKEN && !env.TWILIO_FROM && !env.TWILIO_MESSAGING_SERVICE_SID) {
    problems.push('environment: TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID: one is required with the Twilio credentials');
  }
  // Only Twilio's requests use these (as the twilio library does), so they are only checked
  // when texts go to Twilio: an HTTP_PROXY set on the machine for other programs stays theirs.
  if (env.TWILIO_ACCOUNT_SID && env.TWILIO_AUTH_TOKEN) {
    url('HTTP_PROXY', ['http:', 'https:']);
    if (env.TWILIO_CA_BUNDLE) {
      try {
        accessSync(env.TWILIO_CA_BUNDLE, constants.R_OK);
      } catch (err) {
        problems.push(`environment: TWILIO_CA_BUNDLE: cannot read ${env.TWILIO_CA_BUNDLE} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
      }
    }
  }
  if (env.APP_SECRET && env.APP_SECRET.length < 16) problems.push('environment: APP_SECRET: must be at least 16 characters');
  // Guessable tokens would make the admin page's rate limit the only defence.
  if (env.ADMIN_TOKEN && env.ADMIN_TOKEN.length < 16) problems.push('environment: ADMIN_TOKEN: must be at least 16 characters');
  if (env.METRICS_TOKEN && env.METRICS_TOKEN.length < 16) problems.push('environment: METRICS_TOKEN: must be at least 16 characters');
  return problems;
}

/** Where the configuration files and the data live. */
export function configDirs(env: Env): { configDir: string; dataDir: string } {
  return { configDir: path.resolve(env.CONFIG_DIR ?? './config'), dataDir: path.resolve(env.DATA_DIR ?? './data') };
}

/** The configuration of valid files and an environment without problems (see envProblems). */
export function assembleConfig(
  env: Env,
  files: { configDir: string; dataDir: string; settings: Settings; feeds: FeedConfig[]; feedsProblems?: readonly string[]; webhooks: WebhookConfig[] },
  rereadWebhooks: () => WebhookConfig[] | undefined,
): AppConfig {
  const { settings } = files;
  const port = env.PORT ? Number(env.PORT) : settings.port;
  return {
    configDir: files.configDir,
    dataDir: files.dataDir,
    databaseUrl: env.DATABASE_URL || undefined,
    smtpUrl: env.SMTP_URL || undefined,
    twilio: {
      accountSid: env.TWILIO_ACCOUNT_SID || undefined,
      authToken: env.TWILIO_AUTH_TOKEN || undefined,
      from: env.TWILIO_FROM || undefined,
      messagingServiceSid: env.TWILIO_MESSAGING_SERVICE_SID || undefined,
      apiBaseUrl: env.TWILIO_API_BASE_URL || TWILIO_API_URL,
      proxyUrl: env.HTTP_PROXY || undefined,
      caFile: env.TWILIO_CA_BUNDLE || undefined,
    },
    port,
    publicBaseUrl: (env.PUBLIC_BASE_URL || settings.publicBaseUrl || `http://localhost:${port}`).replace(/\/+$/, ''),
    adminToken: env.ADMIN_TOKEN || undefined,
    metricsToken: env.METRICS_TOKEN || settings.web.metricsToken,
    mailFrom: env.MAIL_FROM || settings.mailFrom,
    appSecretFromEnv: env.APP_SECRET || undefined,
    settings,
    feeds: files.feeds,
    feedsProblems: files.feedsProblems ?? [],
    webhooks: files.webhooks,
    rereadWebhooks,
  };
}

/**
 * In embedded mode the secret is generated once and kept in `$DATA_DIR`, so
 * links signed before a restart keep working.
 */
export function appSecret(config: AppConfig): string {
  if (config.appSecretFromEnv) return config.appSecretFromEnv;
  const file = path.join(config.dataDir, 'app-secret');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    mkdirSync(config.dataDir, { recursive: true });
    const secret = randomBytes(32).toString('base64url');
    writeFileSync(file, secret, { mode: 0o600, flag: 'wx' });
    return secret;
  }
}
