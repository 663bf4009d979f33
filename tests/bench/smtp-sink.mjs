/**
 * An SMTP sink for the benchmarks, run as a CHILD PROCESS (node:child_process
 * fork) so its CPU time is neither spent on the event loop being measured nor
 * counted in the benchmark's own process.cpuUsage().
 *
 * npm `smtp-server`, plain SMTP on 127.0.0.1 (ephemeral port), no TLS, no
 * auth; every message is read to the end and discarded, then answered 250 —
 * after `delayMs` when asked (a slow server, e.g. 15 ms a message).
 *
 * Plain JavaScript on purpose: no tsx loader in the child.
 *
 * Control over the IPC channel:
 *   → { type: 'listening', port }                    once, when ready
 *   ← { type: 'stats' } → { type: 'stats', accepted, unique, duplicates,
 *                            firstAt, lastAt, cpuUser, cpuSystem, connections }
 *   ← { type: 'reset' } → { type: 'reset' }          forgets counts (not CPU)
 * The process exits when its parent goes away.
 *
 * Options (environment): SINK_DELAY_MS (default 0), SINK_TRACK_RECIPIENTS=1
 * (count duplicates per recipient; costs a Set entry a message).
 */
import { SMTPServer } from 'smtp-server';

const delayMs = Number(process.env.SINK_DELAY_MS ?? 0);
const trackRecipients = process.env.SINK_TRACK_RECIPIENTS === '1';

let accepted = 0;
let firstAt = 0;
let lastAt = 0;
let recipients = new Set();
let duplicates = 0;
let connections = 0;

const server = new SMTPServer({
  secure: false,
  disabledCommands: ['STARTTLS', 'AUTH'],
  authOptional: true,
  logger: false,
  banner: 'advisory-alerts bench sink',
  closeTimeout: 50,
  onConnect(_session, cb) {
    connections++;
    cb();
  },
  onData(stream, session, cb) {
    stream.on('data', () => {});
    stream.on('end', () => {
      const done = () => {
        const now = Date.now();
        accepted++;
        if (firstAt === 0) firstAt = now;
        lastAt = now;
        if (trackRecipients) {
          for (const r of session.envelope.rcptTo) {
            const a = r.address.toLowerCase();
            if (recipients.has(a)) duplicates++;
            else recipients.add(a);
          }
        }
        cb(null, `2.0.0 Ok: queued as ${accepted}`);
      };
      if (delayMs > 0) setTimeout(done, delayMs);
      else done();
    });
  },
});
server.on('error', () => {
  // A client that goes away mid-conversation is not the sink's problem.
});

process.on('disconnect', () => process.exit(0));
process.on('message', (msg) => {
  if (msg?.type === 'stats') {
    const cpu = process.cpuUsage();
    process.send({
      type: 'stats',
      accepted,
      unique: recipients.size,
      duplicates,
      firstAt,
      lastAt,
      cpuUser: cpu.user,
      cpuSystem: cpu.system,
      connections,
    });
  } else if (msg?.type === 'reset') {
    accepted = 0;
    firstAt = 0;
    lastAt = 0;
    recipients = new Set();
    duplicates = 0;
    connections = 0;
    process.send({ type: 'reset' });
  }
});

server.listen(0, '127.0.0.1', () => {
  process.send({ type: 'listening', port: server.server.address().port });
});
