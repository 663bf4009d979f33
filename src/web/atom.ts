import { Feed } from 'feed';
import type { PublicEvent } from '../advisories/repository.ts';
import { countryName } from '../common/countries.ts';
import { escapeHtml, safeUrl } from '../common/escape.ts';
import { eventSummary, excerpt } from './public-pages.ts';

/**
 * Atom 1.0 documents of events. The `feed` library writes titles and content
 * as type="html": everything from a feed is escaped here first, so a reader
 * shows the government's markup as text, never as markup.
 */
export function eventsAtom(options: {
  events: readonly PublicEvent[];
  baseUrl: string;
  selfPath: string;
  alternatePath: string;
  title: string;
  /** When the document is written: an empty feed's <updated>, which Atom requires (RFC 4287 §4.1.1). */
  now: Date;
}): string {
  const base = options.baseUrl.replace(/\/+$/, '');
  const host = new URL(base).hostname;
  const newest = options.events[0]?.createdAt ?? options.now;
  const feed = new Feed({
    id: `${base}${options.selfPath}`,
    title: options.title,
    updated: newest,
    link: `${base}${options.alternatePath}`,
    feedLinks: { atom: `${base}${options.selfPath}` },
    author: { name: 'Advisory Alerts' },
    generator: false,
  });
  for (const e of options.events) {
    const places = e.countries.map(countryName).join(', ') || 'Worldwide';
    const source = safeUrl(e.link);
    const paragraphs = [`${e.government}: ${eventSummary(e)}${e.levelText ? ` (“${e.levelText}”)` : ''}.`, ...excerpt(e.body, 2000)];
    feed.addItem({
      // Event ids never change or get reused: a stable tag URI per event.
      id: `tag:${host},2026:event:${e.id}`,
      title: escapeHtml(`${places} — ${e.title}`),
      link: source ?? `${base}/countries/${e.countries[0] ?? ''}`,
      date: e.createdAt,
      ...(e.publishedAt ? { published: e.publishedAt } : {}),
      author: [{ name: e.government }],
      category: e.countries.map((c) => ({ term: c, name: countryName(c) })),
      content: paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join(''),
    });
  }
  return feed.atom1();
}
