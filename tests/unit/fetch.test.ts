import { describe, expect, it } from 'vitest';
import { FeedFetchError, decodeBody, detectCharset, fetchFeed, looksLikeHtml, parseRetryAfter } from '../../src/feeds/fetch.ts';
import { fixture, fixtureBytes } from '../helpers/feed-server.ts';

const NOW = new Date('2015-10-21T07:26:00Z');
const S = 1000;

const bytes = (...parts: (string | number[])[]): Uint8Array =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
const UTF8_BOM = [0xef, 0xbb, 0xbf];

describe('parseRetryAfter', () => {
  it.each<[string, string | null, number | undefined]>([
    ['delta-seconds', '120', 120 * S],
    ['delta-seconds with surrounding whitespace', '  30 ', 30 * S],
    ['zero seconds', '0', 0],
    ['a large delta (capping is the back-off’s job)', '86400000', 86_400_000 * S],
    ['IMF-fixdate two minutes ahead', 'Wed, 21 Oct 2015 07:28:00 GMT', 120 * S],
    ['obsolete RFC 850 date', 'Wednesday, 21-Oct-15 07:28:00 GMT', 120 * S],
    ['obsolete asctime date', 'Wed Oct 21 07:28:00 2015', 120 * S],
    ['a date in the past is "now", never negative', 'Wed, 21 Oct 2015 07:00:00 GMT', 0],
    ['absent header', null, undefined],
    ['empty header', '', undefined],
    ['garbage word', 'soon', undefined],
    ['seconds with a unit', '120 seconds', undefined],
    ['seconds with a suffix', '120s', undefined],
    ['hexadecimal', '0x10', undefined],
    ['exponent notation', '1e3', undefined],
  ])('%s: %j', (_name, header, expected) => {
    expect(parseRetryAfter(header, NOW)).toBe(expected);
  });

  it('measures an HTTP date from the injected clock, not the wall clock', () => {
    const later = new Date(NOW.getTime() + 60 * S);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', later)).toBe(60 * S);
  });
});

describe('detectCharset', () => {
  const declDouble = bytes('<?xml version="1.0" encoding="UTF-8"?><rss/>');
  const declSingle = bytes("<?xml version='1.0' encoding='ISO-8859-1'?>\n<rss version='2.0'/>");
  it.each<[string, string | null, Uint8Array, string]>([
    ['the header charset wins over the XML declaration', 'application/rss+xml; charset=ISO-8859-1', declDouble, 'iso-8859-1'],
    ['a quoted header charset', 'text/xml; charset="windows-1252"', declDouble, 'windows-1252'],
    ['header charset with spaces and upper case', 'text/xml;  CHARSET = UTF-8', declSingle, 'utf-8'],
    ["XML declaration with single quotes (encoding='ISO-8859-1')", 'application/rss+xml', declSingle, 'iso-8859-1'],
    ['XML declaration with double quotes, no header', null, bytes('<?xml version="1.0" encoding="windows-1251"?><rss/>'), 'windows-1251'],
    ['XML declaration after leading whitespace', 'text/xml', bytes('\n  <?xml version="1.0" encoding="ISO-8859-15"?><rss/>'), 'iso-8859-15'],
    ['UTF-8 BOM', null, bytes(UTF8_BOM, '<rss/>'), 'utf-8'],
    ['UTF-8 BOM beats a contradicting XML declaration', null, bytes(UTF8_BOM, "<?xml version='1.0' encoding='ISO-8859-1'?><rss/>"), 'utf-8'],
    ['UTF-8 BOM beats a wrong header charset (RFC 7303 §3.3)', 'text/xml; charset=iso-8859-1', bytes(UTF8_BOM, '<rss/>'), 'utf-8'],
    ['UTF-16BE BOM', null, bytes([0xfe, 0xff, 0x00, 0x3c]), 'utf-16be'],
    ['UTF-16LE BOM', 'application/xml', bytes([0xff, 0xfe, 0x3c, 0x00]), 'utf-16le'],
    ['no header, no declaration, no BOM: UTF-8', null, bytes('<rss version="2.0"></rss>'), 'utf-8'],
    ['a declaration without encoding: UTF-8', 'application/xml', bytes('<?xml version="1.0"?><rss/>'), 'utf-8'],
    ['an "encoding" later in the document is not a declaration', null, bytes('<rss><title>encoding="ISO-8859-1"</title></rss>'), 'utf-8'],
    ['empty body', null, new Uint8Array(0), 'utf-8'],
  ])('%s', (_name, contentType, head, expected) => {
    expect(detectCharset(contentType, head)).toBe(expected);
  });
});

