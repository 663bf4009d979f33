import type { AdvisoryItem } from '../../advisories/model.ts';
import { parseXmlFeed, type RawItem } from '../parse-xml.ts';
import { cleanUrl, itemBody, oneLine, parseDate } from './common.ts';
import { countryCodeFromName, countryCodeFromAlpha3 } from '../../common/countries.ts';
import { stateDeptTagToIso } from './state-dept-country-tags.ts';
import type { SourceProfileImpl } from './types.ts';

const LEVEL = /Level\s*([1-4])\s*[:\-–]\s*([^<\n]+)/i;

function category(item: RawItem, domain: string): string | undefined {
  return item.categories.find((c) => c.domain?.toLowerCase() === domain.toLowerCase())?.text.trim();
}

/** "Kenya  - Level 3: Reconsider Travel" → "Kenya"; "Worldwide Caution - Caution" → "Worldwide Caution". */
export function destinationOf(title: string): string {
  return title.replace(/\s+-\s+(Level\s*\d.*|Caution)$/i, '').trim();
}

function slug(s: string): string {
  return s
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

// Newer feeds link to `…/travel-advisories/destination.<iso3>.html`.
const DESTINATION_LINK = /\/destination\.([a-z]{3})\.html/i;

/** Without a known Country-Tag: the ISO3 code in a newer-style link, else the destination's name. */
function isoFromLinkOrName(link: string | null, destination: string): string[] | undefined {
  const iso3 = link ? DESTINATION_LINK.exec(link)?.[1] : undefined;
  const code = (iso3 && countryCodeFromAlpha3(iso3)) || countryCodeFromName(destination);
  return code ? [code] : undefined;
}

/**
 * travel.state.gov `TAsTWs.xml`. Identity is the destination: the feed moved
 * every link and guid to a new URL scheme in 2025–26 without any advisory
 * changing, so keying on guid would announce ~200 "new" advisories.
 */
export const usStateDeptProfile: SourceProfileImpl = {
  async parse(text) {
    const doc = await parseXmlFeed(text);
    return doc.items.map((item): AdvisoryItem => {
      const title = oneLine(item.title);
      const threat = category(item, 'Threat-Level') ?? title;
      const m = LEVEL.exec(threat) ?? LEVEL.exec(title);
      const level = m ? Number(m[1]) : null;
      const levelText = m?.[2] ? oneLine(m[2]) : /caution/i.test(threat) ? 'Caution' : null;
      const tag = category(item, 'Country-Tag');
      const destination = destinationOf(title);
      const iso = (tag ? stateDeptTagToIso(tag) : undefined) ?? isoFromLinkOrName(cleanUrl(item.link), destination);
      let key: string;
      if (iso && iso.length > 0) key = `iso:${[...iso].sort().join(',')}`;
      else if (tag?.toLowerCase() === 'caution' || /^worldwide/i.test(destination)) key = 'worldwide';
      else key = `destination:${slug(destination)}`;
      return {
        key,
        guid: item.guid?.trim() || null,
        link: cleanUrl(item.link),
        title,
        body: itemBody(item),
        countries: iso ? [...iso] : [],
        level,
        levelText,
        publishedAt: parseDate(item.pubDate),
      };
    });
  },
};
