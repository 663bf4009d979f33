import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { htmlToText } from '../../src/advisories/normalize.ts';
import type { PublicEvent } from '../../src/advisories/repository.ts';
import { textBlocks } from '../../src/advisories/text-blocks.ts';
import { profileFor } from '../../src/feeds/profiles/index.ts';
import { alertsNewestFirst, cutText, textHtml } from '../../src/web/public-pages.ts';

// Stored text's paragraphs and bullet lists (as html-text.ts writes them), and the
// country page's HTML of them.

function fixture(relative: string): string {
  return readFileSync(new URL(`../fixtures/${relative}`, import.meta.url), 'utf8');
}

describe('textBlocks', () => {
  it('reads one paragraph, its line breaks kept as lines', () => {
    expect(textBlocks('Avoid crowds.')).toEqual([{ kind: 'paragraph', lines: ['Avoid crowds.'] }]);
    expect(textBlocks('Actions to Take:\nAvoid crowds.\nMonitor local media.')).toEqual([
      { kind: 'paragraph', lines: ['Actions to Take:', 'Avoid crowds.', 'Monitor local media.'] },
    ]);
  });

  it('reads bulleted lines as one list, across blank lines between its items', () => {
    expect(textBlocks('• Avoid crowds.\n• Monitor local media.')).toEqual([{ kind: 'list', items: [['Avoid crowds.'], ['Monitor local media.']] }]);
    // A <li> holding a <p> leaves a blank line after its item.
    expect(textBlocks('• Avoid crowds.\n\n• Monitor local media.')).toEqual([{ kind: 'list', items: [['Avoid crowds.'], ['Monitor local media.']] }]);
  });

  it('reads paragraphs and lists in order, blank-line runs, empty items and stray spaces aside', () => {
    expect(textBlocks('\nLocation: Moscow\n\n\nActions to Take:\n\n• Avoid crowds.\n•\n•  Keep a low profile. \n\nAssistance: call us.\n\nThanks.\n')).toEqual([
      { kind: 'paragraph', lines: ['Location: Moscow'] },
      { kind: 'paragraph', lines: ['Actions to Take:'] },
      { kind: 'list', items: [['Avoid crowds.'], ['Keep a low profile.']] },
      { kind: 'paragraph', lines: ['Assistance: call us.'] },
      { kind: 'paragraph', lines: ['Thanks.'] },
    ]);
    expect(textBlocks('')).toEqual([]);
    expect(textBlocks('•\n\n•')).toEqual([]);
  });

  it('reads a line right after an item as more of that item (a <br> in its <li>): only a blank line ends a list', () => {
    expect(textBlocks('• Keep a low profile. \nAssistance: call us.\n• Avoid crowds.\n\nThanks.')).toEqual([
      { kind: 'list', items: [['Keep a low profile.', 'Assistance: call us.'], ['Avoid crowds.']] },
      { kind: 'paragraph', lines: ['Thanks.'] },
    ]);
    // <li><br>b</li>: an item whose first line is empty.
    expect(textBlocks(htmlToText('<ul><li><br>b</li><li>c</li></ul>'))).toEqual([{ kind: 'list', items: [['b'], ['c']] }]);
  });

  it('reads the U.S. Embassy Moscow March 7, 2024 alert as stored: its "Actions to Take" are a list', async () => {
    const items = await profileFor('us-embassy').parse(fixture('us-embassy/us-embassy-russia-alerts_v2.xml'), { id: 'ru', countries: ['RU'] });
    const march7 = items.find((i) => i.title === 'Security Alert – U.S. Embassy Moscow (March 7, 2024)')!;
    const blocks = textBlocks(march7.body);
    expect(blocks.map((b) => b.kind)).toEqual(['paragraph', 'paragraph', 'paragraph', 'list']);
    expect(blocks[2]).toEqual({ kind: 'paragraph', lines: ['Actions to Take:'] });
    expect(blocks[3]).toEqual({ kind: 'list', items: [['Avoid crowds.'], ['Monitor local media for updates.'], ['Be aware of your surroundings.']] });
    // The same alert with its actions as lines split by <br>: lines of one paragraph, no list.
    const plain = await profileFor('us-embassy').parse(fixture('us-embassy/us-embassy-russia-alerts_v2-plain-actions.xml'), { id: 'ru', countries: ['RU'] });
    const march1 = plain.find((i) => i.title.includes('March 1, 2024'))!;
    expect(textBlocks(march1.body)).toContainEqual({
      kind: 'paragraph',
      lines: ['Actions to Take:', 'Avoid crowds and demonstrations.', 'Monitor local media for updates.', 'Keep a low profile.'],
    });
  });

  it('reads the bullets html-to-text writes for <ul>, nested or in a <li> with paragraphs', () => {
    expect(textBlocks(htmlToText('<p>Before</p><ul><li>a</li><li>b<ul><li>b1</li></ul></li></ul><p>After</p>'))).toEqual([
      { kind: 'paragraph', lines: ['Before'] },
      { kind: 'list', items: [['a'], ['b'], ['b1']] },
      { kind: 'paragraph', lines: ['After'] },
    ]);
  });
});

