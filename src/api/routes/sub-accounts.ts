import { packagesOf } from '../../accounts/packages';
import { accountScope } from '../../accounts/scope';
import { billingChanges, createSubAccount, listSubAccounts, setSharedBilling, type SubAccountView } from '../../accounts/sub-accounts';
import { READERS } from '../auth';
import { ApiError } from '../errors';
import type { RouteModule } from '../route';
import { AccountIdParams, ClientId, Country, IdempotencyHeaders, iso, isoOrNull, Timestamp, TimeZone } from '../schemas';
import { z } from '../zod';
import { requireAccount } from './accounts';

const SubAccountInput = z.strictObject({
  id: ClientId,
  name: z.string().trim().min(1).max(200),
  time_zone: TimeZone.optional().describe('default: the parent\'s'),
  country: Country.optional().describe('default: the parent\'s'),
  shared_billing: z.boolean().describe('true: its usage draws from the parent\'s credits; false: it has its own'),
}).openapi('SubAccountInput');

const SubAccount = z.object({
  id: z.string(),
  parent_account_id: z.string(),
  name: z.string(),
  time_zone: z.string(),
  country: z.string(),
  shared_billing: z.boolean(),
  billing_account_id: z.string().describe('whose credits its usage draws on'),
  created_at: Timestamp,
}).openapi('SubAccount');

const SharedBillingInput = z.strictObject({
  shared_billing: z.boolean().describe('true: move into shared billing; false: move out of it'),
  reason: z.string().trim().min(1).max(500).describe('kept in the audit trail'),
}).openapi('SharedBillingInput');

const SharedBillingResult = z.object({
  account_id: z.string(),
  parent_account_id: z.string(),
  shared_billing: z.boolean(),
  billing_account_id: z.string(),
  duplicate: z.boolean().describe('true when this Idempotency-Key had already been answered'),
}).openapi('SharedBillingResult');

const BillingChange = z.object({
  id: z.number().int(),
  account_id: z.string(),
  parent_account_id: z.string(),
  shared_billing_before: z.boolean().nullable().describe('null: set when the sub-account was created'),
  shared_billing_after: z.boolean(),
  reason: z.string(),
  changed_by: z.string(),
  changed_at: Timestamp,
}).openapi('BillingChange');

const Package = z.object({
  grant_id: z.string(),
  credit_type: z.string(),
  source: z.enum(['plan_allotment', 'rollover', 'bundle', 'adjustment']),
  bundle_id: z.string().nullable(),
  subscription_id: z.string().nullable(),
  purchased_by: z.string().nullable(),
  amount_credits: z.number().int(),
  used_credits: z.number().int().describe('drawn by usage (and ops corrections)'),
  lapsed_credits: z.number().int().describe('expired or voided unspent'),
  remaining_credits: z.number().int().describe('amount = used + lapsed + remaining'),
  effective_from: Timestamp,
  expires_at: Timestamp.nullable(),
  used_by: z.array(z.object({ account_id: z.string(), used_credits: z.number().int() }))
    .describe('by whose usage, among the accounts the caller\'s account may see (an agency: all its sub-accounts)'),
}).openapi('Package');

const PackagesQuery = z.object({
  include_ended: z.enum(['true', 'false']).default('false').describe('also packages used up, expired or voided'),
});

const subAccountView = (parent: string, s: SubAccountView) => ({ ...s, parent_account_id: parent, created_at: iso(s.created_at) });

