import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';

/** What a route renders: text, its media type and any headers of its own. */
export interface Rendering {
  body: string;
  type: string;
  /** Further headers that belong to this answer (a `Link` to the next page). */
  headers?: Record<string, string>;
}

/**
 * A rendered public answer with its strong validator. The body is kept as
 * bytes: a string body is encoded to UTF-8 again on every send, which under
 * load cost more than everything else a cached answer does (a 200 KB page,
 * 50 clients: the server spent most of its time in that encoding).
 */
export interface Rendered {
  body: Buffer;
  type: string;
  etag: string;
  headers?: Record<string, string>;
  /**
   * The same answer gzipped, made once, on the first request that accepts it
   * (every browser does; a script reading the API may not, and compressing a
   * page nobody asks for compressed would cost more CPU than the page did):
   * the country list is ~140 KB of repetitive table markup and ~20× smaller
   * compressed. A representation of its own, with its own strong ETag;
   * undefined for small bodies or when compressing does not make it smaller.
   */
  gzip: () => Promise<{ body: Buffer; etag: string } | undefined>;
}

const gzip = promisify(gzipCallback);
/** Below this a body is sent as it is: compressing would save less than the header costs. */
const GZIP_MIN_BYTES = 1024;

/**
 * Cached bytes before the least recently used answers go (a page of 500 events is ~0.8 MB).
 * Each answer counts twice its size: room for its gzipped copy, always smaller.
 */
const DEFAULT_MAX_BYTES = 128 * 1024 * 1024;

/**
 * Public pages, feeds and API answers are read far more often than the data
 * behind them changes (once per poll at most). Each is rendered once per data
 * version and kept in a bounded LRU; the version (a few index lookups) is
 * re-read at most every `refreshMs`, so a change shows within that time, and
 * concurrent requests for the same answer share one rendering.
 */
export class PublicCache {
  private version: { value: string; at: number } | undefined;
  private versionPending: Promise<string> | undefined;
  // Bounded by bytes, not by count: any client can ask for distinct pages
  // (cursor × limit × since), and 2,000 pages of 500 events would be 1.5 GB.
  // (Each entry is a fresh box: lru-cache re-sizes an entry only when its value changes.)
  private readonly entries: LRUCache<string, { rendered: Promise<Rendered> }>;

  constructor(
    private readonly readVersion: () => Promise<string>,
    private readonly refreshMs: number,
    private readonly now: () => number = Date.now,
    maxBytes = DEFAULT_MAX_BYTES,
  ) {
    this.entries = new LRUCache<string, { rendered: Promise<Rendered> }>({ maxSize: maxBytes, sizeCalculation: () => 1 });
  }

  async currentVersion(): Promise<string> {
    const v = this.version;
    if (v && this.now() - v.at < this.refreshMs) return v.value;
    this.versionPending ??= this.readVersion()
      .then((value) => {
        this.version = { value, at: this.now() };
        return value;
      })
      .finally(() => {
        this.versionPending = undefined;
      });
    return this.versionPending;
  }

  /** The answer for `key` at the current data version, rendered by `build` when missing. */
  async get(key: string, build: () => Promise<Rendering>): Promise<Rendered> {
    const fullKey = `${await this.currentVersion()}\u0000${key}`;
    const entry = this.entries.get(fullKey)?.rendered;
    if (entry) return entry;
    const pending = build().then((r): Rendered => {
      const body = Buffer.from(r.body, 'utf8');
      const etag = strongEtag(body);
      let gzipped: Promise<{ body: Buffer; etag: string } | undefined> | undefined;
      const compress = async () => {
        if (body.length < GZIP_MIN_BYTES) return undefined;
        // zlib's thread pool, not the event loop.
        const gz = await gzip(body);
        return gz.length < body.length ? { body: gz, etag: `${etag.slice(0, -1)}.gz"` } : undefined;
      };
      return { ...r, body, etag, gzip: () => (gzipped ??= compress()) };
    });
    // Counted as one byte while it renders, then at its size.
    this.entries.set(fullKey, { rendered: pending });
    pending.then(
      (r) => {
        if (this.entries.peek(fullKey)?.rendered === pending) this.entries.set(fullKey, { rendered: pending }, { size: Math.max(1, 2 * r.body.length) });
      },
      // A failed rendering is not kept: the next request tries again.
      () => {
        if (this.entries.peek(fullKey)?.rendered === pending) this.entries.delete(fullKey);
      },
    );
    return pending;
  }

  /** Cached bytes (tests: the bound holds). */
  get size(): number {
    return this.entries.calculatedSize;
  }
}

export function strongEtag(body: string | Buffer): string {
  return `"${createHash('sha1').update(body).digest('base64url')}"`;
}

/** True when the request's If-None-Match names `etag` (or is `*`). */
export function notModified(req: FastifyRequest, etag: string): boolean {
  const header = req.headers['if-none-match'];
  if (!header) return false;
  return header
    .split(',')
    .map((t) => t.trim())
    .some((t) => t === etag || t === '*');
}

/** Whether Accept-Encoding takes gzip (listed, and not with q=0). */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  return header.split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    if (coding?.trim() !== 'gzip') return false;
    const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
    return q === undefined || Number(q) > 0;
  });
}

/**
 * Sends a cached answer — gzipped when the client takes it — with its ETag,
 * Cache-Control and Vary, or 304 when the client has that representation.
 */
export async function sendRendered(req: FastifyRequest, reply: FastifyReply, r: Rendered, cacheControl: string): Promise<FastifyReply> {
  const gz = acceptsGzip(req.headers['accept-encoding']) ? await r.gzip() : undefined;
  const etag = gz?.etag ?? r.etag;
  const vary = reply.getHeader('vary');
  reply.headers({ ...r.headers, etag, 'cache-control': cacheControl, vary: vary ? `${String(vary)}, Accept-Encoding` : 'Accept-Encoding' });
  if (notModified(req, etag)) return reply.code(304).send();
  if (gz) reply.header('content-encoding', 'gzip');
  return reply.type(r.type).send(gz?.body ?? r.body);
}
