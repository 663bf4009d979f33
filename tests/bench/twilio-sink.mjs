/**
 * A Twilio-compatible sink for the benchmarks, run as a CHILD PROCESS
 * (node:child_process fork) so its CPU is not counted in the benchmark's.
 *
 * Speaks the one call the dispatcher makes — POST
 * /2010-04-01/Accounts/{AccountSid}/Messages.json (form: To, From |
 * MessagingServiceSid, Body) with Basic auth — and answers 201 with a Message
 * resource in Twilio's JSON shape (what the real `twilio` client parses).
 * Nothing is kept but counters. Wrong credentials get Twilio's 401 (20003).
 *
 * Plain JavaScript on purpose: no tsx loader in the child.
 *
 * Control over the IPC channel and options (SINK_DELAY_MS, SINK_TRACK_RECIPIENTS):
 * sink-control.mjs. Environment: SINK_ACCOUNT_SID, SINK_AUTH_TOKEN (required).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { accepted, afterDelay, connected, serveControl } from './sink-control.mjs';

const accountSid = process.env.SINK_ACCOUNT_SID;
const authToken = process.env.SINK_AUTH_TOKEN;
if (!accountSid || !authToken) throw new Error('twilio-sink: SINK_ACCOUNT_SID and SINK_AUTH_TOKEN are required');
const expectedAuth = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`;
const path = `/2010-04-01/Accounts/${accountSid}/Messages.json`;

function send(res, status, body) {
  const payload = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(payload.length) });
  res.end(payload);
}

function error(res, status, code, message) {
  send(res, status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status });
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (req.url !== path) return error(res, 404, 20404, 'The requested resource was not found');
    if (req.headers.authorization !== expectedAuth) return error(res, 401, 20003, 'Authenticate');
    if (req.method !== 'POST') return error(res, 405, 20004, 'Method not allowed');
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    const to = form.get('To');
    const from = form.get('From');
    const messagingServiceSid = form.get('MessagingServiceSid');
    const body = form.get('Body');
    if (!to) return error(res, 400, 21604, "A 'To' phone number is required.");
    if (!from && !messagingServiceSid) return error(res, 400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message.");
    if (!body) return error(res, 400, 21602, 'Message body is required.');
    afterDelay(() => {
      const now = Date.now();
      accepted([to]);
      const sid = `SM${randomBytes(16).toString('hex')}`;
      const created = new Date(now).toUTCString().replace(/GMT$/, '+0000');
      send(res, 201, {
        account_sid: accountSid,
        api_version: '2010-04-01',
        body,
        date_created: created,
        date_sent: null,
        date_updated: created,
        direction: 'outbound-api',
        error_code: null,
        error_message: null,
        from,
        messaging_service_sid: messagingServiceSid,
        num_media: '0',
        num_segments: '1',
        price: null,
        price_unit: 'USD',
        sid,
        status: messagingServiceSid && !from ? 'accepted' : 'queued',
        subresource_uris: { media: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}/Media.json` },
        to,
        uri: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json`,
      });
    });
  });
});
server.keepAliveTimeout = 60_000;
server.on('connection', connected);

serveControl((ready) => server.listen(0, '127.0.0.1', () => ready(server.address().port)));
