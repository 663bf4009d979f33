import type { EventKind } from '../db/types.ts';
import type { AdvisoryItem } from './model.ts';
import { fingerprint } from './normalize.ts';

/** What change detection needs to know of a stored advisory. */
export interface StoredAdvisory {
  id: number;
  key: string;
  fingerprint: string;
  level: number | null;
  link: string | null;
  guid: string | null;
  countries: string[];
  publishedAt: Date | null;
  removed: boolean;
  /** The version an event about this advisory names as "previous". */
  versionId: number | null;
}

export interface FingerprintedItem extends AdvisoryItem {
  fingerprint: string;
}

export interface Diff {
  /** Advisories seen for the first time; `event` is null on a baseline poll. */
  added: { item: FingerprintedItem; event: 'new' | null }[];
  /** Meaning or level changed: a new version and an event. */
  changed: { stored: StoredAdvisory; item: FingerprintedItem; kind: EventKind }[];
  /** Same meaning; link, guid, date or presence may differ, which is stored silently. */
  unchanged: { stored: StoredAdvisory; item: FingerprintedItem; refresh: boolean }[];
  /** Present before, absent from this document: recorded, never alerted (unless the profile retains it). */
  removed: StoredAdvisory[];
  /** Items whose key repeated within the document (the first one wins). */
  duplicates: number;
}

export function changeKind(previousLevel: number | null, level: number | null): EventKind {
  if (previousLevel !== null && level !== null && level !== previousLevel) {
    return level > previousLevel ? 'level-raised' : 'level-lowered';
  }
  return 'updated';
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Pure change detection (docs/contract.md, "Change detection"). Identity is the profile's key; meaning is
 * the fingerprint (title, text as words, level, wording) — so pubDate churn,
 * re-ordering, re-serialisation, markup and whitespace changes and moved
 * links are not events.
 */
export function diffAdvisories(
  stored: readonly StoredAdvisory[],
  items: readonly AdvisoryItem[],
  options: { baseline: boolean; retainsWhenAbsent?: (key: string) => boolean },
): Diff {
  const byKey = new Map(stored.map((s) => [s.key, s]));
  const seen = new Set<string>();
  const diff: Diff = { added: [], changed: [], unchanged: [], removed: [], duplicates: 0 };

  for (const raw of items) {
    if (seen.has(raw.key)) {
      diff.duplicates++;
      continue;
    }
    seen.add(raw.key);
    const item: FingerprintedItem = { ...raw, fingerprint: fingerprint(raw) };
    const prev = byKey.get(raw.key);
    if (!prev) {
      diff.added.push({ item, event: options.baseline ? null : 'new' });
    } else if (prev.fingerprint !== item.fingerprint || prev.level !== item.level) {
      diff.changed.push({ stored: prev, item, kind: changeKind(prev.level, item.level) });
    } else {
      const refresh =
        prev.removed ||
        prev.link !== item.link ||
        prev.guid !== item.guid ||
        !sameList(prev.countries, item.countries) ||
        (prev.publishedAt?.getTime() ?? null) !== (item.publishedAt?.getTime() ?? null);
      diff.unchanged.push({ stored: prev, item, refresh });
    }
  }
  for (const s of stored) {
    if (!s.removed && !seen.has(s.key) && !options.retainsWhenAbsent?.(s.key)) diff.removed.push(s);
  }
  return diff;
}
