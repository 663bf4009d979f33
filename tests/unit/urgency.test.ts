import { describe, expect, it } from 'vitest';
import { isRoutineMessage, resolveUrgency, urgencyOf, type UrgencyInput } from '../../src/advisories/urgency.ts';
import { usEmbassyProfile } from '../../src/feeds/profiles/us-embassy.ts';
import { embassyFeedWithRoutineMessage } from '../helpers/embassy.ts';
import { fixture } from '../helpers/feed-server.ts';

function input(overrides: Partial<UrgencyInput>): UrgencyInput {
  return { kind: 'updated', level: 2, previousLevel: 2, source: 'us-state-dept', levelText: null, title: 'Title', ...overrides };
}

describe('urgencyOf', () => {
  it.each<[string, Partial<UrgencyInput>, 'urgent' | 'routine']>([
    ['raised to 4', { kind: 'level-raised', level: 4, previousLevel: 3 }, 'urgent'],
    ['raised to 3', { kind: 'level-raised', level: 3, previousLevel: 1 }, 'urgent'],
    ['raised to 2', { kind: 'level-raised', level: 2, previousLevel: 1 }, 'routine'],
    ['lowered from 4 to 3', { kind: 'level-lowered', level: 3, previousLevel: 4 }, 'routine'],
    ['new advisory at 4', { kind: 'new', level: 4, previousLevel: null }, 'urgent'],
    ['new advisory at 3', { kind: 'new', level: 3, previousLevel: null }, 'urgent'],
    ['new advisory at 2', { kind: 'new', level: 2, previousLevel: null }, 'routine'],
    ['text update of a level-4 advisory', { kind: 'updated', level: 4, previousLevel: 4 }, 'routine'],
    ['new embassy security alert', { kind: 'new', level: null, previousLevel: null, source: 'us-embassy', levelText: 'Security Alert' }, 'urgent'],
    ['edited embassy alert', { kind: 'updated', level: null, previousLevel: null, source: 'us-embassy', levelText: 'Security Alert' }, 'routine'],
    [
      'embassy post without a type: the title decides',
      { kind: 'new', level: null, source: 'us-embassy', title: 'Emergency Alert: shelter in place' },
      'urgent',
    ],
    [
      'embassy post of an unknown type is treated as an alert',
      { kind: 'new', level: null, source: 'us-embassy', title: 'Update on the situation in Belgorod' },
      'urgent',
    ],
    [
      'message for U.S. citizens',
      { kind: 'new', level: null, source: 'us-embassy', levelText: 'Message for U.S. Citizens', title: 'Message for U.S. Citizens – U.S. Embassy Moscow' },
      'routine',
    ],
    ['a generic feed item is not an alert', { kind: 'new', level: null, source: 'generic', title: 'Green alert for earthquake' }, 'routine'],
    // Real MOFA consular e-mail titles (newarrivalL, January 2026).
    ['MOFA: caution about gatherings', { kind: 'new', level: null, source: 'jp-mofa', title: '集会に対する注意喚起' }, 'urgent'],
    [
      'MOFA: "notice from the embassy" that is a caution',
      { kind: 'new', level: null, source: 'jp-mofa', title: '【大使館からのお知らせ】中東情勢に関する注意喚起' },
      'urgent',
    ],
    [
      'MOFA: e-certificates (consular service)',
      { kind: 'new', level: null, source: 'jp-mofa', title: '電子化した証明書（e-証明書）の発給対象となる証明書の拡大について' },
      'routine',
    ],
    ['MOFA: danger-level notice raised to 4', { kind: 'level-raised', level: 4, previousLevel: 2, source: 'jp-mofa', title: 'ロシア' }, 'urgent'],
  ])('%s', (_name, e, expected) => {
    expect(urgencyOf(input(e))).toBe(expected);
  });

  it('a feed override wins over the computed urgency', () => {
    const raised = input({ kind: 'level-raised', level: 4, previousLevel: 3 });
    expect(resolveUrgency('routine', raised)).toBe('routine');
    expect(resolveUrgency('urgent', input({ kind: 'updated' }))).toBe('urgent');
    expect(resolveUrgency('auto', raised)).toBe('urgent');
  });
});

describe('embassy alerts on the real documents', () => {
  it('security and demonstration alerts are urgent; a message for U.S. citizens is routine', async () => {
    const feed = { id: 'us-embassy-russia', countries: ['RU'] };
    const snapshot = await usEmbassyProfile.parse(fixture('us-embassy/us-embassy-russia-alerts_v2.xml'), feed);
    const decided = snapshot.map((i) => [
      i.title,
      urgencyOf({ kind: 'new', level: i.level, previousLevel: null, source: 'us-embassy', levelText: i.levelText, title: i.title }),
    ]);
    expect(decided).toEqual([
      ['Security Alert – U.S. Embassy Moscow (March 7, 2024)', 'urgent'],
      ['Demonstration Alert – U.S. Embassy Moscow (March 1, 2024)', 'urgent'],
      ['Security Alert – U.S. Embassy Moscow (February 16, 2024)', 'urgent'],
    ]);
    const [message] = await usEmbassyProfile.parse(embassyFeedWithRoutineMessage(), feed);
    expect(message!.levelText).toBe('Message for U.S. Citizens');
    expect(isRoutineMessage(message!.levelText, message!.title)).toBe(true);
  });
});
