import { describe, expect, it } from 'vitest';
import { linkBuilder, subscriberLinks } from '../../src/channels/links.ts';
import { verifyToken } from '../../src/common/tokens.ts';

describe('subscriberLinks', () => {
  it('signs manage and unsubscribe links for the subscriber and link version; one-click is the unsubscribe link', () => {
    const l = subscriberLinks(linkBuilder('https://alerts.example/', 's3cret-s3cret-s3cret-s3cret-s3cret'), 42, 3);
    const token = (url: string, path: string) => url.slice(`https://alerts.example/${path}/`.length);
    expect(verifyToken('s3cret-s3cret-s3cret-s3cret-s3cret', 'manage', token(l.manage, 'manage'))).toEqual({ subscriberId: 42, version: 3 });
    expect(verifyToken('s3cret-s3cret-s3cret-s3cret-s3cret', 'unsubscribe', token(l.unsubscribe, 'unsubscribe'))).toEqual({ subscriberId: 42, version: 3 });
    expect(l.unsubscribeOneClick).toBe(l.unsubscribe);
  });
});
