import type { AdvisoryItem } from '../../advisories/model.ts';
import { fcdoLevel } from '../../advisories/wording.ts';
import { countryCodeFromName } from '../../common/countries.ts';
import { FeedParseError, parseXmlFeed } from '../parse-xml.ts';
import { cleanUrl, htmlToText, oneLine, parseDate, parseJsonDocument } from './common.ts';
import type { ProfileFeed, SourceProfileImpl } from './types.ts';

// GOV.UK foreign travel advice, either as a country's Atom feed
// (`/foreign-travel-advice/<country>.atom`: one entry whose summary is the
// latest change note plus the headline advice; the entry id embeds the update
// time, so it changes on every update) or as the content API document
// (`/api/content/foreign-travel-advice/<country>`). Identity is the country.

const SLUG = /\/foreign-travel-advice\/([a-z0-9-]+)/;

function countryFrom(name: string | null, slug: string | null, feed: ProfileFeed): string[] {
  const fromName = (name && countryCodeFromName(name)) || (slug && countryCodeFromName(slug.replace(/-/g, ' ')));
  if (fromName) return [fromName];
  return [...feed.countries];
}

function advisory(
  feed: ProfileFeed,
  parts: { slug: string | null; name: string | null; title: string; body: string; link: string | null; guid: string | null; publishedAt: Date | null },
): AdvisoryItem {
  const countries = countryFrom(parts.name, parts.slug, feed);
  const reading = fcdoLevel(parts.body, parts.name);
  return {
    key: parts.slug ? `country:${parts.slug}` : countries[0] ? `iso:${countries[0]}` : `title:${parts.title.toLowerCase()}`,
    guid: parts.guid,
    link: parts.link,
    title: parts.title,
    body: parts.body,
    countries,
    level: reading.level,
    levelText: reading.wording,
    publishedAt: parts.publishedAt,
  };
}

interface ContentApiDoc {
  title?: unknown;
  base_path?: unknown;
  public_updated_at?: unknown;
  details?: { country?: { slug?: unknown; name?: unknown }; change_description?: unknown; summary?: unknown };
}

function fromContentApi(text: string, feed: ProfileFeed): AdvisoryItem[] {
  // Starts with '{': an object, or no JSON at all.
  const doc = parseJsonDocument(text) as ContentApiDoc;
  const details = doc.details;
  if (!details || typeof details !== 'object' || typeof details.summary !== 'string') {
    throw new FeedParseError('not a GOV.UK travel advice document: details.summary is missing');
  }
  const slug =
    typeof details.country?.slug === 'string'
      ? details.country.slug
      : ((typeof doc.base_path === 'string' ? SLUG.exec(doc.base_path)?.[1] : undefined) ?? null);
  const name = typeof details.country?.name === 'string' ? oneLine(details.country.name) : null;
  const change = typeof details.change_description === 'string' ? oneLine(details.change_description) : '';
  const summary = htmlToText(details.summary);
  return [
    advisory(feed, {
      slug,
      name,
      title: typeof doc.title === 'string' ? oneLine(doc.title) : `${name ?? slug} travel advice`,
      body: change ? `${change}\n\n${summary}` : summary,
      link: typeof doc.base_path === 'string' ? cleanUrl(`https://www.gov.uk${doc.base_path}`) : null,
      guid: null,
      publishedAt: typeof doc.public_updated_at === 'string' ? parseDate(doc.public_updated_at) : null,
    }),
  ];
}

export const ukFcdoProfile: SourceProfileImpl = {
  async parse(text, feed) {
    if (text.trimStart().startsWith('{')) return fromContentApi(text, feed);
    const doc = await parseXmlFeed(text);
    return doc.items.map((item) => {
      const title = oneLine(item.title);
      const link = cleanUrl(item.link) ?? cleanUrl(doc.link);
      const slug = (link && SLUG.exec(link)?.[1]) ?? null;
      const name = title.replace(/\s+travel advice$/i, '').trim() || null;
      const body = [htmlToText(item.summary), htmlToText(item.content)].filter(Boolean).join('\n\n');
      return advisory(feed, { slug, name, title, body, link, guid: item.guid?.trim() || null, publishedAt: parseDate(item.pubDate) });
    });
  },
};
