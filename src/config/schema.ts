import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import type * as NodeCron from 'node-cron';
import * as z from 'zod';
import { isCountryCode, unknownCountryMessage } from '../common/countries.ts';

/** Source profiles known to the pipeline (the README's "What counts as a change" table). */
export const SOURCE_PROFILES = ['generic', 'us-state-dept', 'us-embassy', 'uk-fcdo', 'ca-travel', 'au-smartraveller', 'de-aa', 'jp-mofa'] as const;
export type SourceProfile = (typeof SOURCE_PROFILES)[number];

/** True for a time zone name the runtime (and so PostgreSQL's tz database) knows. */
export function isTimeZone(tz: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(tz)) return false;
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

// node-cron (a package of several files) is loaded only when a file names a schedule: the
// defaults are not validated, so most commands read none.
const requireCjs = createRequire(import.meta.url);
const cronExpression = z.string().refine((s) => (requireCjs('node-cron') as typeof NodeCron).validate(s), { message: 'must be a valid cron expression' });

const httpUrl = z.string().refine(
  (s) => {
    try {
      const u = new URL(s);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  },
  { message: 'must be an http(s) URL' },
);

// A real ISO code, not just two letters ("XX" would silently match nothing);
// "UK" or "Russia" are refused with the code meant.
const countryCode = z
  .string()
  .superRefine((s, ctx) => {
    if (/^[A-Za-z]{2}$/.test(s) && isCountryCode(s.toUpperCase())) return;
    ctx.addIssue({ code: 'custom', message: `must be an ISO 3166-1 alpha-2 code: ${unknownCountryMessage([s])}` });
  })
  .transform((s) => s.toUpperCase());

const ipOrCidr = z.string().refine(
  (s) => {
    const [ip, bits, ...rest] = s.split('/');
    const family = isIP(ip ?? '');
    if (!family || rest.length) return false;
    return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
  },
  { message: 'must be an IP address or CIDR range' },
);

export const feedSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9-]+$/, { message: 'must match [a-z0-9-]+' }),
    name: z.string().min(1).optional(),
    url: httpUrl,
    source: z.enum(SOURCE_PROFILES).default('generic'),
    schedule: cronExpression.optional(),
    countries: z.array(countryCode).default([]),
    enabled: z.boolean().default(true),
    timeoutSeconds: z.number().positive().max(600).optional(),
    headers: z.record(z.string(), z.string()).default({}),
    alertOnFirstPoll: z.boolean().default(false),
    /** Force every event of this feed urgent or routine; `auto` decides per event. */
    urgency: z.enum(['urgent', 'routine', 'auto']).default('auto'),
  })
  .strict();

/** Refines a file's list so that every entry's `id` is unique, naming both entries (1-based, as an admin counts). */
function uniqueIds(list: string) {
  return (entries: { id: string }[], ctx: z.RefinementCtx) => {
    const seen = new Map<string, number>();
    entries.forEach((e, i) => {
      const prev = seen.get(e.id);
      if (prev !== undefined) ctx.addIssue({ code: 'custom', path: [list, i, 'id'], message: `duplicate id "${e.id}" (also entry ${prev + 1})` });
      seen.set(e.id, i);
    });
  };
}

export const feedsFileSchema = z
  .object({ feeds: z.array(feedSchema).default([]) })
  .strict()
  .superRefine((file, ctx) => uniqueIds('feeds')(file.feeds, ctx));

/**
 * A Standard Webhooks signing secret: base64 key bytes, usually `whsec_`-prefixed.
 * Slack-format endpoints need none (their URL is the secret).
 */
const webhookSecret = z.string().refine(
  (s) => {
    const b64 = s.replace(/^whsec_/, '');
    return /^[A-Za-z0-9+/]+={0,2}$/.test(b64) && Buffer.from(b64, 'base64').length >= 16;
  },
  { message: 'must be a Standard Webhooks secret: "whsec_" followed by base64 of at least 16 random bytes' },
);

