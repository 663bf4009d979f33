import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollFeed } from '../../src/feeds/poller.ts';
import { createDispatcher, links, pollDepsFor } from '../../src/runtime.ts';
import { CSS } from '../../src/web/html.ts';
import { subscribePage } from '../../src/web/pages.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { addAdvisory, addGovernmentFeeds } from '../helpers/advice.ts';
import { testDbKind, type TestDatabase } from '../helpers/db.ts';
import { fixture, type FeedServer } from '../helpers/feed-server.ts';
import { ManualClock } from '../helpers/poll.ts';
import type { TestSmtpServer } from '../helpers/smtp.ts';
import type { TwilioServer } from '../helpers/twilio-server.ts';
import { EMBASSY_PATH, useWebStack, waitFor, type WebApp } from '../helpers/web.ts';

/**
 * One traveler, end to end, in real headless Chromium driven by playwright-core:
 * fill the subscribe form, follow the emailed link, enter the texted code,
 * receive an alert by email and SMS, then leave from the manage page.
 * Screenshots of every page at 375 and 1280 px go to /tmp/aa-screens/.
 */

const CHROMIUM = '/usr/bin/chromium';
const SCREENS = '/tmp/aa-screens';
const EMAIL = 'traveler@example.com';
const PHONE = '+447911123456';
const ADMIN_TOKEN = `admin-${randomBytes(12).toString('hex')}`;

const noChromium = !existsSync(CHROMIUM);
// Once is enough: the database under the web server is not what this test is about.
const otherProject = testDbKind() !== 'pglite';
if (noChromium) {
  console.warn(`browser.test.ts: skipped — no Chromium at ${CHROMIUM} (install the Debian package "chromium": apt-get install -y chromium)`);
}

