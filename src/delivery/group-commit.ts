import { setTimeout as sleep } from 'node:timers/promises';
import { backoffMs } from '../common/backoff.ts';

/**
 * Group commit: callers add items and wait until the batch holding theirs is written.
 * One write runs at a time; everything added while it runs goes into the next one. So a
 * write happens as soon as the previous one ends — an item waits at most about two write
 * round trips, however slow sending is — and batches grow by themselves when writes are
 * slow relative to arrivals (up to `maxBatch`).
 *
 * The dispatcher's workers wait for the commit of a send's outcome before they start
 * another send. That is what bounds the duplicates after a crash: a message can only go
 * out twice if its outcome was not yet recorded, and at any moment at most one message
 * per worker is sent-but-unrecorded or in flight.
 *
 * A failed write is retried with back-off for up to `retryForMs` (a PostgreSQL restart:
 * the sends did happen, and recording them is what keeps them from going out again);
 * after that its callers get the error.
 */
export class GroupCommit<T> {
  private queue: { item: T; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private writing = false;

  constructor(
    private readonly write: (items: T[]) => Promise<void>,
    private readonly options: { maxBatch: number; retryForMs: number; onRetry?: (err: unknown) => void },
  ) {}

  add(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.options.maxBatch);
        try {
          await this.writeWithRetry(batch.map((b) => b.item));
          for (const b of batch) b.resolve();
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
      }
    } finally {
      this.writing = false;
    }
  }

  private async writeWithRetry(items: T[]): Promise<void> {
    const giveUpAt = Date.now() + this.options.retryForMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.write(items);
      } catch (err) {
        if (Date.now() >= giveUpAt) throw err;
        this.options.onRetry?.(err);
        await sleep(backoffMs(attempt, { baseMs: 100, maxMs: 2000, jitter: true }));
      }
    }
  }
}
