import type { FastifyInstance } from 'fastify';
import twilio from 'twilio';
import { setSmsStoppedByPhone } from '../subscriptions/repository.ts';
import type { WebDeps } from './deps.ts';

// Twilio's standard opt-out and opt-in keywords (case-insensitive, whole message).
const STOP = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'REVOKE', 'OPTOUT']);
const START = new Set(['START', 'UNSTOP', 'YES']);
const HELP = new Set(['HELP', 'INFO']);

/** The TwiML answer: an empty <Response/>, or one <Message> (escaped by the twilio package). */
function twiml(message?: string): string {
  const response = new twilio.twiml.MessagingResponse();
  if (message) response.message(message);
  return response.toString();
}

/**
 * Inbound SMS. The signature is checked with the twilio library over the URL
 * configured at Twilio — PUBLIC_BASE_URL + the path, not whatever Host the
 * request came with (a proxy in between would change it).
 */
export function registerTwilioWebhook(app: FastifyInstance, deps: WebDeps): void {
  app.post('/webhooks/twilio', async (req, reply) => {
    const signature = req.headers['x-twilio-signature'];
    const params = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, string>;
    const url = `${deps.publicBaseUrl}${req.url}`;
    if (!deps.twilioAuthToken || typeof signature !== 'string' || !twilio.validateRequest(deps.twilioAuthToken, signature, url, params)) {
      return reply.code(403).type('text/plain').send('invalid or missing X-Twilio-Signature');
    }
    const from = typeof params.From === 'string' ? params.From : '';
    const word = (typeof params.Body === 'string' ? params.Body : '').trim().toUpperCase();
    const now = deps.traveler.clock.now();
    let answer: string | undefined;
    if (STOP.has(word)) {
      const n = await setSmsStoppedByPhone(deps.db, from, true, now);
      deps.logger.info({ subscribers: n }, 'SMS stopped by inbound STOP');
    } else if (START.has(word)) {
      const n = await setSmsStoppedByPhone(deps.db, from, false, now);
      deps.logger.info({ subscribers: n }, 'SMS resumed by inbound START');
      answer = 'Advisory Alerts: text alerts are back on. Reply STOP to stop them.';
    } else if (HELP.has(word)) {
      answer = `Advisory Alerts: official travel advisory changes for the places you follow. Manage your alerts: ${deps.publicBaseUrl}/ . Reply STOP to stop texts, START to resume.`;
    }
    return reply.type('text/xml').send(twiml(answer));
  });
}
