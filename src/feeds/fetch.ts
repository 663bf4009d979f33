import { type ClientRequest, type IncomingMessage, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { promisify, TextDecoder } from 'node:util';
import zlib from 'node:zlib';
import { feedAgent, isPublicAddress, oneOffFeedAgent } from './address-guard.ts';
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

/** A response's header as one string, or null (Node gives arrays only for set-cookie and a few others). */
function header(res: IncomingMessage, name: string): string | null {
  const v = res.headers[name];
  if (v === undefined) return null;
  return Array.isArray(v) ? v.join(', ') : v;
}

type Decode = (body: Buffer, maxBytes: number) => Promise<Buffer>;

// Lenient flushing: a truncated stream yields what it had, as browsers and undici do.
const ZLIB = { finishFlush: zlib.constants.Z_SYNC_FLUSH };
const BROTLI = { finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH };
const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const inflateRaw = promisify(zlib.inflateRaw);
const brotliDecompress = promisify(zlib.brotliDecompress);

const DECODERS: Record<string, Decode> = {
  gzip: (body, maxBytes) => gunzip(body, { ...ZLIB, maxOutputLength: maxBytes }),
  'x-gzip': (body, maxBytes) => gunzip(body, { ...ZLIB, maxOutputLength: maxBytes }),
  // `deflate` is meant to be zlib-wrapped, but servers send raw deflate too: the first byte tells.
  deflate: (body, maxBytes) => ((body[0]! & 0x0f) === 0x08 ? inflate : inflateRaw)(body, { ...ZLIB, maxOutputLength: maxBytes }),
  br: (body, maxBytes) => brotliDecompress(body, { ...BROTLI, maxOutputLength: maxBytes }),
};

/**
 * The decoders for a Content-Encoding, in the order to apply them (`gzip, br` was gzipped,
 * then brotli'd), as browsers and undici do: at most 5; an unknown coding leaves the body as
 * it came (undefined).
 */
function decoders(contentEncoding: string | null): Decode[] | undefined {
  const codings = contentEncoding ? contentEncoding.toLowerCase().split(',') : [];
  if (codings.length > 5) throw new FeedFetchError(`too many content-encodings (${codings.length})`, 'http', 'permanent');
  const out: Decode[] = [];
  for (let i = codings.length - 1; i >= 0; i--) {
    const coding = codings[i]!.trim();
    if (coding === 'identity' || coding === '') continue;
    const decode = DECODERS[coding];
    if (!decode) return undefined;
    out.push(decode);
  }
  return out;
}

/**
 * The body, decompressed, refused once it passes `maxBytes`: as it arrives, and again as
 * it is decompressed (a gzip bomb is small on the wire), where zlib stops at the limit.
 * The body is decompressed in one call once it is all here: a feed is small, and one call
 * costs a fraction of a stream's per-chunk work.
 */
async function readBounded(res: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const encoding = header(res, 'content-encoding');
  const declared = Number(header(res, 'content-length') ?? Number.NaN);
  // Content-Length is of the encoded body; only trust it to refuse early when identity-encoded.
  if (!encoding && Number.isFinite(declared) && declared > maxBytes) {
    res.destroy();
    throw new FeedFetchError(`body of ${declared} bytes exceeds the limit of ${maxBytes}`, 'too-large', 'permanent', { status: res.statusCode });
  }
  const steps = decoders(encoding) ?? [];
  const chunks: Buffer[] = [];
  let total = 0;
  // Leaving the loop early destroys the response: nothing more is read.
  for await (const chunk of res as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) {
      throw new FeedFetchError(`body exceeds the limit of ${maxBytes} bytes${steps.length ? '' : ' (after decompression)'}`, 'too-large', 'permanent', {
        status: res.statusCode,
      });
    }
    chunks.push(chunk);
  }
  let body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
  for (const decode of steps) {
    try {
      body = await decode(body, maxBytes);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ERR_BUFFER_TOO_LARGE') throw err;
      throw new FeedFetchError(
        `body exceeds the limit of ${maxBytes} bytes (after decompression)`,
        'too-large',
        'permanent',
        { status: res.statusCode },
        { cause: err },
      );
    }
  }
  return body;
}

