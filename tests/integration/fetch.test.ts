import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FeedFetchError, type FetchOptions, fetchFeed } from '../../src/feeds/fetch.ts';
import { startFeedServer, type FeedServer } from '../helpers/feed-server.ts';
import { waitFor } from '../helpers/wait.ts';

// fetchFeed against real local servers: what becomes of a connection once an exchange
// ends badly. A response left half-read holds its socket (and the process) open, and a
// retried GET whose answer nobody reads does the same.

const NO_VALIDATORS = { etag: null, lastModified: null };
const OPTIONS: FetchOptions = { userAgent: 'advisory-alerts-test', timeoutMs: 2000, maxBodyBytes: 1_000_000, maxRedirects: 3 };
const RSS = '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function feedServer(): Promise<FeedServer> {
  const server = await startFeedServer();
  cleanups.push(() => server.stop());
  return server;
}

interface Seen {
  /** The request's number on its connection, from 1. */
  onSocket: number;
  socket: Socket;
}

/** A server answering through `handler`, told how many requests each connection carried before. */
async function scriptedServer(handler: (req: http.IncomingMessage, res: http.ServerResponse, seen: Seen) => void): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const perSocket = new Map<Socket, number>();
  const server = http.createServer((req, res) => {
    const onSocket = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, onSocket);
    const s = { onSocket, socket: req.socket };
    seen.push(s);
    handler(req, res, s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/feed`, seen };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a reused connection reset by the server', () => {
  it('mid-body: the fetch fails as a cut connection, and no second GET is sent', async () => {
    const { url, seen } = await scriptedServer((_req, res, s) => {
      if (seen.length === 1) return void res.writeHead(200, { 'content-type': 'application/rss+xml' }).end(RSS);
      if (s.onSocket > 1) {
        // The answer starts on the kept-alive connection, then the connection is reset.
        res.writeHead(200, { 'content-type': 'application/rss+xml', 'content-length': '100000' });
        res.write(`<rss>${' '.repeat(5000)}`);
        setTimeout(() => s.socket.resetAndDestroy(), 50);
      }
      // Anything else (a retry) is never answered: whoever sent it waits for ever.
    });
    expect((await fetchFeed(url, NO_VALIDATORS, OPTIONS)).status).toBe('ok');
    const err = await fetchFeed(url, NO_VALIDATORS, OPTIONS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FeedFetchError);
    expect(err).toMatchObject({ kind: 'network', classification: 'retryable' });
    await sleep(300);
    expect(seen.map((s) => s.onSocket)).toEqual([1, 2]);
  });

  it('before any answer: tried once more on a new connection, not on another stale one from the pool', async () => {
    const { url, seen } = await scriptedServer((_req, res, s) => {
      // The first request of a connection is answered (late enough that two at once take two
      // connections); any later one on it is reset, as by a server that closed it while idle.
      if (s.onSocket > 1) return void s.socket.resetAndDestroy();
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/rss+xml' }).end(RSS), 100);
    });
    const both = await Promise.all([fetchFeed(url, NO_VALIDATORS, OPTIONS), fetchFeed(url, NO_VALIDATORS, OPTIONS)]);
    expect(both.map((r) => r.status)).toEqual(['ok', 'ok']);
    expect(new Set(seen.map((s) => s.socket)).size).toBe(2);

    // Two idle connections in the pool, both stale: the retry must not take the second.
    const third = await fetchFeed(url, NO_VALIDATORS, OPTIONS);
    expect(third.status).toBe('ok');
    expect(seen.map((s) => s.onSocket)).toEqual([1, 1, 2, 1]);
  });
});

describe('a response that is not read to its end closes its connection', () => {
  it('a body with more than five content-encodings is refused, and its connection closed', async () => {
    const server = await feedServer();
    const url = server.set('/many', {
      body: 'x'.repeat(1000),
      headers: { 'content-encoding': 'gzip, gzip, gzip, gzip, gzip, gzip', 'content-length': '1000' },
      drip: { bytes: 1, everyMs: 1000 },
    });
    const err = await fetchFeed(url, NO_VALIDATORS, OPTIONS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FeedFetchError);
    expect((err as Error).message).toBe('too many content-encodings (6)');
    await waitFor('the connection to close', () => server.openConnections === 0, { timeoutMs: 1500 });
  });

  it('an error page dripping its declared 1,000 bytes: the fetch fails at once, and the connection does not outlive it', async () => {
    const server = await feedServer();
    const url = server.set('/gone', {
      status: 404,
      body: 'x'.repeat(1000),
      contentType: 'text/plain',
      headers: { 'content-length': '1000' },
      drip: { bytes: 1, everyMs: 100 },
    });
    const started = performance.now();
    const err = await fetchFeed(url, NO_VALIDATORS, { ...OPTIONS, timeoutMs: 1000 }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('HTTP 404');
    expect(performance.now() - started).toBeLessThan(900);
    await waitFor('the connection to close', () => server.openConnections === 0, { timeoutMs: 1500 });
  });

  it('a complete error page is read out, and its connection serves the next request', async () => {
    const { url, seen } = await scriptedServer((_req, res) => {
      if (seen.length === 1) res.writeHead(404, { 'content-type': 'text/plain' }).end('not here');
      else res.writeHead(200, { 'content-type': 'application/rss+xml' }).end(RSS);
    });
    await expect(fetchFeed(url, NO_VALIDATORS, OPTIONS)).rejects.toThrow('HTTP 404');
    // The connection goes back to the pool once the end of the page is read, a moment later.
    await sleep(50);
    expect((await fetchFeed(url, NO_VALIDATORS, OPTIONS)).status).toBe('ok');
    expect(seen.map((s) => s.onSocket)).toEqual([1, 2]);
  });
});

describe('URLs that do not parse', () => {
  it('a redirect to an invalid URL is a permanent http error, with the parse error as its cause', async () => {
    const server = await feedServer();
    const url = server.set('/moved', { redirectTo: 'http://[oops/feed' });
    const err = await fetchFeed(url, NO_VALIDATORS, OPTIONS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FeedFetchError);
    expect(err).toMatchObject({
      kind: 'http',
      classification: 'permanent',
      details: { status: 302 },
      message: 'redirect to an invalid URL ("http://[oops/feed")',
    });
    expect((err as Error).cause).toBeInstanceOf(TypeError);
  });
});
