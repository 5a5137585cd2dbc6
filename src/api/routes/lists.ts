import { accountScope } from '../../accounts/scope';
import { assignments, expiryAllocations, listLimits, LIST_PERIODS, removeListLimit, setListLimit } from '../../lists/limits';
import { READERS } from '../auth';
import { ApiError } from '../errors';
import type { RouteModule } from '../route';
import { ClientId, iso, Timestamp } from '../schemas';
import { z } from '../zod';

const ListName = z.string().min(1).max(200);
const CreditTypeId = z.string().min(1).max(64);

const ListParams = z.object({
  id: ClientId.openapi({ param: { description: 'account id' } }),
  list: ListName.openapi({ param: { description: 'the list (URL-encoded), as usage names it' } }),
  credit_type: CreditTypeId.openapi({ param: { description: 'the credit type the limit counts' } }),
});

const LimitInput = z.strictObject({
  period: z.enum(LIST_PERIODS).describe('month: per calendar month of the account\'s zone; total: since it was set'),
  limit_credits: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
}).openapi('ListLimitInput');

const ListLimit = z.object({
  list: z.string(),
  credit_type: z.string(),
  period: z.enum(LIST_PERIODS),
  limit_credits: z.number().int(),
  spent_credits: z.number().int().describe('month: this month; total: since the limit was set'),
  expired_credits: z.number().int().describe('total: what expiring packages took from the list\'s assignment'),
  remaining_credits: z.number().int().describe('what the list may still spend'),
  month: z.string().nullable().describe('month: the month spent_credits is for (YYYY-MM-01)'),
  set_by: z.string(),
  set_at: Timestamp,
}).openapi('ListLimit');

const Assignment = z.object({
  credit_type: z.string(),
  available_credits: z.number().int(),
  assigned_credits: z.number().int().describe('what \'total\' limits still assign, over every list drawing on the balance'),
  unassigned_credits: z.number().int().describe('what an expiry takes first'),
}).openapi('ListAssignment');

const ExpiryAllocation = z.object({
  ledger_entry_id: z.number().int(),
  expired_at: Timestamp,
  credit_type: z.string(),
  account_id: z.string(),
  list: z.string().nullable().describe('null: the part taken from credits not assigned to any list'),
  assigned_before_credits: z.number().int().nullable(),
  taken_credits: z.number().int(),
}).openapi('ListExpiryAllocation');

const limitView = (l: Awaited<ReturnType<typeof listLimits>>[number]) => ({ ...l, set_at: iso(l.set_at) });

export const listRoutes: RouteModule = ({ route, deps: { sql, catalog } }) => {
  async function scopeOf(id: string) {
    const scope = await accountScope(sql, id);
    if (!scope) throw new ApiError('not_found', `no account ${id}`);
    return scope;
  }

  route({
    method: 'get',
    path: '/v1/accounts/{id}/lists',
    tag: 'lists',
    summary: 'The account\'s list limits, and its credits assigned to lists and not',
    description: 'Lists without a limit draw freely and are not listed here (the spend report shows every list). '
      + '`assignments` are for the balance the account draws on (its parent\'s on shared billing).',
    roles: READERS,
    request: { params: z.object({ id: ClientId }) },
    responses: { 200: { description: 'limits and assignments', schema: z.object({ account_id: z.string(),
      billing_account_id: z.string(), limits: z.array(ListLimit), assignments: z.array(Assignment) }) } },
    problems: ['not_found'],
    async handler({ params }) {
      const scope = await scopeOf(params.id);
      const now = new Date();
      const [limits, assigned] = await Promise.all([listLimits(sql, scope.account_id, now),
        assignments(sql, scope.billing_account_id, now)]);
      return { status: 200, body: { account_id: scope.account_id, billing_account_id: scope.billing_account_id,
        limits: limits.map(limitView), assignments: assigned } };
    },
  });

  route({
    method: 'put',
    path: '/v1/accounts/{id}/lists/{list}/limits/{credit_type}',
    tag: 'lists',
    summary: 'Set a list\'s spending limit (per month or in total)',
    description: 'A usage event that would take the list past its limit is refused `list_limit_exceeded`, checked '
      + 'atomically with the balance. Changing the amount of a limit keeps what was spent; changing its period starts '
      + 'afresh (a monthly limit counts what the list spent this month already). A total limit assigns credits to the '
      + 'list: expiring packages take from it, in proportion, once unassigned credits are used up.',
    roles: ['ops'],
    request: { params: ListParams, body: LimitInput },
    responses: { 200: { description: 'the limit as set', schema: z.object({ limit: ListLimit,
      replaced: z.boolean().describe('true when the list had a limit before') }) } },
    problems: ['not_found', 'unknown_credit_type'],
    async handler({ params, body, caller }) {
      const scope = await scopeOf(params.id);
      if (!catalog.credit_types.some((t) => t.id === params.credit_type)) {
        throw new ApiError('unknown_credit_type', `no credit type ${params.credit_type} in catalog ${catalog.version}`);
      }
      const now = new Date();
      const r = await setListLimit(sql, { account_id: scope.account_id, credit_type: params.credit_type, list: params.list,
        period: body.period, limit_credits: body.limit_credits, by: caller.label, as_of: now });
      const limit = (await listLimits(sql, scope.account_id, now))
        .find((l) => l.list === params.list && l.credit_type === params.credit_type)!;
      return { status: 200, body: { limit: limitView(limit), replaced: r.replaced } };
    },
  });

  route({
    method: 'delete',
    path: '/v1/accounts/{id}/lists/{list}/limits/{credit_type}',
    tag: 'lists',
    summary: 'Remove a list\'s limit: it draws freely again',
    roles: ['ops'],
    request: { params: ListParams },
    responses: { 200: { description: 'removed', schema: z.object({ removed: z.literal(true) }) } },
    problems: ['not_found'],
    async handler({ params, caller }) {
      const scope = await scopeOf(params.id);
      const r = await removeListLimit(sql, { account_id: scope.account_id, credit_type: params.credit_type,
        list: params.list, by: caller.label, as_of: new Date() });
      if (r.status === 'refused') throw new ApiError('not_found', `list ${params.list} has no ${params.credit_type} limit`);
      return { status: 200, body: { removed: true as const } };
    },
  });

  route({
    method: 'get',
    path: '/v1/accounts/{id}/lists/expiry-allocations',
    tag: 'lists',
    summary: 'What each package expiry took from unassigned credits and from each list\'s assignment',
    roles: READERS,
    request: { params: z.object({ id: ClientId }),
      query: z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) }) },
    responses: { 200: { description: 'newest expiry first', schema: z.object({ allocations: z.array(ExpiryAllocation) }) } },
    problems: ['not_found'],
    async handler({ params, query }) {
      const scope = await scopeOf(params.id);
      const rows = await expiryAllocations(sql, { billing: scope.billing_account_id, accounts: scope.usage_account_ids },
        query.limit);
      return { status: 200, body: { allocations: rows.map((r) => ({ ...r, expired_at: iso(r.expired_at) })) } };
    },
  });
};
