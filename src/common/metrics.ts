import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics. Counters and the latency histogram count what this
 * process did; the gauges are read from the database at scrape time, so they
 * agree across processes (events by kind, deliveries by status, failing feeds).
 */
export interface Metrics {
  registry: Registry;
  polls: Counter<'status'>;
  sends: Counter<'channel' | 'outcome'>;
  sendLatency: Histogram<'channel'>;
  /** Digest emails by outcome: sent, failed, retrying, skipped (nothing in it was still wanted). */
  digests: Counter<'outcome'>;
  /** Pre-trip briefing emails by outcome: sent, failed, retrying. */
  briefings: Counter<'outcome'>;
  setDbSnapshot(read: () => Promise<DbSnapshot>): void;
}

export interface DbSnapshot {
  eventsByKind: Record<string, number>;
  deliveriesByStatus: Record<string, number>;
  failingFeeds: number;
  feedFailures: { feed: string; failures: number }[];
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  // prom-client's default names already start with process_/nodejs_: the prefix is only ours.
  collectDefaultMetrics({ register: registry, prefix: 'advisory_alerts_' });
  let read: (() => Promise<DbSnapshot>) | undefined;
  let snapshot: Promise<DbSnapshot> | undefined;
  const current = () => {
    // One database read per scrape, shared by the gauges below.
    snapshot ??= (read ? read() : Promise.resolve({ eventsByKind: {}, deliveriesByStatus: {}, failingFeeds: 0, feedFailures: [] })).finally(() =>
      setTimeout(() => (snapshot = undefined), 0),
    );
    return snapshot;
  };
  new Gauge({
    name: 'advisory_alerts_events',
    help: 'Events recorded, by kind (from the database)',
    labelNames: ['kind'],
    registers: [registry],
    async collect() {
      const s = await current();
      this.reset();
      for (const [kind, n] of Object.entries(s.eventsByKind)) this.set({ kind }, n);
    },
  });
  new Gauge({
    name: 'advisory_alerts_deliveries',
    help: 'Deliveries by status (from the database)',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const s = await current();
      this.reset();
      for (const [status, n] of Object.entries(s.deliveriesByStatus)) this.set({ status }, n);
    },
  });
  new Gauge({
    name: 'advisory_alerts_feed_consecutive_failures',
    help: 'Consecutive failed polls per feed (from the database)',
    labelNames: ['feed'],
    registers: [registry],
    async collect() {
      const s = await current();
      this.reset();
      for (const f of s.feedFailures) this.set({ feed: f.feed }, f.failures);
    },
  });
  new Gauge({
    name: 'advisory_alerts_feeds_failing',
    help: 'Feeds whose last poll failed (from the database)',
    registers: [registry],
    async collect() {
      this.set((await current()).failingFeeds);
    },
  });
  return {
    registry,
    polls: new Counter({ name: 'advisory_alerts_polls_total', help: 'Feed polls by result (this process)', labelNames: ['status'], registers: [registry] }),
    sends: new Counter({
      name: 'advisory_alerts_sends_total',
      help: 'Send attempts by channel and outcome (this process)',
      labelNames: ['channel', 'outcome'],
      registers: [registry],
    }),
    sendLatency: new Histogram({
      name: 'advisory_alerts_send_seconds',
      help: 'Time to hand one message to SMTP or Twilio',
      labelNames: ['channel'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    digests: new Counter({
      name: 'advisory_alerts_digests_total',
      help: 'Digest emails by outcome (this process)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    briefings: new Counter({
      name: 'advisory_alerts_briefings_total',
      help: 'Pre-trip briefing emails by outcome (this process)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    setDbSnapshot(fn) {
      read = fn;
    },
  };
}
