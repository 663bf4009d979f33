import { describe, expect, it } from 'vitest';
import { zoneAfter } from '../../src/subscriptions/trip-window.ts';

describe('zoneAfter', () => {
  it('takes the zone a change names', () => {
    expect(zoneAfter({ timezone: 'Asia/Tokyo' }, 'Europe/Berlin', 'UTC')).toBe('Asia/Tokyo');
  });
  it('keeps the current zone when the change names none', () => {
    expect(zoneAfter({}, 'Europe/Berlin', 'UTC')).toBe('Europe/Berlin');
    expect(zoneAfter(undefined, 'Europe/Berlin', 'UTC')).toBe('Europe/Berlin');
  });
  it('falls back to the default when the change clears the zone or none was ever set', () => {
    expect(zoneAfter({ timezone: null }, 'Europe/Berlin', 'America/Lima')).toBe('America/Lima');
    expect(zoneAfter(undefined, null, 'America/Lima')).toBe('America/Lima');
  });
});
