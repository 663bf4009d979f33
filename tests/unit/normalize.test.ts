import { describe, expect, it } from 'vitest';
import { fingerprint, htmlToText, oneLine, tidyText } from '../../src/advisories/normalize.ts';

/** The fingerprint of a version read as the profiles do: title through oneLine, body through htmlToText. */
function fp(title: string, bodyHtml: string, level: number | null = 3, levelText: string | null = 'Reconsider Travel'): string {
  return fingerprint({ title: oneLine(title), body: htmlToText(bodyHtml), level, levelText });
}

// Shaped like a State Department description (CDATA HTML, &nbsp; and &#8239; everywhere).
const ORIGINAL = `
<p>Reconsider travel to Bhutan due to <b>COVID-19</b>.</p>
<p>Read&nbsp;the Department of State&#8217;s&#8239;<a href="https://travel.state.gov/content/travel/en/traveladvisories/ea/covid-19-information.html">COVID-19 page</a>&nbsp;before&nbsp;you plan any international travel.&nbsp;&nbsp;&nbsp;</p>
<p>If you decide to travel to Bhutan:</p>
<ul>
<li>Enroll in the <a href="https://step.state.gov/step/">Smart Traveler Enrollment Program</a> (STEP).</li>
<li>Follow the Department of State on <a href="http://www.facebook.com/travelgov">Facebook</a>.</li>
</ul>
<p><b><i>Last Update: Reissued with updates to COVID-19 information.</i></b></p>
`;

/** Applies `fn` to the text between tags only (never inside a tag or attribute). */
function inText(html: string, fn: (text: string) => string): string {
  return html.replace(/(^|>)([^<]*)/g, (_m, open: string, text: string) => open + fn(text));
}

