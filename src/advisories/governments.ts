import type { SourceProfile } from '../config/schema.ts';

/** Which government speaks through a source profile; generic feeds are named by the feed. */
const GOVERNMENTS: Record<SourceProfile, string | null> = {
  generic: null,
  'us-state-dept': 'United States',
  'us-embassy': 'United States',
  'uk-fcdo': 'United Kingdom',
  'ca-travel': 'Canada',
  'au-smartraveller': 'Australia',
};

export function governmentOf(source: string, feedName: string): string {
  return (GOVERNMENTS as Record<string, string | null | undefined>)[source] ?? feedName;
}
