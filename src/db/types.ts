import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type DefaultTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;

export type EventKind = 'new' | 'updated' | 'level-raised' | 'level-lowered';
/** See advisories/urgency.ts. */
export type Urgency = 'urgent' | 'routine';
export type PollStatus = 'ok' | 'not-modified' | 'error';

export interface FeedsTable {
  id: string;
  name: string;
  url: string;
  source: string;
  enabled: Generated<boolean>;
  in_config: Generated<boolean>;
  schedule: string | null;
  etag: string | null;
  last_modified: string | null;
  last_polled_at: Timestamp | null;
  last_success_at: Timestamp | null;
  last_status: PollStatus | null;
  last_error: string | null;
  consecutive_failures: Generated<number>;
  not_before: Timestamp | null;
  baseline_at: Timestamp | null;
  created_at: DefaultTimestamp;
  poll_lease_owner: string | null;
  poll_lease_until: Timestamp | null;
}

export interface AdvisoriesTable {
  id: Generated<number>;
  feed_id: string;
  key: string;
  countries: string[];
  level: number | null;
  level_text: string | null;
  title: string;
  body: string;
  link: string | null;
  guid: string | null;
  published_at: Timestamp | null;
  fingerprint: string;
  version_id: number | null;
  first_seen_at: Timestamp;
  last_seen_at: Timestamp;
  changed_at: Timestamp;
  removed_at: Timestamp | null;
}

export interface AdvisoryVersionsTable {
  id: Generated<number>;
  advisory_id: number;
  fingerprint: string;
  countries: string[];
  level: number | null;
  level_text: string | null;
  title: string;
  body: string;
  link: string | null;
  published_at: Timestamp | null;
  created_at: Timestamp;
}

export interface EventsTable {
  id: Generated<number>;
  feed_id: string;
  advisory_id: number;
  kind: EventKind;
  countries: string[];
  level: number | null;
  previous_level: number | null;
  title: string;
  link: string | null;
  version_id: number;
  previous_version_id: number | null;
  created_at: Timestamp;
  urgency: Generated<Urgency>;
}

export interface PollRunsTable {
  id: Generated<number>;
  feed_id: string;
  started_at: Timestamp;
  finished_at: Timestamp;
  status: PollStatus;
  http_status: number | null;
  new_count: Generated<number>;
  updated_count: Generated<number>;
  unchanged_count: Generated<number>;
  removed_count: Generated<number>;
  events_count: Generated<number>;
  error: string | null;
}

export interface Database {
  feeds: FeedsTable;
  advisories: AdvisoriesTable;
  advisory_versions: AdvisoryVersionsTable;
  events: EventsTable;
  poll_runs: PollRunsTable;
  subscribers: SubscribersTable;
  subscriptions: SubscriptionsTable;
  deliveries: DeliveriesTable;
  delivery_attempts: DeliveryAttemptsTable;
  rate_limits: RateLimitsTable;
  subscriber_tokens: SubscriberTokensTable;
  phone_verifications: PhoneVerificationsTable;
  cron_claims: CronClaimsTable;
  digests: DigestsTable;
  verification_sends: VerificationSendsTable;
  webhooks: WebhooksTable;
  trips: TripsTable;
  briefings: BriefingsTable;
  confirmation_emails: ConfirmationEmailsTable;
}

/**
 * A trip: `first_day`/`last_day` are dates in the subscriber's zone. Select
 * them as text (`first_day::text`): the driver would turn a date into a
 * midnight in the process's own zone.
 */
export interface TripsTable {
  id: Generated<number>;
  subscriber_id: number;
  countries: string[];
  first_day: ColumnType<string, string, string>;
  last_day: ColumnType<string, string, string>;
  created_at: Timestamp;
}

/**
 * The columns every small outbox has (db/outbox.ts leases, retries and
 * completes them); `S` is the table's statuses.
 */
export interface OutboxColumns<S extends string> {
  status: Generated<S>;
  attempts: Generated<number>;
  next_attempt_at: Timestamp;
  lease_owner: string | null;
  lease_until: Timestamp | null;
  last_error: string | null;
  created_at: Timestamp;
  sent_at: Timestamp | null;
}

/** The double opt-in emails' outbox (subscriptions/confirmations.ts). */
export interface ConfirmationEmailsTable extends OutboxColumns<'pending' | 'sending' | 'sent' | 'failed' | 'refused'> {
  id: Generated<number>;
  /** The address the request named (the subscriber's current one for a move). */
  email: string;
  /** The RequestedSubscription, as asked. */
  request: ColumnType<unknown, string, string>;
  subscriber_id: number | null;
  /** The rendered email ({to, subject, text, html}) once prepared; null again once sent or given up. */
  message: ColumnType<unknown, string | null, string | null>;
}

