import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/common/clock.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { loadConfig, type AppConfig } from '../../src/config/load.ts';
import { fanOut, listDeliveries, syncWebhooks } from '../../src/delivery/repository.ts';
import { createDispatcher } from '../../src/runtime.ts';
import { addAdvisory, addFeed, changeAdvisory } from '../helpers/advice.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { waitFor } from '../helpers/web.ts';

// Outgoing webhooks through the deliveries outbox, against a real local HTTP
// receiver that checks signatures with the Standard Webhooks reference library.

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  verified: boolean;
}

/** Answers per path from a script: a status, or 'hang' (never answers in time). */
class Receiver {
  readonly received: Received[] = [];
  private server: http.Server;
  private scripts = new Map<string, ('hang' | number)[]>();
  url = '';

  constructor(private readonly secret: string) {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let verified = false;
        try {
          new Webhook(this.secret).verify(body, req.headers as Record<string, string>);
          verified = true;
        } catch {
          verified = false;
        }
        const p = req.url ?? '/';
        this.received.push({ path: p, headers: req.headers, body, verified });
        const next = this.scripts.get(p)?.shift() ?? 200;
        if (next === 'hang') {
          setTimeout(() => res.writeHead(200).end(), 3000).unref();
          return;
        }
        res.writeHead(next, { 'content-type': 'text/plain' }).end(next === 200 ? 'ok' : 'nope');
      });
    });
  }

  script(p: string, answers: ('hang' | number)[]): void {
    this.scripts.set(p, answers);
  }

  at(p: string): Received[] {
    return this.received.filter((r) => r.path === p);
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const SECRET = `whsec_${randomBytes(24).toString('base64')}`;
let tdb: TestDatabase;
let receiver: Receiver;
let config: AppConfig;
let root: string;

beforeAll(async () => {
  tdb = await openTestDatabase();
  receiver = await new Receiver(SECRET).start();
  root = mkdtempSync(path.join(tmpdir(), 'aa-hooks-'));
  const configDir = path.join(root, 'config');
  mkdirSync(configDir);
  writeFileSync(path.join(configDir, 'feeds.yaml'), 'feeds: []\n');
  writeFileSync(
    path.join(configDir, 'settings.yaml'),
    JSON.stringify({ delivery: { retryBaseSeconds: 0.02, retryMaxSeconds: 0.05, webhook: { timeoutSeconds: 0.5 } } }),
  );
  writeFileSync(
    path.join(configDir, 'webhooks.yaml'),
    `webhooks:
  - id: security-team
    url: ${receiver.url}/security
    secret: \${SECURITY_TEAM_WEBHOOK_SECRET}
    countries: [RU, UA]
    minLevel: 3
  - id: chat
    url: ${receiver.url}/slack
    format: slack
  - id: france-desk
    url: ${receiver.url}/france
    secret: \${SECURITY_TEAM_WEBHOOK_SECRET}
    countries: [FR]
`,
  );
  config = loadConfig({
    CONFIG_DIR: configDir,
    DATA_DIR: path.join(root, 'data'),
    SECURITY_TEAM_WEBHOOK_SECRET: SECRET,
    APP_SECRET: 'webhook-test-secret-0123456789',
  });
  await syncWebhooks(tdb.db, config.webhooks);
});

afterAll(async () => {
  await receiver?.close();
  await tdb?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('outgoing webhooks', () => {
  it('signs, retries 500s and a timeout, and delivers once per endpoint and event', async () => {
    const db = tdb.db;
    await addFeed(db, { id: 'us-state-dept', name: 'U.S. State Department travel advisories', source: 'us-state-dept' });
    const { advisoryId } = await addAdvisory(db, 'us-state-dept', 'russia', ['RU'], {
      level: 3,
      levelText: 'Level 3: Reconsider Travel',
      title: 'Russia - Level 3',
      at: new Date('2026-01-01T00:00:00Z'),
    });
    const eventId = await changeAdvisory(db, advisoryId, {
      level: 4,
      levelText: 'Level 4: Do Not Travel',
      title: 'Russia - Level 4: Do Not Travel <b>now</b>',
      body: 'Do not travel.',
      link: 'https://travel.state.gov/russia',
      at: new Date(),
    });

    receiver.script('/security', [500, 500, 200]);
    receiver.script('/slack', ['hang', 200]);
    // The poll's fan-out: one row per matching endpoint, none for France; twice changes nothing.
    expect(await fanOut(db, [eventId], new Date())).toBe(2);
    expect(await fanOut(db, [eventId], new Date())).toBe(0);

    const { dispatcher, close } = createDispatcher(config, db, silentLogger, systemClock);
    try {
      await waitFor(
        'both endpoints to accept',
        async () => {
          await dispatcher.drain();
          const rows = await listDeliveries(db, {});
          return rows.length === 2 && rows.every((r) => r.status === 'sent') && rows;
        },
        { timeoutMs: 20_000 },
      );
    } finally {
      await close();
    }

    const security = receiver.at('/security');
    expect(security).toHaveLength(3);
    expect(security.every((r) => r.verified)).toBe(true);
    // The same message id on every try: a receiver can drop a duplicate.
    expect(new Set(security.map((r) => r.headers['webhook-id']))).toEqual(new Set([`evt_${eventId}`]));
    const payload = JSON.parse(security[2]!.body) as {
      type: string;
      data: { id: number; level: number; previousLevel: number; countries: string[]; title: string };
    };
    expect(payload.type).toBe('advisory.level-raised');
    expect(payload.data).toMatchObject({ id: eventId, level: 4, previousLevel: 3, countries: ['RU'], title: 'Russia - Level 4: Do Not Travel <b>now</b>' });

    const slack = receiver.at('/slack');
    expect(slack).toHaveLength(2);
    const text = (JSON.parse(slack[1]!.body) as { text: string }).text;
    expect(text).toContain('*Russia: United States raised to level 4 (Level 4: Do Not Travel) from 3*');
    // Slack markup from the feed is escaped.
    expect(text).toContain('&lt;b&gt;now&lt;/b&gt;');
    expect(text).toContain('<https://travel.state.gov/russia|Read it at the source>');
    expect(receiver.at('/france')).toHaveLength(0);

    const rows = await listDeliveries(db, {});
    expect(rows.map((r) => [r.subscriber, r.channel, r.status, r.attempts]).sort()).toEqual([
      ['webhook:chat', 'webhook', 'sent', 2],
      ['webhook:security-team', 'webhook', 'sent', 3],
    ]);
    const attempts = await db.selectFrom('delivery_attempts').select(['outcome', 'error']).orderBy('id').execute();
    expect(attempts.filter((a) => a.error?.includes('HTTP 500'))).toHaveLength(2);
    expect(attempts.filter((a) => a.error?.includes('no answer within 500 ms'))).toHaveLength(1);
  });

  it('a 4xx other than 408/429 fails at once; an unsigned or forged request does not verify', async () => {
    const db = tdb.db;
    const { advisoryId } = await addAdvisory(db, 'us-state-dept', 'ukraine', ['UA'], { level: 4, title: 'Ukraine - Level 4', at: new Date() }, { event: true });
    const eventId = await changeAdvisory(db, advisoryId, { level: 3, title: 'Ukraine - Level 3', at: new Date() });
    receiver.script('/security', [410]);
    receiver.script('/slack', [200]);
    await fanOut(db, [eventId], new Date());
    const { dispatcher, close } = createDispatcher(config, db, silentLogger, systemClock);
    try {
      await dispatcher.drain();
    } finally {
      await close();
    }
    const row = (await listDeliveries(db, {})).find((r) => r.event === eventId && r.subscriber === 'webhook:security-team');
    expect(row).toMatchObject({ status: 'failed', attempts: 1, lastError: 'webhook security-team: HTTP 410' });
    const forged = await fetch(`${receiver.url}/probe`, {
      method: 'POST',
      body: '{}',
      headers: { 'webhook-id': 'x', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': 'v1,AAAA' },
    });
    expect(forged.status).toBe(200);
    expect(receiver.at('/probe')[0]?.verified).toBe(false);
  });
});
