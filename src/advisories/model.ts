/** One advisory as a source profile reads it from a document, normalised. */
export interface AdvisoryItem {
  /** Identity within its feed: what makes two polls' items "the same advisory". */
  key: string;
  guid: string | null;
  link: string | null;
  /** One line, entities decoded, no markup. */
  title: string;
  /** Plain text, block elements as line breaks. */
  body: string;
  /** ISO 3166-1 alpha-2 codes the advisory is about; empty means worldwide / unknown. */
  countries: string[];
  /** 1 (normal precautions) … 4 (do not travel); null for alerts without a level. */
  level: number | null;
  /** The government's own wording of its advice or the alert type ("Do Not Travel", "Security Alert"). */
  levelText: string | null;
  publishedAt: Date | null;
}
