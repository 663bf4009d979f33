import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/common/clock.ts';
import { createLogger, silentLogger } from '../../src/common/logger.ts';
import { loadConfig, type AppConfig } from '../../src/config/load.ts';
import { fanOut, listDeliveries, syncWebhooks } from '../../src/delivery/repository.ts';
import { createDispatcher } from '../../src/runtime.ts';
import { runService, type RunningService } from '../../src/service.ts';
import { addAdvisory, addFeed, changeAdvisory } from '../helpers/advice.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { ManualClock } from '../helpers/poll.ts';
import { waitFor } from '../helpers/web.ts';

// Outgoing webhooks through the deliveries outbox, against a real local HTTP
// receiver that checks signatures with the Standard Webhooks reference library.

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  verified: boolean;
}

/** A scripted answer: a status, a status with a Retry-After header, or 'hang' (never answers in time). */
type Answer = 'hang' | number | { status: number; retryAfter: string };

/** Answers per path from a script (then 200). */
class Receiver {
  readonly received: Received[] = [];
  private server: http.Server;
  private scripts = new Map<string, Answer[]>();
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
        const status = typeof next === 'number' ? next : next.status;
        const headers = { 'content-type': 'text/plain', ...(typeof next === 'number' ? {} : { 'retry-after': next.retryAfter }) };
        res.writeHead(status, headers).end(status === 200 ? 'ok' : 'nope');
      });
    });
  }

  script(p: string, answers: Answer[]): void {
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

// ---- Per-endpoint budgets, Retry-After, and webhooks.yaml reloaded on SIGHUP ----

/** A config folder of its own (the endpoints below), read with the secret in the environment. */
/** `webhooksYaml` undefined: no webhooks.yaml at all (as in most installations). */
function configWith(webhooksYaml: string | undefined, settings: object): { config: AppConfig; dir: string } {
  const dir = mkdtempSync(path.join(root, 'config-'));
  writeFileSync(path.join(dir, 'feeds.yaml'), 'feeds: []\n');
  writeFileSync(path.join(dir, 'settings.yaml'), JSON.stringify(settings));
  if (webhooksYaml !== undefined) writeFileSync(path.join(dir, 'webhooks.yaml'), webhooksYaml);
  return {
    dir,
    config: loadConfig({
      ...tdb.cliEnv,
      CONFIG_DIR: dir,
      DATA_DIR: path.join(root, 'data'),
      SECURITY_TEAM_WEBHOOK_SECRET: SECRET,
      APP_SECRET: 'webhook-test-secret-0123456789',
    }),
  };
}

const endpointYaml = (id: string, extra = '') =>
  `  - id: ${id}\n    url: ${receiver.url}/${id}\n    secret: \${SECURITY_TEAM_WEBHOOK_SECRET}\n    countries: [DE]\n${extra}`;

/** A level change for Germany (each call a new advisory and event), fanned out to the database's endpoints. */
async function germanyEvent(db: TestDatabase['db'], at: Date): Promise<number> {
  await addFeed(db, { id: 'us-state-dept', name: 'U.S. State Department travel advisories', source: 'us-state-dept' });
  const { advisoryId } = await addAdvisory(db, 'us-state-dept', `germany-${randomBytes(4).toString('hex')}`, ['DE'], {
    level: 1,
    title: 'Germany - Level 1',
    at,
  });
  const eventId = await changeAdvisory(db, advisoryId, { level: 2, title: 'Germany - Level 2', at });
  await fanOut(db, [eventId], at);
  return eventId;
}

async function deliveriesOf(db: TestDatabase['db'], eventIds: number[]) {
  return db
    .selectFrom('deliveries')
    .select(['id', 'webhook_id', 'event_id', 'status', 'attempts', 'next_attempt_at'])
    .where('event_id', 'in', eventIds)
    .orderBy('id')
    .execute();
}

describe('webhook budgets and Retry-After', () => {
  it('paces each endpoint on its own budget: a slow one does not hold back the others, and its waiting deliveries are not attempts', async () => {
    const db = tdb.db;
    const clock = new ManualClock(new Date('2026-06-01T10:00:00Z'));
    const { config } = configWith(`webhooks:\n${endpointYaml('slow', '    ratePerSecond: 0.2\n')}${endpointYaml('fast')}`, {
      delivery: { retryBaseSeconds: 0.02, retryMaxSeconds: 0.05, webhook: { timeoutSeconds: 2, ratePerSecond: 20 } },
    });
    await syncWebhooks(db, config.webhooks);
    const events = [await germanyEvent(db, clock.now()), await germanyEvent(db, clock.now()), await germanyEvent(db, clock.now())];
    const { dispatcher, close } = createDispatcher(config, db, silentLogger, clock);
    try {
      await dispatcher.drain();
    } finally {
      await close();
    }
    // The fast endpoint got all three at once; the slow one (one every 5 s) its first.
    expect(receiver.at('/fast')).toHaveLength(3);
    expect(receiver.at('/slow')).toHaveLength(1);
    const rows = await deliveriesOf(db, events);
    expect(rows.filter((r) => r.webhook_id === 'fast').map((r) => r.status)).toEqual(['sent', 'sent', 'sent']);
    const slow = rows.filter((r) => r.webhook_id === 'slow');
    expect(slow.map((r) => [r.status, r.attempts])).toEqual([
      ['sent', 1],
      ['pending', 0],
      ['pending', 0],
    ]);
    // Handed back for when the endpoint's budget frees (in 5 s), unsent and not counted as attempts.
    for (const r of slow.slice(1)) {
      const wait = (new Date(r.next_attempt_at).getTime() - clock.now().getTime()) / 1000;
      expect(wait).toBeGreaterThanOrEqual(4);
      expect(wait).toBeLessThanOrEqual(6);
    }
    const budgets = (await db.selectFrom('rate_limits').select('channel').execute()).map((r) => r.channel);
    expect(budgets).toEqual(expect.arrayContaining(['webhook:slow', 'webhook:fast']));

    // Their turns come, one every 5 s: each goes once, on its first attempt.
    for (let turn = 0; turn < 3; turn++) {
      clock.advance(5_000);
      const again = createDispatcher(config, db, silentLogger, clock);
      try {
        await again.dispatcher.drain();
      } finally {
        await again.close();
      }
    }
    expect(receiver.at('/slow')).toHaveLength(3);
    expect(receiver.at('/fast')).toHaveLength(3);
    expect((await deliveriesOf(db, events)).map((r) => [r.webhook_id, r.status, r.attempts]).sort()).toEqual([
      ['fast', 'sent', 1],
      ['fast', 'sent', 1],
      ['fast', 'sent', 1],
      ['slow', 'sent', 1],
      ['slow', 'sent', 1],
      ['slow', 'sent', 1],
    ]);
  });

  it('honours a Retry-After on 429/503 for the whole endpoint, bounded by retryAfterMaxSeconds', async () => {
    const db = tdb.db;
    const clock = new ManualClock(new Date());
    const { config } = configWith(`webhooks:\n${endpointYaml('busy')}${endpointYaml('boastful')}${endpointYaml('calm')}`, {
      delivery: { retryBaseSeconds: 0.02, retryMaxSeconds: 0.05, webhook: { timeoutSeconds: 2, retryAfterMaxSeconds: 600 } },
    });
    await syncWebhooks(db, config.webhooks);
    receiver.script('/busy', [{ status: 429, retryAfter: '120' }]);
    // An HTTP-date a day away: held to the 600 s bound.
    receiver.script('/boastful', [{ status: 503, retryAfter: new Date(clock.now().getTime() + 86_400_000).toUTCString() }]);
    const first = await germanyEvent(db, clock.now());
    const drain = async () => {
      const d = createDispatcher(config, db, silentLogger, clock);
      try {
        return await d.dispatcher.drain();
      } finally {
        await d.close();
      }
    };
    await drain();
    const stateOf = (rows: Awaited<ReturnType<typeof deliveriesOf>>, id: string) => {
      const r = rows.find((x) => x.webhook_id === id)!;
      return { status: r.status, attempts: r.attempts, inSeconds: Math.round((new Date(r.next_attempt_at).getTime() - clock.now().getTime()) / 1000) };
    };
    let rows = await deliveriesOf(db, [first]);
    expect(stateOf(rows, 'busy')).toEqual({ status: 'pending', attempts: 1, inSeconds: 120 });
    expect(stateOf(rows, 'boastful')).toEqual({ status: 'pending', attempts: 1, inSeconds: 600 });
    expect(rows.find((r) => r.webhook_id === 'calm')?.status).toBe('sent');
    const lastError = await db
      .selectFrom('deliveries')
      .select('last_error')
      .where('event_id', '=', first)
      .where('webhook_id', '=', 'busy')
      .executeTakeFirstOrThrow();
    expect(lastError.last_error).toBe('webhook busy: HTTP 429 (Retry-After 120 s)');

    // The pause is the endpoint's: a new event for it waits too (not an attempt), the others go.
    clock.advance(10_000);
    const second = await germanyEvent(db, clock.now());
    await drain();
    rows = await deliveriesOf(db, [second]);
    expect(stateOf(rows, 'busy')).toEqual({ status: 'pending', attempts: 0, inSeconds: 110 });
    expect(rows.find((r) => r.webhook_id === 'calm')?.status).toBe('sent');
    expect(receiver.at('/busy')).toHaveLength(1);

    // Once the receiver's time has passed, both go, once each.
    clock.advance(111_000);
    await drain();
    expect((await deliveriesOf(db, [first, second])).filter((r) => r.webhook_id === 'busy').map((r) => [r.status, r.attempts])).toEqual([
      ['sent', 2],
      ['sent', 1],
    ]);
    expect(receiver.at('/busy')).toHaveLength(3);
    expect(receiver.at('/busy').every((r) => r.verified)).toBe(true);
  });
});

describe('webhooks.yaml on SIGHUP', () => {
  it('picks up added, changed and removed endpoints in a running service; an invalid file is refused and the endpoints stay', async () => {
    const db = tdb.db;
    const { config, dir } = configWith(`webhooks:\n${endpointYaml('before')}`, {
      delivery: { retryBaseSeconds: 0.02, retryMaxSeconds: 0.05, idlePollMs: 50, webhook: { timeoutSeconds: 2 } },
    });
    const logs: { msg?: string; problems?: string[]; added?: string[]; removed?: string[] }[] = [];
    const logger = createLogger('info', { write: (line: string) => logs.push(JSON.parse(line)) });
    const signals = new EventEmitter();
    const running = runService(config, { roles: ['deliver'], logger, clock: systemClock }, signals);
    try {
      await waitFor(
        'the endpoint in the database',
        async () => (await db.selectFrom('webhooks').select('in_config').where('id', '=', 'before').executeTakeFirst())?.in_config,
      );

      writeFileSync(path.join(dir, 'webhooks.yaml'), `webhooks:\n${endpointYaml('after')}`);
      signals.emit('SIGHUP');
      const reloaded = await waitFor('the reload', () => logs.find((l) => l.msg === 'webhooks.yaml reloaded'));
      expect(reloaded).toMatchObject({ added: ['after'], removed: ['before'] });
      const inConfig = await db.selectFrom('webhooks').select(['id', 'in_config']).where('id', 'in', ['before', 'after']).orderBy('id').execute();
      expect(inConfig).toEqual([
        { id: 'after', in_config: true },
        { id: 'before', in_config: false },
      ]);

      // The next event reaches the new endpoint (posted by the running service) and not the removed one.
      const eventId = await germanyEvent(db, new Date());
      const got = await waitFor('the new endpoint to get the event', () => receiver.at('/after').find((r) => JSON.parse(r.body).data?.id === eventId));
      expect(got.verified).toBe(true);
      expect(receiver.at('/before')).toHaveLength(0);

      // A broken file: refused with the reason, the running endpoints unchanged.
      writeFileSync(path.join(dir, 'webhooks.yaml'), 'webhooks:\n  - id: after\n    url: ftp://example.org/x\n');
      signals.emit('SIGHUP');
      const refused = await waitFor('the refusal', () => logs.find((l) => l.msg?.startsWith('webhooks.yaml refused')));
      expect(refused.problems).toContain('webhooks.yaml: webhook "after" (entry 1, line 2): url: must be an http(s) URL');
      expect((await db.selectFrom('webhooks').select('in_config').where('id', '=', 'after').executeTakeFirstOrThrow()).in_config).toBe(true);
      const next = await germanyEvent(db, new Date());
      await waitFor('the kept endpoint to get the next event', () => receiver.at('/after').find((r) => JSON.parse(r.body).data?.id === next));
    } finally {
      signals.emit('SIGTERM');
      await running;
    }
  });

  it('without a webhooks.yaml, a reload says nothing about webhooks; a file added or removed is logged', async () => {
    const { config, dir } = configWith(undefined, { delivery: { idlePollMs: 50 } });
    const logs: { msg?: string; added?: string[]; removed?: string[] }[] = [];
    const logger = createLogger('info', { write: (line: string) => logs.push(JSON.parse(line)) });
    const signals = new EventEmitter();
    let service: RunningService | undefined;
    const running = runService(config, { roles: ['deliver'], logger, clock: systemClock, onStarted: (s) => (service = s) }, signals);
    const reloads = () => logs.filter((l) => l.msg === 'webhooks.yaml reloaded');
    try {
      const started = await waitFor('the service', () => service);
      // What SIGHUP runs, awaited here so that its log (or its silence) is certain.
      expect(await started.reloadWebhooks()).toEqual({ ok: true, added: [], removed: [], changed: [] });
      expect(reloads()).toEqual([]);

      writeFileSync(path.join(dir, 'webhooks.yaml'), `webhooks:\n${endpointYaml('late')}`);
      await started.reloadWebhooks();
      expect(reloads()).toMatchObject([{ added: ['late'], removed: [] }]);

      unlinkSync(path.join(dir, 'webhooks.yaml'));
      await started.reloadWebhooks();
      expect(reloads()).toMatchObject([{ added: ['late'] }, { added: [], removed: ['late'] }]);
      await started.reloadWebhooks();
      expect(reloads()).toHaveLength(2);
    } finally {
      signals.emit('SIGTERM');
      await running;
    }
  });
});
