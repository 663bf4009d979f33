/**
 * The one HTML escaper, for web pages and email bodies alike: feed content is
 * untrusted and only ever reaches HTML through this function.
 */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