/** A pre-trip briefing email waiting to go, or gone (its own small outbox: db/outbox.ts). */
export interface BriefingsTable extends OutboxColumns<'pending' | 'sending' | 'sent' | 'failed'> {
  id: Generated<number>;
  subscriber_id: number;
  /** int8[]: the driver reads it as strings. */
  trip_ids: ColumnType<(number | string)[], number[], number[]>;
}

export interface VerificationSendsTable {
  id: Generated<number>;
  channel: Channel;
  recipient_hash: string;
  subscriber_id: number | null;
  sent_at: Timestamp;
}

export interface WebhooksTable {
  id: string;
  countries: string[] | null;
  min_level: number;
  format: 'standard' | 'slack';
  enabled: Generated<boolean>;
  in_config: Generated<boolean>;
  created_at: DefaultTimestamp;
}

export interface CronClaimsTable {
  key: string;
  owner: string;
  claimed_at: Timestamp;
}

export interface SubscriberTokensTable {
  token_hash: string;
  subscriber_id: number;
  purpose: 'confirm';
  payload: ColumnType<unknown, string, string>;
  created_at: Timestamp;
  expires_at: Timestamp;
  used_at: Timestamp | null;
}

export interface PhoneVerificationsTable {
  subscriber_id: number;
  phone: string;
  code_hash: string;
  attempts: Generated<number>;
  created_at: Timestamp;
  expires_at: Timestamp;
}

export interface RateLimitsTable {
  channel: string;
  tat: Timestamp;
}

export type FeedRow = Selectable<FeedsTable>;
export type AdvisoryRow = Selectable<AdvisoriesTable>;
export type NewAdvisory = Insertable<AdvisoriesTable>;
export type AdvisoryUpdate = Updateable<AdvisoriesTable>;
export type EventRow = Selectable<EventsTable>;

export type SubscriberStatus = 'pending' | 'confirmed' | 'unsubscribed';
export type Channel = 'email' | 'sms';
/**
 * 'digest': a routine email waiting for its subscriber's digest; 'digested': sent inside one;
 * 'skipped': not sent because the subscriber no longer matches it at send time.
 */
export type DeliveryStatus = 'pending' | 'sending' | 'sent' | 'failed' | 'uncertain' | 'digest' | 'digested' | 'skipped';
export type EmailFrequency = 'immediate' | 'daily' | 'weekly';
export type SmsUrgency = 'urgent' | 'all';
/** Subscribers' channels, plus organisations' webhook endpoints (deliveries only). */
export type DeliveryChannel = Channel | 'webhook';

export interface SubscribersTable {
  id: Generated<number>;
  email: string;
  phone: string | null;
  phone_verified: Generated<boolean>;
  status: Generated<SubscriberStatus>;
  email_stopped_at: Timestamp | null;
  email_stop_reason: string | null;
  sms_stopped_at: Timestamp | null;
  sms_stop_reason: string | null;
  created_at: DefaultTimestamp;
  confirmed_at: Timestamp | null;
  unsubscribed_at: Timestamp | null;
  email_frequency: Generated<EmailFrequency>;
  sms_urgency: Generated<SmsUrgency>;
  /** 'HH:MM:SS' local times in the subscriber's zone. */
  quiet_start: string | null;
  quiet_end: string | null;
  timezone: string | null;
  /** Generation of the manage/unsubscribe links (common/tokens.ts): raised when the address changes. */
  link_version: Generated<number>;
}

/** 'skipped': none of a digest's events was still wanted when it was built (digests/run.ts); no email went. */
export interface DigestsTable extends OutboxColumns<'pending' | 'sending' | 'sent' | 'failed' | 'skipped'> {
  id: Generated<number>;
  subscriber_id: number;
  period: string;
  frequency: 'daily' | 'weekly';
  due_at: Timestamp;
}

export interface SubscriptionsTable {
  id: Generated<number>;
  subscriber_id: number;
  countries: string[] | null;
  feeds: string[] | null;
  min_level: Generated<number>;
  keywords: Generated<string[]>;
  channels: Generated<Channel[]>;
  created_at: DefaultTimestamp;
}

export interface DeliveriesTable {
  id: Generated<number>;
  /** Null for a webhook delivery (it has `webhook_id`). */
  subscriber_id: number | null;
  webhook_id: ColumnType<string | null, string | null | undefined, string | null>;
  event_id: number;
  channel: DeliveryChannel;
  status: Generated<DeliveryStatus>;
  attempts: Generated<number>;
  next_attempt_at: Timestamp;
  lease_owner: string | null;
  lease_until: Timestamp | null;
  last_error: string | null;
  provider_id: string | null;
  created_at: Timestamp;
  sent_at: Timestamp | null;
  digest_id: number | null;
}

export interface DeliveryAttemptsTable {
  id: Generated<number>;
  delivery_id: number;
  attempted_at: Timestamp;
  outcome: 'sent' | 'retry' | 'failed' | 'uncertain' | 'skipped';
  error: string | null;
  duration_ms: number | null;
}
