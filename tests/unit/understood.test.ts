import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { feedWarnings } from '../../src/feeds/config-warnings.ts';
import type { SourceProfile } from '../../src/config/schema.ts';
import { CATALOGUE, fillPattern } from '../../src/feeds/catalogue.ts';
import { profileFor } from '../../src/feeds/profiles/index.ts';
import { understandingWarning } from '../../src/feeds/understood.ts';
import { feedConfig } from '../helpers/poll.ts';

/**
 * A profile pointed at another government's document: the parse succeeds (an
 * RSS item is an RSS item) but nothing in it is understood — no level, no
 * country. The check must stay quiet on every real document read with its own
 * profile, and speak up (or the parse refuse) on the wrong one.
 */

function fixture(relative: string): string {
  return readFileSync(new URL(`../fixtures/${relative}`, import.meta.url), 'utf8');
}

const DOCUMENTS: [SourceProfile, string][] = [
  ['us-state-dept', 'us-state-dept/TAsTWs_2021-03-01.xml'],
  ['au-smartraveller', 'au-smartraveller/index_v2.rss'],
  ['uk-fcdo', 'uk-fcdo/uk-fcdo-russia_v2.atom'],
  ['ca-travel', 'canada/index-alpha-eng_2014-10-02.json'],
  ['de-aa', 'de-aa/2026-04-02.json'],
  ['jp-mofa', 'jp-mofa/newarrivalL_2026-01-16b.xml'],
  ['us-embassy', 'us-embassy/us-embassy-russia-alerts_v2.xml'],
];

async function verdict(source: SourceProfile, file: string): Promise<string | null> {
  try {
    return understandingWarning(source, await profileFor(source).parse(fixture(file), { id: 'f', countries: source === 'us-embassy' ? ['RU'] : [] }));
  } catch (e) {
    return `refused: ${(e as Error).message}`;
  }
}

describe('understandingWarning', () => {
  it.each(DOCUMENTS)('%s on its own document (%s): nothing to say', async (source, file) => {
    expect(await verdict(source, file)).toBeNull();
  });

  it('us-state-dept on the Smartraveller feed (the case an admin hit): items read, no level in any', async () => {
    expect(await verdict('us-state-dept', 'au-smartraveller/index_v2.rss')).toMatch(
      /^the us-state-dept profile read \d+ items but no level in any of them; is this document really a us-state-dept one\?/,
    );
  });

  // Profiles that read the level from the advice's wording (Smartraveller's and
  // the FCDO's phrases) find it in another government's advice too: those pairs
  // are caught by config check's catalogue URL check, not by this one.
  const readsWording = new Set([
    'au-smartraveller us-state-dept/TAsTWs_2021-03-01.xml',
    'uk-fcdo us-state-dept/TAsTWs_2021-03-01.xml',
    'uk-fcdo au-smartraveller/index_v2.rss',
  ]);
  it.each(
    DOCUMENTS.flatMap(([own, file]) =>
      DOCUMENTS.filter(([other]) => other !== own && other !== 'us-embassy' && other !== 'jp-mofa' && !readsWording.has(`${other} ${file}`)).map(
        ([other]) => [other, file] as [SourceProfile, string],
      ),
    ),
  )('%s on %s: a warning or a refusal, never silence', async (source, file) => {
    expect(await verdict(source, file)).not.toBeNull();
  });

  it('a levelled profile that finds no advisory at all says so; an alert feed with no alerts is fine', () => {
    expect(understandingWarning('ca-travel', [])).toMatch(/found no advisory/);
    expect(understandingWarning('us-embassy', [])).toBeNull();
  });
});

describe('feedWarnings (config check and poll)', () => {
  it("a known government's URL declared with another profile, and an alert feed without countries", () => {
    const feeds = [
      feedConfig({ id: 'smart', url: 'https://www.smartraveller.gov.au/countries/documents/index.rss', source: 'us-state-dept' }),
      feedConfig({ id: 'ru', url: 'https://ru.usembassy.gov/category/alert/feed/', source: 'us-embassy' }),
      feedConfig({ id: 'ok', url: 'https://www.smartraveller.gov.au/countries/documents/index.rss', source: 'au-smartraveller' }),
      feedConfig({ id: 'off', url: 'https://ru.usembassy.gov/category/alert/feed/', source: 'generic', enabled: false }),
      feedConfig({ id: 'ua', url: 'https://ua.usembassy.gov/category/alert/feed/', source: 'generic', countries: ['UA'] }),
    ];
    expect(feedWarnings(feeds)).toEqual([
      'feeds.yaml: feeds[0] (smart): source: us-state-dept, but this URL is Australia Smartraveller destinations (au-smartraveller), read with source: au-smartraveller',
      'feeds.yaml: feeds[1] (ru): a us-embassy feed without countries: its alerts reach only subscribers who follow every destination; set countries: [CC, …]',
      `feeds.yaml: feeds[4] (ua): source: generic, but this URL is ${fillPattern(CATALOGUE.find((e) => e.id === 'us-embassy-<cc>')!, { cc: 'ua' }).name} (us-embassy-ua), read with source: us-embassy`,
    ]);
  });
});
