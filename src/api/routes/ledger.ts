import type { Sql } from '../../db/client';
import {
  grantCredits, IdempotencyConflictError, ledgerKey, listGrants, type GrantResult, type GrantView,
} from '../../ledger';
import { READERS } from '../auth';
import { ApiError, validationFailed } from '../errors';
import type { RouteModule } from '../route';
import { AccountIdParams, IdempotencyHeaders, iso, isoOrNull, Timestamp } from '../schemas';
import { z } from '../zod';
import { requireAccount } from './accounts';

const PositiveCredits = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

const TopUpInput = z.strictObject({
  credit_type: z.string().min(1).max(64),
  amount_credits: PositiveCredits,
  expires_at: Timestamp.optional().describe('when the credits lapse; absent: never'),
  reason: z.string().trim().min(1).max(500).describe('kept on the ledger entry'),
}).openapi('TopUpInput');

export const Grant = z.object({
  id: z.string(),
  credit_type: z.string(),
  source: z.enum(['plan_allotment', 'rollover', 'bundle', 'adjustment']),
  amount_credits: z.number().int(),
  remaining_credits: z.number().int(),
  priority: z.number().int(),
  effective_from: Timestamp,
  expires_at: Timestamp.nullable(),
  subscription_id: z.string().nullable(),
  bundle_id: z.string().nullable(),
  purchased_by: z.string().nullable(),
  invoice_id: z.string().nullable(),
}).openapi('Grant');

const TopUpResult = z.object({
  grant: Grant,
  duplicate: z.boolean().describe('true when this Idempotency-Key had already been answered'),
}).openapi('TopUpResult');

const LedgerEntry = z.object({
  id: z.number().int(),
  credit_type: z.string(),
  grant_id: z.string().nullable(),
  kind: z.enum(['grant', 'debit', 'adjustment', 'expiry', 'void', 'overage', 'overage_settled', 'expiry_extension']),
  amount_credits: z.number().int(),
  operation_key: z.string(),
  effective_at: Timestamp,
  recorded_at: Timestamp,
  metadata: z.record(z.string(), z.unknown()),
}).openapi('LedgerEntry');

const EntriesQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  before: z.coerce.number().int().positive().optional().describe('answer entries older than this entry id'),
  credit_type: z.string().min(1).max(64).optional(),
});

const EntriesPage = z.object({
  entries: z.array(LedgerEntry).describe('newest first'),
  next_before: z.number().int().nullable().describe('pass as `before` for the next page; null on the last page'),
}).openapi('LedgerEntriesPage');

const grantView = (g: GrantView) => ({
  ...g, effective_from: iso(g.effective_from), expires_at: isoOrNull(g.expires_at),
});

async function grantById(sql: Sql, id: string): Promise<GrantView> {
  const [g] = await sql<GrantView[]>`
    select id, credit_type, source, amount_credits, remaining_credits, priority, effective_from, expires_at,
           subscription_id, bundle_id, purchased_by, invoice_id
    from grants where id = ${id}`;
  return g!;
}

/** When a top-up key was already used: the instant the first request took effect (part of its ledger request). */
async function storedEffectiveFrom(sql: Sql, key: string): Promise<Date | null> {
  const [op] = await sql<{ effective_from: Date | null }[]>`
    select (request->>'effective_from')::timestamptz as effective_from from operations
    where idempotency_key = ${key} and kind = 'grant'`;
  return op?.effective_from ?? null;
}

