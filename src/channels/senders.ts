import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import nodemailer, { type Transporter } from 'nodemailer';
import twilio from 'twilio';
import RequestClient from 'twilio/lib/base/RequestClient.js';
import { classifySmtpError, classifyTwilioError } from './errors.ts';

/** The two outbound channels, each behind a small interface so the dispatcher doesn't care where messages go. */

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
    const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
    const dir = path.join(options.outboxDir, 'email');
    return {
      kind: 'file',
      async send(message, ref) {
        const info = await transport.sendMail({ from: options.from, ...message });
        await mkdir(dir, { recursive: true });
        const file = outboxName(ref, 'eml');
        await writeFile(path.join(dir, file), info.message as Buffer);
        return { providerId: `file:${file}` };
      },
      async close() {
        transport.close();
      },
    };
  }
  const transport: Transporter = nodemailer.createTransport({
    url: options.smtpUrl,
    pool: true,
    maxConnections: options.connections,
    maxMessages: Infinity,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  } as unknown as string);
  return {
    kind: 'smtp',
    async send(message) {
      try {
        const info = await transport.sendMail({ from: options.from, ...message });
        return { providerId: info.messageId };
      } catch (err) {
        throw classifySmtpError(err);
      }
    },
    async close() {
      transport.close();
    },
  };
}

/**
 * twilio-node has no base-URL option; its documented extension point is a
 * custom HTTP client. This one rewrites https://*.twilio.com to
 * TWILIO_API_BASE_URL (a proxy, or a local Twilio-compatible server in tests).
 */
class BaseUrlRequestClient extends RequestClient {
  constructor(private readonly baseUrl: string) {
    super({ keepAlive: true, autoRetry: false, timeout: 15_000 });
  }
  override request<T>(opts: RequestClient.RequestOptions<T>) {
    return super.request({ ...opts, uri: opts.uri.replace(/^https:\/\/[a-z.]*twilio\.com/, this.baseUrl.replace(/\/+$/, '')) });
  }
}

export function createSmsSender(options: {
  accountSid: string | undefined;
  authToken: string | undefined;
  from: string | undefined;
  messagingServiceSid: string | undefined;
  apiBaseUrl: string;
  outboxDir: string;
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
  const client = twilio(options.accountSid, options.authToken, {
    httpClient: options.apiBaseUrl === 'https://api.twilio.com' ? undefined : new BaseUrlRequestClient(options.apiBaseUrl),
    autoRetry: false,
  });
  const sender = options.messagingServiceSid ? { messagingServiceSid: options.messagingServiceSid } : { from: options.from! };
  return {
    kind: 'twilio',
    async send(message) {
      try {
        const m = await client.messages.create({ to: message.to, body: message.body, ...sender });
        return { providerId: m.sid };
      } catch (err) {
        throw classifyTwilioError(err);
      }
    },
    async findSent(message, since) {
      try {
        // Filter on creation time ourselves: a queued message has no DateSent yet.
        const list = await client.messages.list({ to: message.to, limit: 50 });
        const after = since.getTime() - 60_000;
        return (
          list.find((m) => m.body === message.body && m.dateCreated.getTime() >= after && m.status !== 'failed' && m.status !== 'undelivered')?.sid ?? null
        );
      } catch (err) {
        throw classifyTwilioError(err);
      }
    },
    async close() {},
  };
}