describe('decodeBody', () => {
  it('decodes real ISO-8859-1 bytes named by the XML declaration', () => {
    const raw = Buffer.from('<?xml version="1.0" encoding="ISO-8859-1"?><title>Curaçao, Türkiye, São Tomé</title>', 'latin1');
    expect(raw.includes(0xe7)).toBe(true); // ç is one byte, not UTF-8's C3 A7
    const text = decodeBody(raw, 'application/rss+xml');
    expect(text).toContain('Curaçao, Türkiye, São Tomé');
    expect(text).not.toContain('\uFFFD');
  });

  it('decodes ISO-8859-1 named only by the header', () => {
    const raw = Buffer.from('<rss><title>Curaçao</title></rss>', 'latin1');
    expect(decodeBody(raw, 'text/xml; charset=ISO-8859-1')).toBe('<rss><title>Curaçao</title></rss>');
    // The same bytes read as UTF-8 would be broken: the charset matters.
    expect(decodeBody(raw, 'text/xml')).toContain('\uFFFD');
  });

  it('maps the windows-1252 block 0x80–0x9F that "ISO-8859-1" feeds really contain (smart quotes, dashes, €)', () => {
    // ’ = 0x92, – = 0x96, “ ” = 0x93 0x94, € = 0x80, Œ = 0x8C
    const raw = bytes(
      "<?xml version='1.0' encoding='ISO-8859-1'?><t>Cura",
      [0xe7],
      'ao ',
      [0x96],
      ' C',
      [0xf4],
      'te d',
      [0x92],
      'Ivoire ',
      [0x93],
      'x',
      [0x94],
      ' ',
      [0x80],
      ' ',
      [0x8c],
      '</t>',
    );
    const text = decodeBody(raw, null);
    expect(text).toBe("<?xml version='1.0' encoding='ISO-8859-1'?><t>Curaçao – Côte d’Ivoire “x” € Œ</t>");
    expect(text).not.toMatch(/[\u0080-\u009f]/);
  });

  it('leaves the five bytes windows-1252 does not define as themselves', () => {
    expect(decodeBody(bytes([0x81, 0x8d, 0x8f, 0x90, 0x9d]), 'text/plain; charset=windows-1252')).toBe('\u0081\u008d\u008f\u0090\u009d');
  });

  it('does not touch U+0080–U+009F in a UTF-8 document', () => {
    expect(decodeBody(Buffer.from('a\u0092b', 'utf8'), 'text/xml; charset=utf-8')).toBe('a\u0092b');
  });

  it('round-trips a real feed re-encoded as latin1 with its declaration changed', () => {
    const utf8 = fixture('us-embassy/us-embassy-russia-alerts_v1.xml')
      .replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
      .replace('Demonstration Alert', 'Demonstration Alert Curaçao');
    expect(decodeBody(Buffer.from(utf8, 'latin1'), 'application/rss+xml')).toBe(utf8);
  });

  it('drops the BOM of UTF-8 and UTF-16 documents', () => {
    expect(decodeBody(bytes(UTF8_BOM, '<rss/>'), null)).toBe('<rss/>');
    expect(decodeBody(bytes(UTF8_BOM, '<rss/>'), 'text/xml; charset=iso-8859-1')).toBe('<rss/>');
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('<rss>Türkiye</rss>', 'utf16le')]);
    expect(decodeBody(le, null)).toBe('<rss>Türkiye</rss>');
    const be = Buffer.from([0xfe, 0xff, 0x00, 0x3c, 0x00, 0xe7, 0x00, 0x3e]);
    expect(decodeBody(be, null)).toBe('<ç>');
  });

  it('keeps UTF-8 (the real State Department feed) intact', () => {
    const raw = fixtureBytes('us-state-dept/TAsTWs_2021-03-01.xml');
    expect(decodeBody(raw, 'application/rss+xml')).toBe(raw.toString('utf8'));
  });

  it('refuses an unknown charset with a bad-encoding error naming it', () => {
    let caught: unknown;
    try {
      decodeBody(bytes('<rss/>'), 'text/xml; charset=x-klingon');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(FeedFetchError);
    expect((caught as FeedFetchError).kind).toBe('bad-encoding');
    expect((caught as FeedFetchError).message).toMatch(/x-klingon/);
  });
});

