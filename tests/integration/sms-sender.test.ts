import http from 'node:http';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SendError } from '../../src/channels/errors.ts';
import { createSmsSender, type SmsSender } from '../../src/channels/senders.ts';
import { TwilioHttpClient } from '../../src/channels/twilio-http.ts';
import { startTwilioServer, type TwilioServer } from '../helpers/twilio-server.ts';

/**
 * The SMS sender's HTTP path on its own: the real twilio client, through our HTTP client
 * (src/channels/twilio-http.ts), to a local server speaking Twilio's Messages API, and to
 * servers that misbehave in the ways a network or a proxy does.
 */
const SID = `AC${'5'.repeat(32)}`;
const TOKEN = 'sender-test-token';
const FROM = '+15005550006';
const TO = '+12025550143';

let server: TwilioServer;
beforeAll(async () => {
  server = await startTwilioServer(SID, TOKEN);
});
afterAll(async () => {
  await server?.stop();
});
beforeEach(() => server.reset());

function sender(overrides: Partial<Parameters<typeof createSmsSender>[0]> = {}): SmsSender {
  return createSmsSender({
    accountSid: SID,
    authToken: TOKEN,
    from: FROM,
    messagingServiceSid: undefined,
    apiBaseUrl: server.baseUrl,
    outboxDir: '/nonexistent',
    ...overrides,
  });
}

async function sendError(p: Promise<unknown>): Promise<SendError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SendError);
  return err as SendError;
}

/** The error of one text sent with these settings (the sender closed after it). */
async function failedSend(overrides: Partial<Parameters<typeof createSmsSender>[0]>): Promise<SendError> {
  const s = sender(overrides);
  try {
    return await sendError(s.send({ to: TO, body: 'x' }, 'd1'));
  } finally {
    await s.close();
  }
}

