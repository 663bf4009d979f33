import { describe, expect, it } from 'vitest';
import { startSummary, startupPollSummary } from '../../src/cli/summary.ts';
import { outcome } from '../../src/feeds/poller.ts';
import type { ServiceSummary } from '../../src/service.ts';

/** What `start` prints on a terminal: a person's view of the service, beside the JSON logs. */

const NOW = new Date('2026-05-01T10:07:00Z');

function summary(overrides: Partial<ServiceSummary> = {}): ServiceSummary {
  return {
    roles: ['poll', 'deliver', 'web'],
    url: 'http://localhost:3000',
    publicBaseUrl: 'http://localhost:3000',
    adminEnabled: false,
    database: { embedded: true, dir: 'data/pglite' },
    email: { outbox: 'data/outbox/email' },
    sms: { outbox: 'data/outbox/sms' },
    feeds: [
      { id: 'us-state-dept', enabled: true, nextPoll: new Date('2026-05-01T10:15:00Z') },
      { id: 'ca-travel', enabled: true, nextPoll: new Date('2026-05-01T10:15:00Z') },
      { id: 'de-aa', enabled: true, nextPoll: new Date('2026-05-01T11:00:00Z') },
      { id: 'jp-mofa', enabled: true, nextPoll: new Date('2026-05-02T00:00:00Z') },
      { id: 'old', enabled: false, nextPoll: null },
    ],
    warnings: [],
    ...overrides,
  };
}

describe('startSummary', () => {
  it('the embedded defaults: the URL, where data and messages go, the feeds and their next polls grouped by time', () => {
    expect(startSummary(summary(), { version: '0.1.0', now: NOW, timeZone: 'Europe/Berlin' })).toBe(
      [
        'advisory-alerts 0.1.0 is running (roles: poll, deliver, web)',
        '  Web pages:   http://localhost:3000/  (subscribe), http://localhost:3000/countries, http://localhost:3000/admin (off: set ADMIN_TOKEN)',
        '  Database:    embedded, in data/pglite',
        '  Email:       written to data/outbox/email/ (set SMTP_URL to send)',
        '  SMS:         written to data/outbox/sms/ (set TWILIO_* to send)',
        '  Feeds:       4 enabled of 5, each polled once now',
        '  Next polls:  12:15  ca-travel, us-state-dept',
        '               13:00  de-aa',
        '               2026-05-02 02:00  jp-mofa',
        'Stop with Ctrl-C. JSON logs follow on stderr.',
      ].join('\n'),
    );
  });

  it('PostgreSQL, real senders, a public URL elsewhere, only the web role', () => {
    const text = startSummary(
      summary({
        roles: ['web'],
        publicBaseUrl: 'https://alerts.example.org',
        adminEnabled: true,
        database: { embedded: false },
        email: { smtp: true },
        sms: { twilio: true },
        warnings: ['feeds.yaml: feeds[1] (down): a generic feed without countries: …'],
      }),
      { version: '1.2.3', now: NOW, timeZone: 'UTC' },
    );
    expect(text).toContain('http://localhost:3000/admin\n');
    expect(text).toContain('  Links in messages point at https://alerts.example.org\n');
    expect(text).toContain('  Database:    PostgreSQL (DATABASE_URL)\n');
    expect(text).toContain('  Feeds:       not polled here (no poll role)\n');
    expect(text).not.toMatch(/Email:|SMS:|Next polls/);
    expect(text).toContain('\n  warning: feeds.yaml: feeds[1] (down): a generic feed without countries: …\nStop with Ctrl-C.');
  });

  it('texts through Twilio: the API named when TWILIO_API_BASE_URL points elsewhere (a proxy, a local test server)', () => {
    const real = startSummary(summary({ sms: { twilio: true } }), { version: '1.2.3', now: NOW, timeZone: 'UTC' });
    expect(real).toContain('  SMS:         sent through Twilio\n');
    const local = startSummary(summary({ sms: { twilio: true, apiBaseUrl: 'http://127.0.0.1:8766' } }), { version: '1.2.3', now: NOW, timeZone: 'UTC' });
    expect(local).toContain("  SMS:         sent through Twilio's API at http://127.0.0.1:8766 (TWILIO_API_BASE_URL)\n");
  });

  it('more than four poll times: the rest counted, with the command that lists them', () => {
    const feeds = Array.from({ length: 6 }, (_, i) => ({ id: `f${i}`, enabled: true, nextPoll: new Date(NOW.getTime() + (i + 1) * 60_000) }));
    const text = startSummary(summary({ feeds }), { version: '0.1.0', now: NOW, timeZone: 'UTC' });
    expect(text.split('\n').filter((l) => /^\s+(Next polls:\s+)?\d\d:\d\d {2}f\d$/.test(l))).toHaveLength(4);
    expect(text).toContain('… and 2 later time(s): `advisory-alerts feeds list`');
  });
});

describe('startupPollSummary', () => {
  it('names each failing feed with its reason, and a feed whose document was not understood', () => {
    expect(
      startupPollSummary([
        outcome('us-state-dept', 'ok'),
        outcome('de-aa', 'error', { error: 'HTTP 503 Service Unavailable' }),
        outcome('mixed-up', 'ok', { warning: 'the us-state-dept profile read 5 items but no level in any of them' }),
        outcome('ca-travel', 'not-modified'),
      ]),
    ).toBe(
      [
        'Start-up poll: 3 of 4 feed(s) answered; 1 failing:',
        '  de-aa: HTTP 503 Service Unavailable',
        '  warning: mixed-up: the us-state-dept profile read 5 items but no level in any of them',
      ].join('\n'),
    );
    expect(startupPollSummary([outcome('a', 'ok')])).toBe('Start-up poll: 1 of 1 feed(s) answered.');
    expect(startupPollSummary([])).toMatch(/nothing polled here/);
  });

  it('counts feeds skipped while backing off, or polled by another process, apart from those that answered', () => {
    const notBefore = new Date('2026-11-30T10:00:00Z');
    const backingOff = ['a', 'b', 'c', 'd', 'e', 'f'].map((id) => outcome(id, 'skipped', { notBefore }));
    expect(startupPollSummary([outcome('ok', 'ok'), ...backingOff, outcome('down', 'error', { error: 'HTTP 503 Service Unavailable' })])).toBe(
      [
        'Start-up poll: 1 of 8 feed(s) answered; 6 skipped while backing off after failures (`advisory-alerts feeds list`); 1 failing:',
        '  down: HTTP 503 Service Unavailable',
      ].join('\n'),
    );
    expect(startupPollSummary([outcome('ok', 'not-modified'), outcome('busy', 'skipped', { error: 'another poll of this feed is in progress' })])).toBe(
      'Start-up poll: 1 of 2 feed(s) answered; 1 being polled by another process.',
    );

    // A feed the database no longer lists as this process does is neither: it is named, with why.
    const removed = "removed in the database's feeds since this process loaded feeds.yaml: not polled; …";
    expect(startupPollSummary([outcome('ok', 'ok'), outcome('gone', 'skipped', { error: removed })])).toBe(
      ['Start-up poll: 1 of 2 feed(s) answered; 1 not polled (below).', `  not polled: gone: ${removed}`].join('\n'),
    );
  });
});