/**
 * Lets a response go. One already all here is read out, so its connection can serve the next
 * feed; any other closes its connection: the exchange's deadline ends with fetchFeed, and a
 * server dripping the rest would hold the connection for as long as it liked.
 */
function discard(res: IncomingMessage): void {
  if (res.complete) res.resume();
  else res.destroy();
}

/** Raised by the deadline's timer into the request in flight. */
class DeadlineError extends Error {
  override name = 'TimeoutError';
}

/**
 * One GET. A kept-alive connection the server closed just as we reused it fails with
 * ECONNRESET before any answer: that one is tried once more on a connection of its own,
 * not another from the pool, which may be just as stale (a GET is safe to repeat).
 */
function get(url: URL, headers: Record<string, string>, publicOnly: boolean, deadline: Deadline): Promise<IncomingMessage> {
  const attempt = (retried: boolean): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
      const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const agent = retried ? oneOffFeedAgent(url.protocol, publicOnly) : feedAgent(url.protocol, publicOnly);
      let answered = false;
      const req = request(url, { headers, agent }, (res) => {
        answered = true;
        deadline.response = res;
        resolve(res);
      });
      deadline.request = req;
      req.on('error', (err: NodeJS.ErrnoException) => {
        // Once answered, an error (a connection cut mid-body) is the body's, and its reader
        // reports it: a second GET then would go unread, and its connection with it.
        if (!answered && !retried && req.reusedSocket && err.code === 'ECONNRESET' && !deadline.expired) resolve(attempt(true));
        else reject(err);
      });
      req.end();
    });
  return attempt(false);
}

