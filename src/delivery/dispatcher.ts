import { setTimeout as sleep } from 'node:timers/promises';
import type { Settings } from '../config/schema.ts';
import type { DB } from '../db/connect.ts';
import { leaseOwner } from '../db/outbox.ts';
import type { DeliveryChannel } from '../db/types.ts';
import { foreignSourceLabel, governmentOf } from '../advisories/governments.ts';
import { backoffMs } from '../common/backoff.ts';
import type { Clock } from '../common/clock.ts';
import { errorMessage } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { whyNotWanted } from '../subscriptions/match.ts';
import { SendError } from '../channels/errors.ts';
import { subscriberLinks, type LinkBuilder } from '../channels/links.ts';
import type { EmailSender, SmsSender } from '../channels/senders.ts';
import { WebhookSendError, type WebhookSender } from '../channels/webhook.ts';
import { addressEmail, renderEventEmail, renderSms, type EventEmail, type MessageEvent } from './render.ts';
import {
  claimDue,
  complete,
  deferDeliveries,
  loadContexts,
  loadWebhookContexts,
  pauseSends,
  releaseLeases,
  renewLeases,
  reserveSendsWithin,
  type ClaimedDelivery,
  type Completion,
  type DeliveryContext,
  type TravelerTiming,
  type Deferral,
  type WebhookContext,
} from './repository.ts';
import { GroupCommit } from '../common/group-commit.ts';

/** A webhook delivery whose turn is further away than this goes back to the outbox for then. */
const DEFER_AFTER_MS = 2000;

export interface DispatcherDeps {
  db: DB;
  logger: Logger;
  clock: Clock;
  settings: Settings['delivery'];
  email: EmailSender;
  sms: SmsSender;
  /** Organisations' endpoints (webhooks.yaml); without it, webhook deliveries wait. */
  webhooks?: WebhookSender | undefined;
  links: LinkBuilder;
  listId: string;
  /** The zone of subscribers who chose none and `trips.leadDays`: trip windows in the send-time re-check (and quiet hours of retried texts). */
  travelers?: TravelerTiming;
  /**
   * Subscribes to the news that deliveries became due (fanOut's NOTIFY on commit, see
   * DatabaseHandle.listen): the deliver role wakes at once instead of at its next idle
   * poll. Without it, or while it fails, the idle poll alone finds new work.
   */
  listen?: ((onDue: () => void) => Promise<{ close(): Promise<void> }>) | undefined;
  /** Called once per finished attempt (metrics). */
  onResult?: (channel: DeliveryChannel, outcome: Completion['outcome'], durationMs: number) => void;
}

export interface DispatchSummary {
  sent: number;
  failed: number;
  retrying: number;
  /** Not sent: the subscriber no longer wanted them at send time (status 'skipped'). */
  skipped: number;
}

/**
 * Claims due deliveries in short transactions (FOR UPDATE SKIP LOCKED, under
 * a lease), sends them outside any transaction with bounded concurrency and a
 * rate limit shared through PostgreSQL, and records each outcome. A process
 * that dies mid-send leaves leased rows that another dispatcher re-claims once
 * the lease expires: at-least-once sending, at most one in-flight batch doubled.
 */
