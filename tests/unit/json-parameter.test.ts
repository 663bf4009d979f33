import { describe, expect, it } from 'vitest';
import { jsonParameter } from '../../src/db/json.ts';

describe('jsonParameter', () => {
  it('is JSON.stringify for well-formed text, paired surrogates (emoji) included', () => {
    const rows = [{ id: 1, title: 'Reise 🇩🇪 "quoted" \\ud not an escape', n: null }];
    expect(jsonParameter(rows)).toBe(JSON.stringify(rows));
  });
  it('turns a lone surrogate into U+FFFD, as a text parameter would store it', () => {
    const cut = '🇩🇪'.slice(0, 1);
    expect(JSON.parse(jsonParameter([{ error: `timeout ${cut}`, id: 7 }]))).toEqual([{ error: 'timeout \uFFFD', id: 7 }]);
  });
});
