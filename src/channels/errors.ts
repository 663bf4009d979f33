import { AppError, type ErrorClass } from '../common/errors.ts';

/**
 * A failed send, classified at the channel boundary:
 * - retryable: try again later (SMTP 4xx, connection errors, Twilio 429);
 * - permanent with scope 'recipient': this address or number will never work
 *   (SMTP 5xx for the recipient, Twilio 21211/21610/21614) — stop the channel;
 * - permanent with scope 'message': this message can't be sent, others may;
 * - uncertain: the provider may have accepted it (Twilio 5xx on create).
 */
export interface SendErrorOptions {
  classification: ErrorClass;
  /** Default 'message'. */
  scope?: 'message' | 'recipient';
  /** Default false. */
  uncertain?: boolean;
  cause?: unknown;
}

export class SendError extends AppError {
  readonly scope: 'message' | 'recipient';
  readonly uncertain: boolean;

  constructor(message: string, options: SendErrorOptions) {
    super(message, options.classification, { cause: options.cause });
    this.scope = options.scope ?? 'message';
    this.uncertain = options.uncertain ?? false;
  }
}

const EMAIL = /[^\s<>"'(),;:[\]]+@[^\s<>"'(),;:[\]]+/g;
// Phone-number shapes, not any long run of digits: delivery ids, epoch
// milliseconds and ISO timestamps in the same texts stay readable. Providers
// write numbers in E.164 ("+15005550001"); people and some servers write them
// nationally, with a trunk 0 ("07911 123456", "(020) 7946 0958") or in North
// American groups ("(555) 123-4567", "555-123-4567"). A bare run without "+",
// trunk 0 or grouping ("5551234567") is not taken for a number.
const PHONE = new RegExp(
  [
    String.raw`\+\d(?:[\s().-]{0,2}\d){6,14}`,
    String.raw`(?<![\w.+-])\(?0\d{1,4}\)?[\s.-]?\d{3,4}[\s.-]?\d{3,4}(?!\w)`,
    String.raw`(?<![\w.+-])(?:\(\d{3}\)\s?|\d{3}[.-])\d{3}[.-]\d{4}(?!\w)`,
  ].join('|'),
  'g',
);

/**
 * Provider texts quote the recipient ("550 5.1.1 <ann@example.org>: no such
 * user", "The 'To' number +15005550001 is not a valid phone number"). Those
 * texts end up in logs and in stored errors: mask the addresses and numbers.
 */
export function redactContacts(text: string): string {
  return text.replace(EMAIL, '[address]').replace(PHONE, '[number]');
}

/**
 * The provider's error as a cause, minus what would leak: pino prints a
 * cause's message with the error's, and nodemailer's errors also carry the
 * envelope (`rejected`, `recipients`). Only the fields that classify it stay.
 */
function scrubbed(err: unknown): Error {
  const copy = new Error(redactContacts(err instanceof Error ? err.message : String(err)));
  if (err instanceof Error) copy.name = err.name;
  if (err && typeof err === 'object') {
    const from = err as Record<string, unknown>;
    const to = copy as unknown as Record<string, unknown>;
    for (const key of ['code', 'responseCode', 'command', 'status']) if (key in from) to[key] = from[key];
  }
  return copy;
}

interface SmtpLikeError {
  code?: string;
  responseCode?: number;
  command?: string;
  response?: string;
  message?: string;
}

export function classifySmtpError(err: unknown): SendError {
  const e = (err ?? {}) as SmtpLikeError;
  const code = e.responseCode;
  const detail = redactContacts((e.response ?? e.message ?? String(err)).split('\n')[0]!).slice(0, 300);
  // A rejected login (535, EAUTH) is our configuration, not the recipient: keep
  // the mail and retry, so fixing SMTP_URL delivers the backlog.
  if (e.code === 'EAUTH' || code === 535 || code === 530) {
    return new SendError(`SMTP ${code ?? e.code}: ${detail}`, { classification: 'retryable', cause: scrubbed(err) });
  }
  if (typeof code === 'number' && code >= 500) {
    // Only a refusal of the recipient itself stops the channel; a 5xx to DATA
    // (content or policy rejection) fails this message alone.
    const recipient = /RCPT/i.test(e.command ?? '') || (!e.command && (code === 550 || code === 551 || code === 553));
    return new SendError(`SMTP ${code}: ${detail}`, { classification: 'permanent', scope: recipient ? 'recipient' : 'message', cause: scrubbed(err) });
  }
  if (typeof code === 'number' && code >= 400) {
    return new SendError(`SMTP ${code}: ${detail}`, { classification: 'retryable', cause: scrubbed(err) });
  }
  // Connection refused / reset / timeout / TLS / auth: the server's problem, not the recipient's.
  return new SendError(`SMTP ${e.code ?? 'error'}: ${detail}`, { classification: 'retryable', cause: scrubbed(err) });
}

interface TwilioLikeError {
  status?: number;
  code?: number | string;
  message?: string;
  moreInfo?: string;
}

/** Twilio error codes that mean the number will never receive our messages. */
const RECIPIENT_CODES = new Set([21211, 21610, 21614, 21612, 21408, 30004, 30005, 30006]);

export function classifyTwilioError(err: unknown): SendError {
  const e = (err ?? {}) as TwilioLikeError;
  const status = e.status;
  const code = typeof e.code === 'number' ? e.code : Number(e.code);
  const detail = redactContacts(`${e.message ?? String(err)}`).slice(0, 300);
  const label = `Twilio ${status ?? ''}${Number.isFinite(code) ? ` ${code}` : ''}`.trim();
  // 429 throttling, and 401/403 (bad credentials: our configuration) are retried.
  if (status === 429 || status === 401 || status === 403) return new SendError(`${label}: ${detail}`, { classification: 'retryable', cause: scrubbed(err) });
  // A redirect is not followed (Twilio's API sends none): nothing was created. Seen from a
  // TWILIO_API_BASE_URL or proxy answering for the API, as is a 4xx page that is not
  // Twilio's JSON (no error code: a proxy's 404, 405 or 407) or Twilio's 20404 (no such
  // account or resource: the SID or base URL is wrong). All are our configuration, not the
  // message: retried, so fixing it sends what waits instead of dropping it.
  if (typeof status === 'number' && status >= 300 && status < 400) {
    return new SendError(`${label}: ${detail} (a redirect, not followed)`, { classification: 'retryable', cause: scrubbed(err) });
  }
  if (typeof status === 'number' && status >= 400 && status < 500 && (!Number.isFinite(code) || code === 20404)) {
    return new SendError(`${label}: ${detail}`, { classification: 'retryable', cause: scrubbed(err) });
  }
  if (typeof status === 'number' && status >= 500) {
    // 503 means "not processed"; any other 5xx on a create may have gone through.
    return new SendError(`${label}: ${detail}`, { classification: 'retryable', uncertain: status !== 503, cause: scrubbed(err) });
  }
  if (typeof status === 'number' && status >= 400) {
    const recipient = RECIPIENT_CODES.has(code) && code !== 21408;
    return new SendError(`${label}: ${detail}`, { classification: 'permanent', scope: recipient ? 'recipient' : 'message', cause: scrubbed(err) });
  }
  // No HTTP status: network error before or during the request; the create may or may not have arrived.
  // Failures before any byte of the request could reach Twilio: no connection, no tunnel
  // through the proxy, the CA bundle unreadable, the certificate refused.
  const connectError = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNECTTIMEOUT|ENOENT|EACCES|CERT_|UNABLE_TO_VERIFY|SELF_SIGNED|ERR_TLS_CERT_ALTNAME_INVALID/.test(
    `${(e as { code?: unknown }).code ?? ''} ${detail}`,
  );
  return new SendError(`Twilio: ${detail}`, { classification: 'retryable', uncertain: !connectError, cause: scrubbed(err) });
}
