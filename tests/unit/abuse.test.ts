import Parser from 'rss-parser';
import { describe, expect, it } from 'vitest';
import { isPublicAddress } from '../../src/feeds/address-guard.ts';
import { FeedFetchError, fetchFeed } from '../../src/feeds/fetch.ts';
import { parseXmlFeed } from '../../src/feeds/parse-xml.ts';
import { redactContacts } from '../../src/channels/errors.ts';
import { signToken, verifyToken } from '../../src/common/tokens.ts';

// Attacks on the pure parts (parsers, guards, validators). The web-facing
// attacks are in tests/integration/abuse.test.ts.

const item = (n: number) => `<item><title>Alert ${n}</title><description>Details ${n}</description><guid>g${n}</guid></item>`;
const doc = (items: string) => `<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>${items}</channel></rss>`;

describe('feed parser state', () => {
  it('a malformed feed parsed twice fails twice, and does not poison the next good document', async () => {
    // A close tag that does not match: xml2js used to keep its half-built tree,
    // so the second parse "succeeded" with the broken item's description dropped.
    const malformed = doc(`${item(1)}${item(2)}<item><title>x</titl></item>`);
    await expect(parseXmlFeed(malformed)).rejects.toThrow(/not a valid RSS\/Atom document/);
    await expect(parseXmlFeed(malformed)).rejects.toThrow(/not a valid RSS\/Atom document/);
    await expect(parseXmlFeed(malformed)).rejects.toThrow(/not a valid RSS\/Atom document/);
    const good = await parseXmlFeed(doc(`${item(1)}${item(2)}`));
    expect(good.items.map((i) => i.summary)).toEqual(['Details 1', 'Details 2']);
  });

  it('two feeds with the same malformed document parsed at once both fail', async () => {
    const malformed = doc(`${item(1)}<item><title>x</titl></item>`);
    const results = await Promise.allSettled([parseXmlFeed(malformed), parseXmlFeed(malformed)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});

describe("rss-parser's snippets", () => {
  // rss-parser's snippet regexes take quadratic time on '<' without '>' (40 KB of "1<": 1.26 s;
  // the 5 MB a feed may send: hours), and a regex cannot be interrupted, so a test that timed
  // the parse would hang rather than fail. What is checked instead: rss-parser, as this process
  // loads it, makes no snippet at all, and such text still comes through whole.
  it('rss-parser makes no snippets once the feed parser is loaded', async () => {
    const rss = await new Parser().parseString(
      doc(`<item><title>Alert</title><description>&lt;p&gt;Avoid crowds&lt;/p&gt;</description><guid>g</guid></item>`),
    );
    expect(rss.items[0]).toMatchObject({ content: '<p>Avoid crowds</p>', contentSnippet: '' });
  });
  it('an RSS description and an Atom summary and content of "1<1<1<…" come through whole', async () => {
    const lessThans = '1<'.repeat(20_000);
    const rss = await parseXmlFeed(doc(`<item><title>Alert</title><description><![CDATA[${lessThans}]]></description><guid>g</guid></item>`));
    expect(rss.items[0]?.summary).toBe(lessThans);
    const atom = await parseXmlFeed(
      `<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><entry><title>Alert</title><id>urn:x</id><updated>2024-03-07T00:00:00Z</updated><summary type="html"><![CDATA[${lessThans}]]></summary><content type="html"><![CDATA[${lessThans}]]></content></entry></feed>`,
    );
    expect(atom.items[0]).toMatchObject({ summary: lessThans, content: lessThans });
  });
});

describe('SSRF guard: IPv6 forms that embed IPv4', () => {
  const internal = [
    ['NAT64 64:ff9b::/96 (hex)', '64:ff9b::7f00:1'],
    ['NAT64 64:ff9b::/96 (dotted)', '64:ff9b::10.0.0.1'],
    ['local-use NAT64 64:ff9b:1::/48', '64:ff9b:1::a00:1'],
    ['6to4 2002::/16 of loopback', '2002:7f00:1::1'],
    ['6to4 2002::/16 of 192.168/16', '2002:c0a8:101::'],
    ['IPv4-compatible ::/96 (dotted)', '::127.0.0.1'],
    ['IPv4-compatible ::/96 (hex)', '::a9fe:a9fe'],
    ['IPv4-mapped in hex form', '::ffff:7f00:1'],
    ['IPv4-mapped dotted', '::ffff:10.1.2.3'],
    ['SIIT ::ffff:0:0/96', '::ffff:0:a00:1'],
    ['Teredo client 127.0.0.1', '2001:0:4136:e378:8000:63bf:80ff:fffe'],
  ] as const;
  for (const [form, address] of internal) {
    it(`SSRF through ${form}: ${address} is not public`, () => {
      expect(isPublicAddress(address)).toBe(false);
    });
  }

  it('SSRF: public addresses in the same forms stay public', () => {
    for (const a of ['64:ff9b::8.8.8.8', '2002:808:808::1', '2606:4700:4700::1111', '::ffff:1.1.1.1', '8.8.8.8']) expect(isPublicAddress(a), a).toBe(true);
  });

  it('SSRF: a feed URL with a NAT64 literal of loopback is refused before any connection', async () => {
    const err = await fetchFeed(
      'http://[64:ff9b::7f00:1]:9/feed',
      { etag: null, lastModified: null },
      { userAgent: 't', timeoutMs: 2000, maxBodyBytes: 1000, maxRedirects: 0, publicOnly: true },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FeedFetchError);
    expect((err as Error).message).toMatch(/not a public address/);
  });
});

describe('SSRF guard: IPv6 ranges', () => {
  it('SSRF through the deprecated site-local fec0::/10 (still routed inside some networks): not public', () => {
    for (const a of ['fec0::1', 'fed0:1::2', 'feff:ffff::1']) expect(isPublicAddress(a), a).toBe(false);
    // Global unicast beside it stays public.
    expect(isPublicAddress('2a00:1450::1')).toBe(true);
  });
});

describe('contacts masked in logged provider errors', () => {
  it('log redaction of phone numbers: numbers in the shapes providers and people write are masked', () => {
    for (const number of [
      '+15005550001',
      '+44 7911 123456',
      '+44 (0)20 7946 0958',
      '07911 123456',
      '07911123456',
      '(020) 7946 0958',
      '(555) 123-4567',
      '555-123-4567',
      '555.123.4567',
    ]) {
      const text = redactContacts(`The 'To' number ${number} is not a valid phone number.`);
      expect(text, number).toBe("The 'To' number [number] is not a valid phone number.");
    }
    expect(redactContacts('550 5.1.1 <ann.lee@example.org>: no such user')).toBe('550 5.1.1 <[address]>: no such user');
  });

  it('log redaction eating evidence: delivery ids, epoch times, ISO timestamps and provider codes stay readable', () => {
    for (const text of [
      'delivery 12345678 failed',
      'attempt at 1764480905123 ms',
      'queued 2026-11-30T05:15:05.123Z, retry 2026-11-30 05:16:05+00:00',
      'Twilio 400 21211: see https://www.twilio.com/docs/errors/21211',
      'SMTP 451 4.7.1 try again later (queue id 4F2A91234567)',
      'message SM0123456789abcdef0123456789abcdef',
      'event 20261130 v3.1234567',
    ])
      expect(redactContacts(text), text).toBe(text);
  });
});

describe('link tokens across a move', () => {
  const secret = 'unit-secret-0123456789abcdef';
  it('replayed old link: a token carries its link version, and the version cannot be stripped, forged or zero-padded', () => {
    const v0 = signToken(secret, 'manage', 42);
    const v2 = signToken(secret, 'manage', 42, 2);
    expect(verifyToken(secret, 'manage', v0)).toEqual({ subscriberId: 42, version: 0 });
    expect(verifyToken(secret, 'manage', v2)).toEqual({ subscriberId: 42, version: 2 });
    const [payload, mac] = v2.split('.') as [string, string];
    for (const forged of [`${payload.replace(/_2$/, '')}.${mac}`, `${payload.replace(/_2$/, '_3')}.${mac}`, `${v0.split('.')[0]}_0.${v0.split('.')[1]}`])
      expect(verifyToken(secret, 'manage', forged), forged).toBeNull();
    expect(verifyToken(secret, 'unsubscribe', v2)).toBeNull();
  });
});
