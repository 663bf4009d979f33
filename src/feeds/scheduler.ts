import cron, { type RunCoordinator, type ScheduledTask } from 'node-cron';
import pLimit, { type LimitFunction } from 'p-limit';
import type { FeedConfig } from '../config/schema.ts';
import { pollFeed, type PollDeps, type PollOutcome } from './poller.ts';

/**
 * One node-cron task per enabled feed, on the feed's own schedule. A feed's
 * runs never overlap (node-cron's `noOverlap`, plus our own in-flight map that
 * also covers a reload replacing a task mid-run).
 */
export class FeedScheduler {
  private tasks = new Map<string, { task: ScheduledTask; signature: string }>();
  private inFlight = new Map<string, Promise<PollOutcome | undefined>>();
  /**
   * Feeds on one schedule all fire at the same second; at most
   * `http.concurrency` polls run at once so they don't all compete for the
   * database pool and the network together.
   */
  private readonly limit: LimitFunction;
  private stopping = false;

  constructor(
    private readonly deps: PollDeps,
    private readonly defaultSchedule: string,
    /** Shared by all processes: each slot of each feed runs in exactly one of them. */
    private readonly coordinator?: RunCoordinator,
  ) {
    this.limit = pLimit(Math.max(1, deps.settings.http.concurrency));
  }

  /** Starts, stops or replaces tasks so that exactly the given feeds are scheduled. */
  apply(feeds: readonly FeedConfig[]): { added: string[]; removed: string[]; changed: string[] } {
    // A reload that finishes after stop() must not arm new cron tasks (they would keep the process alive).
    if (this.stopping) return { added: [], removed: [], changed: [] };
    const wanted = new Map(feeds.filter((f) => f.enabled).map((f) => [f.id, f]));
    const added: string[] = [];
    const removed: string[] = [];
    const changed: string[] = [];
    for (const [id, entry] of this.tasks) {
      const feed = wanted.get(id);
      if (!feed || this.signature(feed) !== entry.signature) {
        void entry.task.destroy();
        this.tasks.delete(id);
        (feed ? changed : removed).push(id);
      }
    }
    for (const [id, feed] of wanted) {
      if (this.tasks.has(id)) continue;
      const schedule = feed.schedule ?? this.defaultSchedule;
      const task = cron.createTask(schedule, () => this.run(feed), {
        name: `poll:${id}`,
        noOverlap: true,
        ...(this.coordinator ? { distributed: true, runCoordinator: this.coordinator } : {}),
      });
      void task.start();
      this.tasks.set(id, { task, signature: this.signature(feed) });
      if (!changed.includes(id)) added.push(id);
    }
    return { added, removed, changed };
  }

  private signature(feed: FeedConfig): string {
    return JSON.stringify({ ...feed, schedule: feed.schedule ?? this.defaultSchedule });
  }

  /** Polls one feed unless it is already being polled in this process. */
  run(feed: FeedConfig): Promise<PollOutcome | undefined> {
    if (this.stopping) return Promise.resolve(undefined);
    const running = this.inFlight.get(feed.id);
    if (running) return running.then(() => undefined);
    const p = this.limit(async () => (this.stopping ? undefined : await pollFeed(this.deps, feed)))
      .catch((err: unknown) => {
        this.deps.logger.error({ feed: feed.id, err }, 'scheduled poll crashed');
        return undefined;
      })
      .finally(() => this.inFlight.delete(feed.id));
    this.inFlight.set(feed.id, p);
    return p;
  }

  /**
   * Polls every enabled feed once now (`start`: a broken feed shows at once, not
   * at its first slot, which may be hours away). Like a scheduled slot, each
   * feed's start-up poll runs in one process however many start in the same
   * minute: the coordinator is asked for `start:<feed>:<minute>`. A feed backing
   * off is left alone (the poll is not forced). Resolves with what ran here.
   */
  async pollAllNow(feeds: readonly FeedConfig[], now: Date): Promise<PollOutcome[]> {
    const minute = now.toISOString().slice(0, 16);
    const outcomes = await Promise.all(
      feeds
        .filter((f) => f.enabled)
        .map(async (feed) => {
          let elected = true;
          try {
            elected = this.coordinator ? await this.coordinator.shouldRun(`start:${feed.id}:${minute}`, 60_000) : true;
          } catch (err) {
            // The database is unreachable at start: the scheduled slots will try again.
            this.deps.logger.warn({ feed: feed.id, err }, 'start-up poll skipped: could not claim it');
            return undefined;
          }
          return elected ? this.run(feed) : undefined;
        }),
    );
    return outcomes.filter((o): o is PollOutcome => o !== undefined);
  }

  nextRun(feedId: string): Date | null {
    return this.tasks.get(feedId)?.task.getNextRun() ?? null;
  }

  /** Stops taking work and waits for in-flight polls, so no poll is left half-written. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const { task } of this.tasks.values()) await task.destroy();
    this.tasks.clear();
    await Promise.allSettled(this.inFlight.values());
  }
}

/** The next time a cron expression fires from now, for listings. */
export function nextCronRun(expression: string): Date | null {
  const task = cron.createTask(expression, () => {});
  try {
    return task.getNextRuns(1)[0] ?? null;
  } finally {
    void task.destroy();
  }
}

/** node-cron's run coordinator backed by PostgreSQL (one row per task slot). */
export function databaseCoordinator(claim: (key: string) => Promise<boolean>): RunCoordinator {
  return { shouldRun: (key) => claim(key) };
}
