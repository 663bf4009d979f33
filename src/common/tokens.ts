import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Stateless signed tokens for links in messages (manage, unsubscribe): an HMAC
 * with APP_SECRET over the purpose and subscriber id. They need no storage and
 * cannot be forged or moved to another subscriber or purpose.
 */
export type TokenPurpose = 'manage' | 'unsubscribe';

function mac(secret: string, payload: string): string {
  return createHmac('sha256', secret).update(payload).digest('base64url').slice(0, 32);
}

export function signToken(secret: string, purpose: TokenPurpose, subscriberId: number): string {
  const payload = `${purpose[0]}${subscriberId.toString(36)}`;
  return `${payload}.${mac(secret, payload)}`;
}

/** The subscriber id, or null when the token is malformed, forged or for another purpose. */
export function verifyToken(secret: string, purpose: TokenPurpose, token: string): number | null {
  const m = /^([a-z])([0-9a-z]{1,12})\.([A-Za-z0-9_-]{32})$/.exec(token);
  if (!m || m[1] !== purpose[0]) return null;
  if (!safeEqual(m[3]!, mac(secret, `${m[1]}${m[2]}`))) return null;
  const id = parseInt(m[2]!, 36);
  return Number.isSafeInteger(id) && id > 0 ? id : null;
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
