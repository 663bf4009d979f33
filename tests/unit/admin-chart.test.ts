import { describe, expect, it } from 'vitest';
import { deliveriesChart, niceCeiling } from '../../src/web/admin.ts';
import { Page } from '../helpers/dom.ts';

/** The /admin chart of deliveries per hour: a y-axis people can read, hour labels to the last bar. */

const NOW = new Date('2026-05-01T10:25:00Z');
const hour = (h: number) => new Date(Date.UTC(2026, 4, 1, h));

function texts(page: Page, cls: string) {
  return page.all('text', (el) => Page.attr(el, 'class') === cls);
}

describe('niceCeiling', () => {
  it.each([
    [0, 1],
    [1, 1],
    [3, 5],
    [7, 10],
    [10, 10],
    [11, 20],
    [230, 500],
    [501, 1000],
  ])('%i → %i', (n, top) => {
    expect(niceCeiling(n)).toBe(top);
  });
});

describe('deliveriesChart', () => {
  const rows = [
    { hour: hour(10), status: 'sent', n: 5 },
    { hour: hour(10), status: 'failed', n: 2 },
    { hour: hour(4), status: 'pending', n: 3 },
  ];
  const page = new Page(deliveriesChart(rows, NOW).value);
  const svg = page.one('svg');
  const [, , width, height] = (Page.attr(svg, 'viewbox') ?? '').split(' ').map(Number);

  it('has a y-axis from 0 to a round top above the busiest hour, with grid lines', () => {
    // On both sides: a phone opens the chart at its right end.
    expect(texts(page, 'y-label').map((t) => Page.text(t))).toEqual(['0', '0', '5', '5', '10', '10']);
    expect(page.all('line', (el) => Page.attr(el, 'class') === 'grid')).toHaveLength(3);
    expect(Page.attr(svg, 'aria-label')).toBe('Deliveries per hour over the last 24 hours (UTC), from 0 to 10');
  });

  it('labels hours every six hours up to the last bar, the current hour, all inside the drawing', () => {
    const labels = texts(page, 'x-label');
    expect(labels.map((t) => Page.text(t))).toEqual(['11:00', '16:00', '22:00', '04:00', '10:00']);
    const rects = page.all('rect');
    const lastBarCentre = Math.max(...rects.map((r) => Number(Page.attr(r, 'x')) + Number(Page.attr(r, 'width')) / 2));
    expect(Number(Page.attr(labels.at(-1)!, 'x'))).toBeCloseTo(lastBarCentre, 5);
    // A five-character label at 11 px is about 32 units wide: half of it must fit on each side.
    for (const l of labels) {
      const x = Number(Page.attr(l, 'x'));
      expect(x - 16).toBeGreaterThanOrEqual(0);
      expect(x + 16).toBeLessThanOrEqual(width!);
      expect(Number(Page.attr(l, 'y'))).toBeLessThanOrEqual(height!);
    }
  });

  it('draws each hour as a stack scaled to the axis: 7 of 10 is 70% of the plot', () => {
    const gridYs = page.all('line', (g) => Page.attr(g, 'class') === 'grid').map((g) => Number(Page.attr(g, 'y1')));
    const zeroY = Math.max(...gridYs);
    const topY = Math.min(...gridYs);
    const ten = page.all('rect', (r) => /^10:00 UTC/.test(Page.text(r)));
    expect(ten).toHaveLength(2);
    const stackTop = Math.min(...ten.map((r) => Number(Page.attr(r, 'y'))));
    expect((zeroY - stackTop) / (zeroY - topY)).toBeCloseTo(0.7, 2);
    expect(page.all('rect', (r) => Page.text(r) === '04:00 UTC: 3 pending')).toHaveLength(1);
  });
});
