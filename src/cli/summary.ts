import { POLLED_ELSEWHERE, type PollOutcome } from '../feeds/poller.ts';
import type { ServiceSummary } from '../service.ts';

/**
 * What `start` prints on a terminal, beside the JSON logs (which stay on
 * stderr for machines): where the pages are, where data and messages go, how
 * many feeds, when they are next polled — and, once the start-up poll is
 * done, which feeds answer and which fail. Pure: the clock and zone come in.
 */

/** "05:45" in the zone; with the date when it is not today there. */
function when(d: Date, now: Date, timeZone: string): string {
  const day = (x: Date) => x.toLocaleDateString('en-CA', { timeZone });
  const time = d.toLocaleTimeString('en-GB', { timeZone, hour: '2-digit', minute: '2-digit' });
  return day(d) === day(now) ? time : `${day(d)} ${time}`;
}

export function startSummary(s: ServiceSummary, options: { version: string; now: Date; timeZone: string }): string {
  const enabled = s.feeds.filter((f) => f.enabled);
  const lines = [`advisory-alerts ${options.version} is running (roles: ${s.roles.join(', ')})`];
  if (s.url) {
    lines.push(`  Web pages:   ${s.url}/  (subscribe), ${s.url}/countries, ${s.url}/admin${s.adminEnabled ? '' : ' (off: set ADMIN_TOKEN)'}`);
    if (!s.publicBaseUrl.startsWith(s.url)) lines.push(`  Links in messages point at ${s.publicBaseUrl}`);
  }
  lines.push(`  Database:    ${s.database.embedded ? `embedded, in ${s.database.dir}` : 'PostgreSQL (DATABASE_URL)'}`);
  const email = 'outbox' in s.email ? `written to ${s.email.outbox}/ (set SMTP_URL to send)` : 'sent through SMTP_URL';
  // A TWILIO_API_BASE_URL (a proxy, or a local test server) is named: texts may not reach phones.
  const sms =
    'outbox' in s.sms
      ? `written to ${s.sms.outbox}/ (set TWILIO_* to send)`
      : s.sms.apiBaseUrl
        ? `sent through Twilio's API at ${s.sms.apiBaseUrl} (TWILIO_API_BASE_URL)`
        : 'sent through Twilio';
  if (s.roles.includes('deliver')) lines.push(`  Email:       ${email}`, `  SMS:         ${sms}`);
  if (s.roles.includes('poll')) {
    lines.push(`  Feeds:       ${enabled.length} enabled${enabled.length < s.feeds.length ? ` of ${s.feeds.length}` : ''}, each polled once now`);
    const next = enabled
      .filter((f): f is typeof f & { nextPoll: Date } => f.nextPoll !== null)
      .sort((a, b) => a.nextPoll.getTime() - b.nextPoll.getTime() || a.id.localeCompare(b.id));
    // Feeds on one schedule share a time: one line per time, at most four, the rest counted.
    const byTime = new Map<string, string[]>();
    for (const f of next) {
      const t = when(f.nextPoll, options.now, options.timeZone);
      byTime.set(t, [...(byTime.get(t) ?? []), f.id]);
    }
    const times = [...byTime.entries()];
    for (const [i, [t, ids]] of times.slice(0, 4).entries()) lines.push(`  ${i === 0 ? 'Next polls:' : '           '}  ${t}  ${ids.join(', ')}`);
    if (times.length > 4) lines.push(`               … and ${times.length - 4} later time(s): \`advisory-alerts feeds list\``);
  } else {
    lines.push('  Feeds:       not polled here (no poll role)');
  }
  for (const w of s.warnings) lines.push(`  warning: ${w}`);
  lines.push('Stop with Ctrl-C. JSON logs follow on stderr.');
  return lines.join('\n');
}

/**
 * One line once the start-up poll is done: how many answered, how many were not
 * asked (a feed backing off after failures is skipped, and says nothing about
 * whether it answers now), and each failing feed with its reason.
 */
export function startupPollSummary(outcomes: readonly PollOutcome[]): string {
  if (outcomes.length === 0) return 'Start-up poll: nothing polled here (another process took it, or no feed is enabled).';
  const failing = outcomes.filter((o) => o.status === 'error');
  const warned = outcomes.filter((o) => o.warning);
  const skipped = outcomes.filter((o) => o.status === 'skipped');
  // Three kinds of skip: a back-off (its end known), another process polling the feed right
  // then, and a feed the database no longer lists as this process does (listed with its reason).
  const backingOff = skipped.filter((o) => o.notBefore !== null).length;
  const elsewhere = skipped.filter((o) => o.notBefore === null && o.error === POLLED_ELSEWHERE).length;
  const otherSkips = skipped.filter((o) => o.notBefore === null && o.error !== POLLED_ELSEWHERE);
  const answered = outcomes.length - failing.length - skipped.length;
  const parts = [`${answered} of ${outcomes.length} feed(s) answered`];
  if (backingOff) parts.push(`${backingOff} skipped while backing off after failures (\`advisory-alerts feeds list\`)`);
  if (elsewhere) parts.push(`${elsewhere} being polled by another process`);
  if (otherSkips.length) parts.push(`${otherSkips.length} not polled (below)`);
  if (failing.length) parts.push(`${failing.length} failing:`);
  const lines = [`Start-up poll: ${parts.join('; ')}${failing.length ? '' : '.'}`];
  for (const o of failing) lines.push(`  ${o.feed}: ${o.error ?? 'failed'}`);
  for (const o of otherSkips) lines.push(`  not polled: ${o.feed}: ${o.error ?? 'skipped'}`);
  for (const o of warned) lines.push(`  warning: ${o.feed}: ${o.warning}`);
  return lines.join('\n');
}
