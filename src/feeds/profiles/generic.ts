import type { AdvisoryItem } from '../../advisories/model.ts';
import { parseXmlFeed } from '../parse-xml.ts';
import { cleanUrl, genericKey, itemBody, oneLine, parseDate } from './common.ts';
import type { SourceProfileImpl } from './types.ts';

export const genericProfile: SourceProfileImpl = {
  async parse(text, feed) {
    const doc = await parseXmlFeed(text);
    return doc.items.map((item): AdvisoryItem => {
      const title = oneLine(item.title);
      const body = itemBody(item);
      return {
        key: genericKey(item, title, body),
        guid: item.guid?.trim() || null,
        link: cleanUrl(item.link),
        title,
        body,
        countries: [...feed.countries],
        level: null,
        levelText: null,
        publishedAt: parseDate(item.pubDate),
      };
    });
  },
};
