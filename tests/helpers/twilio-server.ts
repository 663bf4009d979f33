import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local HTTP server speaking the part of Twilio's REST API (2010-04-01
 * Messages resource) that the real `twilio` client uses to send and look up
 * SMS, answering with Twilio's JSON shapes and error bodies:
 *
 *   POST /2010-04-01/Accounts/{AccountSid}/Messages.json   (form: To, From | MessagingServiceSid, Body)
 *   GET  /2010-04-01/Accounts/{AccountSid}/Messages.json?To=…&From=…&PageSize=…
 *
 * Basic auth with AccountSid:AuthToken; a wrong pair gets Twilio's 401 (20003).
 * Scriptable: the next N creates answer 429 (20429), a given number answers 400
 * with 21211 / 21610 / 21614, the next create answers 500 — optionally after
 * accepting the message anyway (an uncertain send).
 */

export interface TwilioMessage {
  sid: string;
  accountSid: string;
  to: string;
  from: string | null;
  messagingServiceSid: string | null;
  body: string;
  status: 'queued' | 'accepted';
  dateCreated: Date;
  numSegments: number;
}

export interface TwilioRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  form: Record<string, string>;
  status: number;
  /** The Twilio error code of the answer, if it was an error. */
  code: number | null;
}

export interface TwilioErrorBody {
  code: number;
  message: string;
  more_info: string;
  status: number;
}

const ERROR_MESSAGES: Record<number, string> = {
  20003: 'Authenticate',
  20404: 'The requested resource was not found',
  20429: 'Too Many Requests',
  20500: 'Internal Server Error',
  21211: "Invalid 'To' Phone Number",
  21602: 'Message body is required.',
  21603: "A 'From' or 'MessagingServiceSid' parameter is required to send a message.",
  21604: "A 'To' phone number is required.",
  21610: 'Attempt to send to unsubscribed recipient',
  21614: "'To' number is not a valid mobile number",
  21617: 'The concatenated message body exceeds the 1600 character limit.',
};

export function twilioError(status: number, code: number, message = ERROR_MESSAGES[code] ?? 'Error'): TwilioErrorBody {
  return { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status };
}

// GSM 03.38 default alphabet and its extension table, written out here
// independently of the code under test, for `num_segments`.
const GSM7 = '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM7_EXT = '\f^{}\\[~]|€';

/**
 * Segments as a carrier counts them: GSM-7 160 septets alone or 153 a part,
 * else UCS-2 70 UTF-16 units alone or 67 a part; a character (an escaped
 * extension septet pair, a surrogate pair) is never split across two parts.
 */
export function countSegments(body: string): number {
  const chars = [...body];
  const gsm = chars.every((ch) => GSM7.includes(ch) || GSM7_EXT.includes(ch));
  const width = (ch: string) => (gsm ? (GSM7_EXT.includes(ch) ? 2 : 1) : ch.length);
  const total = chars.reduce((n, ch) => n + width(ch), 0);
  if (total <= (gsm ? 160 : 70)) return 1;
  const part = gsm ? 153 : 67;
  let parts = 1;
  let used = 0;
  for (const ch of chars) {
    if (used + width(ch) > part) {
      parts++;
      used = 0;
    }
    used += width(ch);
  }
  return parts;
}

/** Twilio writes dates as RFC 2822: "Wed, 18 Aug 2010 20:01:40 +0000". */
function rfc2822(d: Date): string {
  return d.toUTCString().replace(/GMT$/, '+0000');
}

export class TwilioServer {
  readonly messages: TwilioMessage[] = [];
  readonly requests: TwilioRequest[] = [];
  /** TCP connections accepted so far (kept-alive ones count once). */
  connections = 0;
  baseUrl = '';
  private server: http.Server;
  private throttle = 0;
  private failures: { status: number; code: number; accept: boolean }[] = [];
  private numberErrors = new Map<string, number>();
  private holds = 0;
  /** How long a lookup (GET) waits before it is answered. */
  lookupDelayMs = 0;
  /** Lookups held back by lookupDelayMs so far. */
  delayedLookups = 0;
  private held: http.ServerResponse[] = [];
  private readonly now: () => Date;