describe('textHtml (the country page)', () => {
  it('renders a paragraph, its line breaks as <br>', () => {
    expect(textHtml('Avoid crowds.').value).toBe('<p>Avoid crowds.</p>');
    expect(textHtml('Actions to Take:\nAvoid crowds.').value).toBe('<p>Actions to Take:<br>Avoid crowds.</p>');
  });

  it('renders a list', () => {
    expect(textHtml('• Avoid crowds.\n• Monitor local media.').value).toBe('<ul><li>Avoid crowds.</li><li>Monitor local media.</li></ul>');
  });

  it('renders paragraphs and lists mixed, in order', () => {
    expect(textHtml('Actions to Take:\n\n• Avoid crowds.\n• Keep a low profile.\n\nAssistance: call us.').value).toBe(
      '<p>Actions to Take:</p><ul><li>Avoid crowds.</li><li>Keep a low profile.</li></ul><p>Assistance: call us.</p>',
    );
  });

  it('renders a list item holding line breaks (the "Assistance:" addresses of an embassy alert) as one item, its lines kept', () => {
    const text = htmlToText(
      '<p>Assistance:</p><ul><li>U.S. Embassy Moscow<br>Bolshoy Deviatinsky Pereulok No. 8<br>+7 (495) 728-5000</li><li>State Department – Consular Affairs<br>888-407-4747 & <b>more</b></li></ul><p>Thanks.</p>',
    );
    expect(textHtml(text).value).toBe(
      '<p>Assistance:</p><ul><li>U.S. Embassy Moscow<br>Bolshoy Deviatinsky Pereulok No. 8<br>+7 (495) 728-5000</li><li>State Department – Consular Affairs<br>888-407-4747 &amp; more</li></ul><p>Thanks.</p>',
    );
  });

  it('escapes every word: markup and entities in the text stay text', () => {
    expect(textHtml('Fish & chips <script>alert(1)</script>\n\n• <b onclick="x()">bold</b> & "quoted" \'it\'').value).toBe(
      '<p>Fish &amp; chips &lt;script&gt;alert(1)&lt;/script&gt;</p><ul><li>&lt;b onclick=&quot;x()&quot;&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot; &#39;it&#39;</li></ul>',
    );
    expect(textHtml('&amp; &lt;').value).toBe('<p>&amp;amp; &amp;lt;</p>');
  });
});

describe('cutText (the country page’s excerpt of an alert)', () => {
  const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

  it('cuts text without spaces (Japanese, emoji, URLs) between characters, never in an emoji', () => {
    // 599 units of Japanese, then 50 emoji (two UTF-16 units each): unit 600 is the second half of one.
    const body = `${'注意喚起'.repeat(149)}日本語${'🚨'.repeat(50)}`;
    expect(body.length).toBe(699);
    const cut = cutText(body, 600);
    expect(cut).not.toMatch(LONE_SURROGATE);
    expect(cut).toBe(`${body.slice(0, 599)}…`);
    // Emoji all the way: whole ones kept.
    const emoji = '🚨'.repeat(350);
    expect(cutText(emoji, 600)).not.toMatch(LONE_SURROGATE);
    expect(cutText(emoji, 600).length).toBeLessThanOrEqual(600);
  });

  it('cuts at a word in the second half, keeps paragraphs, and leaves short text alone', () => {
    expect(cutText('Short.', 600)).toBe('Short.');
    const body = `First paragraph.\n\n${'word '.repeat(200)}`;
    const cut = cutText(body, 600);
    expect(cut).toMatch(/^First paragraph\.\n\n(word )+word…$/);
    expect(textHtml(cut).value).toMatch(/^<p>First paragraph\.<\/p><p>(word )+word…<\/p>$/);
    // A space only near the start is no word boundary worth cutting at: that would keep almost nothing.
    const japanese = `注意 ${'日本語の文章'.repeat(120)}`;
    expect(cutText(japanese, 600).length).toBeGreaterThan(300);
  });
});

describe('alertsNewestFirst', () => {
  const alert = (id: number, createdAt: string, publishedAt: string | null): PublicEvent => ({
    id,
    feedId: 'ru',
    feedName: 'U.S. Embassy Moscow',
    government: 'United States',
    kind: 'new',
    countries: ['RU'],
    level: null,
    previousLevel: null,
    levelText: 'Security Alert',
    title: `alert ${id}`,
    body: '',
    link: null,
    publishedAt: publishedAt === null ? null : new Date(publishedAt),
    createdAt: new Date(createdAt),
  });

  it('orders by the date shown: the government’s, else when it was recorded; then newest recorded, then newest id', () => {
    const sorted = alertsNewestFirst([
      // Recorded last, but the embassy dated it in 2024.
      alert(5, '2026-11-30T12:00:00Z', '2024-03-07T19:00:00Z'),
      alert(1, '2026-03-07T09:00:00Z', '2026-03-07T09:00:00Z'),
      // No date from the feed: shown (and ordered) by ours.
      alert(2, '2026-05-01T00:00:00Z', null),
      alert(3, '2026-06-01T00:00:00Z', '2024-03-07T19:00:00Z'),
      alert(4, '2026-06-01T00:00:00Z', '2024-03-07T19:00:00Z'),
    ]);
    expect(sorted.map((e) => e.id)).toEqual([2, 1, 5, 4, 3]);
  });

  it('does not believe a government date more than a day after we recorded the alert (a typo, or an item dated 2099)', () => {
    const sorted = alertsNewestFirst([
      alert(1, '2026-03-07T09:00:00Z', '2026-03-07T09:00:00Z'),
      alert(2, '2026-02-01T00:00:00Z', '2099-01-01T00:00:00Z'),
      // Date-only, published on Tokyo's 8 March while it was still 7 March in UTC: believed.
      alert(3, '2026-03-07T23:30:00Z', '2026-03-08T00:00:00Z'),
    ]);
    expect(sorted.map((e) => e.id)).toEqual([3, 1, 2]);
  });
});