/** A server that answers every request its own way; closed after the test. */
async function withServer(handler: http.RequestListener, run: (baseUrl: string) => Promise<void>): Promise<void> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('the SMS sender on the wire', () => {
  it('posts To, From and the body as a form with the account credentials, and answers the message sid', async () => {
    const s = sender();
    const body = 'Sicherheitshinweis: Демонстрации в Москве 10 марта 🚨 & "quotes" + 100% = ok';
    const { providerId } = await s.send({ to: TO, body }, 'd1');
    await s.close();
    expect(server.creates).toHaveLength(1);
    expect(server.creates[0]).toMatchObject({ method: 'POST', status: 201, form: { To: TO, From: FROM, Body: body } });
    expect(server.messages).toHaveLength(1);
    expect(providerId).toBe(server.messages[0]!.sid);
    expect(server.messages[0]!.body).toBe(body);
  });

  it('sends one after another over one kept-alive connection', async () => {
    const s = sender();
    const before = server.connections;
    for (let i = 0; i < 5; i++) await s.send({ to: TO, body: `alert ${i}` }, `d${i}`);
    await s.close();
    expect(server.to(TO).map((m) => m.body)).toEqual(['alert 0', 'alert 1', 'alert 2', 'alert 3', 'alert 4']);
    expect(server.connections - before).toBe(1);
  });

  it('sends many at once, each exactly once', async () => {
    const s = sender();
    const numbers = Array.from({ length: 60 }, (_, i) => `+1202555${String(1000 + i)}`);
    const ids = await Promise.all(numbers.map((to, i) => s.send({ to, body: `alert ${i}` }, `d${i}`)));
    await s.close();
    expect(new Set(ids.map((r) => r.providerId)).size).toBe(60);
    expect(server.messages.map((m) => m.to).sort()).toEqual([...numbers].sort());
    for (const [i, to] of numbers.entries()) expect(server.to(to).map((m) => m.body)).toEqual([`alert ${i}`]);
  });

  it('uses the messaging service instead of a From number when one is configured', async () => {
    const s = sender({ from: undefined, messagingServiceSid: `MG${'1'.repeat(32)}` });
    await s.send({ to: TO, body: 'hello' }, 'd1');
    await s.close();
    expect(server.creates[0]!.form).toEqual({ To: TO, MessagingServiceSid: `MG${'1'.repeat(32)}`, Body: 'hello' });
  });

  it('finds a message Twilio already accepted (the query reaches the API) and nothing for another body', async () => {
    const s = sender();
    const since = new Date();
    const { providerId } = await s.send({ to: TO, body: 'first' }, 'd1');
    expect(await s.findSent({ to: TO, body: 'first' }, since)).toBe(providerId);
    expect(await s.findSent({ to: TO, body: 'second' }, since)).toBeNull();
    await s.close();
    const lookups = server.requests.filter((r) => r.method === 'GET');
    expect(lookups).toHaveLength(2);
    for (const r of lookups) expect(r.query.To).toBe(TO);
  });

  it('wrong credentials: Twilio’s 401 is a retryable error (our configuration), nothing sent', async () => {
    const e = await failedSend({ authToken: 'wrong' });
    expect(e.retryable).toBe(true);
    expect(e.message).toContain('401');
    expect(server.messages).toHaveLength(0);
  });

  it('a refused number is permanent for the recipient, with Twilio’s code in the message', async () => {
    server.rejectNumber(TO, 21211);
    const e = await failedSend({});
    expect(e).toMatchObject({ retryable: false, scope: 'recipient' });
    expect(e.message).toContain('21211');
  });

  it('nothing listening: retryable, and certain that nothing was sent', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const e = await failedSend({ apiBaseUrl: `http://127.0.0.1:${port}` });
    expect(e).toMatchObject({ retryable: true, uncertain: false });
  });

  it('no answer within the timeout: given up as uncertain (the request may have gone through)', async () => {
    let received = 0;
    await withServer(
      () => {
        received++; // reads the request, never answers
      },
      async (baseUrl) => {
        const started = Date.now();
        const e = await failedSend({ apiBaseUrl: baseUrl, timeoutMs: 300 });
        expect(Date.now() - started).toBeLessThan(5_000);
        expect(received).toBe(1);
        expect(e).toMatchObject({ retryable: true, uncertain: true });
      },
    );
  });

  it('a proxy’s 502 with an HTML page: retryable and uncertain, its status in the message', async () => {
    await withServer(
      (_req, res) => {
        res.writeHead(502, { 'content-type': 'text/html' }).end('<html><body><h1>502 Bad Gateway</h1></body></html>');
      },
      async (baseUrl) => {
        const e = await failedSend({ apiBaseUrl: baseUrl });
        expect(e).toMatchObject({ retryable: true, uncertain: true });
        expect(e.message).toContain('502');
      },
    );
  });

  it.each([
    [407, 'Proxy Authentication Required'],
    [404, 'Not Found'],
    [405, 'Method Not Allowed'],
  ])('a %i page that is not Twilio’s (a proxy or a wrong base URL) is retried, not dropped: nothing was created', async (status, text) => {
    await withServer(
      (_req, res) => {
        res.writeHead(status, { 'content-type': 'text/html' }).end(`<html><body><h1>${status} ${text}</h1></body></html>`);
      },
      async (baseUrl) => {
        const e = await failedSend({ apiBaseUrl: baseUrl });
        expect(e).toMatchObject({ retryable: true, uncertain: false });
        expect(e.message).toContain(String(status));
      },
    );
  });

  it('a redirect is not followed, and retried as certainly not sent', async () => {
    let followed = false;
    await withServer(
      (req, res) => {
        if (req.url?.startsWith('/elsewhere')) followed = true;
        res.writeHead(301, { location: '/elsewhere/Messages.json' }).end();
      },
      async (baseUrl) => {
        const e = await failedSend({ apiBaseUrl: baseUrl });
        expect(e).toMatchObject({ retryable: true, uncertain: false });
        expect(e.message).toContain('301');
        expect(followed).toBe(false);
      },
    );
  });

  it('form fields as twilio encodes them: a list repeats its key, in order', async () => {
    let form = '';
    await withServer(
      (req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => {
          body += c.toString('utf8');
        });
        req.on('end', () => {
          form = body;
          res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ sid: 'SM1', status: 'queued', date_created: null }));
        });
      },
      async (baseUrl) => {
        const s = sender({ apiBaseUrl: baseUrl });
        await s.send({ to: TO, body: 'a & b = c' }, 'd1');
        await s.close();
        expect(new URLSearchParams(form).get('Body')).toBe('a & b = c');
        // A list field (the sender sends none) through the same HTTP client under the real twilio client.
        const httpClient = new TwilioHttpClient({ baseUrl, timeoutMs: 2_000 });
        await twilio(SID, TOKEN, { httpClient: httpClient as unknown as RequestClient }).messages.create({
          to: TO,
          from: FROM,
          body: 'x',
          mediaUrl: ['https://a.example/1.png', 'https://a.example/2.png'],
        });
        await httpClient.close();
        expect(new URLSearchParams(form).getAll('MediaUrl')).toEqual(['https://a.example/1.png', 'https://a.example/2.png']);
      },
    );
  });

  it('through HTTP_PROXY: each request goes through the proxy’s CONNECT tunnel, and the message arrives', async () => {
    const tunnels: string[] = [];
    const proxy = http.createServer((_req, res) => res.writeHead(405).end());
    proxy.on('connect', (req: http.IncomingMessage, client: Socket, head: Buffer) => {
      tunnels.push(req.url ?? '');
      const [host, port] = (req.url ?? '').split(':');
      const upstream = connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const s = sender({ proxyUrl: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` });
      const { providerId } = await s.send({ to: TO, body: 'via the proxy' }, 'd1');
      await s.close();
      expect(providerId).toBe(server.messages[0]!.sid);
      expect(server.messages.map((m) => m.body)).toEqual(['via the proxy']);
      expect(tunnels).toEqual([new URL(server.baseUrl).host]);
    } finally {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });

  it('a proxy that takes the connection and never answers CONNECT: given up after the timeout, certainly not sent', async () => {
    const held: Socket[] = [];
    const silent = createServer((socket) => {
      held.push(socket);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const started = Date.now();
      const e = await failedSend({ proxyUrl: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`, timeoutMs: 300 });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(e).toMatchObject({ retryable: true, uncertain: false });
      expect(server.messages).toHaveLength(0);
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('a connection cut mid-answer: retryable and uncertain', async () => {
    await withServer(
      (_req, res) => {
        res.writeHead(201, { 'content-type': 'application/json', 'content-length': '500' });
        res.write('{"sid": "SM');
        setTimeout(() => res.socket?.destroy(), 20);
      },
      async (baseUrl) => {
        const e = await failedSend({ apiBaseUrl: baseUrl });
        expect(e).toMatchObject({ retryable: true, uncertain: true });
      },
    );
  });
});