export const subAccountRoutes: RouteModule = ({ route, deps: { sql } }) => {
  route({
    method: 'post',
    path: '/v1/accounts/{id}/sub-accounts',
    tag: 'accounts',
    summary: 'Create a sub-account of an agency or enterprise account',
    description: 'One level deep: a sub-account has no sub-accounts. On shared billing its usage draws from the '
      + 'parent\'s credits (and is reported under the sub-account); otherwise it has credits of its own. Idempotent '
      + 'on the whole body: the same request again answers 200; the same id with other details is a 409.',
    roles: ['billing'],
    request: { params: AccountIdParams, body: SubAccountInput },
    responses: {
      201: { description: 'created', schema: SubAccount },
      200: { description: 'already existed with exactly these details', schema: SubAccount },
    },
    problems: ['not_found', 'not_a_parent', 'account_conflict'],
    async handler({ params, body, caller }) {
      const parent = await requireAccount(sql, params.id);
      const r = await createSubAccount(sql, { parent_account_id: parent.id, id: body.id, name: body.name,
        time_zone: body.time_zone ?? parent.time_zone, country: body.country ?? parent.country,
        shared_billing: body.shared_billing, by: caller.label });
      if (r.status === 'refused') throw new ApiError(r.code, r.message);
      const view = (await listSubAccounts(sql, parent.id)).find((s) => s.id === body.id)!;
      return { status: r.status === 'created' ? 201 : 200, body: subAccountView(parent.id, view) };
    },
  });

  route({
    method: 'get',
    path: '/v1/accounts/{id}/sub-accounts',
    tag: 'accounts',
    summary: 'An account\'s sub-accounts and whose credits each draws on',
    roles: READERS,
    request: { params: AccountIdParams },
    responses: { 200: { description: 'the sub-accounts', schema: z.object({ account_id: z.string(),
      sub_accounts: z.array(SubAccount) }) } },
    problems: ['not_found'],
    async handler({ params }) {
      await requireAccount(sql, params.id);
      const subs = await listSubAccounts(sql, params.id);
      return { status: 200, body: { account_id: params.id, sub_accounts: subs.map((s) => subAccountView(params.id, s)) } };
    },
  });

  route({
    method: 'post',
    path: '/v1/accounts/{id}/shared-billing',
    tag: 'accounts',
    summary: 'Move a sub-account into or out of shared billing',
    description: 'An explicit change, recorded with who made it and why (see `…/billing-changes`). It takes effect for '
      + 'the next usage event. The sub-account\'s own credits stay its own: drawn again once it leaves shared billing. '
      + 'The Idempotency-Key makes it happen once; asking for the mode it is already in is a 409.',
    roles: ['billing'],
    request: { params: AccountIdParams, headers: IdempotencyHeaders, body: SharedBillingInput },
    responses: { 200: { description: 'changed (or this Idempotency-Key was already answered)', schema: SharedBillingResult } },
    problems: ['not_found', 'not_a_sub_account', 'already_shared', 'not_shared', 'idempotency_conflict'],
    async handler({ params, headers, body, caller }) {
      await requireAccount(sql, params.id);
      const r = await setSharedBilling(sql, { key: `shared-billing:${params.id}:${headers['Idempotency-Key']}`,
        account_id: params.id, shared_billing: body.shared_billing, reason: body.reason, by: caller.label });
      if (r.status === 'refused') {
        throw new ApiError(r.code, r.code === 'not_a_sub_account' ? `${params.id} has no parent account`
          : `${params.id} is ${r.code === 'already_shared' ? 'already' : 'not'} on shared billing`);
      }
      const { status: _s, ...change } = r;
      return { status: 200, body: change };
    },
  });

  route({
    method: 'get',
    path: '/v1/accounts/{id}/billing-changes',
    tag: 'accounts',
    summary: 'The audit trail of shared billing: the account\'s own, or for an agency its sub-accounts\'',
    roles: READERS,
    request: { params: AccountIdParams },
    responses: { 200: { description: 'oldest first', schema: z.object({ changes: z.array(BillingChange) }) } },
    problems: ['not_found'],
    async handler({ params }) {
      await requireAccount(sql, params.id);
      const changes = await billingChanges(sql, params.id);
      return { status: 200, body: { changes: changes.map((c) => ({ ...c, changed_at: iso(c.changed_at) })) } };
    },
  });

  route({
    method: 'get',
    path: '/v1/accounts/{id}/packages',
    tag: 'accounts',
    summary: 'The packages the account draws on, with what was used (and by whom) and what is left',
    description: 'A sub-account on shared billing sees its parent\'s packages; its `used_by` shows its own usage only. '
      + 'By default only packages with credits left and not expired.',
    roles: READERS,
    request: { params: AccountIdParams, query: PackagesQuery },
    responses: { 200: { description: 'the packages, oldest first', schema: z.object({ account_id: z.string(),
      billing_account_id: z.string(), shared_billing: z.boolean(), packages: z.array(Package) }) } },
    problems: ['not_found'],
    async handler({ params, query }) {
      const scope = await accountScope(sql, params.id);
      if (!scope) throw new ApiError('not_found', `no account ${params.id}`);
      const packages = await packagesOf(sql, scope, { as_of: new Date(), include_ended: query.include_ended === 'true' });
      return {
        status: 200,
        body: {
          account_id: scope.account_id, billing_account_id: scope.billing_account_id, shared_billing: scope.shared_billing,
          packages: packages.map((p) => ({ ...p, source: p.source as z.infer<typeof Package>['source'],
            effective_from: iso(p.effective_from), expires_at: isoOrNull(p.expires_at) })),
        },
      };
    },
  });
};
