import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type TokenPurpose, verifyToken } from '../common/tokens.ts';
import { getSubscriberView, unsubscribe, type RequestedSubscription, type SubscriberView } from '../subscriptions/repository.ts';
import { ConfirmationRunner } from '../subscriptions/confirmations.ts';
import { confirm, FieldError, requestSubscription, saveManageChanges, subscriberForToken, verifyPhone } from '../subscriptions/service.ts';
import {
  InputError,
  parseChannels,
  parseCountries,
  parseEmail,
  parseFeeds,
  parseKeywords,
  parseMinLevel,
  parsePhone,
  parsePreferences,
} from '../subscriptions/validate.ts';
import { parseTrips } from '../subscriptions/trip-validate.ts';
import { removeTrip, tripsOf } from '../subscriptions/trip-repository.ts';
import { todayIn, tripPhase } from '../subscriptions/trip-window.ts';
import { html } from './html.ts';
import { parseSubscriptionForm } from './forms.ts';
import { checkInboxPage, confirmedPage, managePage, type TripRow, messagePage, phoneForm, subscribePage, unsubscribeAskPage } from './pages.ts';
import { HttpError, isFormBody, wantsJson, type WebDeps } from './deps.ts';

type Body = Record<string, unknown>;

const JSON_FIELDS = new Set([
  'email',
  'countries',
  'minLevel',
  'keywords',
  'phone',
  'channels',
  'feeds',
  'emailFrequency',
  'sms',
  'quietHours',
  'timezone',
  'trips',
]);
const TOKEN = /^[A-Za-z0-9_.-]{10,200}$/;

function field<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof InputError) throw new HttpError(400, e.message, e.field);
    throw e;
  }
}

function asBody(body: unknown): Body {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'the body must be a JSON object');
  return body as Body;
}

/** JSON API body → a subscription request. Unknown fields are refused, not ignored. */
function requestFromJson(body: Body, knownFeeds: ReadonlySet<string>, now: Date, defaultTimezone: string): { email: string; request: RequestedSubscription } {
  const unknown = Object.keys(body).filter((k) => !JSON_FIELDS.has(k));
  if (unknown.length) throw new HttpError(400, `${unknown[0]}: unknown field`, unknown[0]);
  if (body.countries === undefined) throw new HttpError(400, 'countries: is required (ISO 3166-1 alpha-2 codes, or "all")', 'countries');
  const email = field(() => parseEmail(body.email));
  const phone = field(() => parsePhone(body.phone));
  const preferences = field(() => parsePreferences(body));
  // Trip dates are days in the traveler's zone: the one they give, else the service's.
  const today = todayIn(preferences.timezone ?? null, defaultTimezone, now);
  const trips = field(() => parseTrips(body.trips, today));
  // Someone who only wants to hear around their trips follows no other country.
  const tripsOnly = trips.length > 0 && Array.isArray(body.countries) && body.countries.length === 0;
  return {
    email,
    request: {
      countries: tripsOnly ? [] : field(() => parseCountries(body.countries)),
      feeds: field(() => parseFeeds(body.feeds, knownFeeds)),
      minLevel: field(() => parseMinLevel(body.minLevel)),
      keywords: field(() => parseKeywords(body.keywords)),
      // A number given without channels is given to receive texts.
      channels: field(() => parseChannels(body.channels ?? (phone ? ['email', 'sms'] : ['email']), phone)),
      phone,
      preferences,
      ...(trips.length ? { trips } : {}),
    },
  };
}

function page(reply: FastifyReply, status: number, body: string) {
  return reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(body);
}

