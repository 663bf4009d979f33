import { Parser } from 'xml2js';
import type { AdvisoryItem } from '../../advisories/model.ts';
import { tidyText } from '../../advisories/normalize.ts';
import { mofaLevel } from '../../advisories/wording.ts';
import { countryCodeFromAlpha3 } from '../../common/countries.ts';
import { FeedParseError, refuseEntityDeclarations } from '../parse-xml.ts';
import { cleanUrl } from './common.ts';
import { MOFA_COUNTRY_CODES } from './mofa-country-codes.ts';
import type { SourceProfileImpl } from './types.ts';

// Japan's Ministry of Foreign Affairs, open-data "new arrivals" list
// (`newarrivalL.xml`): a rolling window of `<mail>` items, newest first.
// - `infoType` T40 is a danger-level notice (危険情報) for a country. Each new
//   notice replaces the last one for that country, so the advisory is the
//   country, and successive notices are its versions.
// - Every other item (R10 consular e-mails from embassies, wide-area notices)
//   is an alert, like an embassy's, identified by its `keyCd`.
// - Items leave the window after a few days. An alert that leaves is recorded
//   as gone; a country's danger level that leaves is still in force, so it is
//   kept as current (see `retainsWhenAbsent`).
// - Countries are MOFA's 4-digit codes (several per item is normal).
// - Text is Japanese and kept as published (only whitespace is tidied).

const ADVISORY_TYPE = 'T40';
const KEY_PREFIX_COUNTRY = 'iso:';

// Strict sax mode: DTD-declared entities are not expanded (no entity bombs).
// A new parser per document: xml2js keeps its half-built tree after an error.
const newParser = () => new Parser({ strict: true, explicitArray: true, trim: false });

type XmlNode = { [k: string]: XmlValue[] | undefined } & { $?: Record<string, string>; _?: string };
type XmlValue = string | XmlNode;

function text(node: XmlNode, field: string): string {
  const v = node[field]?.[0];
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof v._ === 'string') return v._;
  return '';
}

function flag(node: XmlNode, field: string): boolean {
  return text(node, field).trim() === '1';
}

/** `2026/01/16 21:10:37`, Japan time (UTC+9, no daylight saving). */
export function parseJapanTime(value: string): Date | null {
  const m = /^(\d{4})\/(\d{1,2})\/(\d{1,2})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$/.exec(value.trim());
  if (!m) return null;
  const [, y, mo, d, h = '0', mi = '0', s = '0'] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h) - 9, Number(mi), Number(s));
  return Number.isNaN(ms) ? null : new Date(ms);
}

const MOFA_TO_ISO = new Map<string, string>();
for (const [code, alpha3] of Object.entries(MOFA_COUNTRY_CODES)) {
  const iso = countryCodeFromAlpha3(alpha3);
  if (iso) MOFA_TO_ISO.set(code, iso);
}

/** A MOFA 4-digit country code as ISO 3166-1 alpha-2, if the table knows it. */
export function mofaCountry(code: string): string | undefined {
  const c = code.trim();
  return MOFA_TO_ISO.get(c) ?? (/^\d{1,3}$/.test(c) ? MOFA_TO_ISO.get(c.padStart(4, '0')) : undefined);
}

function countriesOf(mail: XmlNode): string[] {
  const out: string[] = [];
  for (const c of mail.country ?? []) {
    if (typeof c !== 'object') continue;
    const iso = mofaCountry(text(c, 'cd'));
    if (iso && !out.includes(iso)) out.push(iso);
  }
  return out;
}

/** What a consular e-mail is, in MOFA's words, where the type code is known. */
const ALERT_TYPES: Record<string, string> = { R10: '領事メール' };

interface Notice {
  mail: XmlNode;
  keyCd: string;
  leftAt: Date | null;
}

/** Newest `leaveDate` first; on a tie the later notice number (`2026T007` after `2026T006`). */
function newer(a: Notice, b: Notice): boolean {
  const ta = a.leftAt?.getTime() ?? -Infinity;
  const tb = b.leftAt?.getTime() ?? -Infinity;
  return ta !== tb ? ta > tb : a.keyCd.localeCompare(b.keyCd, 'en', { numeric: true }) > 0;
}

function body(mail: XmlNode): string {
  return tidyText(text(mail, 'lead'));
}

function title(mail: XmlNode): string {
  return tidyText(text(mail, 'title')).replace(/\s+/g, ' ');
}

export const jpMofaProfile: SourceProfileImpl = {
  async parse(xml) {
    refuseEntityDeclarations(xml);
    let doc: { opendata?: XmlNode } | null;
    try {
      doc = (await newParser().parseStringPromise(xml.replace(/^\uFEFF/, ''))) as { opendata?: XmlNode } | null;
    } catch (err) {
      const msg = (err as Error).message.split('\n').slice(0, 3).join(' ').trim();
      throw new FeedParseError(`not valid XML: ${msg}`, { cause: err });
    }
    const root = doc?.opendata;
    if (!root || typeof root !== 'object') throw new FeedParseError('not a MOFA open-data list: no <opendata> root element');

    const alerts: AdvisoryItem[] = [];
    const latest = new Map<string, Notice>();
    for (const m of root.mail ?? []) {
      if (typeof m !== 'object') continue;
      const keyCd = text(m, 'keyCd').trim();
      if (!keyCd) continue;
      const infoType = text(m, 'infoType').trim();
      const countries = countriesOf(m);
      const leftAt = parseJapanTime(text(m, 'leaveDate'));
      if (infoType === ADVISORY_TYPE) {
        for (const iso of countries) {
          const candidate = { mail: m, keyCd, leftAt };
          const current = latest.get(iso);
          if (!current || newer(candidate, current)) latest.set(iso, candidate);
        }
        continue;
      }
      alerts.push({
        key: `mail:${keyCd}`,
        guid: keyCd,
        link: cleanUrl(text(m, 'infoUrl')),
        title: title(m),
        body: body(m),
        countries,
        level: null,
        levelText: ALERT_TYPES[infoType] ?? null,
        publishedAt: leftAt,
      });
    }

    const advisories = [...latest.entries()].map(([iso, { mail, keyCd, leftAt }]): AdvisoryItem => {
      const reading = mofaLevel({ 1: flag(mail, 'riskLevel1'), 2: flag(mail, 'riskLevel2'), 3: flag(mail, 'riskLevel3'), 4: flag(mail, 'riskLevel4') });
      return {
        key: `${KEY_PREFIX_COUNTRY}${iso}`,
        // The notice's number moves with every new notice; the country stays.
        guid: keyCd,
        link: cleanUrl(text(mail, 'infoUrl')),
        title: title(mail),
        body: body(mail),
        countries: [iso],
        level: reading.level,
        levelText: reading.wording,
        publishedAt: leftAt,
      };
    });
    return [...advisories, ...alerts];
  },

  retainsWhenAbsent(key) {
    return key.startsWith(KEY_PREFIX_COUNTRY);
  },
};
