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
 * The poller batches its leases and poll records the same way: each feed's poll waits
 * for the one statement that carries its row along with those of the polls around it.
 * A write may answer each item (`R`, in the items' order).
 *
 * A failed write is retried with back-off for up to `retryForMs` (a PostgreSQL restart:
 * the sends did happen, and recording them is what keeps them from going out again);
 * after that its callers get the error.
 */
export class GroupCommit<T, R = void> {
  private queue: { item: T; resolve: (result: R) => void; reject: (err: unknown) => void }[] = [];
  private writing = false;

  constructor(
    // biome-ignore lint/suspicious/noConfusingVoidType: a write that answers nothing (R = void) returns nothing
    private readonly write: (items: T[]) => Promise<R[] | void>,
    private readonly options: { maxBatch: number; retryForMs: number; onRetry?: (err: unknown) => void },
  ) {}

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
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
          const results = await this.writeWithRetry(batch.map((b) => b.item));
          for (const [i, b] of batch.entries()) b.resolve(results?.[i] as R);
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
      }
    } finally {
      this.writing = false;
    }
  }

  // biome-ignore lint/suspicious/noConfusingVoidType: as `write`
  private async writeWithRetry(items: T[]): Promise<R[] | void> {
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
