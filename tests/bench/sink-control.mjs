/**
 * What the two benchmark sinks (smtp-sink.mjs, twilio-sink.mjs) share: the counters
 * of accepted messages and the IPC control protocol with the parent (sinks.ts,
 * SinkProcess). Plain JavaScript, as the sinks: no tsx loader in the child.
 *
 *   → { type: 'listening', port }                    once, when ready
 *   ← { type: 'stats' } → { type: 'stats', accepted, unique, duplicates,
 *                            firstAt, lastAt, cpuUser, cpuSystem, connections }
 *   ← { type: 'reset' } → { type: 'reset' }          forgets counts (not CPU)
 * The process exits when its parent goes away.
 *
 * Environment: SINK_DELAY_MS (default 0: how long the sink takes a message),
 * SINK_TRACK_RECIPIENTS=1 (count duplicates per recipient; costs a Set entry a message).
 */

export const delayMs = Number(process.env.SINK_DELAY_MS ?? 0);
const trackRecipients = process.env.SINK_TRACK_RECIPIENTS === '1';

function zero() {
  return { accepted: 0, firstAt: 0, lastAt: 0, recipients: new Set(), duplicates: 0, connections: 0 };
}
let counts = zero();

/** A client connected. */
export function connected() {
  counts.connections++;
}

/** One message accepted for these recipients; returns how many so far (for a queue id). */
export function accepted(recipients) {
  const now = Date.now();
  counts.accepted++;
  if (counts.firstAt === 0) counts.firstAt = now;
  counts.lastAt = now;
  if (trackRecipients) {
    for (const r of recipients) {
      if (counts.recipients.has(r)) counts.duplicates++;
      else counts.recipients.add(r);
    }
  }
  return counts.accepted;
}

/** Runs `done` after the configured delay (at once without one). */
export function afterDelay(done) {
  if (delayMs > 0) setTimeout(done, delayMs);
  else done();
}

/** Answers the parent's control messages; `listen` starts the server and calls back with its port. */
export function serveControl(listen) {
  process.on('disconnect', () => process.exit(0));
  process.on('message', (msg) => {
    if (msg?.type === 'stats') {
      const cpu = process.cpuUsage();
      const { recipients, ...rest } = counts;
      process.send({ type: 'stats', ...rest, unique: recipients.size, cpuUser: cpu.user, cpuSystem: cpu.system });
    } else if (msg?.type === 'reset') {
      counts = zero();
      process.send({ type: 'reset' });
    }
  });
  listen((port) => process.send({ type: 'listening', port }));
}
