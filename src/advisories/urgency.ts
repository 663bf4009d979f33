import type { FeedConfig } from '../config/schema.ts';
import { isAlertSource } from './governments.ts';
import type { EventKind, Urgency } from '../db/types.ts';

/**
 * How soon a traveler must hear about an event. `urgent` goes out at once on
 * every channel the traveler chose (SMS included, quiet hours only hold it
 * unless it is a raise to level 4); `routine` goes by email (at once or in the
 * digest) and by SMS only to those who asked for everything.
 */
export type { Urgency };
/** A feed's `urgency:` in feeds.yaml: force one, or `auto` (decide per event). */
export type UrgencyOverride = FeedConfig['urgency'];

// Which profiles' unlevelled items are alerts an embassy or ministry sends to its
// citizens on the ground is source metadata (`isAlertSource`). A generic feed's
// unlevelled items are not assumed to be alerts: an admin who wants them urgent
// says so with the feed's `urgency: urgent`.

/**
 * Consular-service notices that alert sources publish through the same channel
 * as their security alerts. U.S. embassies type every post ("Security Alert",
 * "Demonstration Alert", "Emergency Alert", "Weather Alert", … versus "Message
 * for U.S. Citizens", "Announcement"): anything named an alert, an emergency or
 * a warning is urgent, a message/announcement/information post is routine.
 * MOFA consular e-mails are untyped, so their title decides: a caution
 * (注意喚起), a demonstration (デモ), a danger or a disaster stays urgent even when
 * the title also says "notice" (お知らせ); certificates, passports, overseas
 * voting, office hours and closures are routine.
 */
const URGENT_WORDS = /\b(alert|emergency|warning|evacuation|shelter)\b|注意喚起|デモ|危険|退避|テロ|災害|地震|津波|台風|洪水/i;
const ROUTINE_WORDS =
  /^(message|announcement|information|notice)s?\b|\bmessage (for|to) u\.?s\.? citizens\b|証明書|旅券|パスポート|在外選挙|領事窓口|休館|閉館|開館|業務時間|窓口/i;

export interface UrgencyInput {
  kind: EventKind;
  level: number | null;
  previousLevel: number | null;
  /** The feed's source profile. */
  source: string;
  /** The alert's own type ("Security Alert", "Message for U.S. Citizens") when the profile reads one. */
  levelText: string | null;
  title: string;
}

/** True when an alert source's post is a consular-service notice rather than an alert. */
export function isRoutineMessage(levelText: string | null, title: string): boolean {
  // The post's own type is the most reliable; the title speaks when there is none
  // or when the type is only the generic "Alert".
  for (const text of [levelText, title]) {
    if (!text) continue;
    if (URGENT_WORDS.test(text) && !/^alerts?$/i.test(text.trim())) return false;
    if (ROUTINE_WORDS.test(text)) return true;
  }
  return false;
}

/** The urgency of an event as it is recorded (pure). */
export function urgencyOf(e: UrgencyInput): Urgency {
  if (e.level !== null && e.level >= 3) {
    if (e.kind === 'level-raised') return 'urgent';
    // A new advisory only exists after the feed's baseline (the baseline poll records no events).
    if (e.kind === 'new') return 'urgent';
  }
  if (e.kind === 'new' && e.level === null && isAlertSource(e.source)) {
    return isRoutineMessage(e.levelText, e.title) ? 'routine' : 'urgent';
  }
  return 'routine';
}

/** A feed's override wins over the computed urgency. */
export function resolveUrgency(override: UrgencyOverride, e: UrgencyInput): Urgency {
  return override === 'auto' ? urgencyOf(e) : override;
}
