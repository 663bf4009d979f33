/**
 * The one HTML escaper, for web pages and email bodies alike: feed content is
 * untrusted and only ever reaches HTML through this function.
 */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A feed's link as an http(s) URL, or null: `javascript:` and other schemes never become links. */
export function safeUrl(link: string | null): string | null {
  if (!link) return null;
  try {
    const u = new URL(link);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
  } catch {
    return null;
  }
}
