import type { SourceProfile } from '../config/schema.ts';

/** Who speaks through a source profile, and how. */
export interface SourceInfo {
  /** The government, in English; generic feeds are named by the feed. */
  government: string | null;
  /** The issuing body as it is known, for naming the source where the government alone is ambiguous. */
  agency: string | null;
  /** Language of the government's own wording (kept as published). */
  language: 'en' | 'de' | 'ja';
  /**
   * Items without a level from this source are alerts (embassy security
   * alerts, Japan's consular e-mails) rather than routine news: urgency
   * treats a new one as urgent.
   */
  alertSource: boolean;
}

const SOURCES: Record<SourceProfile, SourceInfo> = {
  generic: { government: null, agency: null, language: 'en', alertSource: false },
  'us-state-dept': { government: 'United States', agency: 'State Department', language: 'en', alertSource: false },
  'us-embassy': { government: 'United States', agency: 'U.S. embassy', language: 'en', alertSource: true },
  'uk-fcdo': { government: 'United Kingdom', agency: 'FCDO', language: 'en', alertSource: false },
  'ca-travel': { government: 'Canada', agency: 'Global Affairs Canada', language: 'en', alertSource: false },
  'au-smartraveller': { government: 'Australia', agency: 'Smartraveller', language: 'en', alertSource: false },
  'de-aa': { government: 'Germany', agency: 'Auswärtiges Amt', language: 'de', alertSource: false },
  'jp-mofa': { government: 'Japan', agency: 'MOFA', language: 'ja', alertSource: true },
};

export function sourceInfo(source: string): SourceInfo {
  return (SOURCES as Record<string, SourceInfo | undefined>)[source] ?? SOURCES.generic;
}

/** Which government speaks through a source profile; generic feeds are named by the feed. */
export function governmentOf(source: string, feedName: string): string {
  return sourceInfo(source).government ?? feedName;
}

/**
 * "Japan (MOFA)": how a message names a source whose own words are not English,
 * so the reader knows whose Japanese or German they are about to read. Null for
 * English-language sources, whose messages speak for themselves.
 */
export function foreignSourceLabel(source: string): string | null {
  const info = sourceInfo(source);
  if (info.language === 'en' || !info.government) return null;
  return info.agency ? `${info.government} (${info.agency})` : info.government;
}

/** Whether level-less items of this source are alerts (see `SourceInfo.alertSource`). */
export function isAlertSource(source: string): boolean {
  return sourceInfo(source).alertSource;
}