describe('htmlToText: entities', () => {
  it.each([
    ['named', 'caf&eacute; &amp; cr&egrave;me &lt;b&gt; &quot;q&quot;', 'café & crème <b> "q"'],
    ['decimal numeric', 'Cura&#231;ao &#8211; State&#8217;s', 'Curaçao – State’s'],
    ['hex numeric', 'Cura&#xE7;ao &#x2019;', 'Curaçao ’'],
    ['&nbsp; is a plain space', 'Read&nbsp;the&nbsp;&nbsp;page', 'Read the page'],
    ['&#160; is a plain space', 'Read&#160;the page', 'Read the page'],
    ['&#8239; (narrow no-break space) is a plain space', 'State&#8217;s&#8239;page&#8239;before', 'State’s page before'],
    ['literal U+00A0 and U+202F are plain spaces', 'a\u00a0b\u202fc', 'a b c'],
    ['zero-width space (literal or &#8203;) is nothing, not a word break', 'Rus\u200bsia Rus&#8203;sia Rus&#x200B;sia', 'Russia Russia Russia'],
    ['other zero-width characters are nothing', 'a&zwnj;b\u2060c\ufeffd', 'abcd'],
  ])('%s', (_name, input, expected) => {
    expect(htmlToText(input)).toBe(expected);
    expect(oneLine(input)).toBe(expected);
  });

  it('does not leave entity text or markup behind in a real description', () => {
    const text = htmlToText(ORIGINAL);
    expect(text).not.toMatch(/&[a-z#0-9]+;|<\/?[a-z]/i);
    expect(text).not.toMatch(/[\u00a0\u202f]/);
    expect(text).toContain('Read the Department of State’s COVID-19 page before you plan any international travel.');
  });

  it('drops link targets, images and scripts but keeps link words', () => {
    const text = htmlToText('<p>See <a href="https://example.org/x?utm=1">the page</a>.<img src="x.png" alt="pic"><script>alert(1)</script></p>');
    expect(text).toBe('See the page.');
  });

  it('empty and null input give the empty string', () => {
    expect(htmlToText('')).toBe('');
    expect(htmlToText(null)).toBe('');
    expect(htmlToText(undefined)).toBe('');
    expect(oneLine(null)).toBe('');
  });
});

describe('htmlToText: block elements become line breaks', () => {
  it('paragraphs, divs, headings and list items are separate lines; inline elements are not', () => {
    const text = htmlToText('<p>one <b>bold</b> <i>it</i></p><div>two</div><h2>Head</h2><ul><li>x</li><li>y</li></ul>tail<br>after');
    const lines = text.split('\n').filter((l) => l !== '');
    expect(lines).toEqual(['one bold it', 'two', 'Head', '• x', '• y', 'tail', 'after']);
  });

  it('headings keep their case', () => {
    expect(htmlToText('<h3>Do Not Travel To</h3>')).toBe('Do Not Travel To');
  });

  it('no blank-line runs, no trailing spaces, no leading/trailing blank lines', () => {
    const text = htmlToText('<p>&nbsp;</p>\n\n<p>a&nbsp;&nbsp;</p>\n\n\n\n<p></p><p>&nbsp;b</p><p>&nbsp;</p>');
    expect(text).toBe('a\n\nb');
  });

  it('a line break inside a paragraph of source markup is just a space', () => {
    expect(htmlToText('<p>Do not\n   travel\tto\r\nRussia.</p>')).toBe('Do not travel to Russia.');
  });
});

describe('oneLine', () => {
  it('collapses block structure and whitespace into one line', () => {
    expect(oneLine('  <p>Russia -</p>\n<p>Level 4:&nbsp;Do Not Travel</p> ')).toBe('Russia - Level 4: Do Not Travel');
  });
  it('decodes the entities that survive XML decoding', () => {
    expect(oneLine('Bosnia &amp; Herzegovina')).toBe('Bosnia & Herzegovina');
  });
});

describe('tidyText', () => {
  it('normalises line endings, space separators and zero-width characters', () => {
    expect(tidyText('  a  \t b \r\n\r\n\r\n\r\n c\u00a0\u00a0d\u202fe  ')).toBe('a b\n\nc d e');
    expect(tidyText('Rus\u200bsia\ufeff')).toBe('Russia');
    expect(tidyText('x\ry')).toBe('x\ny');
  });
  it('is idempotent', () => {
    const once = tidyText(htmlToText(ORIGINAL));
    expect(tidyText(once)).toBe(once);
  });
});

describe('fingerprint', () => {
  const base = fp('Bhutan - Level 3: Reconsider Travel', ORIGINAL);

  it('is stable for the same input', () => {
    expect(fp('Bhutan - Level 3: Reconsider Travel', ORIGINAL)).toBe(base);
  });

  const reflows: [string, (html: string) => string][] = [
    ['newlines between tags removed', (h) => h.replace(/>\s*\n\s*</g, '><')],
    ['every newline a run of spaces', (h) => h.replace(/\n/g, '   ')],
    [
      'indented',
      (h) =>
        h
          .split('\n')
          .map((l) => `    ${l}`)
          .join('\n'),
    ],
    ['CRLF line endings', (h) => h.replace(/\n/g, '\r\n')],
    ['&nbsp; written as &#160;', (h) => h.replaceAll('&nbsp;', '&#160;')],
    ['&nbsp; written as a plain space', (h) => h.replaceAll('&nbsp;', ' ')],
    ['&#8239; written as &nbsp;', (h) => h.replaceAll('&#8239;', '&nbsp;')],
    ['numeric apostrophe as the character', (h) => h.replaceAll('&#8217;', '’')],
    ['paragraphs as <br> breaks', (h) => h.replace(/<\/p>\s*<p>/g, '<br><br>')],
    ['paragraphs as <div>s', (h) => h.replaceAll('<p>', '<div>').replaceAll('</p>', '</div>')],
    ['extra spans and bold', (h) => inText(h, (t) => t.replace(/\b(Bhutan|travel)\b/g, '<span class="x"><strong>$1</strong></span>'))],
    ['bold removed', (h) => h.replace(/<\/?b>/g, '')],
    ['attributes added to block elements', (h) => h.replaceAll('<p>', '<p class="tsg-rwd-text" style="margin:0">').replaceAll('<li>', '<li dir="ltr">')],
    ['every href changed', (h) => h.replace(/href="[^"]*"/g, 'href="https://travel.state.gov/x?utm_source=rss"')],
    ['single-quoted attributes', (h) => h.replace(/href="([^"]*)"/g, "href='$1'")],
    ['zero-width spaces inside words', (h) => inText(h, (t) => t.replace(/\bBhutan\b/g, 'Bhu&#8203;tan').replace(/\bCOVID/g, 'COV\u200bID'))],
  ];

  it.each(reflows)('ignores re-flowed markup: %s', (_name, transform) => {
    const changed = transform(ORIGINAL);
    expect(changed).not.toBe(ORIGINAL); // the transformation did something
    expect(fp('Bhutan - Level 3: Reconsider Travel', changed)).toBe(base);
  });

  it('ignores markup and entities in the title', () => {
    expect(fp('  Bhutan&nbsp;-  Level 3:\n Reconsider Travel ', ORIGINAL)).toBe(base);
    expect(fp('<b>Bhutan</b> - Level&#160;3: Reconsider Travel', ORIGINAL)).toBe(base);
  });

  it.each([
    ['a changed word in the body', (h: string) => h.replace('Reconsider travel to Bhutan', 'Reconsider travel to Nepal')],
    ['a changed number', (h: string) => h.replace('COVID-19 page', 'COVID-20 page')],
    ['a removed list item', (h: string) => h.replace(/<li>Follow[^\n]*<\/li>\n/, '')],
    ['an added sentence', (h: string) => h.replace('</ul>', '<li>Carry a copy of your passport.</li></ul>')],
  ])('changes for %s', (_name, transform) => {
    const changed = transform(ORIGINAL);
    expect(changed).not.toBe(ORIGINAL);
    expect(fp('Bhutan - Level 3: Reconsider Travel', changed)).not.toBe(base);
  });

  it('changes for a changed word in the title', () => {
    expect(fp('Bhutan - Level 3: Reconsider Your Travel', ORIGINAL)).not.toBe(base);
  });

  it('changes when the level changes, even with the same words', () => {
    expect(fp('Bhutan - Level 3: Reconsider Travel', ORIGINAL, 4)).not.toBe(base);
    expect(fp('Bhutan - Level 3: Reconsider Travel', ORIGINAL, null)).not.toBe(base);
  });

  it('changes when the level wording changes', () => {
    expect(fp('Bhutan - Level 3: Reconsider Travel', ORIGINAL, 3, 'Do Not Travel')).not.toBe(base);
    expect(fp('Bhutan - Level 3: Reconsider Travel', ORIGINAL, 3, null)).not.toBe(base);
  });

  it('keeps title and body apart (moving words between them is a change)', () => {
    const a = fingerprint({ title: 'Alert', body: 'Moscow', level: null, levelText: null });
    const b = fingerprint({ title: 'Alert Moscow', body: '', level: null, levelText: null });
    expect(a).not.toBe(b);
  });
});
