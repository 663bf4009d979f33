import { createHmac } from 'node:crypto';
import { eventJson, levelName } from '../advisories/overview.ts';
import type { PublicEvent } from '../advisories/repository.ts';
import { countryName } from '../common/countries.ts';
import { errorMessage } from '../common/errors.ts';
import type { WebhookConfig } from '../config/schema.ts';
import { SendError } from './errors.ts';

/**
 * Outgoing webhooks for organisations. `standard` endpoints get the event as
 * JSON signed per the Standard Webhooks convention; `slack` endpoints (Slack-
 * compatible incoming webhooks) get `{"text": …}`.
 */

export interface WebhookSender {
  /** POSTs the event to the endpoint; throws a classified SendError (a WebhookSendError with the receiver's Retry-After). `messageId` is the same on every retry. */
  send(webhookId: string, event: PublicEvent, messageId: string): Promise<{ providerId: string }>;
  /** The endpoint as webhooks.yaml declares it now (it is re-read on SIGHUP). */
  endpoint(webhookId: string): WebhookConfig | undefined;
}

/** A failed POST; `retryAfterMs` when a 429 or 503 said how long to wait (Retry-After). */
export class WebhookSendError extends SendError {
  constructor(
    message: string,
    options: ConstructorParameters<typeof SendError>[1],
    readonly retryAfterMs?: number,
  ) {
    super(message, options);
  }
}

/**
 * A Retry-After header in milliseconds from `now`: delay-seconds or an HTTP-date
 * (RFC 9110 §10.2.3). Undefined when absent or unreadable; never negative.
 */
export function parseRetryAfter(value: string | null | undefined, now: Date): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  if (Number.isNaN(at) || !/[a-z]/i.test(v)) return undefined;
  return Math.max(0, at - now.getTime());
}

/** The key bytes of a Standard Webhooks secret (`whsec_` + base64). */
export function webhookKey(secret: string): Buffer {
  return Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
}

/** `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`. */
export function signWebhook(secret: string, messageId: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', webhookKey(secret)).update(`${messageId}.${timestampSeconds}.${body}`).digest('base64');
  return `v1,${mac}`;
}

/** Slack mrkdwn: only &, < and > are special. */
function slackEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function eventHeadline(e: PublicEvent): string {
  const places = e.countries.map(countryName).join(', ') || 'Worldwide';
  const what =
    e.kind === 'level-raised' || e.kind === 'level-lowered'
      ? `${e.kind === 'level-raised' ? 'raised' : 'lowered'} to level ${e.level} (${e.levelText ?? levelName(e.level!)})${e.previousLevel ? ` from ${e.previousLevel}` : ''}`
      : e.kind === 'new'
        ? e.level
          ? `new advice at level ${e.level} (${e.levelText ?? levelName(e.level)})`
          : `new alert${e.levelText ? `: ${e.levelText}` : ''}`
        : 'updated its advice';
  return `${places}: ${e.government} ${what}`;
}

/** The bodies each format POSTs. */
export function webhookBody(format: WebhookConfig['format'], e: PublicEvent, now: Date): string {
  if (format === 'slack') {
    const link = e.link && /^https?:\/\//.test(e.link) ? `\n<${slackEscape(e.link)}|Read it at the source>` : '';
    return JSON.stringify({ text: `*${slackEscape(eventHeadline(e))}*\n${slackEscape(e.title)}${link}` });
  }
  return JSON.stringify({ type: `advisory.${e.kind}`, timestamp: now.toISOString(), data: eventJson(e) });
}

export function createWebhookSender(options: {
  /** Read at every send: `start` swaps the list when webhooks.yaml is reloaded. */
  endpoints: () => readonly WebhookConfig[];
  timeoutMs: number;
  userAgent: string;
  now: () => Date;
}): WebhookSender {
  const find = (id: string) => options.endpoints().find((w) => w.id === id);
  return {
    endpoint: find,
    async send(webhookId, event, messageId) {
      const endpoint = find(webhookId);
      if (!endpoint) throw new SendError(`webhook "${webhookId}" is no longer in webhooks.yaml`, { classification: 'permanent' });
      const now = options.now();
      const body = webhookBody(endpoint.format, event, now);
      const timestamp = Math.floor(now.getTime() / 1000);
      const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': options.userAgent };
      if (endpoint.secret) {
        headers['webhook-id'] = messageId;
        headers['webhook-timestamp'] = String(timestamp);
        headers['webhook-signature'] = signWebhook(endpoint.secret, messageId, timestamp, body);
      }
      let res: Response;
      try {
        res = await fetch(endpoint.url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(options.timeoutMs) });
      } catch (err) {
        // Timeouts and connection errors: the receiver may or may not have it;
        // the retry carries the same webhook-id, so receivers can drop a duplicate.
        const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
        throw new SendError(timedOut ? `webhook ${webhookId}: no answer within ${options.timeoutMs} ms` : `webhook ${webhookId}: ${errorMessage(err)}`, {
          classification: 'retryable',
          cause: err,
        });
      }
      await res.body?.cancel().catch(() => undefined);
      if (res.ok) return { providerId: `${webhookId}:${res.status}` };
      const detail = `webhook ${webhookId}: HTTP ${res.status}`;
      // Only these two statuses define Retry-After as "come back then" for a request like ours.
      const retryAfterMs = res.status === 429 || res.status === 503 ? parseRetryAfter(res.headers.get('retry-after'), options.now()) : undefined;
      if (res.status >= 500 || res.status === 429 || res.status === 408)
        throw new WebhookSendError(
          retryAfterMs === undefined ? detail : `${detail} (Retry-After ${Math.ceil(retryAfterMs / 1000)} s)`,
          { classification: 'retryable' },
          retryAfterMs,
        );
      throw new SendError(detail, { classification: 'permanent' });
    },
  };
}
