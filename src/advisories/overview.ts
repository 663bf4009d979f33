import { countryName } from '../common/countries.ts';
import type { CurrentAdvice, LevelPoint, PublicEvent } from './repository.ts';

// Pure shaping of stored advisories into the public views: every government's
// level side by side per country, and each government's level over time.

/** The one 1–4 scale, in words (shown beside every level: colour is never the only cue). */
export const LEVEL_NAMES: Record<number, string> = {
  1: 'Exercise normal precautions',
  2: 'Exercise increased caution',
  3: 'Reconsider travel',
  4: 'Do not travel',
};

export function levelName(level: number): string {
  return LEVEL_NAMES[level] ?? `Level ${level}`;
}

/** Governments in a stable, familiar order; any others (generic feeds) after them by name. */
const GOVERNMENT_ORDER = ['United States', 'United Kingdom', 'Canada', 'Australia', 'Germany', 'Japan'];

export function orderGovernments(names: Iterable<string>): string[] {
  const rank = (g: string) => {
    const i = GOVERNMENT_ORDER.indexOf(g);
    return i === -1 ? GOVERNMENT_ORDER.length : i;
  };
  return [...new Set(names)].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

export interface GovernmentLevel {
  government: string;
  feedId: string;
  feedName: string;
  level: number;
  levelText: string | null;
  title: string;
  link: string | null;
  /** When this service recorded the advice as it now reads. */
  updatedAt: Date;
  /** The government's own date for the advice, when its feed gives one. */
  publishedAt: Date | null;
}

export interface CountryOverview {
  country: string;
  name: string;
  highestLevel: number;
  lowestLevel: number;
  /** Two governments are two levels or more apart. */
  disagree: boolean;
  /** By government name. */
  governments: Record<string, GovernmentLevel>;
  /** The latest change of any government's advice for the country. */
  lastChange: Date;
}

/** Which of two advisories of one government speaks for it: the higher level, then the newer. */
function preferred(a: GovernmentLevel, b: GovernmentLevel): GovernmentLevel {
  if (a.level !== b.level) return a.level > b.level ? a : b;
  return a.updatedAt >= b.updatedAt ? a : b;
}

/** One overview per country with a levelled advisory, ordered by country name. */
export function countryOverviews(advice: readonly CurrentAdvice[]): CountryOverview[] {
  const byCountry = new Map<string, Record<string, GovernmentLevel>>();
  for (const a of advice) {
    const govs = byCountry.get(a.country) ?? {};
    const entry: GovernmentLevel = {
      government: a.government,
      feedId: a.feedId,
      feedName: a.feedName,
      level: a.level,
      levelText: a.levelText,
      title: a.title,
      link: a.link,
      updatedAt: a.updatedAt,
      publishedAt: a.publishedAt,
    };
    const existing = govs[a.government];
    govs[a.government] = existing ? preferred(existing, entry) : entry;
    byCountry.set(a.country, govs);
  }
  return [...byCountry.entries()]
    .map(([country, governments]) => {
      const list = Object.values(governments);
      const levels = list.map((g) => g.level);
      const highestLevel = Math.max(...levels);
      const lowestLevel = Math.min(...levels);
      return {
        country,
        name: countryName(country),
        highestLevel,
        lowestLevel,
        disagree: highestLevel - lowestLevel >= 2,
        governments,
        lastChange: new Date(Math.max(...list.map((g) => g.updatedAt.getTime()))),
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

export const OVERVIEW_SORTS = ['name', 'level', 'changed'] as const;
export type OverviewSort = (typeof OVERVIEW_SORTS)[number];

/** Lower case, accents stripped: "cote" finds "Côte d’Ivoire". */
function folded(s: string): string {
  return s
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .trim();
}

/** The rows a visitor asked for: names (or codes) containing `query`, in the chosen order. */
export function selectOverviews(list: readonly CountryOverview[], options: { query?: string; sort?: OverviewSort }): CountryOverview[] {
  const q = folded(options.query ?? '');
  const matching = q ? list.filter((c) => folded(c.name).includes(q) || c.country.toLowerCase() === q) : [...list];
  const byName = (a: CountryOverview, b: CountryOverview) => a.name.localeCompare(b.name);
  switch (options.sort ?? 'name') {
    case 'level':
      return matching.sort((a, b) => b.highestLevel - a.highestLevel || Number(b.disagree) - Number(a.disagree) || byName(a, b));
    case 'changed':
      return matching.sort((a, b) => b.lastChange.getTime() - a.lastChange.getTime() || byName(a, b));
    default:
      return matching.sort(byName);
  }
}

export interface LevelStep {
  from: Date;
  to: Date;
  level: number;
}

export interface LevelSeries {
  government: string;
  steps: LevelStep[];
}

/**
 * Each government's level over `window`, as steps. A government speaking
 * through several advisories (feeds) for the country is at the highest of
 * them. Points before the window give the level it starts at; a government
 * first heard of inside the window starts there.
 */
export function levelSeries(points: readonly LevelPoint[], window: { from: Date; to: Date }): LevelSeries[] {
  const sorted = [...points].sort((a, b) => a.at.getTime() - b.at.getTime());
  const perGov = new Map<string, { current: Map<number, number>; steps: LevelStep[] }>();
  for (const p of sorted) {
    if (p.at > window.to) break;
    const g = perGov.get(p.government) ?? { current: new Map<number, number>(), steps: [] };
    perGov.set(p.government, g);
    g.current.set(p.advisoryId, p.level);
    const level = Math.max(...g.current.values());
    const at = new Date(Math.max(p.at.getTime(), window.from.getTime()));
    const last = g.steps.at(-1);
    if (last && last.level === level) continue;
    if (last && last.from.getTime() === at.getTime()) {
      // Several changes at one instant (or before the window): the last one holds.
      last.level = level;
      const before = g.steps.at(-2);
      if (before && before.level === level) {
        g.steps.pop();
        before.to = window.to;
      }
      continue;
    }
    if (last) last.to = at;
    g.steps.push({ from: at, to: window.to, level });
  }
  return orderGovernments(perGov.keys()).map((government) => ({ government, steps: perGov.get(government)!.steps }));
}

/** An event as the JSON API and outgoing webhooks publish it. */
export function eventJson(e: PublicEvent) {
  return {
    id: e.id,
    feed: e.feedId,
    government: e.government,
    kind: e.kind,
    countries: e.countries,
    level: e.level,
    previousLevel: e.previousLevel,
    levelText: e.levelText,
    title: e.title,
    text: e.body,
    link: e.link,
    publishedAt: e.publishedAt?.toISOString() ?? null,
    createdAt: e.createdAt.toISOString(),
  };
}
