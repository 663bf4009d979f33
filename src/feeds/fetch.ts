import { isIP } from 'node:net';
import { TextDecoder } from 'node:util';
import { fetch, type Response } from 'undici';
import { isPublicAddress, publicOnlyAgent } from './address-guard.ts';
import { AppError } from '../common/errors.ts';

/**
 * Our own HTTP fetch for feeds, rather than rss-parser's `parseURL`: validators
 * must live in the database, `Retry-After` must reach the scheduler, and the
 * body must be bounded *after* decompression (a gzip bomb is small on the wire).
 */
export type FetchErrorKind =
  | 'timeout'
  | 'network'
  | 'http'
  | 'too-many-requests'
  | 'too-large'
  | 'too-many-redirects'
  | 'html-instead-of-feed'
  | 'bad-encoding';

export class FeedFetchError extends AppError {
  constructor(
    message: string,
    readonly kind: FetchErrorKind,
    classification: 'retryable' | 'permanent',
    readonly details: { status?: number; retryAfterMs?: number } = {},
    options?: { cause?: unknown },
  ) {
    super(message, classification, options);
  }
}

export interface Validators {
  etag: string | null;
  lastModified: string | null;
}

export interface FetchOptions {
  userAgent: string;
  timeoutMs: number;
  maxBodyBytes: number;
  maxRedirects: number;
  headers?: Record<string, string>;
  now?: () => Date;
  /** Refuse loopback / private / link-local addresses (SSRF guard). */
  publicOnly?: boolean;
}

export type FetchResult =
  | { status: 'not-modified'; httpStatus: 304; validators: Validators; finalUrl: string }
  | {
      status: 'ok';
      httpStatus: number;
      validators: Validators;
      finalUrl: string;
      contentType: string | null;
      /** Decoded with the charset from the header or the XML declaration. */
      text: string;
    };

/** `Retry-After` is either delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now: Date): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now.getTime());
}

const XML_DECL_ENCODING = /^\s*<\?xml[^>]*\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']/;

/**
 * Charset: a byte-order mark wins (RFC 7303 §3.3, WHATWG: a UTF-8 file with a BOM
 * served as `charset=iso-8859-1` is UTF-8), then the Content-Type header, then the
 * XML declaration, then UTF-8.
 */
export function detectCharset(contentType: string | null, head: Uint8Array): string {
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return 'utf-8';
  if (head[0] === 0xfe && head[1] === 0xff) return 'utf-16be';
  if (head[0] === 0xff && head[1] === 0xfe) return 'utf-16le';
  const fromHeader = contentType?.match(/charset\s*=\s*"?([A-Za-z0-9._-]+)"?/i)?.[1];
  if (fromHeader) return fromHeader.toLowerCase();
  const ascii = Buffer.from(head.subarray(0, 200)).toString('latin1');
  const fromDecl = ascii.match(XML_DECL_ENCODING)?.[1];
  return (fromDecl ?? 'utf-8').toLowerCase();
}

export function decodeBody(bytes: Uint8Array, contentType: string | null): string {
  const charset = detectCharset(contentType, bytes);
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(charset, { fatal: false, ignoreBOM: false });
  } catch (err) {
    throw new FeedFetchError(`unsupported charset "${charset}"`, 'bad-encoding', 'permanent', {}, { cause: err });
  }
  const text = decoder.decode(bytes);
  // "iso-8859-1", "latin1", "us-ascii" and "windows-1252" all mean windows-1252 (WHATWG),
  // but Node >= 20.18.3 / 22.13 decodes its 0x80–0x9F block as C1 controls
  // (nodejs/node#60888): map them to the real characters (smart quotes, dashes, €).
  return decoder.encoding === 'windows-1252' ? text.replace(/[\u0080-\u009f]/g, (c) => WINDOWS_1252_C1[c.charCodeAt(0) - 0x80] ?? c) : text;
}

// WHATWG windows-1252 for bytes 0x80–0x9F (0x81, 0x8D, 0x8F, 0x90, 0x9D map to themselves).
const WINDOWS_1252_C1 = Array.from(
  '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178',
);

/**
 * An HTML page where a feed should be: a bot check (state.gov answers
 * `200 text/html` to non-browser clients), a CloudFront error page
 * (usembassy.gov), a captive portal. JSON and XML feeds never start like this.
 */
export function looksLikeHtml(contentType: string | null, text: string): boolean {
  const start = text
    .replace(/^\uFEFF/, '')
    .trimStart()
    .slice(0, 512)
    .toLowerCase();
  if (start.startsWith('<!doctype html') || start.startsWith('<html')) return true;
  if (
    contentType &&
    /^\s*text\/html/i.test(contentType) &&
    !start.startsWith('<?xml') &&
    !start.startsWith('<rss') &&
    !start.startsWith('<feed') &&
    !start.startsWith('{')
  ) {
    return true;
  }
  return false;
}

function htmlTitle(text: string): string | undefined {
  return text
    .match(/<title[^>]*>([^<]{1,120})/i)?.[1]
    ?.trim()
    .replace(/\s+/g, ' ');
}