export class Dispatcher {
  readonly owner = leaseOwner();
  private running = false;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** A wake-up that came while the loop was busy: the loop looks again before it sleeps. */
  private woken = false;
  private listening: Promise<{ close(): Promise<void> } | undefined> | undefined;
  private inFlight = new Set<number>();
  /** Claims whose provider call has begun and whose outcome is not recorded yet: it may have gone out. */
  private started = new Set<number>();
  /** The outcomes of started sends, known but not recorded yet. */
  private known = new Map<number, Completion>();
  /** Started sends stop() recorded itself after the grace; their late outcomes are dropped. */
  private abandoned = new Set<number>();
  /** Set when stop() stops waiting: no provider call begins after it. */
  private settling = false;
  private stopped = false;
  // Rate-limit slots and reservations per budget: 'email', 'sms', and 'webhook:<id>' for each endpoint.
  private limiterSlots = new Map<string, number[]>();
  /** A reservation in flight per budget; it resolves to the budget's next free time when it reserved nothing. */
  private reserving = new Map<string, Promise<number | undefined>>();
  /** Endpoints whose receiver asked us (Retry-After) to wait until then. */
  private pausedUntil = new Map<string, number>();
  /**
   * The messages about each event, made once per batch: a batch's contexts share their event
   * object (loadContexts), so these go with the batch. Not kept by event id across batches: the
   * feed's name and source are read with each batch, and a reload or `feeds sync` may rename or
   * re-point the feed while its event is still being sent (a big fan-out, a retry hours later).
   */
  private rendered = new WeakMap<DeliveryContext['event'], Rendered>();
  /**
   * "subscriber:channel" stopped by a permanent failure during this run. The
   * rest of the run's claims were loaded before the stop was recorded: without
   * this, each would be tried against an address or number that already said
   * it never will work (and each refusal costs a provider call and reputation).
   */
  private stoppedInRun = new Set<string>();

  constructor(private readonly deps: DispatcherDeps) {}

  /** Sends everything due now, then returns (the `dispatch` command). */
  async drain(): Promise<DispatchSummary> {
    const total: DispatchSummary = { sent: 0, failed: 0, retrying: 0, skipped: 0 };
    for (;;) {
      const r = await this.runBatch();
      if (r === null) return total;
      total.sent += r.sent;
      total.failed += r.failed;
      total.retrying += r.retrying;
      total.skipped += r.skipped;
    }
  }

  /** Runs continuously until stop(): the deliver role of `start`. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.listening = this.deps
      .listen?.(() => this.poke())
      .catch((err: unknown) => {
        this.deps.logger.warn({ err }, 'cannot listen for new deliveries; finding them by polling');
        return undefined;
      });
    this.loop = (async () => {
      while (!this.stopping) {
        let worked = false;
        this.woken = false;
        try {
          worked = (await this.runBatch()) !== null;
        } catch (err) {
          this.deps.logger.error({ err }, 'dispatch batch failed; retrying shortly');
        }
        if (!worked && !this.stopping && !this.woken) {
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, this.deps.settings.idlePollMs);
            this.wake = () => {
              clearTimeout(t);
              resolve();
            };
          });
          this.wake = undefined;
        }
      }
    })();
  }

  /** Nudges the loop (new deliveries were just fanned out): at once if idle, else before it next sleeps. */
  poke(): void {
    this.woken = true;
    this.wake?.();
  }

