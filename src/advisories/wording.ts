import { words } from './words.ts';

/**
 * Governments' wording of their advice → the one 1–4 scale (docs/contract.md, "Sources and advisories").
 * Pure and table-tested: every rule here was read off real advice texts.
 */

export interface LevelReading {
  level: number;
  /** The sentence the level was read from, in the government's words. */
  wording: string | null;
}

function sentences(text: string): string[] {
  return text
    .split(/\n+/)
    .flatMap((para) => words(para).split(/(?<=[.!?:])\s+(?=[A-Z•])/))
    .map((s) => s.trim())
    .filter(Boolean);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * UK FCDO: "advises against all travel" → 4, "against all but essential travel" → 3,
 * either of them only "to parts of" the country (named areas, a border zone) → one lower.
 * No advise-against sentence at all → 1.
 */
export function fcdoLevel(text: string, countryName: string | null): LevelReading {
  let best: LevelReading = { level: 1, wording: null };
  for (const sentence of sentences(text)) {
    const re = /advis\w*\s+against\s+all\s+(but\s+essential\s+)?travel\s*(?:to|in)?\s*([^.;]*)/gi;
    for (const m of sentence.matchAll(re)) {
      const severity = m[1] ? 3 : 4;
      const target = (m[2] ?? '').trim();
      const level = isWholeCountry(target, countryName) ? severity : severity - 1;
      if (level > best.level) best = { level, wording: sentence };
    }
  }
  return best;
}

function isWholeCountry(target: string, countryName: string | null): boolean {
  if (/^(the\s+)?(whole|all|entirety)\s+of\b/i.test(target)) return true;
  if (/\bparts?\s+of\b|\bareas?\b|\bwithin\b|\bborder\b|\bregions?\b|\bprovinces?\b|\bcity\b|\bexcept\b/i.test(target)) return false;
  if (!target) return false;
  if (!countryName) return false;
  const name = escapeRegExp(countryName);
  return new RegExp(`^(the\\s+)?${name}\\s*$`, 'i').test(target.replace(/[,.]\s*$/, ''));
}

const SMARTRAVELLER_PHRASES: [RegExp, number][] = [
  [/\bdo\s+not\s+travel\b/i, 4],
  [/\breconsider\s+(your\s+)?need\s+to\s+travel\b/i, 3],
  [/\bexercise\s+a\s+high\s+degree\s+of\s+caution\b/i, 2],
  [/\bexercise\s+normal\s+safety\s+precautions\b/i, 1],
];

/**
 * Australia's Smartraveller: four fixed phrases. The advice "overall" is the
 * country's level; a phrase limited to parts of the country counts one lower.
 * Without an "overall" sentence the highest reading wins.
 */
export function smartravellerLevel(text: string): LevelReading | null {
  let overall: LevelReading | null = null;
  let best: LevelReading | null = null;
  for (const sentence of sentences(text)) {
    for (const [re, level] of SMARTRAVELLER_PHRASES) {
      const m = re.exec(sentence);
      if (!m) continue;
      // Where the advice applies ends where its reason begins: "… due to the risk of
      // conflict in the region" does not make the advice regional.
      const rest = sentence.slice(m.index + m[0].length).split(/\b(?:due\s+to|because\s+of)\b/i)[0] ?? '';
      if (/\boverall\b/i.test(sentence)) {
        overall ??= { level, wording: sentence };
      } else {
        // "States" of a federation is a region; "United States", "Federated States" are countries.
        const parts =
          /^\s*(to|in)\s+(parts?\s+of|some\s+areas?|the\s+(border|north|south|east|west))/i.test(rest) ||
          /^\s*(to|in)\s+[^.]*\b(regions?|provinces?|areas?|border|(?<!\b(?:united|federated)\s+)states?)\b/i.test(rest);
        const reading = { level: parts ? Math.max(1, level - 1) : level, wording: sentence };
        if (!best || reading.level > best.level) best = reading;
      }
      break;
    }
  }
  return overall ?? best;
}

/** Canada's `advisory-state` 0–3 → 1–4. */
export function canadaLevel(state: unknown): number | null {
  const n = typeof state === 'number' ? state : typeof state === 'string' && /^\d$/.test(state) ? Number(state) : NaN;
  return Number.isInteger(n) && n >= 0 && n <= 3 ? n + 1 : null;
}

/**
 * Each government's own short names for its levels, as they appear inside its
 * advice sentences. A subject line quotes the short name ("Do not travel"), not
 * the whole sentence it was read from.
 */
const SHORT_LEVEL_NAMES: [RegExp, number][] = [
  // Australia (Smartraveller)
  [/\bdo not travel\b/i, 4],
  [/\breconsider your need to travel\b/i, 3],
  [/\bexercise a high degree of caution\b/i, 2],
  [/\bexercise normal safety precautions\b/i, 1],
  // United States
  [/\breconsider travel\b/i, 3],
  [/\bexercise increased caution\b/i, 2],
  [/\bexercise normal precautions\b/i, 1],
  // Canada
  [/\bavoid all travel\b/i, 4],
  [/\bavoid non-essential travel\b/i, 3],
  [/\btake normal security precautions\b/i, 1],
  // United Kingdom: "advises against all (but essential) travel"
  [/\bagainst all but essential travel\b/i, 3],
  [/\bagainst all travel\b/i, 4],
];

/** The short level name in the government's words, or null when its wording has none for this level. */
export function shortLevelName(level: number, wording: string | null): string | null {
  if (!wording) return null;
  const text = wording.replace(/\s+/g, ' ').trim();
  for (const [re, phraseLevel] of SHORT_LEVEL_NAMES) {
    const m = re.exec(text);
    // A phrase limited to part of a country reads one level lower: its name
    // would overstate the country's level, so it is not used.
    if (m && phraseLevel === level) return m[0].charAt(0).toUpperCase() + m[0].slice(1);
  }
  // Already short (the State Department's "Do Not Travel", an alert type).
  return text.length <= 40 ? text : null;
}

/** The four booleans of the Auswärtiges Amt's travel-warning list. */
export interface AaFlags {
  warning: boolean;
  partialWarning: boolean;
  situationWarning: boolean;
  situationPartWarning: boolean;
}

// The German names of the flags, in the order the level is read: the first
// flag that holds decides. `warning` and `partialWarning` are the Foreign
// Office's own terms (Reisewarnung, Teilreisewarnung); the two situation flags
// have no fixed public name, so they are named after what they flag.
const AA_FLAGS: readonly [keyof AaFlags, number, string][] = [
  ['warning', 4, 'Reisewarnung'],
  ['partialWarning', 3, 'Teilreisewarnung'],
  ['situationWarning', 2, 'Situationsbedingte Reisewarnung'],
  ['situationPartWarning', 2, 'Situationsbedingte Teilreisewarnung'],
];

/** Without a flag the page is the country's ordinary travel and safety advice. */
export const AA_NO_WARNING = 'Reise- und Sicherheitshinweise';

/**
 * Germany: `warning` → 4, `partialWarning` → 3, `situationWarning` or
 * `situationPartWarning` → 2, none → 1 (the first that holds). `flags` lists
 * every flag set, in German, so that a change of any flag is a change of meaning.
 */
export function aaLevel(f: AaFlags): LevelReading & { flags: string[] } {
  const set = AA_FLAGS.filter(([name]) => f[name]);
  const first = set[0];
  return { level: first?.[1] ?? 1, wording: first?.[2] ?? AA_NO_WARNING, flags: set.map(([, , words]) => words) };
}

// Japan's four danger levels (危険レベル) in MOFA's words, and where each sits on the
// common scale: Japan has no "normal precautions" level, so its 1 is our 2 and
// both its 3 (do not travel) and 4 (evacuate) are our 4.
const MOFA_LEVELS: Record<1 | 2 | 3 | 4, { level: number; wording: string }> = {
  1: { level: 2, wording: '十分注意してください' },
  2: { level: 3, wording: '不要不急の渡航は止めてください' },
  3: { level: 4, wording: '渡航は止めてください（渡航中止勧告）' },
  4: { level: 4, wording: '退避してください。渡航は止めてください（退避勧告）' },
};

/**
 * Japan: the highest `riskLevelN` flagged in a danger-level notice (each flag
 * says that level applies to some region of the country). None flagged → 1.
 * `japanLevel` is MOFA's own number (0 when none), for people who know the scale.
 */
export function mofaLevel(flagged: Partial<Record<1 | 2 | 3 | 4, boolean>>): LevelReading & { japanLevel: number } {
  for (const n of [4, 3, 2, 1] as const) {
    if (flagged[n]) return { ...MOFA_LEVELS[n], japanLevel: n };
  }
  return { level: 1, wording: null, japanLevel: 0 };
}
