import type { FeedConfig } from './schema.ts';

/** Profiles whose items carry no country of their own: the feed's `countries` say where they apply. */
const ALERT_PROFILES = new Set(['us-embassy', 'generic']);

/**
 * Valid but probably not what the admin meant: `config check` prints these as
 * warnings (exit 0). An alert feed without `countries` is valid (worldwide
 * news), but its alerts reach only subscribers who follow every destination.
 */
export function feedWarnings(feeds: readonly FeedConfig[]): string[] {
  return feeds.flatMap((f, i) =>
    f.enabled && ALERT_PROFILES.has(f.source) && f.countries.length === 0
      ? [
          `feeds.yaml: feeds[${i}] (${f.id}): a ${f.source} feed without countries: its alerts reach only subscribers who follow every destination; set countries: [CC, …]`,
        ]
      : [],
  );
}
