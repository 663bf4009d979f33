import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed tokens for links in messages (manage, unsubscribe): an HMAC with
 * APP_SECRET over the purpose, the subscriber id and the subscriber's link
 * version. They cannot be forged or moved to another subscriber or purpose;
 * raising the version (a move to another address) retires every link signed
 * before. Version 0 is written as links were before versions existed.
 */
export type TokenPurpose = 'manage' | 'unsubscribe';

export interface LinkToken {
  subscriberId: number;
  /** To compare with the subscriber's `link_version`: a lower one is a retired link. */
  version: number;
}

function mac(secret: string, payload: string): string {
  return createHmac('sha256', secret).update(payload).digest('base64url').slice(0, 32);
}

export function signToken(secret: string, purpose: TokenPurpose, subscriberId: number, version = 0): string {
  const payload = `${purpose[0]}${subscriberId.toString(36)}${version > 0 ? `_${version.toString(36)}` : ''}`;
  return `${payload}.${mac(secret, payload)}`;
}

/** The subscriber and link version, or null when the token is malformed, forged or for another purpose. */
export function verifyToken(secret: string, purpose: TokenPurpose, token: string): LinkToken | null {
  const m = /^(([a-z])([0-9a-z]{1,12})(?:_([0-9a-z]{1,6}))?)\.([A-Za-z0-9_-]{32})$/.exec(token);
  if (!m || m[2] !== purpose[0]) return null;
  if (!safeEqual(m[5]!, mac(secret, m[1]!))) return null;
  const subscriberId = parseInt(m[3]!, 36);
  const version = m[4] === undefined ? 0 : parseInt(m[4], 36);
  return Number.isSafeInteger(subscriberId) && subscriberId > 0 && version > 0 === (m[4] !== undefined) ? { subscriberId, version } : null;
}

/**
 * The one constant-time comparison of secrets (tokens, code hashes, the admin
 * token): its time does not depend on where the strings first differ.
 */
export function safeEqual(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