describe.skipIf(noChromium || otherProject)('a traveler in a real browser (headless Chromium)', () => {
  let t: TestDatabase, smtp: TestSmtpServer, twilio: TwilioServer, feeds: FeedServer, web: WebApp;
  let browser: Browser;
  const clock = new ManualClock(new Date('2026-03-01T12:00:00Z'));
  useWebStack(clock, { adminToken: ADMIN_TOKEN }, (s) => ({ t, smtp, twilio, feeds, web } = s));

  beforeAll(async () => {
    mkdirSync(SCREENS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      timeout: 120_000,
    });
  }, 180_000);
  // Registered after the stack's: runs before the stack closes.
  afterAll(() => browser?.close(), 120_000);

  const shots: string[] = [];
  let pageNo = 0;
  /** The page as it is, full length, at a phone's and a laptop's width. */
  async function screenshots(page: Page, name: string): Promise<void> {
    pageNo++;
    for (const width of [375, 1280]) {
      await page.setViewportSize({ width, height: width === 375 ? 812 : 800 });
      const file = `${SCREENS}/${String(pageNo).padStart(2, '0')}-${name}-${width}.png`;
      await page.screenshot({ path: file, fullPage: true });
      shots.push(file);
    }
    // Nothing sticks out sideways on a phone.
    await page.setViewportSize({ width: 375, height: 812 });
    expect(Number(await page.evaluate('document.documentElement.scrollWidth')), `${name}: horizontal scroll at 375 px`).toBeLessThanOrEqual(375);
  }

  const mailTo = (n: number) => smtp.mail(EMAIL, n);

  /** The accessible names of the radios in the group (fieldset) whose legend is `legend`, in order. */
  async function radioNames(page: Page, legend: string): Promise<string[]> {
    const radios = page.getByRole('group', { name: legend, exact: true }).getByRole('radio');
    const names: string[] = [];
    for (const radio of await radios.all()) names.push(/^- radio "(.*)"/.exec(await radio.ariaSnapshot())?.[1] ?? '(no name)');
    return names;
  }

  async function poll(body: string) {
    feeds.set(EMBASSY_PATH, { body });
    clock.advance(60_000);
    const feed = web.config.feeds.find((f) => f.id === 'us-embassy-russia')!;
    const outcome = await pollFeed(pollDepsFor(web.config, t.db, silentLogger, clock), feed, { force: true });
    expect(outcome.status, outcome.error ?? '').toBe('ok');
    return outcome;
  }

  const subscriber = () => t.db.selectFrom('subscribers').selectAll().where('email', '=', EMAIL).executeTakeFirst();

  it('subscribes, confirms, verifies the phone, gets an alert by email and SMS, and unsubscribes from the manage page', { timeout: 300_000 }, async () => {
    const context = await browser.newContext({ viewport: { width: 375, height: 812 } });
    context.setDefaultTimeout(60_000);
    context.setDefaultNavigationTimeout(60_000);
    const page = await context.newPage();
    const problems: string[] = [];
    // CSP violations and script errors show as console errors; failed loads as responses
    // (the browser's own /favicon.ico request is not the pages' doing).
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(m.text());
    });
    page.on('response', (r) => {
      if (r.status() >= 400 && new URL(r.url()).pathname !== '/favicon.ico') problems.push(`${r.status()} ${r.url()}`);
    });
    page.on('pageerror', (e) => problems.push(e.message));

    try {
      // 1. The subscribe page.
      await page.goto(web.url('/'));
      await expect(page.title()).resolves.toBe('Get travel advisory alerts — Advisory Alerts');
      await screenshots(page, 'subscribe');

      await page.getByLabel('Email address').fill(EMAIL);
      // The filter box (served from /assets/picker.js) narrows the checkbox list as one types.
      // The page has two pickers (destinations, a trip's countries): each is found within its group.
      const destinations = page.getByRole('group', { name: 'Destinations', exact: true });
      await destinations.getByLabel('Find a country').fill('russ');
      await expect(page.locator('#country-list li:visible').count()).resolves.toBe(1);
      await expect(page.locator('#country-count').textContent()).resolves.toBe('1 country matches.');
      await destinations.getByRole('checkbox', { name: /^Russia\b/ }).check();
      await destinations.getByLabel('Find a country').fill('');
      await expect(page.locator('#country-list li:visible').count()).resolves.toBeGreaterThan(240);
      await expect(page.locator('#country-count').textContent()).resolves.toBe('Chosen: Russia.');
      await page.getByLabel('Level 3 and above (reconsider travel)').check();
      await page.getByLabel('Mobile number for text messages').fill('+44 7911 123456');
      await page.getByLabel('Also send alerts by text message').check();
      // The preference radios, found by their group's legend and their own label (their accessible
      // names, as a screen reader announces them): email at once, every alert by text.
      await expect(radioNames(page, 'Routine changes by email')).resolves.toEqual([
        'At once, one email per change',
        'In one email a day (urgent alerts still at once)',
        'In one email a week, on Mondays (urgent alerts still at once)',
      ]);
      await expect(radioNames(page, 'Which alerts come by text message')).resolves.toEqual([
        'Only urgent alerts (a raise to level 3 or 4, an embassy security alert)',
        'Every alert',
      ]);
      await page.getByRole('group', { name: 'Routine changes by email' }).getByRole('radio', { name: 'At once, one email per change' }).check();
      await page.getByRole('radio', { name: 'Every alert', exact: true }).check();
      // Each text field's name is its label alone (its hint is its description), so the exact name finds it.
      await page.getByLabel('Quiet hours for text messages', { exact: true }).fill('22:00-07:00');
      await page.getByLabel('Your time zone', { exact: true }).fill('Europe/London');
      // A trip to Georgia and Russia: its countries ticked by their names in the second picker,
      // folded until opened, with a filter of its own; then the browser's own date inputs.
      const tripCountries = page.getByRole('group', { name: 'Countries of the trip', exact: true });
      await expect(tripCountries.count()).resolves.toBe(0);
      await page.getByText('Choose the countries of the trip').click();
      await tripCountries.getByLabel('Find a country').fill('geor');
      await expect(page.locator('#tripCountries-list li:visible').count()).resolves.toBe(2); // Georgia, South Georgia
      await tripCountries.getByRole('checkbox', { name: /^Georgia\b/ }).check();
      await tripCountries.getByLabel('Find a country').fill('russ');
      await expect(page.locator('#tripCountries-count').textContent()).resolves.toBe('2 countries match.'); // Russia, and Georgia ticked
      await tripCountries.getByRole('checkbox', { name: /^Russia\b/ }).check();
      await tripCountries.getByLabel('Find a country').fill('');
      await expect(page.locator('#tripCountries-count').textContent()).resolves.toBe('Chosen: Georgia, Russia.');
      // The destinations' picker is its own: its list and words are untouched.
      await expect(page.locator('#country-count').textContent()).resolves.toBe('Chosen: Russia.');
      await expect(page.locator('#country-list li:visible').count()).resolves.toBeGreaterThan(240);
      await page.getByLabel('First day', { exact: true }).fill('2026-03-10');
      await page.getByLabel('Last day', { exact: true }).fill('2026-03-20');
      await screenshots(page, 'subscribe-filled');
      await page.getByRole('button', { name: 'Subscribe' }).click();
      await page.getByRole('heading', { name: 'Check your inbox' }).waitFor();
      await screenshots(page, 'check-inbox');
      expect(await subscriber()).toMatchObject({ status: 'pending' });

      // 2. The link in the confirmation email.
      const confirmation = await mailTo(1);
      expect(confirmation.subject).toBe('Confirm your travel advisory alerts');
      const link = new RegExp(`${web.baseUrl.replace(/[.:/]/g, '\\$&')}/confirm/[A-Za-z0-9_-]+`).exec(confirmation.text)?.[0];
      expect(link, confirmation.text).toBeDefined();
      await page.goto(link!);
      await page.getByRole('heading', { name: 'Your alerts are on' }).waitFor();
      expect(await page.textContent('main')).toContain('Russia');
      await screenshots(page, 'confirmed');
      expect(await subscriber()).toMatchObject({ status: 'confirmed', phone: PHONE, phone_verified: false });

      // 3. The code texted to the phone, typed into the page.
      const sms = await waitFor('the verification code', () => twilio.to(PHONE)[0]);
      const code = /\b(\d{6})\b/.exec(sms.body)?.[1];
      expect(code, sms.body).toBeDefined();
      await page.getByLabel('Code').fill(code!);
      await page.getByRole('button', { name: 'Verify' }).click();
      await page.getByRole('heading', { name: 'Number verified' }).waitFor();
      expect(await page.textContent('main')).toMatch(/Your number is verified/);
      await screenshots(page, 'verified');
      expect(await subscriber()).toMatchObject({ phone_verified: true });
      const sub = await t.db
        .selectFrom('subscriptions')
        .selectAll()
        .where('subscriber_id', '=', (await subscriber())!.id)
        .executeTakeFirstOrThrow();
      expect(sub).toMatchObject({ countries: ['RU'], min_level: 3, channels: ['email', 'sms'] });
      expect(await subscriber()).toMatchObject({ email_frequency: 'immediate', sms_urgency: 'all', timezone: 'Europe/London' });

      // The pre-trip briefing, mailed once the address was confirmed.
      const briefing = await mailTo(2);
      expect(briefing.subject).toBe('Your pre-trip briefing: Georgia, Russia');
      expect(briefing.text).toContain('Georgia, Russia: 10 Mar 2026 to 20 Mar 2026');

      // 4. An alert: the embassy's March 7 security alert, by email and by SMS.
      expect(await poll(fixture('us-embassy/us-embassy-russia-alerts_v1.xml'))).toMatchObject({ baseline: true, events: 0 });
      expect(await poll(fixture('us-embassy/us-embassy-russia-alerts_v2.xml'))).toMatchObject({ events: 1 });
      const { dispatcher, close } = createDispatcher(web.config, t.db, silentLogger, clock, { channels: web.channels });
      try {
        expect(await dispatcher.drain()).toMatchObject({ sent: 2, failed: 0, retrying: 0 });
      } finally {
        await close();
      }
      const alert = await mailTo(3);
      expect(alert.subject).toBe('Security Alert — U.S. Embassy Moscow');
      expect(alert.text).toContain('extremists have imminent plans to target large gatherings in Moscow');
      const alertSms = await waitFor('the alert SMS', () => twilio.to(PHONE)[1]);
      expect(alertSms.body).toContain('Security Alert');

      // 5. The manage link of the alert email, and "Unsubscribe from all alerts".
      const manage = new RegExp(`${web.baseUrl.replace(/[.:/]/g, '\\$&')}/manage/[A-Za-z0-9._-]+`).exec(alert.text)?.[0];
      expect(manage, alert.text).toBeDefined();
      await page.goto(manage!);
      await page.getByRole('heading', { name: 'Your alerts', exact: true }).waitFor();
      expect(await page.getByLabel('Email address').inputValue()).toBe(EMAIL);
      expect(await page.locator('#countries input[name=countries]:checked').evaluateAll((boxes) => boxes.map((b) => b.getAttribute('value')))).toEqual(['RU']);
      await screenshots(page, 'manage');
      // The trip is listed; the radios show what was chosen, and change by their labels:
      // a daily digest by email, only urgent alerts by text.
      expect(await page.locator('ul.trips').textContent()).toMatch(/Georgia, Russia: 2026-03-10 to 2026-03-20 \(followed now\)/);
      expect(await t.db.selectFrom('trips').select('countries').execute()).toEqual([{ countries: ['GE', 'RU'] }]);
      expect(await page.getByRole('radio', { name: 'Every alert', exact: true }).isChecked()).toBe(true);
      expect(await page.getByLabel('Your time zone', { exact: true }).inputValue()).toBe('Europe/London');
      expect(await page.getByLabel('Quiet hours for text messages', { exact: true }).inputValue()).toBe('22:00-07:00');
      await page.getByRole('radio', { name: 'In one email a day (urgent alerts still at once)' }).check();
      await page.getByLabel('Only urgent alerts (a raise to level 3 or 4, an embassy security alert)').check();
      await page.getByRole('button', { name: 'Save changes' }).click();
      await page.getByText('Your changes are saved.').waitFor();
      expect(await subscriber()).toMatchObject({ email_frequency: 'daily', sms_urgency: 'urgent' });
      expect(await page.getByRole('radio', { name: 'In one email a day (urgent alerts still at once)' }).isChecked()).toBe(true);
      expect(await page.getByRole('radio', { name: /^Only urgent alerts/ }).isChecked()).toBe(true);
      await page.getByRole('button', { name: 'Unsubscribe from all alerts' }).click();
      await page.getByRole('heading', { name: 'You are unsubscribed' }).waitFor();
      await screenshots(page, 'unsubscribed');

      // 6. The admin page on a phone: the tables become one card a row (each cell with its
      // column's name), the chart scrolls inside its box; the page never scrolls sideways.
      await page.setExtraHTTPHeaders({ authorization: `Bearer ${ADMIN_TOKEN}` });
      await page.goto(web.url('/admin'));
      await page.getByRole('heading', { name: 'Status' }).waitFor();
      await screenshots(page, 'admin');
      const boxes = await page.locator('div.scroll').evaluateAll((els) =>
        els.map((el) => {
          el.scrollLeft = el.scrollWidth;
          const box = el.getBoundingClientRect();
          const last = el.firstElementChild;
          const end = last ? last.getBoundingClientRect().right : 0;
          return { overflow: el.ownerDocument.defaultView?.getComputedStyle(el).overflowX, fitsPage: box.right <= 375, lastReachable: end <= box.right + 1 };
        }),
      );
      expect(boxes).toHaveLength(3);
      for (const b of boxes) expect(b).toEqual({ overflow: 'auto', fitsPage: true, lastReachable: true });
      // Nothing in a table is cut off: every cell fits the phone's width, labelled by its column.
      const cells = await page
        .locator('table.admin td')
        .evaluateAll((els) => els.map((el) => ({ right: Math.round(el.getBoundingClientRect().right), clipped: el.scrollWidth > el.clientWidth + 1 })));
      expect(cells.length).toBeGreaterThan(6);
      for (const c of cells) expect(c.right <= 375 && !c.clipped, JSON.stringify(c)).toBe(true);
      await expect(
        page
          .locator('table.admin td[data-label="Status"]')
          .first()
          .evaluate((el) => el.ownerDocument.defaultView?.getComputedStyle(el, '::before').content),
      ).resolves.toBe('"Status"');
      // On the phone the chart opens at its right end: the current hour's bar is in view.
      const lastBar = await page
        .locator('svg.chart rect')
        .last()
        .evaluate((el) => el.getBoundingClientRect().right);
      expect(lastBar).toBeLessThanOrEqual(375);
      expect(lastBar).toBeGreaterThan(0);
      // The chart's labels stay legible: its text is drawn at 9 px or more on the phone.
      const smallest = await page.locator('svg.chart text').evaluateAll((els) => Math.min(...els.map((e) => e.getBoundingClientRect().height)));
      expect(smallest).toBeGreaterThanOrEqual(9);
      expect(await subscriber()).toMatchObject({ status: 'unsubscribed' });

      // No inline script or style was blocked, nothing failed to load.
      expect(problems).toEqual([]);
    } finally {
      await context.close();
      console.log(`browser.test.ts: screenshots:\n${shots.join('\n')}`);
    }
  });

  it('names each country checkbox with what the level number beside it is', { timeout: 120_000 }, async () => {
    // The page as the template renders it: the server caches the levels for a minute (real time),
    // too long to seed advice and see it here.
    const page = await browser.newPage();
    try {
      const levels = new Map([
        ['RU', 4],
        ['NO', 1],
      ]);
      const html = subscribePage({ csrf: 'x', highest: levels, values: { countries: ['RU'] }, travelers: { defaultTimezone: 'UTC', leadDays: 14 } });
      // With the site's styles inlined, as the browser shows the page (the level's words visually hidden, the number shown).
      await page.setContent(html.replace('<link rel="stylesheet" href="/assets/app.css">', `<style>${CSS}</style>`));
      await expect(
        page
          .locator('.sr-only')
          .first()
          .evaluate((el) => el.ownerDocument.defaultView?.getComputedStyle(el).position),
      ).resolves.toBe('absolute');
      await expect(page.getByRole('checkbox', { name: 'Russia highest level now 4', exact: true }).isChecked()).resolves.toBe(true);
      await expect(page.getByRole('checkbox', { name: 'Norway highest level now 1', exact: true }).isChecked()).resolves.toBe(false);
      // No advice, no number: the name alone.
      await expect(page.getByRole('checkbox', { name: 'Chile', exact: true }).count()).resolves.toBe(1);
    } finally {
      await page.close();
    }
  });

  // ---- The public pages: the country list, one country, following it; axe-core on every page ----

  describe('the public pages', () => {
    const FOLLOWER = 'follower@example.com';
    const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
    const day = (iso: string) => new Date(`${iso}T09:00:00Z`);

    /** Russia: four governments at four levels and an embassy alert with a list; France and Norway for the list. */
    async function seedAdvice(): Promise<void> {
      const db = t.db;
      await addGovernmentFeeds(db);
      const advice = [
        ['us-state-dept', 'RU', 4, 'Level 4: Do Not Travel'],
        ['uk-fcdo', 'RU', 3, 'Advise against all but essential travel'],
        ['ca-travel', 'RU', 2, 'Exercise a high degree of caution'],
        ['au-smartraveller', 'RU', 1, 'Exercise normal safety precautions'],
        ['us-state-dept', 'FR', 2, 'Level 2: Exercise Increased Caution'],
        ['uk-fcdo', 'FR', 1, 'See travel advice before travelling'],
        ['us-state-dept', 'NO', 1, 'Level 1: Exercise Normal Precautions'],
      ] as const;
      for (const [feed, cc, level, levelText] of advice) {
        await addAdvisory(
          db,
          feed,
          cc.toLowerCase(),
          [cc],
          { level, levelText, title: `${cc} travel advice`, link: `https://example.org/${feed}/${cc}`, at: day('2026-01-05') },
          { event: true },
        );
      }
      // Its "Actions to Take" are a bullet list on the page (and must fit a phone).
      await addAdvisory(
        db,
        'us-embassy-russia',
        'alert-1',
        ['RU'],
        {
          level: null,
          levelText: 'Security Alert',
          title: 'Security Alert – U.S. Embassy Moscow (March 7, 2024)',
          body: 'Location: Moscow, Russia\n\nActions to Take:\n\n• Avoid crowds.\n• Monitor local media for updates.\n• Be aware of your surroundings.',
          link: 'https://ru.usembassy.gov/security-alert-u-s-embassy-moscow-march-7-2024/',
          at: day('2026-02-01'),
          publishedAt: new Date('2024-03-07T19:00:00Z'),
        },
        { event: true },
      );
    }

    /** axe-core's serious and critical violations on the page as it stands (WCAG 2.1 A/AA and best practices). */
    async function axeViolations(page: Page): Promise<string[]> {
      // Evaluated through the DevTools protocol, which the pages' CSP (script-src 'self') does not govern.
      await page.evaluate(AXE_SOURCE);
      const results = (await page.evaluate(
        `axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } })`,
      )) as {
        violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[];
        passes: unknown[];
      };
      // axe really ran: it checked (and passed) dozens of rules on any page.
      expect(results.passes.length).toBeGreaterThan(10);
      return results.violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`);
    }

    it('finds Russia on /countries by name, opens it, and follows it from its page', { timeout: 300_000 }, async () => {
      await seedAdvice();
      const context = await browser.newContext({ viewport: { width: 375, height: 812 } });
      context.setDefaultTimeout(60_000);
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(e.message));
      try {
        // From the subscribe page to the list of every country.
        await page.goto(web.url('/'));
        await page.getByRole('navigation', { name: 'Site' }).getByRole('link', { name: 'Advice by country' }).click();
        await page.getByRole('heading', { name: 'Travel advice by country', level: 1 }).waitFor();
        expect(new URL(page.url()).pathname).toBe('/countries');
        await expect(page.locator('table.countries tbody tr').count()).resolves.toBe(3);
        await screenshots(page, 'countries');

        // Filter by name: a plain GET form, no script needed.
        await page.getByLabel('Country name').fill('russ');
        await page.getByRole('button', { name: 'Show' }).click();
        await page.waitForURL(/\/countries\?q=russ/);
        const rows = page.locator('table.countries tbody tr');
        await expect(rows.count()).resolves.toBe(1);
        const row = await rows.first().textContent();
        // Four governments, four levels, and the mark that they disagree.
        expect(row).toMatch(/Russia/);
        expect(row).toMatch(/Yes, levels 1 to 4/);
        await screenshots(page, 'countries-filtered');

        // One country: every government's level in words, the chart, the follow form.
        await page.getByRole('link', { name: 'Russia' }).click();
        await page.getByRole('heading', { name: 'Russia: what each government advises' }).waitFor();
        const table = await page.locator('main table').first().textContent();
        for (const words of [
          'Level 4: Do Not Travel',
          'Advise against all but essential travel',
          'Exercise a high degree of caution',
          'Exercise normal safety precautions',
        ])
          expect(table).toContain(words);
        await expect(page.locator('svg.chart').count()).resolves.toBeGreaterThanOrEqual(4);
        await expect(page.locator('li.event ul li').allTextContents()).resolves.toEqual([
          'Avoid crowds.',
          'Monitor local media for updates.',
          'Be aware of your surroundings.',
        ]);
        await screenshots(page, 'country');

        // Follow it: the form already holds Russia; only the address is asked.
        const follow = page.locator('form.follow');
        await expect(follow.locator('input[name=countries]').inputValue()).resolves.toBe('RU');
        await follow.getByLabel('Email address').fill(FOLLOWER);
        await follow.getByRole('button', { name: 'Follow Russia' }).click();
        await page.getByRole('heading', { name: 'Check your inbox' }).waitFor();
        const follower = await t.db.selectFrom('subscribers').selectAll().where('email', '=', FOLLOWER).executeTakeFirstOrThrow();
        expect(follower.status).toBe('pending');
        const sub = await t.db.selectFrom('subscriptions').selectAll().where('subscriber_id', '=', follower.id).executeTakeFirstOrThrow();
        expect(sub.countries).toEqual(['RU']);
        const confirmation = await smtp.mail(FOLLOWER, 1);
        expect(confirmation.subject).toBe('Confirm your travel advisory alerts');
        expect(problems).toEqual([]);
      } finally {
        await context.close();
      }
    });

    it('has no serious or critical axe-core violations on /, /countries, /countries/RU and the manage page', { timeout: 300_000 }, async () => {
      // A confirmed traveler of its own, whose manage page is audited.
      const traveler = await t.db
        .insertInto('subscribers')
        .values({ email: 'axe@example.com', status: 'confirmed', confirmed_at: new Date() })
        .returning(['id', 'link_version'])
        .executeTakeFirstOrThrow();
      await t.db
        .insertInto('subscriptions')
        .values({ subscriber_id: traveler.id, countries: ['RU', 'FR'], feeds: null })
        .execute();
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      context.setDefaultTimeout(60_000);
      const page = await context.newPage();
      const found: Record<string, string[]> = {};
      try {
        for (const [name, url] of [
          ['/', web.url('/')],
          ['/countries', web.url('/countries')],
          ['/countries/RU', web.url('/countries/RU')],
          ['manage page', links(web.config).manage(traveler.id, traveler.link_version)],
        ] as const) {
          await page.goto(url);
          found[name] = await axeViolations(page);
        }
      } finally {
        await context.close();
      }
      expect(found).toEqual({ '/': [], '/countries': [], '/countries/RU': [], 'manage page': [] });
    });
  });
});