export function registerTravelerRoutes(app: FastifyInstance, deps: WebDeps, highest: () => Promise<Map<string, number>>): void {
  const limited = { config: { rateLimit: { max: deps.settings.web.rateLimitPerMinute, timeWindow: 60_000 } } };
  // The token comes in the form body: check it once the body is parsed (onRequest has no body yet).
  const csrfCheck = { preValidation: app.csrfProtection };
  // The API takes JSON from scripts and forms from our pages: a form body, which
  // any site can make a browser send, must carry the CSRF token like every form.
  const csrfForForms = {
    preValidation: (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => (isFormBody(req) ? app.csrfProtection(req, reply, done) : done()),
  };
  const { traveler, logger } = deps;

  /** The subscriber a manage or unsubscribe link names, if it is of their current link generation. */
  const linkedView = async (purpose: TokenPurpose, token: string): Promise<SubscriberView | undefined> => {
    const link = TOKEN.test(token) ? verifyToken(deps.secret, purpose, token) : null;
    const view = link ? await getSubscriberView(deps.db, link.subscriberId) : undefined;
    return view && link && view.linkVersion === link.version ? view : undefined;
  };

  const travelers = { defaultTimezone: deps.settings.defaultTimezone, leadDays: deps.settings.trips.leadDays };
  /** The traveler's trips for the manage page, each as upcoming, followed now or past in their zone. */
  const tripRows = async (view: SubscriberView): Promise<TripRow[]> => {
    const today = todayIn(view.timezone, travelers.defaultTimezone, traveler.clock.now());
    return (await tripsOf(deps.db, view.id)).map((trip) => ({
      ...trip,
      phase: tripPhase({ firstDay: trip.from, lastDay: trip.to }, today, travelers.leadDays),
    }));
  };

  // Subscribe requests are only queued before the answer (the same insert for
  // any address); the confirmation outbox is worked off once the answer is
  // out, so whether the address was known shapes neither the answer nor its timing.
  const confirmations = new ConfirmationRunner(traveler);
  const afterAnswer = {
    onResponse: (_req: FastifyRequest, _reply: FastifyReply, done: () => void) => {
      confirmations.kick();
      done();
    },
  };
  // Requests queued while no web process ran (or by the command line) go out at start.
  app.addHook('onReady', async () => confirmations.kick());
  app.addHook('onClose', async () => confirmations.close());
  const startRequest = async (email: string, request: RequestedSubscription) => {
    await requestSubscription(traveler, email, request);
  };

  app.get('/', async (_req, reply) => page(reply, 200, subscribePage({ csrf: reply.generateCsrf(), highest: await highest(), travelers })));

  app.post('/api/subscriptions', { ...limited, ...csrfForForms, ...afterAnswer }, async (req, reply) => {
    const { email, request } = requestFromJson(asBody(req.body), deps.knownFeeds(), traveler.clock.now(), deps.settings.defaultTimezone);
    await startRequest(email, request);
    return reply
      .code(202)
      .send({ status: 'pending', message: 'If this address can receive alerts, a confirmation link is on its way. It works for 48 hours.' });
  });

  app.post('/subscribe', { ...limited, ...csrfCheck, ...afterAnswer }, async (req, reply) => {
    const parsed = parseSubscriptionForm(asBody(req.body), deps.knownFeeds(), { now: traveler.clock.now(), defaultTimezone: deps.settings.defaultTimezone });
    if (!parsed.ok) {
      return page(reply, 400, subscribePage({ csrf: reply.generateCsrf(), values: parsed.values, errors: parsed.errors, highest: await highest(), travelers }));
    }
    await startRequest(parsed.email, parsed.request);
    return page(reply, 202, checkInboxPage());
  });

  app.get<{ Params: { token: string } }>('/confirm/:token', limited, async (req, reply) => {
    const { token } = req.params;
    if (!TOKEN.test(token))
      return page(
        reply,
        404,
        messagePage('This link does not work', 'The confirmation link is not valid. Subscribe again to get a new one.', { status: 'error' }),
      );
    const result = await confirm(traveler, token);
    if (!result.ok) {
      return result.reason === 'expired'
        ? page(reply, 410, messagePage('This link has expired', 'Confirmation links work for 48 hours. Subscribe again to get a new one.', { status: 'error' }))
        : page(
            reply,
            404,
            messagePage('This link does not work', 'The confirmation link is not valid. Subscribe again to get a new one.', { status: 'error' }),
          );
    }
    if (result.status !== 'confirmed') {
      // The link was used before and the alerts were stopped since: say so, and offer no manage link.
      return result.status === 'unsubscribed'
        ? page(
            reply,
            200,
            messagePage(
              'Your alerts are off',
              `${result.email} was unsubscribed after this link was used, so no alerts are sent. To get them again, subscribe again from the start page.`,
            ),
          )
        : page(reply, 200, messagePage('Your alerts are not on yet', `A newer confirmation was asked for ${result.email}: open the latest link we emailed.`));
    }
    const view = await getSubscriberView(deps.db, result.subscriberId);
    return page(
      reply,
      200,
      confirmedPage({
        email: result.email,
        view,
        token,
        csrf: reply.generateCsrf(),
        phonePending: Boolean(view?.phone && !view.phoneVerified),
        manageUrl: traveler.links.manage(result.subscriberId, view?.linkVersion ?? 0),
        trips: view ? await tripRows(view) : [],
        leadDays: travelers.leadDays,
      }),
    );
  });

  // The manage page's phone code form posts here: a form is answered with a page (deps.ts, wantsJson).
  app.post('/api/phone/verify', { ...limited, config: { ...limited.config, pageForms: true }, ...csrfForForms }, async (req, reply) => {
    const form = isFormBody(req);
    const body = asBody(req.body);
    const token = typeof body.token === 'string' ? body.token : '';
    const code = typeof body.code === 'string' ? body.code.trim() : typeof body.code === 'number' ? String(body.code).padStart(6, '0') : '';
    if (!TOKEN.test(token)) throw new HttpError(400, 'token: is required', 'token');
    if (!/^\d{6}$/.test(code)) throw new HttpError(400, 'code: must be the 6 digits from the text message', 'code');
    const subscriberId = await subscriberForToken(traveler, token, async (t) => (await linkedView('manage', t))?.id ?? null);
    if (subscriberId === null) throw new HttpError(404, 'token: unknown or expired', 'token');
    const result = await verifyPhone(traveler, subscriberId, code);
    const outcomes = {
      verified: [200, 'Your number is verified: alerts will come by text message too.'],
      'wrong-code': [400, 'code: that is not the code we sent'],
      expired: [410, 'code: the code has expired; ask for a new one from your alerts page'],
      'too-many-attempts': [429, 'code: too many wrong codes; ask for a new one from your alerts page'],
      'no-pending-code': [409, 'there is no code waiting for this number; ask for a new one from your alerts page'],
    } as const;
    const [status, message] = outcomes[result];
    if (!form) return reply.code(status).send(result === 'verified' ? { status: 'verified' } : { error: message, field: 'code' });
    if (result === 'verified') {
      const linkVersion = (await getSubscriberView(deps.db, subscriberId))?.linkVersion ?? 0;
      return page(
        reply,
        200,
        messagePage('Number verified', message, { extra: html`<p><a href="${traveler.links.manage(subscriberId, linkVersion)}">Your alerts</a></p>` }),
      );
    }
    return page(
      reply,
      status,
      messagePage('Check your mobile number', message.replace(/^code: /, ''), {
        status: 'error',
        extra: result === 'wrong-code' ? phoneForm(token, reply.generateCsrf()) : undefined,
      }),
    );
  });

  const manageView = async (token: string): Promise<SubscriberView> => {
    const view = await linkedView('manage', token);
    if (!view) throw new HttpError(404, 'This link is not valid.');
    return view;
  };

  app.get<{ Params: { token: string } }>('/manage/:token', async (req, reply) => {
    const view = await manageView(req.params.token);
    return page(
      reply,
      200,
      managePage({
        view,
        csrf: reply.generateCsrf(),
        action: `/manage/${req.params.token}`,
        unsubscribeAction: traveler.links.unsubscribe(view.id, view.linkVersion).replace(deps.publicBaseUrl, ''),
        highest: await highest(),
        token: req.params.token,
        trips: await tripRows(view),
        travelers,
      }),
    );
  });

  // Removing a trip: its own small form beside each trip on the manage page.
  app.post<{ Params: { token: string; id: string } }>('/manage/:token/trips/:id/remove', { ...limited, ...csrfCheck }, async (req, reply) => {
    const view = await manageView(req.params.token);
    if (!/^\d{1,15}$/.test(req.params.id)) throw new HttpError(404, 'No such trip.');
    await removeTrip(deps.db, Number(req.params.id), view.id);
    return reply.code(303).header('location', `/manage/${req.params.token}`).send();
  });

  app.post<{ Params: { token: string } }>('/manage/:token', { ...limited, ...csrfCheck, ...afterAnswer }, async (req, reply) => {
    const view = await manageView(req.params.token);
    const body = asBody(req.body);
    const render = async (status: number, extra: Pick<Parameters<typeof managePage>[0], 'notices' | 'values' | 'errors'>, v: SubscriberView = view) =>
      page(
        reply,
        status,
        managePage({
          view: v,
          csrf: reply.generateCsrf(),
          action: `/manage/${req.params.token}`,
          unsubscribeAction: traveler.links.unsubscribe(v.id, v.linkVersion).replace(deps.publicBaseUrl, ''),
          highest: await highest(),
          token: req.params.token,
          trips: await tripRows(v),
          travelers,
          ...extra,
        }),
      );
    const parsed = parseSubscriptionForm(body, deps.knownFeeds(), {
      now: traveler.clock.now(),
      defaultTimezone: deps.settings.defaultTimezone,
      currentTimezone: view.timezone,
    });
    if (!parsed.ok) return render(400, { values: parsed.values, errors: parsed.errors });
    let notices: string[];
    try {
      notices = await saveManageChanges(traveler, view, parsed.email, parsed.request);
    } catch (e) {
      if (!(e instanceof FieldError)) throw e;
      if (e.status === 503) logger.warn({ subscriber: view.id, err: e.cause }, 'could not text a phone code from the manage page');
      // The reason (a cap, a refused number, the provider down), as a sentence on the field it concerns; what was typed stays.
      const { reason } = e;
      return render(e.status, { values: parsed.values, errors: { [e.field]: `${reason.charAt(0).toUpperCase()}${reason.slice(1)}.` } });
    }
    const updated = (await getSubscriberView(deps.db, view.id)) ?? view;
    return render(200, { notices }, updated);
  });

  app.get<{ Params: { token: string } }>('/unsubscribe/:token', async (req, reply) => {
    const view = await linkedView('unsubscribe', req.params.token);
    if (!view) return page(reply, 404, messagePage('This link does not work', 'The unsubscribe link is not valid.', { status: 'error' }));
    if (view.status === 'unsubscribed') return page(reply, 200, messagePage('You are unsubscribed', 'No more alerts will be sent to this address.'));
    return page(reply, 200, unsubscribeAskPage({ email: view.email, action: `/unsubscribe/${req.params.token}` }));
  });

  // RFC 8058 one-click target: no CSRF token, no confirmation step. Mail
  // providers POST "List-Unsubscribe=One-Click"; the ask page's button posts here too.
  app.post<{ Params: { token: string } }>('/unsubscribe/:token', async (req: FastifyRequest<{ Params: { token: string } }>, reply) => {
    const view = await linkedView('unsubscribe', req.params.token);
    if (!view) {
      if (wantsJson(req) || isOneClick(req.body)) return reply.code(404).send({ error: 'unknown unsubscribe link' });
      return page(reply, 404, messagePage('This link does not work', 'The unsubscribe link is not valid.', { status: 'error' }));
    }
    await unsubscribe(deps.db, view.id, traveler.clock.now());
    if (wantsJson(req) || isOneClick(req.body)) return reply.code(200).send({ status: 'unsubscribed' });
    return page(reply, 200, messagePage('You are unsubscribed', 'No more alerts will be sent to this address. You can subscribe again at any time.'));
  });
}

function isOneClick(body: unknown): boolean {
  return typeof body === 'object' && body !== null && (body as Body)['List-Unsubscribe'] === 'One-Click';
}
