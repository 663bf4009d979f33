import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type DefaultTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;

export type EventKind = 'new' | 'updated' | 'level-raised' | 'level-lowered';
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
}

export type FeedRow = Selectable<FeedsTable>;
export type AdvisoryRow = Selectable<AdvisoriesTable>;
export type NewAdvisory = Insertable<AdvisoriesTable>;
export type AdvisoryUpdate = Updateable<AdvisoriesTable>;
export type EventRow = Selectable<EventsTable>;
