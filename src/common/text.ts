/**
 * Cutting plain text to a length, shared by messages (subjects, quotes, SMS)
 * and the public pages (alert excerpts). Lengths are UTF-16 units, as
 * JavaScript counts them; a cut never leaves half a surrogate pair.
 */

/** The first `n` UTF-16 units of `s`, never ending in half a surrogate pair (an emoji cut in two). */
export function cutUnits(s: string, n: number): string {
  const cut = s.slice(0, Math.max(0, n));
  return /[\ud800-\udbff]$/.test(cut) ? cut.slice(0, -1) : cut;
}

/**
 * At most `max` characters, cut at a word boundary (a word is never cut unless it alone is too long).
 * A boundary that would keep fewer than `minKept` characters is passed over and the text is cut
 * between characters instead: text without spaces (Japanese, a URL) after a first word would
 * otherwise shrink to that word.
 */
export function truncateWords(s: string, max: number, options: { ellipsis?: string; minKept?: number } = {}): string {
  const { ellipsis = '…', minKept = 0 } = options;
  if (s.length <= max) return s;
  const cut = cutUnits(s, max - ellipsis.length + 1);
  // The cut lands on a boundary if the next character is a space.
  const space = cut.lastIndexOf(' ');
  const words = space > 0 && space >= minKept ? cut.slice(0, space) : cutUnits(cut, max - ellipsis.length);
  return `${words.replace(/[\s,;:—–-]+$/, '')}${ellipsis}`;
}
