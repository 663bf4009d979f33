import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { parseRetryAfter, signWebhook } from '../../src/channels/webhook.ts';
import type { WebhookConfig } from '../../src/config/schema.ts';
import { webhookChanges } from '../../src/service.ts';
import { ConfigError, loadWebhooks } from '../../src/config/load.ts';

const dirs: string[] = [];
function configDir(yaml: string | undefined): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'aa-wh-'));
  dirs.push(dir);
  if (yaml !== undefined) writeFileSync(path.join(dir, 'webhooks.yaml'), yaml);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function problems(yaml: string, env: Record<string, string> = {}): string[] {
  try {
    loadWebhooks(configDir(yaml), env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

describe('webhooks.yaml', () => {
  it('is optional, and reads secrets from the environment', () => {
    expect(loadWebhooks(configDir(undefined), {})).toEqual([]);
    const [hook] = loadWebhooks(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: ${VAR} is the config's own syntax
      configDir('webhooks:\n  - id: sec\n    url: https://hooks.example.org/a\n    secret: ${SEC}\n    countries: [ru, UA]\n    minLevel: 3\n'),
      { SEC: SECRET },
    );
    expect(hook).toEqual({
      id: 'sec',
      url: 'https://hooks.example.org/a',
      secret: SECRET,
      countries: ['RU', 'UA'],
      minLevel: 3,
      format: 'standard',
      enabled: true,
    });
  });

  it('names the file, entry and field of every problem', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: ${VAR} is the config's own syntax
    expect(problems('webhooks:\n  - id: sec\n    url: https://h.example/a\n    secret: ${SEC}\n')).toEqual([
      'webhooks.yaml: webhook "sec" (entry 1, line 2): secret: environment variable SEC is not set',
    ]);
    expect(problems('webhooks:\n  - id: sec\n    url: ftp://h.example/a\n    secret: x\n')).toEqual([
      'webhooks.yaml: webhook "sec" (entry 1, line 2): url: must be an http(s) URL',
      'webhooks.yaml: webhook "sec" (entry 1, line 2): secret: must be a Standard Webhooks secret: "whsec_" followed by base64 of at least 16 random bytes',
    ]);
    expect(problems('webhooks:\n  - id: sec\n    url: https://h.example/a\n')).toEqual([
      'webhooks.yaml: webhook "sec" (entry 1, line 2): secret: is required for format standard (the signing secret)',
    ]);
    expect(
      problems(
        `webhooks:\n  - {id: a, url: "https://h.example/a", format: slack, countries: []}\n  - {id: a, url: "https://h.example/b", format: slack, minLevel: 5, colour: red}\n`,
      ).sort(),
    ).toEqual([
      'webhooks.yaml: webhook "a" (entry 1, line 2): countries: must list at least one country, or be "all"',
      'webhooks.yaml: webhook "a" (entry 2, line 3): Unrecognized key: "colour"',
      'webhooks.yaml: webhook "a" (entry 2, line 3): id: duplicate id "a" (also entry 1)',
      'webhooks.yaml: webhook "a" (entry 2, line 3): minLevel: Too big: expected number to be <=4',
    ]);
    expect(problems('webhooks:\n  - {id: a, url: "https://h.example/a", format: slack, ratePerSecond: -1}\n')).toEqual([
      'webhooks.yaml: webhook "a" (entry 1, line 2): ratePerSecond: Too small: expected number to be >=0',
    ]);
    expect(loadWebhooks(configDir('webhooks:\n  - {id: a, url: "https://h.example/a", format: slack, ratePerSecond: 0.5}\n'), {})[0]?.ratePerSecond).toBe(0.5);
  });
});

describe('parseRetryAfter', () => {
  const now = new Date('2026-11-30T12:00:00Z');
  it('reads delay-seconds and HTTP-dates, and nothing else', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Mon, 30 Nov 2026 12:01:30 GMT', now)).toBe(90_000);
    // A date already past: no wait (never negative).
    expect(parseRetryAfter('Mon, 30 Nov 2026 11:00:00 GMT', now)).toBe(0);
    for (const bad of [undefined, null, '', 'soon', '-5', '1.5', '2026-12-01', 'Mon, 99 Foo 2026'])
      expect(parseRetryAfter(bad, now), String(bad)).toBeUndefined();
  });
});

describe('webhookChanges', () => {
  const hook = (id: string, extra: Partial<WebhookConfig> = {}): WebhookConfig => ({
    id,
    url: `https://h.example/${id}`,
    countries: 'all',
    minLevel: 1,
    format: 'slack',
    enabled: true,
    ...extra,
  });
  it('names the endpoints added, removed and changed in any field', () => {
    expect(webhookChanges([hook('a'), hook('b'), hook('c')], [hook('a'), hook('b', { minLevel: 3 }), hook('d')])).toEqual({
      added: ['d'],
      removed: ['c'],
      changed: ['b'],
    });
    expect(webhookChanges([hook('a', { secret: SECRET })], [hook('a', { secret: `${SECRET}x` })]).changed).toEqual(['a']);
    expect(webhookChanges([hook('a')], [hook('a')])).toEqual({ added: [], removed: [], changed: [] });
  });
});

describe('signWebhook', () => {
  it('agrees with the Standard Webhooks reference library', () => {
    const body = JSON.stringify({ type: 'advisory.new', data: { id: 1 } });
    const ts = Math.floor(Date.now() / 1000);
    const headers = { 'webhook-id': 'evt_1', 'webhook-timestamp': String(ts), 'webhook-signature': signWebhook(SECRET, 'evt_1', ts, body) };
    expect(() => new Webhook(SECRET).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(SECRET).verify(`${body} `, headers)).toThrow();
    expect(headers['webhook-signature']).toBe(new Webhook(SECRET).sign('evt_1', new Date(ts * 1000), body));
  });
});
