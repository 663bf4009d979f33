import type { AdvisoryItem } from '../../advisories/model.ts';
import { parseXmlFeed } from '../parse-xml.ts';
import { cleanUrl, genericKey, itemBody, oneLine, parseDate } from './common.ts';
import type { SourceProfileImpl } from './types.ts';

// WordPress alert feeds of U.S. embassies (`*.usembassy.gov/category/alert/feed/`):
// every post carries the category "Alert" plus its type ("Security Alert",
// "Demonstration Alert", "Message for U.S. Citizens"). These are alerts, not
// levelled advisories, so the type is the wording and the level stays empty.
const GENERIC_CATEGORIES = new Set(['alert', 'alerts', 'uncategorized', 'news', 'u.s. citizen services']);

export const usEmbassyProfile: SourceProfileImpl = {
  async parse(text, feed) {
    const doc = await parseXmlFeed(text);
    return doc.items.map((item): AdvisoryItem => {
      const title = oneLine(item.title);
      const body = itemBody(item);
      const alertType = item.categories.map((c) => oneLine(c.text)).find((c) => c && !GENERIC_CATEGORIES.has(c.toLowerCase()));
      return {
        // The post's guid (`?p=N`) is stable when a post is edited and re-titled.
        key: genericKey(item, title, body),
        guid: item.guid?.trim() || null,
        link: cleanUrl(item.link),
        title,
        body,
        countries: [...feed.countries],
        level: null,
        levelText: alertType ?? (/\balert\b/i.test(title) ? title.replace(/\s[-–—].*$/, '') : null),
        publishedAt: parseDate(item.pubDate),
      };
    });
  },
};
