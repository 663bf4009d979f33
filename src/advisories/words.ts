/** The words alone: what a fingerprint compares, so line breaks from markup never matter. */
export function words(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
