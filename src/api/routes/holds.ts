import {
  CommitRequest, Committed, createHoldService, HoldView, Released, Reserved, ReserveRequest, type HoldRefusal,
  type HoldService,
} from '../../holds';
import type { Role } from '../auth';
import { ApiError } from '../errors';
import type { RouteModule } from '../route';
import { AccountIdParams, IdempotencyHeaders } from '../schemas';
import { z } from '../zod';
import { requireAccount } from './accounts';

declare module '../route' {
  interface ApiDeps {
    /** Absent: the routes build one over deps.sql whose commits leave threshold crossings to the sweeper. */
    holds?: HoldService;
  }
}

/** Holds draw credits like usage does: the sender reserves for its scheduled sends, no one else. */
const WRITERS: readonly Role[] = ['ingest'];
/** Every read role (src/api/README.md's table), and the sender that made them. */
const READERS: readonly Role[] = ['ingest', 'billing', 'ops', 'support'];

// src/holds/schema.ts may be loaded before zod is extended, so names are given with zod's own .meta().
const HoldInput = ReserveRequest.omit({ request_id: true }).meta({ id: 'HoldInput' });
const HoldCommitInput = CommitRequest.meta({ id: 'HoldCommitInput' });
const Hold = HoldView.meta({ id: 'Hold' });
const HoldIdParams = z.object({ id: z.uuid().openapi({ param: { description: 'hold id' } }) });

/** A refusal as a problem; the hold's own code is kept as `refusal`. */
function problemOf(r: HoldRefusal, subject: string): ApiError {
  const { status: _status, code, ...details } = r;
  const extensions = { refusal: code, ...details };
  switch (code) {
    case 'unknown_account': return new ApiError('not_found', `no account ${subject}`, extensions);
    case 'hold_not_found': return new ApiError('not_found', `no hold ${subject}`, extensions);
    case 'unknown_credit_type': return new ApiError('unknown_credit_type', 'no such credit type in the catalog', extensions);
    case 'insufficient_credits':
      return new ApiError('insufficient_credits', `${r.requested_credits} credits requested, ${r.available_credits} available`,
        extensions);
    case 'hold_exceeded':
      return new ApiError('hold_exceeded', `the hold has ${r.held_credits} credits; a commit cannot draw more`,
        extensions);
    case 'hold_not_active':
      return new ApiError('hold_not_active', `hold ${subject} is ${r.hold_status ?? 'no longer active'}`, extensions);
    case 'idempotency_conflict':
      return new ApiError('idempotency_conflict', 'this key was used for another request', extensions);
  }
}

export const holdRoutes: RouteModule = ({ route, deps }) => {
  const { sql } = deps;
  const holds = deps.holds ?? createHoldService({ sql, now: () => new Date(),
    creditTypes: deps.catalog.credit_types.map((t) => t.id), dispatcher: deps.usage?.dispatcher });

  route({
    method: 'post',
    path: '/v1/accounts/{id}/holds',
    tag: 'holds',
    summary: 'Reserve credits for a send that has not happened yet',
    description: 'Held credits stay on the books but cannot be drawn by anything else until the hold is committed, '
      + 'released, or lapses after `ttl_s` (by time alone: no timer is involved). Available credits must cover the '
      + 'hold. The Idempotency-Key makes it happen once: a retry answers 200 with the first hold.',
    roles: WRITERS,
    request: { params: AccountIdParams, headers: IdempotencyHeaders, body: HoldInput },
    responses: {
      201: { description: 'held', schema: Reserved },
      200: { description: 'this Idempotency-Key was already answered', schema: Reserved },
    },
    problems: ['not_found', 'unknown_credit_type', 'insufficient_credits', 'idempotency_conflict'],
    async handler({ params, headers, body }) {
      const r = await holds.reserve(params.id, { ...body, request_id: headers['Idempotency-Key'] });
      if (r.status === 'refused') throw problemOf(r, params.id);
      return r.duplicate ? { status: 200, body: r } : { status: 201, body: r };
    },
  });

  route({
    method: 'post',
    path: '/v1/holds/{id}/commit',
    tag: 'holds',
    summary: 'Draw what was used from a hold and give back the rest',
    description: 'Draws `amount_credits` (at most what is held; 0 releases everything) and settles the hold. '
      + 'A retry with the same amount answers the first result (`duplicate: true`); another amount is a 409.',
    roles: WRITERS,
    request: { params: HoldIdParams, body: HoldCommitInput },
    responses: { 200: { description: 'committed', schema: Committed } },
    problems: ['not_found', 'hold_not_active', 'hold_exceeded', 'insufficient_credits', 'idempotency_conflict'],
    async handler({ params, body }) {
      const r = await holds.commit(params.id, body);
      if (r.status === 'refused') throw problemOf(r, params.id);
      return { status: 200, body: r };
    },
  });

  route({
    method: 'post',
    path: '/v1/holds/{id}/release',
    tag: 'holds',
    summary: 'Give back everything a hold reserved',
    roles: WRITERS,
    request: { params: HoldIdParams },
    responses: { 200: { description: 'released', schema: Released } },
    problems: ['not_found', 'hold_not_active'],
    async handler({ params }) {
      const r = await holds.release(params.id);
      if (r.status === 'refused') throw problemOf(r, params.id);
      return { status: 200, body: r };
    },
  });

  route({
    method: 'get',
    path: '/v1/holds/{id}',
    tag: 'holds',
    summary: 'One hold, with its status (a hold past its expiry is `lapsed`)',
    roles: READERS,
    request: { params: HoldIdParams },
    responses: { 200: { description: 'the hold', schema: Hold } },
    problems: ['not_found'],
    async handler({ params }) {
      const h = await holds.get(params.id);
      if (!h) throw new ApiError('not_found', `no hold ${params.id}`);
      return { status: 200, body: h };
    },
  });

  route({
    method: 'get',
    path: '/v1/accounts/{id}/holds',
    tag: 'holds',
    summary: "The account's holds, newest first (at most 500)",
    roles: READERS,
    request: { params: AccountIdParams },
    responses: { 200: { description: 'the holds', schema: z.object({ holds: z.array(Hold) }) } },
    problems: ['not_found'],
    async handler({ params }) {
      await requireAccount(sql, params.id);
      return { status: 200, body: { holds: await holds.listForAccount(params.id) } };
    },
  });
};
