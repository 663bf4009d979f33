import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Transporter } from 'nodemailer';
import type RequestClient from 'twilio/lib/base/RequestClient.js';
import { TWILIO_API_URL } from '../config/app-config.ts';
import { classifySmtpError, classifyTwilioError } from './errors.ts';
import { TwilioHttpClient } from './twilio-http.ts';

/** The two outbound channels, each behind a small interface so the dispatcher doesn't care where messages go. */

// nodemailer and twilio (with axios and its dependencies) are loaded on the first send, not
// when a sender is made: commands that build the wiring but send nothing (a `poll`, a
// `dispatch` with no SMS due) would otherwise pay a few hundred milliseconds to load them.
async function loadNodemailer() {
  return (await import('nodemailer')).default;
}

/** Memoises an async factory; a failed attempt is forgotten so the next call tries again. */
function lazy<T>(make: () => Promise<T>): { get(): Promise<T>; started(): boolean } {
  let p: Promise<T> | undefined;
  return {
    get: () => {
      p ??= make().catch((err: unknown) => {
        p = undefined;
        throw err;
      });
      return p;
    },
    started: () => p !== undefined,
  };
}

export interface EmailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
  headers: Record<string, string>;
}

export interface EmailSender {
  readonly kind: 'smtp' | 'file';
  send(message: EmailMessage, ref: string): Promise<{ providerId: string }>;
  close(): Promise<void>;
}

export interface SmsMessage {
  to: string;
  body: string;
}

export interface SmsSender {
  readonly kind: 'twilio' | 'file';
  send(message: SmsMessage, ref: string): Promise<{ providerId: string }>;
  /** After an uncertain send: the id of a message already accepted for this number and body, if any. */
  findSent(message: SmsMessage, since: Date): Promise<string | null>;
  close(): Promise<void>;
}

function outboxName(ref: string, ext: string): string {
  return `${new Date().toISOString().replace(/[:.]/g, '-')}-${ref.replace(/[^a-z0-9-]/gi, '_')}.${ext}`;
}

export function createEmailSender(options: { smtpUrl: string | undefined; from: string; outboxDir: string; connections: number }): EmailSender {
  if (!options.smtpUrl) {
    // Without SMTP_URL, messages are complete RFC 5322 files, readable by any mail client.
    const transport = lazy(async () => (await loadNodemailer()).createTransport({ streamTransport: true, buffer: true, newline: 'unix' }));
    const dir = path.join(options.outboxDir, 'email');
    return {
      kind: 'file',
      async send(message, ref) {
        const info = await (await transport.get()).sendMail({ from: options.from, ...message });
        await mkdir(dir, { recursive: true });
        const file = outboxName(ref, 'eml');
        await writeFile(path.join(dir, file), info.message as Buffer);
        return { providerId: `file:${file}` };
      },
      async close() {
        if (transport.started()) (await transport.get()).close();
      },
    };
  }
  const smtpOptions = {
    url: options.smtpUrl,
    pool: true,
    maxConnections: options.connections,
    maxMessages: Infinity,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  };
  const transport = lazy(async (): Promise<Transporter> => (await loadNodemailer()).createTransport(smtpOptions as unknown as string));
  return {
    kind: 'smtp',
    async send(message) {
      try {
        const info = await (await transport.get()).sendMail({ from: options.from, ...message });
        return { providerId: info.messageId };
      } catch (err) {
        throw classifySmtpError(err);
      }
    },
    async close() {
      if (transport.started()) (await transport.get()).close();
    },
  };
}

export function createSmsSender(options: {
  accountSid: string | undefined;
  authToken: string | undefined;
  from: string | undefined;
  messagingServiceSid: string | undefined;
  apiBaseUrl: string;
  outboxDir: string;
  proxyUrl?: string | undefined;
  caFile?: string | undefined;
  /** How long a request to Twilio may go silent before it is given up as uncertain; default 15 s. */
  timeoutMs?: number;
}): SmsSender {
  if (!options.accountSid || !options.authToken) {
    const dir = path.join(options.outboxDir, 'sms');
    return {
      kind: 'file',
      async send(message, ref) {
        await mkdir(dir, { recursive: true });
        const file = outboxName(ref, 'txt');
        await writeFile(path.join(dir, file), `To: ${message.to}\n\n${message.body}\n`);
        return { providerId: `file:${file}` };
      },
      async findSent() {
        return null;
      },
      async close() {},
    };
  }
  const { accountSid, authToken, apiBaseUrl } = options;
  // twilio-node has no base-URL option: the HTTP client (its documented extension point)
  // sends to TWILIO_API_BASE_URL instead of https://api.twilio.com when it is set.
  const httpClient = new TwilioHttpClient({
    baseUrl: apiBaseUrl === TWILIO_API_URL ? undefined : apiBaseUrl,
    timeoutMs: options.timeoutMs ?? 15_000,
    proxyUrl: options.proxyUrl,
    caFile: options.caFile,
  });
  const twilioClient = lazy(async () => {
    const { default: twilio } = await import('twilio');
    return twilio(accountSid, authToken, {
      // Typed as twilio's own class (axios and all); twilio only ever calls request() on it.
      httpClient: httpClient as unknown as RequestClient,
      autoRetry: false,
    });
  });
  const sender = options.messagingServiceSid ? { messagingServiceSid: options.messagingServiceSid } : { from: options.from! };
  return {
    kind: 'twilio',
    async send(message) {
      try {
        const m = await (await twilioClient.get()).messages.create({ to: message.to, body: message.body, ...sender });
        return { providerId: m.sid };
      } catch (err) {
        throw classifyTwilioError(err);
      }
    },
    async findSent(message, since) {
      try {
        // Filter on creation time ourselves: a queued message has no DateSent yet.
        const list = await (await twilioClient.get()).messages.list({ to: message.to, limit: 50 });
        const after = since.getTime() - 60_000;
        return (
          list.find((m) => m.body === message.body && m.dateCreated.getTime() >= after && m.status !== 'failed' && m.status !== 'undelivered')?.sid ?? null
        );
      } catch (err) {
        throw classifyTwilioError(err);
      }
    },
    async close() {
      await httpClient.close();
    },
  };
}