export const webhookSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9-]+$/, { message: 'must match [a-z0-9-]+' }),
    url: httpUrl,
    secret: webhookSecret.optional(),
    countries: z.union([z.literal('all'), z.array(countryCode).min(1, { message: 'must list at least one country, or be "all"' })]).default('all'),
    minLevel: z.number().int().min(1).max(4).default(1),
    format: z.enum(['standard', 'slack']).default('standard'),
    enabled: z.boolean().default(true),
    /** POSTs per second to this endpoint across all processes; default `delivery.webhook.ratePerSecond`; 0 = unlimited. */
    ratePerSecond: z.number().min(0).optional(),
  })
  .strict()
  .superRefine((w, ctx) => {
    if (w.format === 'standard' && !w.secret)
      ctx.addIssue({ code: 'custom', path: ['secret'], message: 'is required for format standard (the signing secret)' });
  });

export const webhooksFileSchema = z
  .object({ webhooks: z.array(webhookSchema).default([]) })
  .strict()
  .superRefine((file, ctx) => uniqueIds('webhooks')(file.webhooks, ctx));

export type WebhookConfig = z.infer<typeof webhookSchema>;

/** Every setting has its default here and nowhere else. */
export const settingsSchema = z
  .object({
    defaultSchedule: cronExpression.default('*/15 * * * *'),
    port: z.number().int().min(0).max(65535).default(3000),
    publicBaseUrl: httpUrl.optional(),
    mailFrom: z.string().min(3).default('Advisory Alerts <alerts@localhost>'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    http: z
      .object({
        userAgent: z.string().min(1).default('advisory-alerts/0.1 (+https://github.com/advisory-alerts; travel advisory change notifier)'),
        timeoutSeconds: z.number().positive().max(600).default(30),
        maxBodyBytes: z
          .number()
          .int()
          .positive()
          .default(5 * 1024 * 1024),
        maxRedirects: z.number().int().min(0).max(20).default(5),
        concurrency: z.number().int().positive().max(256).default(16),
        /** false refuses loopback and private addresses (an SSRF guard for untrusted feed URLs). */
        allowPrivateAddresses: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    delivery: z
      .object({
        /** Deliveries claimed per round trip. */
        batchSize: z.number().int().positive().max(5000).default(200),
        /** Sends in flight at once per process. */
        concurrency: z.number().int().positive().max(1000).default(20),
        /** A claim not completed by then goes back to the queue (a crashed sender). */
        leaseSeconds: z.number().int().positive().default(120),
        maxAttempts: z.number().int().positive().max(50).default(8),
        retryBaseSeconds: z.number().positive().default(30),
        retryMaxSeconds: z.number().positive().default(3600),
        /** How often an idle dispatcher looks for due work. */
        idlePollMs: z.number().int().positive().default(1000),
        email: z
          .object({
            /** Messages per second across all processes; 0 = unlimited. */
            ratePerSecond: z.number().min(0).default(50),
            /** Pooled SMTP connections per process. */
            connections: z.number().int().positive().max(100).default(5),
          })
          .strict()
          .prefault({}),
        sms: z
          .object({
            ratePerSecond: z.number().min(0).default(10),
            maxSegments: z.number().int().min(1).max(10).default(2),
          })
          .strict()
          .prefault({}),
        webhook: z
          .object({
            /**
             * POSTs per second to each endpoint (its own budget: a slow or limited receiver never
             * holds back the others), across all processes; 0 = unlimited. An endpoint's
             * `ratePerSecond` in webhooks.yaml overrides it.
             */
            ratePerSecond: z.number().min(0).default(20),
            /** The longest a receiver's Retry-After (on 429 or 503) may hold its deliveries back. */
            retryAfterMaxSeconds: z.number().positive().default(3600),
            /** An endpoint that has not answered by then is retried later. */
            timeoutSeconds: z.number().positive().max(120).default(10),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    web: z
      .object({
        /** Requests per minute per client on subscribe, confirm and verify. */
        rateLimitPerMinute: z.number().int().positive().default(20),
        /** Largest accepted request body, in bytes (413 above). */
        bodyLimitBytes: z
          .number()
          .int()
          .positive()
          .default(16 * 1024),
        /**
         * Behind reverse proxies: which X-Forwarded-For entries to believe. A hop
         * count (1 = the one proxy in front) or the proxies' addresses / CIDR
         * ranges. `true` (believe every entry) is refused: anyone could then pick
         * the address the rate limits are keyed on.
         */
        trustProxy: z
          .union([z.literal(false), z.number().int().min(1).max(10), z.array(ipOrCidr).min(1)], {
            error: (issue) =>
              issue.input === true
                ? 'true would believe any X-Forwarded-For (spoofable rate limits): give the number of proxies in front (e.g. 1) or their addresses (e.g. ["10.0.0.0/8"])'
                : 'must be false, a hop count (1-10) or a list of proxy addresses / CIDR ranges',
          })
          .default(false),
        /** Listen address: all IPv4 interfaces by default; "127.0.0.1" behind a local proxy, "::" for IPv6 too. */
        host: z.string().min(1).default('0.0.0.0'),
        /** Wrong admin tokens per client per minute before /admin answers 429. */
        adminAttemptsPerMinute: z.number().int().positive().default(10),
        /** When set, /metrics wants `Authorization: Bearer <token>` (METRICS_TOKEN overrides). */
        metricsToken: z.string().min(16, { message: 'must be at least 16 characters' }).optional(),
        /**
         * Public pages, feeds and API answers are rendered once per change of the
         * stored data; whether it changed is checked at most this often.
         */
        publicRefreshMs: z.number().int().nonnegative().default(1000),
        /** Cache-Control max-age of the public pages, feeds and API (seconds). */
        publicMaxAgeSeconds: z.number().int().nonnegative().default(60),
      })
      .strict()
      .prefault({}),
    /**
     * Caps on what the public forms can make the service send before anyone has
     * opted in (phone codes, confirmation emails): each costs money or
     * reputation, and an attacker controls the recipient. Counted in the
     * database, so they hold across processes.
     */
    verification: z
      .object({
        /** Phone codes texted to one number in 24 hours. */
        smsPerNumberPerDay: z.number().int().min(1).default(3),
        /** Phone codes one subscriber can have texted in 24 hours, to any numbers. */
        smsPerSubscriberPerDay: z.number().int().min(1).default(5),
        /** Phone codes per hour for the whole service (an SMS-pumping circuit breaker). */
        smsPerHour: z.number().int().min(1).default(100),
        /** Seconds before another code goes to the same number or subscriber. */
        smsCooldownSeconds: z.number().int().min(0).default(60),
        /** Confirmation emails to one address in 24 hours, from every route together. */
        emailsPerAddressPerDay: z.number().int().min(1).default(5),
        /** Seconds before another confirmation email goes to the same address. */
        emailCooldownSeconds: z.number().int().min(0).default(60),
      })
      .strict()
      .prefault({}),
    retention: z
      .object({
        /** Sent deliveries (and their attempts) are deleted after this many days. */
        sentDeliveriesDays: z.number().positive().default(30),
        /** Attempt records of deliveries that are not sent yet (failed, retrying). */
        attemptsDays: z.number().positive().default(90),
        pollRunsDays: z.number().positive().default(14),
        /** Old advisory versions no event or advisory points to. */
        versionsDays: z.number().positive().default(180),
        /** When housekeeping runs (cron, across all processes once). */
        schedule: cronExpression.default('17 3 * * *'),
      })
      .strict()
      .prefault({}),
    /** Travelers' defaults: the zone of subscribers who chose none, when digests go out. */
    defaultTimezone: z
      .string()
      .refine((tz) => isTimeZone(tz), { message: 'must be an IANA time zone name such as Europe/London' })
      .default('UTC'),
    /** Local time (HH:MM, in each subscriber's zone) at which daily and weekly (Monday) digests go out. */
    digestHour: z
      .string()
      .regex(/^([01]\d|2[0-3]):[0-5]\d$/, { message: 'must be a time HH:MM from 00:00 to 23:59' })
      .default('08:00'),
    /** How often the digest job looks for digests that have fallen due (cron, once across processes). */
    digestSchedule: cronExpression.default('*/5 * * * *'),
    trips: z
      .object({
        /** A trip's countries are followed from this many days before its first day. */
        leadDays: z.number().int().min(0).max(90).default(14),
        /** Trips whose last day is older than this are deleted by housekeeping. */
        retentionDays: z.number().int().positive().default(90),
      })
      .strict()
      .prefault({}),
    backoff: z
      .object({
        baseSeconds: z.number().positive().default(60),
        maxSeconds: z
          .number()
          .positive()
          .default(6 * 3600),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type FeedConfig = z.output<typeof feedSchema>;
export type Settings = z.output<typeof settingsSchema>;
