import { describe, expect, it } from 'vitest';
import { isPublicAddress } from '../../src/feeds/address-guard.ts';
import { FeedFetchError, fetchFeed } from '../../src/feeds/fetch.ts';
import { parseXmlFeed } from '../../src/feeds/parse-xml.ts';

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