async function readBounded(res: Response, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length'));
  // Content-Length is of the encoded body; only trust it to refuse early when identity-encoded.
  if (!res.headers.get('content-encoding') && Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel().catch(() => {});
    throw new FeedFetchError(`body of ${declared} bytes exceeds the limit of ${maxBytes}`, 'too-large', 'permanent', { status: res.status });
  }
  if (!res.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new FeedFetchError(`body exceeds the limit of ${maxBytes} bytes (after decompression)`, 'too-large', 'permanent', { status: res.status });
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total);
}

export async function fetchFeed(url: string, validators: Validators, options: FetchOptions): Promise<FetchResult> {
  const now = options.now ?? (() => new Date());
  const headers: Record<string, string> = {
    'user-agent': options.userAgent,
    accept: 'application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5',
    'accept-encoding': 'gzip, deflate, br',
    ...lowerKeys(options.headers ?? {}),
  };
  if (validators.etag) headers['if-none-match'] = validators.etag;
  if (validators.lastModified) headers['if-modified-since'] = validators.lastModified;

  // One deadline for the whole exchange, body included: a server dripping one
  // byte a second must not hold a poll for longer than the feed's timeout.
  const signal = AbortSignal.timeout(options.timeoutMs);
  let current = url;
  for (let hop = 0; ; hop++) {
    let res: Response;
    if (options.publicOnly) {
      // A literal IP skips DNS, so the lookup hook can't see it: check it here.
      const host = new URL(current).hostname.replace(/^\[|\]$/g, '');
      if (isIP(host) && !isPublicAddress(host)) {
        throw new FeedFetchError(`refused: ${host} is not a public address (settings: http.allowPrivateAddresses)`, 'network', 'permanent');
      }
    }
    try {
      res = await fetch(current, { headers, redirect: 'manual', signal, ...(options.publicOnly ? { dispatcher: publicOnlyAgent() } : {}) });
    } catch (err) {
      throw networkError(err, options.timeoutMs);
    }
    if (res.status >= 300 && res.status < 400 && res.status !== 304) {
      const location = res.headers.get('location');
      await res.body?.cancel().catch(() => {});
      if (!location) throw new FeedFetchError(`HTTP ${res.status} without a Location header`, 'http', 'retryable', { status: res.status });
      if (hop >= options.maxRedirects) {
        throw new FeedFetchError(`more than ${options.maxRedirects} redirects`, 'too-many-redirects', 'permanent', { status: res.status });
      }
      const next = new URL(location, current);
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw new FeedFetchError(`redirect to a non-http(s) URL (${next.protocol})`, 'http', 'permanent', { status: res.status });
      }
      if (next.origin !== new URL(current).origin) {
        // Admin-configured headers may carry credentials meant for the feed's
        // own host: they don't follow a redirect to another one.
        for (const name of Object.keys(lowerKeys(options.headers ?? {}))) {
          if (name !== 'user-agent') delete headers[name];
        }
      }
      current = next.href;
      continue;
    }
    const newValidators: Validators = {
      etag: res.headers.get('etag'),
      lastModified: res.headers.get('last-modified'),
    };
    if (res.status === 304) {
      await res.body?.cancel().catch(() => {});
      // A 304 may omit validators; keep the ones we sent.
      return {
        status: 'not-modified',
        httpStatus: 304,
        finalUrl: current,
        validators: { etag: newValidators.etag ?? validators.etag, lastModified: newValidators.lastModified ?? validators.lastModified },
      };
    }
    if (res.status === 429 || res.status === 503) {
      const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), now());
      await res.body?.cancel().catch(() => {});
      throw new FeedFetchError(
        `HTTP ${res.status}${retryAfterMs !== undefined ? ` (retry after ${Math.round(retryAfterMs / 1000)} s)` : ''}`,
        'too-many-requests',
        'retryable',
        { status: res.status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) },
      );
    }
    if (res.status < 200 || res.status >= 300) {
      await res.body?.cancel().catch(() => {});
      throw new FeedFetchError(`HTTP ${res.status}`, 'http', res.status >= 500 || res.status === 408 ? 'retryable' : 'permanent', {
        status: res.status,
      });
    }
    let bytes: Uint8Array;
    try {
      bytes = await readBounded(res, options.maxBodyBytes);
    } catch (err) {
      if (err instanceof FeedFetchError) throw err;
      throw networkError(err, options.timeoutMs);
    }
    const contentType = res.headers.get('content-type');
    const text = decodeBody(bytes, contentType);
    if (looksLikeHtml(contentType, text)) {
      const title = htmlTitle(text);
      throw new FeedFetchError(
        `an HTML page was served instead of a feed${title ? ` ("${title}")` : ''}; the site may be blocking automated clients`,
        'html-instead-of-feed',
        'retryable',
        { status: res.status },
      );
    }
    return { status: 'ok', httpStatus: res.status, validators: newValidators, finalUrl: current, contentType, text };
  }
}

function lowerKeys(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}

function networkError(err: unknown, timeoutMs: number): FeedFetchError {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') {
    return new FeedFetchError(`timed out after ${timeoutMs / 1000} s`, 'timeout', 'retryable', {}, { cause: err });
  }
  const detail = e.cause?.message ?? e.cause?.code ?? e.message;
  if (e.cause?.code === 'EADDRNOTPUBLIC') return new FeedFetchError(`refused: ${detail}`, 'network', 'permanent', {}, { cause: err });
  return new FeedFetchError(`network error: ${detail}`, 'network', 'retryable', {}, { cause: err });
}
