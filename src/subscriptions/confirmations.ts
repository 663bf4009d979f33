import { afterFailedSend, leaseOwner } from '../db/outbox.ts';
import { claimConfirmations, completeConfirmation, nextConfirmationDue, storeConfirmationMessage, type ClaimedConfirmation } from './repository.ts';
import { prepareConfirmation, type TravelerDeps } from './service.ts';

/**
 * The confirmation outbox, worked off: each queued request is leased, prepared
 * (subscriber, token, caps, email) and sent like an alert: a temporary refusal
 * (SMTP 4xx such as 451, the server down) waits a back-off and is tried again
 * with the same link, up to `delivery.maxAttempts`; a permanent one (5xx) is
 * given up. A process that dies mid-way leaves a lease that expires, and any
 * process takes the row again (at least once).
 */
export interface ConfirmationSummary {
  sent: number;
  retrying: number;
  failed: number;
  refused: number;
}

export interface ConfirmationResult {
  id: number;
  outcome: keyof ConfirmationSummary;
  /** Once the request is recorded. */
  subscriberId?: number | undefined;
  error?: string;
}

export async function sendDueConfirmations(
  deps: TravelerDeps,
  options: { id?: number } = {},
): Promise<{ summary: ConfirmationSummary; results: ConfirmationResult[] }> {
  const owner = leaseOwner();
  const summary: ConfirmationSummary = { sent: 0, retrying: 0, failed: 0, refused: 0 };
  const results: ConfirmationResult[] = [];
  for (;;) {
    const claims = await claimConfirmations(deps.db, { owner, limit: 20, leaseMs: deps.delivery.leaseSeconds * 1000, now: deps.clock.now(), id: options.id });
    if (claims.length === 0) break;
    for (const c of claims) {
      const r = await sendOne(deps, owner, c);
      summary[r.outcome]++;
      results.push(r);
    }
    // One request's send is one attempt: with a back-off shorter than this call, a second
    // claim would find it due again and send it within the same call, while the caller
    // reports the first attempt's failure.
    if (options.id !== undefined) break;
  }
  return { summary, results };
}

async function sendOne(deps: TravelerDeps, owner: string, c: ClaimedConfirmation): Promise<ConfirmationResult> {
  const { db, clock, delivery } = deps;
  let subscriberId = c.subscriberId ?? undefined;
  try {
    let message = c.message;
    if (!message) {
      const prepared = await prepareConfirmation(deps, c.email, c.request);
      if ('refused' in prepared) {
        await completeConfirmation(db, owner, c.id, { status: 'refused', error: prepared.refused });
        return { id: c.id, outcome: 'refused', error: prepared.refused };
      }
      message = prepared.message;
      subscriberId = prepared.subscriberId;
      await storeConfirmationMessage(db, owner, c.id, prepared.subscriberId, message);
    }
    await deps.email.send({ ...message, headers: {} }, `confirm-${c.id}`);
    await completeConfirmation(db, owner, c.id, { status: 'sent', at: clock.now() });
    return { id: c.id, outcome: 'sent', subscriberId };
  } catch (err) {
    deps.logger.warn({ confirmation: c.id, attempt: c.attempts, err }, 'confirmation email not sent');
    const outcome = afterFailedSend(err, c.attempts, delivery, clock.now());
    await completeConfirmation(db, owner, c.id, outcome);
    return { id: c.id, outcome: outcome.status === 'failed' ? 'failed' : 'retrying', subscriberId, error: outcome.error };
  }
}

/**
 * The sender of `start` processes: `kick()` (the web role after answering a
 * request, the deliver role at start and on the digest beat) works off the
 * outbox in the background (one run at a time; a kick during a run makes
 * another), then sleeps until the next retry falls due.
 */
export class ConfirmationRunner {
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly deps: TravelerDeps) {}

  kick(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => {
      this.running = undefined;
    });
  }

  /** Waits for the run in progress; no new one starts. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      try {
        await sendDueConfirmations(this.deps);
        await this.schedule();
      } catch (err) {
        this.deps.logger.error({ err }, 'confirmation outbox run failed; trying again shortly');
        this.wakeIn(this.deps.delivery.retryBaseSeconds * 1000);
      }
    } while (this.again && !this.closed);
  }

  private async schedule(): Promise<void> {
    const due = await nextConfirmationDue(this.deps.db);
    if (due) this.wakeIn(due.getTime() - this.deps.clock.now().getTime());
  }

  private wakeIn(ms: number): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    // At least a second: a due time the clock has not reached yet is not polled in a tight loop.
    this.timer = setTimeout(() => this.kick(), Math.min(Math.max(ms, 1000), 3600_000));
    this.timer.unref();
  }
}
