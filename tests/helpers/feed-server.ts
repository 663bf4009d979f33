import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gzipSync } from 'node:zlib';

/**
 * A local HTTP server that serves feed documents the way real servers do:
 * strong ETags from the body, Last-Modified, conditional GET answered with 304,
 * gzip when asked — plus scripted misbehaviour for fault tests.
 */
export interface Route {
  body?: string | Buffer;
  status?: number;
  contentType?: string;
  headers?: Record<string, string>;
  /** Serve a Last-Modified header and honour If-Modified-Since. */
  lastModified?: Date;
  /** Disable ETag (some servers send none). */
  noEtag?: boolean;
  /** Compress the body with gzip (sent as Content-Encoding: gzip). */
  gzip?: boolean;
  /** Pre-encoded body served as-is with Content-Encoding: gzip (for gzip bombs). */
  rawGzip?: Buffer;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Send the body one chunk of `bytes` every `everyMs`. */
  drip?: { bytes: number; everyMs: number };
  /** Redirect to this path (302). */
  redirectTo?: string;
}

export interface RecordedRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
}

export class FeedServer {
  private routes = new Map<string, Route>();
  readonly requests: RecordedRequest[] = [];
  private server: http.Server;
  private timers = new Set<NodeJS.Timeout>();
  private sockets = new Set<Socket>();
  baseUrl = '';

  constructor() {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  /** Connections open now (a client's idle kept-alive ones included). */
  get openConnections(): number {
    return this.sockets.size;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  set(path: string, route: Route): string {
    this.routes.set(path, route);
    return this.url(path);
  }

  url(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  count(path: string): number {
    return this.requests.filter((r) => r.path === path).length;
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0]!;
    this.requests.push({ path, headers: req.headers });
    const route = this.routes.get(path);
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const respond = () => this.respond(req, res, route);
    if (route.delayMs) this.later(route.delayMs, respond);
    else respond();
  }

  private respond(req: http.IncomingMessage, res: http.ServerResponse, route: Route): void {
    if (res.destroyed) return;
    if (route.redirectTo) {
      res.writeHead(302, { location: route.redirectTo }).end();
      return;
    }
    const status = route.status ?? 200;
    const headers: Record<string, string> = { 'content-type': route.contentType ?? 'application/rss+xml; charset=utf-8', ...route.headers };
    if (route.rawGzip) {
      res.writeHead(status, { ...headers, 'content-encoding': 'gzip' }).end(route.rawGzip);
      return;
    }
    const body = typeof route.body === 'string' ? Buffer.from(route.body, 'utf8') : (route.body ?? Buffer.alloc(0));
    if (status === 200) {
      const etag = route.noEtag ? undefined : `"${createHash('sha1').update(body).digest('hex')}"`;
      if (etag) headers.etag = etag;
      if (route.lastModified) headers['last-modified'] = route.lastModified.toUTCString();
      const inm = req.headers['if-none-match'];
      const ims = req.headers['if-modified-since'];
      const notModified =
        (etag && inm?.split(/\s*,\s*/).includes(etag)) ||
        (inm === undefined &&
          route.lastModified !== undefined &&
          ims !== undefined &&
          Date.parse(ims) >= Math.floor(route.lastModified.getTime() / 1000) * 1000);
      if (notModified) {
        res.writeHead(304, etag ? { etag } : {}).end();
        return;
      }
    }
    let payload = body;
    if (route.gzip && /gzip/.test(String(req.headers['accept-encoding'] ?? ''))) {
      payload = gzipSync(body);
      headers['content-encoding'] = 'gzip';
    }
    if (route.drip) {
      res.writeHead(status, headers);
      let offset = 0;
      const { bytes, everyMs } = route.drip;
      const tick = () => {
        if (res.destroyed) return;
        if (offset >= payload.length) {
          res.end();
          return;
        }
        res.write(payload.subarray(offset, offset + bytes));
        offset += bytes;
        this.later(everyMs, tick);
      };
      tick();
      return;
    }
    headers['content-length'] = String(payload.length);
    res.writeHead(status, headers).end(payload);
  }
}

export async function startFeedServer(): Promise<FeedServer> {
  return new FeedServer().start();
}

/** Reads a fixture under tests/fixtures. */
export function fixture(relative: string): string {
  return readFileSync(new URL(`../fixtures/${relative}`, import.meta.url), 'utf8');
}

export function fixtureBytes(relative: string): Buffer {
  return readFileSync(new URL(`../fixtures/${relative}`, import.meta.url));
}
