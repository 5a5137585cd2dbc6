import express from 'express';
import {
  AcceptedUsage, createUsageService, MAX_BATCH_EVENTS, UsageEvent, UsageResult, type UsageService,
} from '../../usage';
import type { ThresholdSignaler } from '../../usage/threshold-dispatcher';
import { authenticate, authorize, type Role } from '../auth';
import { ApiError } from '../errors';
import type { RouteModule } from '../route';
import { z } from '../zod';

declare module '../route' {
  interface ApiDeps {
    /**
     * The usage service, built by the process with the Temporal signaler (createTemporalSignaler) and its sweeper
     * started (usage.dispatcher.startSweeper). Absent: the routes build one whose crossings wait for a sweeper.
     */
    usage?: UsageService;
  }
}

const ROLES: readonly Role[] = ['ingest'];
/** A full batch of SMS events is far beyond the API's default body limit. */
const BATCH_BODY_LIMIT = '4mb';

/** Without a signaler, crossings stay in the outbox for whichever process runs the sweeper. */
const leaveToSweeper: ThresholdSignaler = {
  signal: () => Promise.reject(new Error('this process does not signal workflows; the sweeper will')),
};

// src/usage/schema.ts may be loaded before zod is extended, so names are given with zod's own .meta().
const UsageEventSchema = UsageEvent.meta({ id: 'UsageEvent' });
const Accepted = AcceptedUsage.extend({ event_id: z.string() }).meta({ id: 'UsageAccepted' });
const Duplicate = z.object({
  status: z.literal('duplicate'),
  event_id: z.string(),
  original: AcceptedUsage.extend({ detail_purged: z.boolean().optional() }).describe('the answer the event got first'),
}).meta({ id: 'UsageDuplicate' });

const BatchInput = z.strictObject({
  events: z.array(z.unknown().meta({ description: 'a UsageEvent; each is validated on its own' }))
    .min(1).max(MAX_BATCH_EVENTS),
}).meta({ id: 'UsageBatchInput' });

const BatchResult = z.object({
  results: z.array(UsageResult).describe('one per event, in the order sent'),
  accepted: z.number().int(),
  duplicate: z.number().int(),
  refused: z.number().int(),
}).meta({ id: 'UsageBatchResult' });

type Refused = Extract<UsageResult, { status: 'refused' }>;

/** A single event's refusal as a problem: the domain's code where the API has one, the usage code as `refusal`. */
function problemOf(r: Refused, event: UsageEvent): ApiError {
  const extensions = { refusal: r.code, event_id: r.event_id };
  switch (r.code) {
    case 'insufficient_credits':
      return new ApiError('insufficient_credits', r.message,
        { ...extensions, available_credits: r.available_credits, requested_credits: r.requested_credits });
    case 'unknown_credit_type':
      return new ApiError('unknown_credit_type', r.message, extensions);
    case 'list_limit_exceeded':
      return new ApiError('list_limit_exceeded', r.message, { ...extensions, list: r.list, period: r.period,
        limit_credits: r.limit_credits, spent_credits: r.spent_credits, remaining_credits: r.remaining_credits,
        requested_credits: r.requested_credits });
    case 'unknown_account':
      return new ApiError('not_found', r.message, extensions);
    case 'timestamp_outside_grace':
    case 'unrateable':
    case 'invalid_event': {
      const measure = event.sms ? 'sms' : event.voice ? 'voice' : 'amount_credits';
      const path = r.code === 'timestamp_outside_grace' ? ['occurred_at'] : r.code === 'unrateable' ? [measure] : [];
      const errors = r.issues?.map((i) => ({ in: 'body' as const, path: i.path.split('.'), message: i.message, code: 'custom' }))
        ?? [{ in: 'body' as const, path, message: r.message, code: r.code }];
      const code = r.code === 'invalid_event' ? 'validation_failed' : r.code;
      return new ApiError(code, `${['body', ...path].join('.')}: ${r.message}`, { ...extensions, errors });
    }
  }
}

export const usageRoutes: RouteModule = ({ route, router, deps }) => {
  const usage = deps.usage ?? createUsageService({ sql: deps.sql, signaler: leaveToSweeper,
    graceWindowS: deps.config.USAGE_GRACE_WINDOW_S, now: () => new Date() });

  route({
    method: 'post',
    path: '/v1/usage',
    tag: 'usage',
    summary: 'Report one usage event and draw its credits now',
    description: 'Rates the event (SMS segments by destination, call minutes, or stated credits) by the rate card in '
      + 'effect at `occurred_at` and draws the credits as of then, in one transaction. `event_id` makes it happen '
      + 'once: a resend answers 200 with the original result. A refusal writes nothing; its problem carries the '
      + 'usage refusal code as `refusal` (an invalid event is answered as validation_failed).',
    roles: ROLES,
    request: { body: UsageEventSchema },
    responses: {
      201: { description: 'drawn', schema: Accepted },
      200: { description: 'this event_id was already answered', schema: Duplicate },
    },
    problems: ['not_found', 'insufficient_credits', 'unknown_credit_type', 'list_limit_exceeded', 'unrateable', 'timestamp_outside_grace'],
    async handler({ body }) {
      const r = await usage.ingestOne(body);
      if (r.status === 'refused') throw problemOf(r, body);
      return r.status === 'accepted' ? { status: 201, body: r } : { status: 200, body: r };
    },
  });

  // Read the larger body before route() reads it with the default limit (a parsed body is not read again), but
  // only for a caller who may send it: a rejected request still never gets its body read.
  router.post('/v1/usage/batch', async (req, _res, next) => {
    authorize(await authenticate(deps.sql, req.get('authorization')), ROLES);
    next();
  }, express.json({ limit: BATCH_BODY_LIMIT, strict: true }));

  route({
    method: 'post',
    path: '/v1/usage/batch',
    tag: 'usage',
    summary: `Report up to ${MAX_BATCH_EVENTS} usage events at once`,
    description: 'One transaction for the whole batch; each event is answered on its own (accepted, duplicate or '
      + 'refused with a usage refusal code), in the order sent. One bad event never spoils the others, and a refused '
      + `event writes nothing. Bodies up to ${BATCH_BODY_LIMIT}.`,
    roles: ROLES,
    request: { body: BatchInput },
    responses: { 200: { description: 'one result per event', schema: BatchResult } },
    async handler({ body }) {
      const results = await usage.ingestBatch(body.events);
      const count = (s: UsageResult['status']) => results.filter((r) => r.status === s).length;
      return { status: 200, body: { results, accepted: count('accepted'), duplicate: count('duplicate'),
        refused: count('refused') } };
    },
  });
};
