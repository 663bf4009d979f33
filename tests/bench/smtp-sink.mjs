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
 * Control over the IPC channel and options (SINK_DELAY_MS, SINK_TRACK_RECIPIENTS):
 * sink-control.mjs.
 */
import { SMTPServer } from 'smtp-server';
import { accepted, afterDelay, connected, serveControl } from './sink-control.mjs';

const server = new SMTPServer({
  secure: false,
  disabledCommands: ['STARTTLS', 'AUTH'],
  authOptional: true,
  logger: false,
  banner: 'advisory-alerts bench sink',
  closeTimeout: 50,
  onConnect(_session, cb) {
    connected();
    cb();
  },
  onData(stream, session, cb) {
    stream.on('data', () => {});
    stream.on('end', () => {
      afterDelay(() => {
        const n = accepted(session.envelope.rcptTo.map((r) => r.address.toLowerCase()));
        cb(null, `2.0.0 Ok: queued as ${n}`);
      });
    });
  },
});
server.on('error', () => {
  // A client that goes away mid-conversation is not the sink's problem.
});

serveControl((ready) => server.listen(0, '127.0.0.1', () => ready(server.server.address().port)));