export const ledgerRoutes: RouteModule = ({ route, deps: { sql, catalog } }) => {
  route({
    method: 'post',
    path: '/v1/accounts/{id}/top-ups',
    tag: 'ledger',
    summary: 'Grant credits directly (an adjustment)',
    description: 'Writes an `adjustment` grant straight into the ledger, effective now. The Idempotency-Key makes '
      + 'it happen once: a retry answers the first grant (200, `duplicate: true`); the same key with another amount, '
      + 'credit type or expiry is a 409.',
    roles: ['ops'],
    request: { params: AccountIdParams, headers: IdempotencyHeaders, body: TopUpInput },
    responses: {
      201: { description: 'granted', schema: TopUpResult },
      200: { description: 'this Idempotency-Key was already answered', schema: TopUpResult },
    },
    problems: ['not_found', 'unknown_credit_type', 'idempotency_conflict'],
    async handler({ params, headers, body, caller }) {
      await requireAccount(sql, params.id);
      if (!catalog.credit_types.some((t) => t.id === body.credit_type)) {
        throw new ApiError('unknown_credit_type', `no credit type ${body.credit_type} in catalog ${catalog.version}`);
      }
      // The account id may hold ':' (and the key anything): encoded, so no two (account, key) pairs share a key.
      const key = ledgerKey('topup', params.id, headers['Idempotency-Key']);
      const expiresAt = body.expires_at ? new Date(body.expires_at) : null;
      const grant = (effectiveFrom: Date): Promise<GrantResult> => grantCredits(sql, {
        key, accountId: params.id, creditType: body.credit_type, amountCredits: body.amount_credits,
        source: 'adjustment', effectiveFrom, expiresAt, purchasedBy: caller.label,
        metadata: { reason: body.reason, by: caller.label },
      });

      // A retry must present the ledger with the very request it first saw, effective instant included.
      const stored = await storedEffectiveFrom(sql, key);
      if (!stored && expiresAt && expiresAt.getTime() <= Date.now()) {
        throw validationFailed([{ in: 'body', path: ['expires_at'], message: 'must be in the future', code: 'custom' }]);
      }
      let result: GrantResult;
      try {
        result = await grant(stored ?? new Date());
      } catch (err) {
        // Two first attempts raced and the other won: answer as a retry of it (or conflict if it differed).
        const winner = !stored && err instanceof IdempotencyConflictError ? await storedEffectiveFrom(sql, key) : null;
        if (!winner) throw err;
        result = await grant(winner);
      }
      const body201 = { grant: grantView(await grantById(sql, result.grant_id)), duplicate: result.duplicate };
      return result.duplicate ? { status: 200, body: body201 } : { status: 201, body: body201 };
    },
  });

  route({
    method: 'get',
    path: '/v1/accounts/{id}/grants',
    tag: 'ledger',
    summary: "The account's grants, oldest first, with what is left of each",
    roles: READERS,
    request: { params: AccountIdParams },
    responses: { 200: { description: 'every grant', schema: z.object({ grants: z.array(Grant) }) } },
    problems: ['not_found'],
    async handler({ params }) {
      await requireAccount(sql, params.id);
      return { status: 200, body: { grants: (await listGrants(sql, params.id)).map(grantView) } };
    },
  });

  route({
    method: 'get',
    path: '/v1/accounts/{id}/entries',
    tag: 'ledger',
    summary: "The account's ledger entries, newest first, a page at a time",
    roles: READERS,
    request: { params: AccountIdParams, query: EntriesQuery },
    responses: { 200: { description: 'a page of entries', schema: EntriesPage } },
    problems: ['not_found'],
    async handler({ params, query }) {
      await requireAccount(sql, params.id);
      const rows = await sql<{ id: number; credit_type: string; grant_id: string | null; kind: z.infer<typeof LedgerEntry>['kind'];
        amount_credits: number; operation_key: string; effective_at: Date; recorded_at: Date; metadata: Record<string, unknown> }[]>`
        select id, credit_type, grant_id, kind, amount_credits, operation_key, effective_at, recorded_at, metadata
        from ledger_entries
        where account_id = ${params.id}
          ${query.before === undefined ? sql`` : sql`and id < ${query.before}`}
          ${query.credit_type === undefined ? sql`` : sql`and credit_type = ${query.credit_type}`}
        order by id desc
        limit ${query.limit + 1}`;
      const page = rows.slice(0, query.limit);
      return {
        status: 200,
        body: {
          entries: page.map((e) => ({ ...e, effective_at: iso(e.effective_at), recorded_at: iso(e.recorded_at) })),
          next_before: rows.length > query.limit ? page[page.length - 1]!.id : null,
        },
      };
    },
  });
};
