import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type RequestClient from 'twilio/lib/base/RequestClient.js';

export interface TwilioHttpOptions {
  /** Replaces https://*.twilio.com (TWILIO_API_BASE_URL: a proxy, or a local Twilio-compatible server). */
  baseUrl?: string | undefined;
  /** How long a request may go without a byte either way before it is given up. */
  timeoutMs: number;
  /** HTTP_PROXY: requests go through this proxy's CONNECT tunnel, as twilio's own client sends them. */
  proxyUrl?: string | undefined;
  /** TWILIO_CA_BUNDLE: a PEM file of the certificate authorities to trust for the API, as twilio's own client reads it. */
  caFile?: string | undefined;
}

/** Idle kept-alive sockets are closed after this (twilio's own client: its 30 s timeout). */
const IDLE_SOCKET_MS = 30_000;

/**
 * The HTTP client twilio-node sends through (its documented extension point, the
 * `httpClient` option), on Node's own http/https with a keep-alive pool.
 *
 * Why not twilio's RequestClient: it sends through axios, which costs about as much CPU per
 * message as everything else the dispatcher does for an SMS (README "Benchmarks",
 * bench:delivery). The dispatcher holds each of its `delivery.concurrency` slots from the
 * send until the outcome is committed (the bound on duplicates after a crash), so every
 * millisecond the event loop spends elsewhere is a millisecond a slot waits.
 *
 * The contract is RequestClient.request's: method, uri, basic-auth credentials (or an auth
 * strategy), headers, query `params`, form `data`, timeout; it answers the status, the body
 * as text (twilio parses the JSON) and the headers. It resolves for every status and never
 * retries (the dispatcher decides that), and it never follows a redirect: Twilio's API sends
 * none, and the Messages calls never ask RequestClient to (`allowRedirects`). A network
 * failure or a timeout rejects with Node's error, whose `code` (ECONNREFUSED, ETIMEDOUT…)
 * channels/errors.ts reads. What twilio's client took from the environment (HTTP_PROXY,
 * TWILIO_CA_BUNDLE) comes through the configuration instead.
 */
export class TwilioHttpClient {
  private transport: Promise<Transport> | undefined;

  constructor(private readonly options: TwilioHttpOptions) {}

  async request<T>(opts: RequestClient.RequestOptions<T>): Promise<{ statusCode: number; body: string; headers: http.IncomingHttpHeaders }> {
    const base = this.options.baseUrl?.replace(/\/+$/, '');
    const url = new URL(base ? opts.uri.replace(/^https:\/\/[a-z0-9.]*twilio\.com/, base) : opts.uri);
    if (opts.params) url.search = formEncode(opts.params as Record<string, unknown>);
    const headers: Record<string, string> = { ...(opts.headers as Record<string, string> | undefined) };
    if (opts.username && opts.password) {
      headers.Authorization = `Basic ${Buffer.from(`${opts.username}:${opts.password}`).toString('base64')}`;
    } else if (opts.authStrategy) {
      headers.Authorization = await opts.authStrategy.getAuthString();
    }
    let body: string | undefined;
    if (opts.data !== undefined && opts.data !== null) {
      const type = headers['Content-Type'] ?? headers['content-type'];
      body = type === 'application/json' ? JSON.stringify(opts.data) : formEncode(opts.data as Record<string, unknown>);
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`Twilio API base URL must be http or https, not ${url.protocol}`);
    const { agents, ca: trusted } = await this.transportFor();
    const agent = agents[url.protocol];
    // Given with each request as well as to the agent: through a proxy, the TLS to the API is
    // made from the request's options.
    const ca = url.protocol === 'https:' ? trusted : undefined;
    const send = url.protocol === 'https:' ? https.request : http.request;
    // As RequestClient: a timeout of 0 (or none) means the default, not "no timeout".
    const timeout = opts.timeout || this.options.timeoutMs;
    return new Promise((resolve, reject) => {
      const req = send(url, { method: opts.method.toUpperCase(), headers, agent, timeout, ...(ca ? { ca } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error(`Twilio API: nothing sent or received for ${timeout} ms`), { code: 'ETIMEDOUT' })));
      // The timeout above starts with the socket; through a proxy the socket comes only once
      // the proxy answers CONNECT, so a proxy that never does would hold the send (and its
      // dispatcher slot) for ever. Nothing has reached Twilio then.
      let connected = false;
      req.once('socket', () => {
        connected = true;
      });
      const connecting = setTimeout(() => {
        if (connected) return;
        // Rejected here: a request destroyed before it has a socket reports its error only
        // when the socket arrives, which is never.
        const err = Object.assign(new Error(`Twilio API: no connection within ${timeout} ms (nothing sent)`), { code: 'ECONNECTTIMEOUT' });
        req.destroy(err);
        reject(err);
      }, timeout);
      req.once('close', () => clearTimeout(connecting));
      req.on('error', reject);
      req.end(body);
    });
  }

  async close(): Promise<void> {
    const transport = await this.transport?.catch(() => undefined);
    if (!transport) return;
    for (const agent of new Set(Object.values(transport.agents))) agent.destroy();
  }

  // Made at the first request: a process that never texts never loads the proxy agent. A CA
  // file that could not be read is tried again at the next request.
  private transportFor(): Promise<Transport> {
    this.transport ??= (async () => {
      const ca = this.options.caFile ? await readFile(this.options.caFile) : undefined;
      const pool = { keepAlive: true, maxSockets: 100, timeout: IDLE_SOCKET_MS, ...(ca ? { ca } : {}) };
      if (this.options.proxyUrl) {
        const { HttpsProxyAgent } = await import('https-proxy-agent');
        // No socket limit of its own: https-proxy-agent counts a CONNECT the proxy never answers
        // against it for good (agent-base 9), so a hundred of those would block every later
        // send. The dispatcher's concurrency bounds the sockets anyway.
        const tunnel = new HttpsProxyAgent(this.options.proxyUrl, { ...pool, maxSockets: Number.POSITIVE_INFINITY });
        // Its constructor replaces the options Node's Agent reads when it keeps an idle
        // socket (https-proxy-agent 9): without this, idle tunnels never time out on our side.
        tunnel.options.timeout = IDLE_SOCKET_MS;
        return { agents: { 'http:': tunnel, 'https:': tunnel }, ca };
      }
      return { agents: { 'http:': new http.Agent(pool), 'https:': new https.Agent(pool) }, ca };
    })().catch((err: unknown) => {
      this.transport = undefined;
      throw err;
    });
    return this.transport;
  }
}

interface Transport {
  agents: Record<'http:' | 'https:', http.Agent>;
  ca: Buffer | undefined;
}

/** As twilio's RequestClient encodes forms (qs, arrayFormat "repeat"): `To=a&To=b`; undefined is left out. */
function formEncode(data: Record<string, unknown>): string {
  const form = new URLSearchParams();
  for (const [key, value] of Object.entries(data)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v === undefined) continue;
      if (v instanceof Date) {
        form.append(key, v.toISOString());
        continue;
      }
      if (v !== null && typeof v === 'object') throw new Error(`cannot form-encode the nested value of ${key}`);
      form.append(key, v === null ? '' : String(v));
    }
  }
  return form.toString();
}