  constructor(
    readonly accountSid: string,
    readonly authToken: string,
    options: { now?: () => Date } = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        try {
          this.handle(req, Buffer.concat(chunks).toString('utf8'), res);
        } catch (err) {
          this.send(res, 500, twilioError(500, 20500, String(err)));
        }
      });
    });
    this.server.keepAliveTimeout = 5_000;
    this.server.on('connection', () => {
      this.connections++;
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The next `n` creates answer 429 Too Many Requests (20429). */
  throttleNext(n: number): void {
    this.throttle = n;
  }

  /**
   * The next create answers `status` (default 500, Twilio 20500). With `accept`,
   * the message is recorded (and listed) anyway: the caller can't know it went.
   */
  failNextCreate(options: { status?: number; code?: number; accept?: boolean } = {}): void {
    const status = options.status ?? 500;
    this.failures.push({ status, code: options.code ?? (status === 503 ? 20503 : 20500), accept: options.accept ?? false });
  }

  /** The next `n` creates are accepted (the message goes out) but never answered, until hangUpHeld(). */
  holdNextCreates(n = 1): void {
    this.holds += n;
  }

  /** Cuts the connections of the held creates, as a provider that went away does. */
  hangUpHeld(): void {
    for (const res of this.held.splice(0)) res.destroy();
  }

  /** Every create to `number` answers 400 with `code` (21211 invalid, 21610 unsubscribed, 21614 not mobile). */
  rejectNumber(number: string, code: 21211 | 21610 | 21614 | number): void {
    this.numberErrors.set(number, code);
  }

  reset(): void {
    this.messages.length = 0;
    this.requests.length = 0;
    this.throttle = 0;
    this.failures.length = 0;
    this.numberErrors.clear();
    this.holds = 0;
    this.lookupDelayMs = 0;
    this.hangUpHeld();
  }

  /** Messages accepted for `to`. */
  to(number: string): TwilioMessage[] {
    return this.messages.filter((m) => m.to === number);
  }

  /** The create requests received (whatever the answer). */
  get creates(): TwilioRequest[] {
    return this.requests.filter((r) => r.method === 'POST');
  }

  private handle(req: http.IncomingMessage, rawBody: string, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const query = Object.fromEntries(url.searchParams);
    const isForm = /application\/x-www-form-urlencoded/i.test(String(req.headers['content-type'] ?? ''));
    const form = isForm ? Object.fromEntries(new URLSearchParams(rawBody)) : {};
    const record = (status: number, code: number | null) => this.requests.push({ method: req.method ?? 'GET', path: url.pathname, query, form, status, code });
    const fail = (status: number, code: number, message?: string) => {
      record(status, code);
      this.send(res, status, twilioError(status, code, message));
    };

    const m = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(url.pathname);
    if (!m) return fail(404, 20404);
    if (!this.authorized(req.headers.authorization, m[1]!)) {
      record(401, 20003);
      res.setHeader('www-authenticate', 'Basic realm="Twilio API"');
      return this.send(res, 401, twilioError(401, 20003));
    }

    if (req.method === 'GET' && this.lookupDelayMs > 0) {
      const delay = this.lookupDelayMs;
      this.lookupDelayMs = 0;
      this.delayedLookups++;
      setTimeout(() => this.handle(req, rawBody, res), delay);
      return;
    }
    if (req.method === 'GET') {
      const pageSize = Math.min(Math.max(Number(query.PageSize ?? 50) || 50, 1), 1000);
      const list = this.messages
        .filter((msg) => (!query.To || msg.to === query.To) && (!query.From || msg.from === query.From))
        .sort((a, b) => b.dateCreated.getTime() - a.dateCreated.getTime())
        .slice(0, pageSize)
        .map((msg) => this.json(msg));
      record(200, null);
      const uri = `${url.pathname}?${url.searchParams.toString()}`;
      return this.send(res, 200, {
        messages: list,
        end: Math.max(0, list.length - 1),
        first_page_uri: `${url.pathname}?PageSize=${pageSize}&Page=0`,
        next_page_uri: null,
        previous_page_uri: null,
        page: 0,
        page_size: pageSize,
        start: 0,
        uri,
      });
    }
    if (req.method !== 'POST') return fail(405, 20004, 'Method not allowed');

    const to = form.To;
    const from = form.From || null;
    const messagingServiceSid = form.MessagingServiceSid || null;
    const body = form.Body ?? '';
    if (!to) return fail(400, 21604);
    if (!from && !messagingServiceSid) return fail(400, 21603);
    if (!body) return fail(400, 21602);
    if (body.length > 1600) return fail(400, 21617);
    if (this.throttle > 0) {
      this.throttle--;
      return fail(429, 20429);
    }
    const numberError = this.numberErrors.get(to);
    if (numberError !== undefined) {
      const text = numberError === 21211 ? `The 'To' number ${to} is not a valid phone number.` : undefined;
      return fail(400, numberError, text);
    }
    const failure = this.failures.shift();
    if (failure && !failure.accept) return fail(failure.status, failure.code);

    const message: TwilioMessage = {
      sid: `SM${randomBytes(16).toString('hex')}`,
      accountSid: this.accountSid,
      to,
      from,
      messagingServiceSid,
      body,
      status: messagingServiceSid && !from ? 'accepted' : 'queued',
      dateCreated: this.now(),
      numSegments: countSegments(body),
    };
    this.messages.push(message);
    if (failure) return fail(failure.status, failure.code);
    record(201, null);
    if (this.holds > 0) {
      this.holds--;
      this.held.push(res);
      return;
    }
    this.send(res, 201, this.json(message));
  }

  private authorized(header: string | undefined, pathSid: string): boolean {
    const m = /^Basic\s+(.+)$/i.exec(header ?? '');
    if (!m) return false;
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    return i > 0 && decoded.slice(0, i) === this.accountSid && decoded.slice(i + 1) === this.authToken && pathSid === this.accountSid;
  }

  /** A Message resource as the API renders it. */
  private json(msg: TwilioMessage): Record<string, unknown> {
    const created = rfc2822(msg.dateCreated);
    const uri = `/2010-04-01/Accounts/${msg.accountSid}/Messages/${msg.sid}.json`;
    return {
      account_sid: msg.accountSid,
      api_version: '2010-04-01',
      body: msg.body,
      date_created: created,
      date_sent: null,
      date_updated: created,
      direction: 'outbound-api',
      error_code: null,
      error_message: null,
      from: msg.from,
      messaging_service_sid: msg.messagingServiceSid,
      num_media: '0',
      num_segments: String(msg.numSegments),
      price: null,
      price_unit: 'USD',
      sid: msg.sid,
      status: msg.status,
      subresource_uris: {
        media: `/2010-04-01/Accounts/${msg.accountSid}/Messages/${msg.sid}/Media.json`,
        feedback: `/2010-04-01/Accounts/${msg.accountSid}/Messages/${msg.sid}/Feedback.json`,
      },
      to: msg.to,
      uri,
    };
  }

  private send(res: http.ServerResponse, status: number, body: unknown): void {
    const payload = Buffer.from(JSON.stringify(body));
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(payload.length),
      'twilio-request-id': `RQ${randomBytes(16).toString('hex')}`,
    });
    res.end(payload);
  }
}

export async function startTwilioServer(accountSid: string, authToken: string, options: { now?: () => Date } = {}): Promise<TwilioServer> {
  return new TwilioServer(accountSid, authToken, options).start();
}
