import { signToken } from '../common/tokens.ts';

/** Absolute links in messages, built on PUBLIC_BASE_URL with signed tokens. */
export interface LinkBuilder {
  /** `linkVersion`: the subscriber's `link_version` (links signed with an older one no longer work). */
  manage(subscriberId: number, linkVersion: number): string;
  unsubscribe(subscriberId: number, linkVersion: number): string;
  home(): string;
  /** The public page with every government's advice for one country. */
  country(code: string): string;
}

export function linkBuilder(publicBaseUrl: string, secret: string): LinkBuilder {
  const base = publicBaseUrl.replace(/\/+$/, '');
  return {
    manage: (id, version) => `${base}/manage/${signToken(secret, 'manage', id, version)}`,
    unsubscribe: (id, version) => `${base}/unsubscribe/${signToken(secret, 'unsubscribe', id, version)}`,
    home: () => `${base}/`,
    country: (code) => `${base}/countries/${encodeURIComponent(code)}`,
  };
}

/**
 * The links every email to a subscriber carries: manage, unsubscribe, and the
 * RFC 8058 one-click target (the same signed link, taken by POST).
 */
export function subscriberLinks(
  links: LinkBuilder,
  subscriberId: number,
  linkVersion: number,
): { manage: string; unsubscribe: string; unsubscribeOneClick: string } {
  const unsubscribe = links.unsubscribe(subscriberId, linkVersion);
  return { manage: links.manage(subscriberId, linkVersion), unsubscribe, unsubscribeOneClick: unsubscribe };
}
