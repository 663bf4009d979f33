import http from 'node:http';
import https from 'node:https';
import type RequestClient from 'twilio/lib/base/RequestClient.js';

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
 * as text (twilio parses the JSON) and the headers. Like RequestClient, it never follows a
 * redirect, never retries (the dispatcher decides that) and resolves for every status: a
 * network failure or a timeout rejects with Node's error (its `code`, ECONNREFUSED,
 * ETIMEDOUT…, is what channels/errors.ts reads). `baseUrl`, when given, replaces
 * https://*.twilio.com (TWILIO_API_BASE_URL: a proxy, or a local Twilio-compatible server).
 */
export class TwilioHttpClient {
  private readonly agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: 100 }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: 100 }),
  };

  constructor(private readonly options: { baseUrl?: string; timeoutMs: number }) {}

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
    const agent = this.agents[url.protocol as 'http:' | 'https:'];
    if (!agent) throw new Error(`Twilio API base URL must be http or https, not ${url.protocol}`);
    const send = url.protocol === 'https:' ? https.request : http.request;
    const timeout = opts.timeout ?? this.options.timeoutMs;
    return new Promise((resolve, reject) => {
      const req = send(url, { method: opts.method.toUpperCase(), headers, agent, timeout }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error(`Twilio API did not answer within ${timeout} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agents['http:'].destroy();
    this.agents['https:'].destroy();
  }
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
