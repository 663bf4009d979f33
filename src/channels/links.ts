import { signToken } from '../common/tokens.ts';

/** Absolute links in messages, built on PUBLIC_BASE_URL with signed tokens. */
export interface LinkBuilder {
  manage(subscriberId: number): string;
  unsubscribe(subscriberId: number): string;
  home(): string;
  /** The public page with every government's advice for one country. */
  country(code: string): string;
}

export function linkBuilder(publicBaseUrl: string, secret: string): LinkBuilder {
  const base = publicBaseUrl.replace(/\/+$/, '');
  return {
    manage: (id) => `${base}/manage/${signToken(secret, 'manage', id)}`,
    unsubscribe: (id) => `${base}/unsubscribe/${signToken(secret, 'unsubscribe', id)}`,
    home: () => `${base}/`,
    country: (code) => `${base}/countries/${encodeURIComponent(code)}`,
  };
}
