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
}
