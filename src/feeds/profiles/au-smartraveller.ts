import type { AdvisoryItem } from '../../advisories/model.ts';
import { smartravellerLevel } from '../../advisories/wording.ts';
import { countryCodeFromName } from '../../common/countries.ts';
import { parseXmlFeed } from '../parse-xml.ts';
import { cleanUrl, itemBody, oneLine, parseDate } from './common.ts';
import type { SourceProfileImpl } from './types.ts';

// Australia's Smartraveller RSS: one item per destination, the level only in
// the advice wording ("Reconsider your need to travel" …). Identity is the
// destination, so a moved link or guid is not a new advisory.

function slug(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

export const auSmartravellerProfile: SourceProfileImpl = {
  async parse(text, feed) {
    const doc = await parseXmlFeed(text);
    return doc.items.map((item): AdvisoryItem => {
      const title = oneLine(item.title);
      const destination = title.replace(/\s+[-–—|:]\s+.*$/, '').trim();
      const code = countryCodeFromName(destination);
      const body = itemBody(item);
      const reading = smartravellerLevel(`${title}. ${body}`);
      const countries = code ? [code] : [...feed.countries];
      return {
        key: code ? `iso:${code}` : `destination:${slug(destination)}`,
        guid: item.guid?.trim() || null,
        link: cleanUrl(item.link),
        title,
        body,
        countries,
        level: reading?.level ?? null,
        levelText: reading?.wording ?? null,
        publishedAt: parseDate(item.pubDate),
      };
    });
  },
};
