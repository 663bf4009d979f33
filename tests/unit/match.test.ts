import { describe, expect, it } from 'vitest';
import { whyNotWanted, type MatchEvent, type MatchPreferences, type MatchSubscriber, type MatchSubscription } from '../../src/subscriptions/match.ts';

// The decision of whyNotWanted is matchingChannels' (tests/integration/matching.test.ts runs the
// whole table through the dispatcher); here: the reason it names.

const sub: MatchSubscription = { countries: ['RU'], feeds: null, minLevel: 1, keywords: [], channels: ['email', 'sms'] };
const subscriber: MatchSubscriber & MatchPreferences = {
  status: 'confirmed',
  phone: '+447911123456',
  phoneVerified: true,
  emailStopped: false,
  smsStopped: false,
  sms: 'urgent',
};
const event: MatchEvent = { feedId: 'us-state-dept', countries: ['RU'], level: 2, previousLevel: null, title: 'Russia', body: 'Text', urgency: 'urgent' };

describe('whyNotWanted', () => {
  it('is null while a current subscription still matches on the channel', () => {
    expect(whyNotWanted([sub], subscriber, event, 'email')).toBeNull();
    expect(whyNotWanted([{ ...sub, countries: ['FR'] }, sub], subscriber, event, 'sms')).toBeNull();
  });

  it.each([
    { name: 'unsubscribed', subs: [sub], who: { status: 'unsubscribed' as const }, ev: {}, channel: 'email' as const, reason: 'subscriber unsubscribed' },
    { name: 'email stopped', subs: [sub], who: { emailStopped: true }, ev: {}, channel: 'email' as const, reason: 'email stopped for this subscriber' },
    { name: 'sms stopped', subs: [sub], who: { smsStopped: true }, ev: {}, channel: 'sms' as const, reason: 'sms stopped for this subscriber' },
    { name: 'phone unverified', subs: [sub], who: { phoneVerified: false }, ev: {}, channel: 'sms' as const, reason: 'no verified phone number' },
    { name: 'no subscription left', subs: [], who: {}, ev: {}, channel: 'email' as const, reason: 'no subscription' },
    { name: 'channel dropped', subs: [{ ...sub, channels: ['email' as const] }], who: {}, ev: {}, channel: 'sms' as const, reason: 'sms no longer chosen' },
    { name: 'routine text', subs: [sub], who: {}, ev: { urgency: 'routine' as const }, channel: 'sms' as const, reason: 'texts only for urgent events' },
    {
      name: 'narrowed countries',
      subs: [{ ...sub, countries: ['FR'] }],
      who: {},
      ev: {},
      channel: 'email' as const,
      reason: 'the subscription no longer matches the event',
    },
    {
      name: 'raised minimum',
      subs: [{ ...sub, minLevel: 3 }],
      who: {},
      ev: {},
      channel: 'email' as const,
      reason: 'the subscription no longer matches the event',
    },
  ])('$name: $reason', ({ subs, who, ev, channel, reason }) => {
    expect(whyNotWanted(subs, { ...subscriber, ...who }, { ...event, ...ev }, channel)).toBe(reason);
  });
});
