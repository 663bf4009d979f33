import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';

/** A rendered public answer with its strong validator. */
export interface Rendered {
  body: string;
  type: string;
  etag: string;
  /** Further headers that belong to this answer (a `Link` to the next page). */
  headers?: Record<string, string>;
}

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
  private readonly entries = new LRUCache<string, Promise<Rendered>>({ max: 2000 });

  constructor(
    private readonly readVersion: () => Promise<string>,
    private readonly refreshMs: number,
    private readonly now: () => number = Date.now,
  ) {}

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
  async get(key: string, build: () => Promise<Omit<Rendered, 'etag'>>): Promise<Rendered> {
    const fullKey = `${await this.currentVersion()}\u0000${key}`;
    let entry = this.entries.get(fullKey);
    if (!entry) {
      entry = build().then((r) => ({ ...r, etag: strongEtag(r.body) }));
      this.entries.set(fullKey, entry);
      // A failed rendering is not kept: the next request tries again.
      entry.catch(() => this.entries.delete(fullKey));
    }
    return entry;
  }
}

export function strongEtag(body: string): string {
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

/** Sends a cached answer with ETag and Cache-Control, or 304 when the client has it. */
export function sendRendered(req: FastifyRequest, reply: FastifyReply, r: Rendered, cacheControl: string): FastifyReply {
  reply.headers({ ...r.headers, etag: r.etag, 'cache-control': cacheControl });
  if (notModified(req, r.etag)) return reply.code(304).send();
  return reply.type(r.type).send(r.body);
}