/** The exchange's one timer, and what it stops when it fires: the request in flight and its response. */
interface Deadline {
  expired: boolean;
  request?: ClientRequest;
  response?: IncomingMessage;
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
  const deadline: Deadline = { expired: false };
  const timer = setTimeout(() => {
    deadline.expired = true;
    const err = new DeadlineError('deadline');
    deadline.request?.destroy(err);
    deadline.response?.destroy(err);
  }, options.timeoutMs);
  try {
    return await exchange(url, validators, options, headers, now, deadline);
  } catch (err) {
    if (deadline.expired && !(err instanceof FeedFetchError && err.kind !== 'network')) {
      throw new FeedFetchError(`timed out after ${options.timeoutMs / 1000} s`, 'timeout', 'retryable', {}, { cause: err });
    }
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

async function exchange(
  url: string,
  validators: Validators,
  options: FetchOptions,
  headers: Record<string, string>,
  now: () => Date,
  deadline: Deadline,
): Promise<FetchResult> {
  let current = parseUrl(url);
  for (let hop = 0; ; hop++) {
    if (options.publicOnly) {
      // A literal IP skips DNS, so the lookup hook can't see it: check it here.
      const host = current.hostname.replace(/^\[|\]$/g, '');
      if (isIP(host) && !isPublicAddress(host)) {
        throw new FeedFetchError(`refused: ${host} is not a public address (settings: http.allowPrivateAddresses)`, 'network', 'permanent');
      }
    }
    let res: IncomingMessage;
    try {
      res = await get(current, headers, options.publicOnly === true, deadline);
    } catch (err) {
      throw networkError(err, options.timeoutMs);
    }
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && status !== 304) {
      const location = header(res, 'location');
      discard(res);
      if (!location) throw new FeedFetchError(`HTTP ${status} without a Location header`, 'http', 'retryable', { status });
      if (hop >= options.maxRedirects) {
        throw new FeedFetchError(`more than ${options.maxRedirects} redirects`, 'too-many-redirects', 'permanent', { status });
      }
      const next = parseUrl(location, current, { status });
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw new FeedFetchError(`redirect to a non-http(s) URL (${next.protocol})`, 'http', 'permanent', { status });
      }
      if (next.origin !== current.origin) {
        // Admin-configured headers may carry credentials meant for the feed's
        // own host: they don't follow a redirect to another one.
        for (const name of Object.keys(lowerKeys(options.headers ?? {}))) {
          if (name !== 'user-agent') delete headers[name];
        }
      }
      current = next;
      continue;
    }
    const newValidators: Validators = { etag: header(res, 'etag'), lastModified: header(res, 'last-modified') };
    if (status === 304) {
      discard(res);
      // A 304 may omit validators; keep the ones we sent.
      return {
        status: 'not-modified',
        httpStatus: 304,
        finalUrl: current.href,
        validators: { etag: newValidators.etag ?? validators.etag, lastModified: newValidators.lastModified ?? validators.lastModified },
      };
    }
    if (status === 429 || status === 503) {
      const retryAfterMs = parseRetryAfter(header(res, 'retry-after'), now());
      discard(res);
      throw new FeedFetchError(
        `HTTP ${status}${retryAfterMs !== undefined ? ` (retry after ${Math.round(retryAfterMs / 1000)} s)` : ''}`,
        'too-many-requests',
        'retryable',
        { status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) },
      );
    }
    if (status < 200 || status >= 300) {
      discard(res);
      throw new FeedFetchError(`HTTP ${status}`, 'http', status >= 500 || status === 408 ? 'retryable' : 'permanent', { status });
    }
    let bytes: Uint8Array;
    try {
      bytes = await readBounded(res, options.maxBodyBytes);
    } catch (err) {
      // Whatever stopped the read (a refused encoding before it began, a limit, a cut), the rest
      // is not wanted: left unread, the response would hold its connection, and the process, open.
      res.destroy();
      if (err instanceof FeedFetchError) throw err;
      throw networkError(err, options.timeoutMs);
    }
    const contentType = header(res, 'content-type');
    const text = decodeBody(bytes, contentType);
    if (looksLikeHtml(contentType, text)) {
      const title = htmlTitle(text);
      throw new FeedFetchError(
        `an HTML page was served instead of a feed${title ? ` ("${title}")` : ''}; the site may be blocking automated clients`,
        'html-instead-of-feed',
        'retryable',
        { status },
      );
    }
    return { status: 'ok', httpStatus: status, validators: newValidators, finalUrl: current.href, contentType, text };
  }
}

/** The feed's URL (no base), or a redirect's Location against the URL it came from. */
function parseUrl(text: string, base?: URL, details: { status?: number } = {}): URL {
  try {
    return new URL(text, base);
  } catch (err) {
    // The feed's own URL is not repeated: it is the configuration's, and may carry credentials.
    const message = base ? `redirect to an invalid URL (${JSON.stringify(text.slice(0, 200))})` : 'invalid feed URL';
    throw new FeedFetchError(message, 'http', 'permanent', details, { cause: err });
  }
}

function lowerKeys(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}

function networkError(err: unknown, timeoutMs: number): FeedFetchError {
  const e = err as Error & { code?: string; cause?: { code?: string; message?: string }; errors?: (Error & { code?: string })[] };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') {
    return new FeedFetchError(`timed out after ${timeoutMs / 1000} s`, 'timeout', 'retryable', {}, { cause: err });
  }
  // Happy eyeballs (several addresses tried) fails with an AggregateError of each attempt's.
  const first = e.errors?.[0];
  const code = e.code ?? e.cause?.code ?? first?.code;
  const detail = e.message || e.cause?.message || first?.message || code || String(err);
  if (code === 'EADDRNOTPUBLIC') return new FeedFetchError(`refused: ${detail}`, 'network', 'permanent', {}, { cause: err });
  return new FeedFetchError(`network error: ${detail}`, 'network', 'retryable', {}, { cause: err });
}
