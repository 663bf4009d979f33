import type { AdvisoryItem } from '../../advisories/model.ts';
import type { FeedConfig } from '../../config/schema.ts';

/** What a profile needs of its feed's configuration. */
export type ProfileFeed = Pick<FeedConfig, 'id' | 'countries'>;

/**
 * A source profile turns one fetched document into normalised advisories.
 * It is pure: same text in, same items out.
 */
export interface SourceProfileImpl {
  parse(text: string, feed: ProfileFeed): Promise<AdvisoryItem[]>;
  /**
   * For documents that are a rolling window of recent items: the advisories
   * that stay in force when their item leaves the window (a country's latest
   * danger level), instead of being recorded as gone. Default: none.
   */
  retainsWhenAbsent?(key: string): boolean;
}