describe('looksLikeHtml', () => {
  const botCheck = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Access Denied</title></head>
<body><h1>Access Denied</h1><p>You don't have permission to access "http://travel.state.gov/_res/rss/TAsTWs.xml" on this server.</p>
<p>Reference #18.6f2c1402.1709561234.1a2b3c</p></body></html>`;
  const captcha = '<html><head><title>Just a moment...</title></head><body>Checking your browser before accessing ru.usembassy.gov.</body></html>';
  const embassy = fixture('us-embassy/us-embassy-russia-alerts_v1.xml');
  const stateDept = fixture('us-state-dept/TAsTWs_2021-03-01.xml');
  const atom = fixture('uk-fcdo/uk-fcdo-russia_v1.atom');
  const json = fixture('canada/index-alpha-eng_2014-03-02.json');

  it.each<[string, string | null, string, boolean]>([
    ['a bot-check page served as 200 text/html', 'text/html; charset=utf-8', botCheck, true],
    ['a bot-check page without a doctype', 'text/html', captcha, true],
    ['<!DOCTYPE html> served as application/xml', 'application/xml', botCheck, true],
    ['<html> served as application/rss+xml after whitespace and a BOM', 'application/rss+xml', `\uFEFF\n  ${captcha}`, true],
    ['upper-case doctype with no content type', null, '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN"><HTML></HTML>', true],
    ['text/html whose body is plain text', 'text/html', 'Service Unavailable', true],
    ['the real embassy RSS served as text/html', 'text/html; charset=UTF-8', embassy, false],
    ['the real State Department RSS served as text/html', 'text/html', stateDept, false],
    ['a real Atom feed served as text/html', 'text/html', atom, false],
    ['RSS without an XML declaration served as text/html', 'text/html', '<rss version="2.0"><channel><title>x</title></channel></rss>', false],
    ['RSS with a BOM served as text/html', 'text/html', `\uFEFF${embassy}`, false],
    ['JSON served as text/html', 'text/html', json, false],
    ['JSON served as application/json', 'application/json', json, false],
    ['the real embassy RSS served as application/rss+xml', 'application/rss+xml; charset=UTF-8', embassy, false],
    [
      'RSS whose items mention <html> later in the document',
      'application/rss+xml',
      '<?xml version="1.0"?><rss><channel><description>&lt;html&gt;</description></channel></rss>',
      false,
    ],
  ])('%s → %s', (_name, contentType, text, expected) => {
    expect(looksLikeHtml(contentType, text)).toBe(expected);
  });
});

describe('fetchFeed of a URL that does not parse', () => {
  it('is a permanent http error with the parse error as its cause, and does not repeat the URL (it may carry credentials)', async () => {
    const err = await fetchFeed(
      'http://user:secret@[::1/feed',
      { etag: null, lastModified: null },
      { userAgent: 't', timeoutMs: 2000, maxBodyBytes: 1000, maxRedirects: 0 },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FeedFetchError);
    expect(err).toMatchObject({ kind: 'http', classification: 'permanent', message: 'invalid feed URL' });
    expect((err as Error).cause).toBeInstanceOf(TypeError);
  });
});