  /**
   * Stops claiming, lets in-flight sends finish within `graceMs`, then gives
   * back whatever is still leased so other processes can take it at once.
   *
   * A send still unanswered then (a provider slower than the grace) may have gone out: it
   * is recorded as uncertain, not handed back as unsent, so its next attempt — a text's
   * asks Twilio first (see deliverOne) — does not send it blind a second time. Claims
   * whose send never began are handed back.
   */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    this.wake?.();
    // The grace timer is cancelled as soon as the loop ends: a pending timer
    // would keep the process alive for the whole grace after the work is done.
    if (this.loop) {
      const grace = new AbortController();
      await Promise.race([this.loop, sleep(graceMs, undefined, { signal: grace.signal }).catch(() => undefined)]);
      grace.abort();
    }
    // From here nothing begins, and what is in flight is settled by the lists taken now,
    // before any await: a late answer must not move a send from one list to the other.
    this.settling = true;
    const unsent = [...this.inFlight].filter((id) => !this.started.has(id));
    const started = [...this.started];
    for (const id of started) this.abandoned.add(id);
    await (await this.listening)?.close();
    if (unsent.length > 0 || started.length > 0) {
      const { db, clock, settings, logger, travelers } = this.deps;
      const now = clock.now();
      const retryAt = new Date(now.getTime() + settings.retryBaseSeconds * 1000);
      const error = 'the service stopped while this send was in progress: it may have gone out';
      const outcomes = started.map((id): Completion => this.known.get(id) ?? { id, outcome: 'uncertain', error, nextAttemptAt: retryAt, durationMs: 0 });
      const recorded = await complete(db, this.owner, outcomes, now, travelers).catch((err: unknown) => {
        logger.warn({ err }, 'could not record the sends in flight; their leases expire instead');
        return 0;
      });
      const released = await releaseLeases(db, this.owner, unsent).catch(() => 0);
      const unanswered = started.filter((id) => !this.known.has(id)).length;
      logger.warn({ recorded, unanswered, released }, 'stopped with sends in flight: unanswered ones recorded as uncertain, unsent claims released');
    }
    this.stopped = true;
  }

  /**
   * Claims and sends until nothing is due; null when nothing was due at the start.
   *
   * The workers take claimed deliveries from a queue that is refilled ahead of need: the
   * next batch is claimed (and its context loaded) while the current one is still being
   * sent, so sending never idles on a claim round trip. Each worker records a send's
   * outcome (group commit, see common/group-commit.ts) before its next send, so at most
   * `concurrency` messages are ever sent-but-unrecorded: the duplicates a crash can cause.
   */
  private async runBatch(): Promise<DispatchSummary | null> {
    const { db, clock, settings, logger } = this.deps;
    if (this.stopping) return null;
    // Earlier runs' stops are recorded by now, and the claims below load them.
    this.stoppedInRun.clear();
    const leaseMs = settings.leaseSeconds * 1000;
    const queue: { claim: ClaimedDelivery; ctx: DeliveryContext | undefined; hook: WebhookContext | undefined }[] = [];
    let exhausted = false;
    let failure: unknown;
    let refilling: Promise<void> | undefined;
    const refill = (): Promise<void> => {
      refilling ??= (async () => {
        try {
          const due = await claimDue(db, { owner: this.owner, limit: settings.batchSize, leaseMs, now: clock.now() });
          // A lease that expired while this run still held the row (its renewal failed during
          // a database outage) makes the row due again: the claim hands it back to us while it
          // waits in our queue or is being sent. Taking it twice would send it twice.
          const claims = due.filter((c) => !this.inFlight.has(c.id));
          if (claims.length === 0) {
            exhausted = true;
            return;
          }
          for (const c of claims) this.inFlight.add(c.id);
          const contexts = await loadContexts(
            db,
            claims.filter((c) => c.channel !== 'webhook').map((c) => c.id),
            this.deps.travelers,
          );
          const hooks = await loadWebhookContexts(
            db,
            claims.filter((c) => c.channel === 'webhook').map((c) => c.id),
          );
          for (const claim of claims) queue.push({ claim, ctx: contexts.get(claim.id), hook: hooks.get(claim.id) });
        } catch (err) {
          // Ends this run; what was claimed stays leased and comes back when the lease expires.
          failure ??= err;
          exhausted = true;
        }
      })().finally(() => {
        refilling = undefined;
      });
      return refilling;
    };
    await refill();
    if (queue.length === 0) {
      if (failure) throw failure;
      return null;
    }

    // Renew the leases of everything this process holds while it sends, so that only a
    // dead process's claims expire: a run outlasting a lease would otherwise be claimed
    // and sent again by another dispatcher while this one still sends it.
    const renewal = setInterval(
      () => {
        renewLeases(db, this.owner, [...this.inFlight], new Date(clock.now().getTime() + leaseMs)).catch((err: unknown) =>
          logger.warn({ err }, 'could not renew delivery leases'),
        );
      },
      Math.max(100, leaseMs / 3),
    );
    renewal.unref();

    // Outcomes, and deliveries handed back unsent for later (their endpoint's budget or
    // Retry-After: no attempt counted), are written in groups; once written, a claim is settled.
    const groupWrite = <T extends { id: number }>(what: string, write: (batch: T[]) => Promise<unknown>) =>
      new GroupCommit<T>(
        async (batch) => {
          await write(batch);
          for (const { id } of batch) {
            this.inFlight.delete(id);
            this.started.delete(id);
            this.known.delete(id);
          }
        },
        {
          maxBatch: 500,
          retryForMs: leaseMs / 2,
          onRetry: (err) => {
            // After stop() the database may be closed under a write it already accounted for.
            if (this.stopped) logger.debug({ err }, `could not ${what} after stopping`);
            else logger.warn({ err }, `could not ${what}; retrying`);
          },
        },
      );
    // What stop() recorded itself is not written again (nor to a database closed since).
    const outcomes = groupWrite<Completion>('record delivery outcomes', (batch) =>
      complete(
        db,
        this.owner,
        batch.filter((c) => !this.abandoned.has(c.id)),
        clock.now(),
        this.deps.travelers,
      ),
    );
    const deferrals = groupWrite<Deferral>('hand back deferred deliveries', (batch) => deferDeliveries(db, this.owner, batch));
    const summary: DispatchSummary = { sent: 0, failed: 0, retrying: 0, skipped: 0 };
    // Claim the next batch once the queue is down to half a batch (and at least a round
    // of sends): enough lead for a claim round trip at any send rate the workers reach.
    const lowWater = Math.max(settings.concurrency * 2, Math.ceil(settings.batchSize / 2));
    const worker = async () => {
      while (!this.stopping && !failure) {
        if (queue.length <= lowWater && !exhausted) void refill();
        const next = queue.shift();
        if (!next) {
          if (exhausted) return;
          await refill();
          continue;
        }
        const id = next.claim.id;
        let result: Completion | Deferral;
        try {
          result = next.claim.channel === 'webhook' ? await this.deliverWebhook(next.claim, next.hook) : await this.deliverOne(next.claim, next.ctx);
        } catch (err) {
          // Stopped before its provider call: stop() gives the claim back.
          if (err instanceof NotBegun) continue;
          throw err;
        }
        // Settled by stop() (recorded, or given back); the database may be gone by now.
        if (this.abandoned.has(id) || this.settling) {
          this.started.delete(id);
          continue;
        }
        if (result.outcome !== 'deferred' && this.started.has(id)) this.known.set(id, result);
        if (result.outcome === 'deferred') {
          summary.retrying++;
          await deferrals.add(result);
          continue;
        }
        if (result.outcome === 'sent') summary.sent++;
        else if (result.outcome === 'failed') summary.failed++;
        else if (result.outcome === 'skipped') summary.skipped++;
        else summary.retrying++;
        this.deps.onResult?.(next.claim.channel, result.outcome, result.durationMs);
        await outcomes.add(result);
      }
    };
    try {
      await Promise.all(
        Array.from({ length: settings.concurrency }, () =>
          worker().catch((err: unknown) => {
            failure ??= err;
          }),
        ),
      );
      await refilling;
    } finally {
      clearInterval(renewal);
    }
    // Claimed but not sent (stopping, or the run failed): give them back so any dispatcher
    // can take them at once. Outcomes that could not be recorded keep their lease until it
    // expires, and are sent again then (at least once).
    const unsent = queue.splice(0).map((q) => q.claim.id);
    if (unsent.length > 0) await releaseLeases(db, this.owner, unsent).catch(() => 0);
    this.inFlight.clear();
    this.started.clear();
    this.known.clear();
    if (failure) throw failure;
    return summary;
  }

  /**
   * One POST to an organisation's endpoint. The webhook-id is the event's, the
   * same on every retry, so a receiver that got a timed-out attempt can drop
   * the duplicate; the outbox row makes it once per (endpoint, event).
   *
   * Each endpoint has its own rate budget (`webhook:<id>`), so one slow or
   * limited receiver never holds back the others. A delivery whose turn is more
   * than DEFER_AFTER_MS away (its endpoint's backlog, or a Retry-After the
   * receiver sent) is handed back for then instead of holding a worker asleep.
   */
  private async deliverWebhook(claim: ClaimedDelivery, ctx: WebhookContext | undefined): Promise<Completion | Deferral> {
    const { clock, settings } = this.deps;
    const started = performance.now();
    const elapsed = () => performance.now() - started;
    if (!ctx) return { id: claim.id, outcome: 'failed', error: 'event no longer exists', durationMs: 0 };
    const sender = this.deps.webhooks;
    const budget = `webhook:${ctx.webhookId}`;
    try {
      if (!sender) throw new SendError('no webhook endpoints are configured in this process', { classification: 'retryable' });
      const paused = this.pausedUntil.get(budget);
      if (paused !== undefined && paused > clock.now().getTime()) return { id: claim.id, outcome: 'deferred', until: new Date(paused) };
      const rate = sender.endpoint(ctx.webhookId)?.ratePerSecond ?? settings.webhook.ratePerSecond;
      const later = await this.pace(budget, rate, DEFER_AFTER_MS);
      if (later) return { id: claim.id, outcome: 'deferred', until: later };
      this.beginSend(claim.id);
      const { providerId } = await sender.send(ctx.webhookId, ctx.event, `evt_${ctx.event.id}`);
      return { id: claim.id, outcome: 'sent', providerId, durationMs: elapsed() };
    } catch (err) {
      if (err instanceof NotBegun) throw err;
      const e = err instanceof SendError ? err : new SendError(errorMessage(err), { classification: 'retryable', cause: err });
      if (!e.retryable) return { id: claim.id, outcome: 'failed', error: e.message, durationMs: elapsed() };
      let retryAfterMs: number | undefined;
      if (e instanceof WebhookSendError && e.retryAfterMs !== undefined) {
        // Honoured, within reason: a typo upstream must not park an endpoint for days.
        retryAfterMs = Math.min(e.retryAfterMs, settings.webhook.retryAfterMaxSeconds * 1000);
        await this.pause(budget, new Date(clock.now().getTime() + retryAfterMs));
      }
      return this.retryLater(claim, e, elapsed(), retryAfterMs);
    }
  }

  /**
   * The receiver asked for a pause: every process's sends to it wait (its
   * budget's next slot moves to `until` in PostgreSQL), and so do this
   * process's, even for an endpoint without a rate limit.
   */
  private async pause(budget: string, until: Date): Promise<void> {
    this.pausedUntil.set(budget, Math.max(this.pausedUntil.get(budget) ?? 0, until.getTime()));
    this.limiterSlots.delete(budget);
    await pauseSends(this.deps.db, budget, until).catch((err: unknown) =>
      this.deps.logger.warn({ err, budget }, 'could not record a receiver’s Retry-After for other processes'),
    );
  }

  /** A retryable failure: again after a back-off, or given up after maxAttempts. */
  private retryLater(claim: ClaimedDelivery, e: SendError, durationMs: number, retryAfterMs?: number): Completion {
    const { clock, settings, logger } = this.deps;
    if (claim.attempts >= settings.maxAttempts) {
      return { id: claim.id, outcome: 'failed', error: `gave up after ${claim.attempts} attempts: ${e.message}`, durationMs };
    }
    const delay = backoffMs(claim.attempts, {
      baseMs: settings.retryBaseSeconds * 1000,
      maxMs: settings.retryMaxSeconds * 1000,
      jitter: true,
      retryAfterMs,
    });
    logger.warn({ delivery: claim.id, channel: claim.channel, attempt: claim.attempts, err: e, retryInMs: delay }, 'send failed; will retry');
    return { id: claim.id, outcome: e.uncertain ? 'uncertain' : 'retry', error: e.message, nextAttemptAt: new Date(clock.now().getTime() + delay), durationMs };
  }

  private async deliverOne(claim: ClaimedDelivery, ctx: DeliveryContext | undefined): Promise<Completion> {
    const { logger } = this.deps;
    const started = performance.now();
    const elapsed = () => performance.now() - started;
    if (!ctx || claim.channel === 'webhook') return { id: claim.id, outcome: 'failed', error: 'subscriber or event no longer exists', durationMs: 0 };
    const sub = ctx.subscriber;
    // The matching rule again, on the subscriber's subscriptions as they are now: an
    // unsubscribe, a STOP or a narrowed subscription after the fan-out wins. A channel that
    // a permanent refusal stopped earlier in this run counts as stopped already.
    const current = this.stoppedInRun.has(`${sub.id}:${claim.channel}`)
      ? { ...sub, ...(claim.channel === 'email' ? { emailStopped: true } : { smsStopped: true }) }
      : sub;
    const unwanted = whyNotWanted(ctx.subscriptions, current, ctx.event, claim.channel, ctx.trips);
    if (unwanted !== null) return { id: claim.id, outcome: 'skipped', error: `not sent: ${unwanted}`, durationMs: 0 };

    const rendered = this.renderedFor(ctx);
    try {
      await this.pace(claim.channel, this.deps.settings[claim.channel].ratePerSecond);
      let providerId: string;
      if (claim.channel === 'email') {
        this.beginSend(claim.id);
        const mail = addressEmail(this.eventEmail(rendered), subscriberLinks(this.deps.links, sub.id, sub.linkVersion));
        ({ providerId } = await this.deps.email.send({ to: sub.email, ...mail }, `d${claim.id}`));
      } else {
        const message = { to: sub.phone!, body: this.smsBody(rendered) };
        this.beginSend(claim.id);
        // An earlier attempt got a 5xx on create: it may have been sent. Ask before sending again.
        // Twilio is asked for this number and this body, rendered afresh for this batch: if the
        // feed was renamed (a reload) between the two attempts and its name is in the text, the
        // earlier message is not found and the text goes twice. Known and accepted: a rename
        // within one retry's back-off, on an answer that never came, is rare; storing each sent
        // body would close it.
        const already = claim.uncertainSince ? await this.deps.sms.findSent(message, claim.uncertainSince) : null;
        // The lookup may have outlasted the stop's grace: the send must not begin after it.
        if (!already && this.settling) throw new NotBegun();
        ({ providerId } = already ? { providerId: already } : await this.deps.sms.send(message, `d${claim.id}`));
      }
      return { id: claim.id, outcome: 'sent', providerId, durationMs: elapsed() };
    } catch (err) {
      if (err instanceof NotBegun) throw err;
      const e = err instanceof SendError ? err : new SendError(errorMessage(err), { classification: 'retryable', cause: err });
      if (!e.retryable) {
        if (e.scope === 'recipient') {
          logger.warn({ delivery: claim.id, subscriber: sub.id, channel: claim.channel, err: e }, 'permanent failure: channel stopped for subscriber');
          const stopChannel = { subscriberId: sub.id, channel: claim.channel, reason: e.message };
          this.stoppedInRun.add(`${sub.id}:${claim.channel}`);
          return { id: claim.id, outcome: 'failed', error: e.message, durationMs: elapsed(), stopChannel };
        }
        return { id: claim.id, outcome: 'failed', error: e.message, durationMs: elapsed() };
      }
      return this.retryLater(claim, e, elapsed());
    }
  }

  /**
   * Marks the claim's provider call as begun (from here it may go out), unless stop() has
   * stopped waiting: then nothing begins, and the claim is given back.
   */
  private beginSend(id: number): void {
    if (this.settling) throw new NotBegun();
    this.started.add(id);
  }

  /** The batch's messages about the context's event (see `rendered`). */
  private renderedFor(ctx: DeliveryContext): Rendered {
    let r = this.rendered.get(ctx.event);
    if (!r) {
      r = { event: messageEventOf(ctx) };
      this.rendered.set(ctx.event, r);
    }
    return r;
  }

  /**
   * An event's SMS is the same for every subscriber (no per-subscriber link),
   * and fitting it into the segment budget costs ~0.2 ms of CPU: render it
   * once per event, not once per message.
   */
  private smsBody(r: Rendered): string {
    r.sms ??= renderSms(r.event, { link: this.deps.links.home(), maxSegments: this.deps.settings.sms.maxSegments });
    return r.sms;
  }

  /**
   * An event's email is the same for every subscriber but for their own links: its
   * wording, diff, escaped quote and HTML (~15 µs of CPU for an embassy alert) are made
   * once per event, and each message only adds its links (~0.5 µs).
   */
  private eventEmail(r: Rendered): EventEmail {
    const country = r.event.countries[0];
    r.email ??= renderEventEmail(r.event, { listId: this.deps.listId, countryPage: country ? this.deps.links.country(country) : undefined });
    return r.email;
  }

  /**
   * Waits for this send's slot on a shared rate limit (`budget`: a channel, or
   * one webhook endpoint). When the slot is more than `maxWaitMs` away, takes
   * nothing and returns its time instead (the caller defers the send).
   */
  private async pace(budget: string, rate: number, maxWaitMs = Number.POSITIVE_INFINITY): Promise<Date | undefined> {
    if (!rate) return undefined;
    for (;;) {
      const now = this.deps.clock.now().getTime();
      const slots = this.limiterSlots.get(budget);
      // Slots reserved long ago and never used are not budget for now: spending
      // them after an idle spell would burst past the rate.
      if (slots?.length && slots[0]! < now - 1000) slots.length = 0;
      const at = slots?.[0];
      if (at !== undefined) {
        const wait = at - now;
        if (wait > maxWaitMs) return new Date(at);
        slots!.shift();
        if (wait > 0) await sleep(wait);
        return undefined;
      }
      // One reservation at a time per budget, for up to a second's worth of
      // sends: one round trip per chunk, not per message. None when the
      // budget's next slot is further away than this send would wait.
      let reserving = this.reserving.get(budget);
      if (!reserving) {
        const chunk = Math.max(1, Math.min(Math.ceil(rate), 200));
        reserving = reserveSendsWithin(this.deps.db, budget, chunk, rate, this.deps.clock.now(), maxWaitMs)
          .then(({ reserved, start }) => {
            const t0 = start.getTime();
            if (!reserved) return t0;
            this.limiterSlots.set(
              budget,
              Array.from({ length: chunk }, (_, i) => t0 + (i * 1000) / rate),
            );
            return undefined;
          })
          .finally(() => this.reserving.delete(budget));
        this.reserving.set(budget, reserving);
      }
      const busyUntil = await reserving;
      if (busyUntil !== undefined) return new Date(busyUntil);
    }
  }
}

/** An event as the renderers take it, and its messages once made (per batch, see Dispatcher.rendered). */
interface Rendered {
  event: MessageEvent;
  email?: EventEmail;
  sms?: string;
}

/** A claimed delivery's event as the renderers take it (also the digest's). */
export function messageEventOf(ctx: DeliveryContext): MessageEvent {
  const e = ctx.event;
  return {
    id: e.id,
    kind: e.kind,
    feedName: e.feedName,
    government: governmentOf(e.source, e.feedName),
    countries: e.countries,
    level: e.level,
    previousLevel: e.previousLevel,
    levelText: e.levelText,
    previousLevelText: e.previousLevelText,
    title: e.title,
    body: e.body,
    previousBody: e.previousBody,
    link: e.link,
    publishedAt: e.publishedAt,
    urgency: e.urgency,
    sourceLabel: foreignSourceLabel(e.source),
  };
}

/** A send stop() overtook before its provider call (see beginSend). */
class NotBegun extends Error {}
