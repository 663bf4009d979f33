import { describe, expect, it } from 'vitest';
import { gunzipSync } from 'node:zlib';
import { acceptsGzip, PublicCache, strongEtag } from '../../src/web/public-cache.ts';

describe('PublicCache', () => {
  const page = (text: string) => async () => ({ type: 'text/html', body: text });

  it('renders once per data version and keeps the body as UTF-8 bytes with a strong ETag', async () => {
    let version = 'v1';
    let renders = 0;
    let now = 0;
    const cache = new PublicCache(
      async () => version,
      1000,
      () => now,
    );
    const build = async () => {
      renders++;
      return { type: 'text/html', body: `Côte d’Ivoire ${version}` };
    };
    const [a, b] = await Promise.all([cache.get('k', build), cache.get('k', build)]);
    expect(renders).toBe(1);
    expect(a).toBe(b);
    expect(Buffer.isBuffer(a.body)).toBe(true);
    expect(a.body.toString('utf8')).toBe('Côte d’Ivoire v1');
    expect(a.etag).toBe(strongEtag('Côte d’Ivoire v1'));

    // The data changes: seen once the version is re-read (after refreshMs), not before.
    version = 'v2';
    expect((await cache.get('k', build)).body.toString()).toBe('Côte d’Ivoire v1');
    now = 1000;
    expect((await cache.get('k', build)).body.toString()).toBe('Côte d’Ivoire v2');
    expect(renders).toBe(2);
  });

  it('is bounded by bytes: the least recently used answers go', async () => {
    const cache = new PublicCache(
      async () => 'v',
      1000,
      () => 0,
      10_000,
    );
    for (let i = 0; i < 50; i++) await cache.get(`page${i}`, page('x'.repeat(1000)));
    // Let the size bookkeeping of the last rendering run.
    await new Promise((r) => setImmediate(r));
    expect(cache.size).toBeLessThanOrEqual(10_000);
    expect(cache.size).toBeGreaterThanOrEqual(9_000);
    let rendered = false;
    await cache.get('page0', async () => {
      rendered = true;
      return { type: 'text/html', body: 'again' };
    });
    expect(rendered, 'the oldest answer was evicted and rendered again').toBe(true);
  });

  it('does not keep a failed rendering', async () => {
    const cache = new PublicCache(
      async () => 'v',
      1000,
      () => 0,
    );
    await expect(
      cache.get('k', async () => {
        throw new Error('database down');
      }),
    ).rejects.toThrow('database down');
    await new Promise((r) => setImmediate(r));
    expect((await cache.get('k', page('ok'))).body.toString()).toBe('ok');
  });
});

describe('gzip representations', () => {
  it('makes a gzipped copy of a large answer once, when first asked, with an ETag of its own; none of small ones', async () => {
    const cache = new PublicCache(
      async () => 'v',
      1000,
      () => 0,
    );
    const page = '<tr><td><span class="lvl lvl2">2</span></td></tr>\n'.repeat(2000);
    const big = await cache.get('big', async () => ({ type: 'text/html', body: page }));
    const gz = await big.gzip();
    expect(gz).toBeDefined();
    expect(gz!.body.length).toBeLessThan(big.body.length / 10);
    expect(gunzipSync(gz!.body).toString('utf8')).toBe(page);
    expect(gz!.etag).toBe(`${big.etag.slice(0, -1)}.gz"`);
    expect(gz!.etag).not.toBe(big.etag);
    // The same copy for every later request.
    expect(await (await cache.get('big', async () => ({ type: 'text/html', body: 'not rendered again' }))).gzip()).toBe(gz);
    expect(await (await cache.get('small', async () => ({ type: 'text/html', body: 'ok' }))).gzip()).toBeUndefined();
  });

  it('reads Accept-Encoding: gzip listed and not refused with q=0', () => {
    for (const yes of ['gzip', 'gzip, deflate, br', 'br;q=1.0, GZIP;q=0.5', 'deflate, gzip ; q=0.001']) expect(acceptsGzip(yes), yes).toBe(true);
    for (const no of [undefined, '', 'identity', 'br, deflate', 'gzip;q=0', 'gzip; q=0.0', 'x-gzip2']) expect(acceptsGzip(no), String(no)).toBe(false);
  });
});
