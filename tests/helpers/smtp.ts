import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerAddress, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { waitFor } from './wait.ts';

/**
 * An in-process SMTP server (npm `smtp-server`) for delivery tests: plain SMTP
 * on 127.0.0.1 with an ephemeral port, no TLS, optional auth. It collects every
 * accepted message, parsed by `mailparser`, and can be scripted to misbehave:
 * temporary (4xx) replies to the next N RCPT or DATA commands, permanent
 * (5xx) replies for given recipients, and a stop / start on the same port.
 */
export interface ReceivedMail {
  envelope: { from: string; to: string[] };
  /** The message as it came over the wire (after dot-unstuffing). */
  raw: string;
  parsed: ParsedMail;
  subject: string;
  text: string;
  html: string;
  /** Header name (lower case) → unfolded raw value, as sent. */
  headers: Map<string, string>;
}

interface Scripted {
  count: number;
  code: number;
  message: string;
}

function smtpError(code: number, message: string): Error & { responseCode: number } {
  return Object.assign(new Error(message), { responseCode: code });
}

export class TestSmtpServer {
  readonly messages: ReceivedMail[] = [];
  /** Every RCPT TO the server saw, accepted or not, in order. */
  readonly rcptLog: { address: string; code: number }[] = [];
  /** DATA commands the server answered, with the reply code. */
  readonly dataLog: { to: string[]; code: number }[] = [];
  private server: SMTPServer | undefined;
  private rcptFailures: Scripted = { count: 0, code: 451, message: '' };
  private dataFailures: Scripted = { count: 0, code: 451, message: '' };
  private rejected = new Map<string, { code: number; message: string }>();
  private parsing = new Set<Promise<void>>();
  port = 0;

  /** Listens on 127.0.0.1 (an ephemeral port the first time, the same port after a stop). */
  async start(): Promise<this> {
    if (this.server) return this;
    const server = new SMTPServer({
      secure: false,
      disabledCommands: ['STARTTLS'],
      authOptional: true,
      logger: false,
      banner: 'advisory-alerts test SMTP',
      size: 10 * 1024 * 1024,
      // A stop() should not wait 30 s for pooled client connections to go away.
      closeTimeout: 50,
      onAuth: (auth, _session, cb) => cb(null, { user: auth.username ?? 'anonymous' }),
      onRcptTo: (address, session, cb) => this.onRcptTo(address, session, cb),
      onData: (stream, session, cb) => this.onData(stream, session, cb),
    });
    server.on('error', () => {
      // Connection resets from a client that gave up are part of the tests.
    });
    await new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        server.server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.port = (server.server.address() as AddressInfo).port;
    return this;
  }

  /** Closes the listener and every open connection (the client sees 421 / a reset). */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const c of server.connections) {
        try {
          c.close();
        } catch {
          // already gone
        }
      }
    });
    await this.settled();
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  /** Answers the next `n` RCPT TO commands with `code` (a 4xx: try again later). */
  failNextRcpt(n: number, code = 451, message = '4.3.0 Temporary failure, try again later'): void {
    this.rcptFailures = { count: n, code, message };
  }

  /** Answers the next `n` DATA commands (after the message was read) with `code`. */
  failNextData(n: number, code = 451, message = '4.3.0 Temporary failure, try again later'): void {
    this.dataFailures = { count: n, code, message };
  }

  /** RCPT TO for this address answers `code` (a 5xx: the mailbox does not exist), for good. */
  rejectRecipient(address: string, code = 550, message = '5.1.1 No such user here'): void {
    this.rejected.set(address.toLowerCase(), { code, message });
  }

  /** Forgets every scripted failure (not the collected messages). */
  clearFailures(): void {
    this.rcptFailures.count = 0;
    this.dataFailures.count = 0;
    this.rejected.clear();
  }

  /** Forgets collected messages and scripted failures. */
  reset(): void {
    this.clearFailures();
    this.messages.length = 0;
    this.rcptLog.length = 0;
    this.dataLog.length = 0;
  }

  /** Messages whose envelope includes `address`. */
  to(address: string): ReceivedMail[] {
    const a = address.toLowerCase();
    return this.messages.filter((m) => m.envelope.to.includes(a));
  }

  /** The `n`th (1-based) message to `address`, waiting for it to arrive. */
  mail(address: string, n = 1): Promise<ReceivedMail> {
    return waitFor(`mail #${n} to ${address}`, async () => {
      await this.settled();
      return this.to(address)[n - 1];
    });
  }

  /** Waits until every accepted message has been parsed into `messages`. */
  async settled(): Promise<void> {
    while (this.parsing.size > 0) await Promise.all([...this.parsing]);
  }

  private onRcptTo(address: SMTPServerAddress, _session: SMTPServerSession, cb: (err?: Error | null) => void): void {
    const to = address.address.toLowerCase();
    const reject = this.rejected.get(to);
    if (reject) {
      this.rcptLog.push({ address: to, code: reject.code });
      return cb(smtpError(reject.code, reject.message));
    }
    if (this.rcptFailures.count > 0) {
      this.rcptFailures.count--;
      this.rcptLog.push({ address: to, code: this.rcptFailures.code });
      return cb(smtpError(this.rcptFailures.code, this.rcptFailures.message));
    }
    this.rcptLog.push({ address: to, code: 250 });
    cb();
  }

  private onData(stream: SMTPServerDataStream, session: SMTPServerSession, cb: (err?: Error | null, message?: string) => void): void {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const to = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
      if (stream.sizeExceeded) {
        this.dataLog.push({ to, code: 552 });
        return cb(smtpError(552, '5.3.4 Message too big'));
      }
      if (this.dataFailures.count > 0) {
        this.dataFailures.count--;
        this.dataLog.push({ to, code: this.dataFailures.code });
        return cb(smtpError(this.dataFailures.code, this.dataFailures.message));
      }
      this.dataLog.push({ to, code: 250 });
      const raw = Buffer.concat(chunks);
      const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
      // Record the message before answering 250, so a sender that saw "sent" finds it here.
      const parse = simpleParser(raw, { skipImageLinks: true })
        .then((parsed) => {
          this.messages.push({
            envelope: { from, to },
            raw: raw.toString('utf8'),
            parsed,
            subject: parsed.subject ?? '',
            text: parsed.text ?? '',
            html: typeof parsed.html === 'string' ? parsed.html : '',
            headers: new Map(
              parsed.headerLines.map((h) => [
                h.key,
                h.line
                  .slice(h.line.indexOf(':') + 1)
                  .replace(/\r?\n[ \t]+/g, ' ')
                  .trim(),
              ]),
            ),
          });
        })
        .finally(() => this.parsing.delete(parse));
      this.parsing.add(parse);
      parse.then(
        () => cb(null, `2.0.0 Ok: queued as ${this.messages.length}`),
        (err: unknown) => cb(smtpError(554, `5.6.0 Unparseable message: ${String(err)}`)),
      );
    });
  }
}

export async function startSmtpServer(): Promise<TestSmtpServer> {
  return new TestSmtpServer().start();
}
