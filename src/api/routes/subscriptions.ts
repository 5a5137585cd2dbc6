import { findBundle, findPlan } from '../../catalog/catalog';
import type { Sql } from '../../db/client';
import type { Outcome } from '../../subscriptions/service';
import type { RequestMeta } from '../../workflows/messages';
import { EVERY_ROLE, type Caller } from '../auth';
import { ApiError, type ErrorCode } from '../errors';
import type { RouteModule } from '../route';
import { IdempotencyHeaders, SubscriptionIdParams } from '../schemas';
import {
  AlertSettingsSchema, AutoRepurchaseInputSchema, BundlePurchaseSchema, StartInputSchema, SubscriptionDetailSchema,
  SubscriptionViewSchema,
} from '../subscription-schemas';
import { z } from '../zod';
import { requireAccount } from './accounts';

/** A refusal from the workflow is an ordinary answer: it becomes the problem of the same code. */
function unwrap<T>(o: Outcome<T>): T {
  if (o.ok) return o.value;
  throw new ApiError(o.refusal, o.message);
}

/**
 * The workflow remembers answers by request_id alone, so the action is part of it: a client reusing one
 * Idempotency-Key for two different actions gets each action done, never the other action's answer.
 */
const meta = (action: string, headers: { 'Idempotency-Key': string }, caller: Caller): RequestMeta =>
  ({ request_id: `${action}:${headers['Idempotency-Key']}`, by: caller.label });

const View = { description: 'the subscription after the change', schema: SubscriptionViewSchema };
const ACTION_DESCRIPTION = 'Requires an Idempotency-Key: the same key again answers the first result '
  + '(kept for the life of the subscription) without acting twice.';

const STATE_REFUSALS: readonly ErrorCode[] = ['not_found', 'not_active', 'period_ended'];

export const subscriptionRoutes: RouteModule = ({ route, deps: { sql, catalog, subscriptions } }) => {
  const settled = <T>(pending: Promise<Outcome<T>>): Promise<T> => pending.then(unwrap);

  route({
    method: 'post',
    path: '/v1/subscriptions',
    tag: 'subscriptions',
    summary: 'Start a subscription and take its first payment',
    description: 'Answers once the first charge is through: 201 with the active subscription, or 402 '
      + '`payment_failed` (nothing granted; the problem carries the subscription). Starting the same '
      + 'subscription_id again with the same terms answers the same subscription; other terms are a 409.',
    roles: ['billing'],
    request: { body: StartInputSchema },
    responses: { 201: { description: 'active, first period granted', schema: SubscriptionViewSchema } },
    problems: ['not_found', 'unknown_plan', 'terms_conflict', 'payment_failed'],
    async handler({ body, caller }) {
      // Everything we can check without Temporal is checked first, so a bad request starts no workflow.
      if (!findPlan(catalog, body.plan_id)) {
        throw new ApiError('unknown_plan', `no plan ${body.plan_id} in catalog ${catalog.version}`);
      }
      await requireAccount(sql, body.account_id);
      const result = unwrap(await subscriptions.start({
        subscriptionId: body.subscription_id, accountId: body.account_id, planId: body.plan_id, startedBy: caller.label,
      }));
      if (result.outcome === 'payment_failed') {
        throw new ApiError('payment_failed', result.reason, { subscription: result.view });
      }
      return { status: 201, body: result.view };
    },
  });

  route({
    method: 'get',
    path: '/v1/subscriptions/{id}',
    tag: 'subscriptions',
    summary: 'A subscription as its workflow sees it, with exact ledger balances',
    roles: EVERY_ROLE,
    request: { params: SubscriptionIdParams },
    responses: { 200: { description: 'the subscription', schema: SubscriptionDetailSchema } },
    problems: ['not_found'],
    async handler({ params }) {
      return { status: 200, body: unwrap(await subscriptions.detail(params.id)) };
    },
  });

  route({
    method: 'post',
    path: '/v1/subscriptions/{id}/stop-renewal',
    tag: 'subscriptions',
    summary: 'Stop renewing: the subscription runs to the end of its period, then ends',
    description: ACTION_DESCRIPTION,
    roles: ['ops'],
    request: { params: SubscriptionIdParams, headers: IdempotencyHeaders },
    responses: { 200: View },
    problems: [...STATE_REFUSALS, 'already_stopped'],
    async handler({ params, headers, caller }) {
      const m = meta('stop-renewal', headers, caller);
      return { status: 200, body: await settled(subscriptions.stopRenewal(params.id, m)) };
    },
  });

  route({
    method: 'post',
    path: '/v1/subscriptions/{id}/resume-renewal',
    tag: 'subscriptions',
    summary: 'Resume renewing a subscription whose renewal was stopped, before its period ends',
    description: ACTION_DESCRIPTION,
    roles: ['ops'],
    request: { params: SubscriptionIdParams, headers: IdempotencyHeaders },
    responses: { 200: View },
    problems: [...STATE_REFUSALS, 'not_stopped'],
    async handler({ params, headers, caller }) {
      const m = meta('resume-renewal', headers, caller);
      return { status: 200, body: await settled(subscriptions.resumeRenewal(params.id, m)) };
    },
  });

  route({
    method: 'post',
    path: '/v1/subscriptions/{id}/cancel',
    tag: 'subscriptions',
    summary: "End the subscription now; what is left of its plan credits is closed (bundles stay)",
    description: ACTION_DESCRIPTION,
    roles: ['ops'],
    request: {
      params: SubscriptionIdParams, headers: IdempotencyHeaders,
      body: z.strictObject({ reason: z.string().trim().min(1).max(500).optional() }).openapi('CancelInput'),
    },
    responses: { 200: View },
    problems: STATE_REFUSALS,
    async handler({ params, headers, body, caller }) {
      const m = { ...meta('cancel', headers, caller), ...(body.reason ? { reason: body.reason } : {}) };
      return { status: 200, body: await settled(subscriptions.cancel(params.id, m)) };
    },
  });

  route({
    method: 'post',
    path: '/v1/subscriptions/{id}/change-plan',
    tag: 'subscriptions',
    summary: 'Move to another plan at the next renewal',
    description: ACTION_DESCRIPTION,
    roles: ['ops'],
    request: {
      params: SubscriptionIdParams, headers: IdempotencyHeaders,
      body: z.strictObject({ plan_id: z.string().min(1).max(64) }).openapi('ChangePlanInput'),
    },
    responses: { 200: View },
    problems: [...STATE_REFUSALS, 'unknown_plan', 'same_plan', 'currency_mismatch'],
    async handler({ params, headers, body, caller }) {
      if (!findPlan(catalog, body.plan_id)) {
        throw new ApiError('unknown_plan', `no plan ${body.plan_id} in catalog ${catalog.version}`);
      }
      const m = { ...meta('change-plan', headers, caller), plan_id: body.plan_id };
      return { status: 200, body: await settled(subscriptions.changePlan(params.id, m)) };
    },
  });

  route({
    method: 'post',
    path: '/v1/subscriptions/{id}/bundles',
    tag: 'subscriptions',
    summary: 'Buy a bundle of credits on this subscription',
    description: `${ACTION_DESCRIPTION} A declined charge is a 402 \`payment_failed\` carrying the purchase; `
      + 'nothing is granted.',
    roles: ['billing'],
    request: {
      params: SubscriptionIdParams, headers: IdempotencyHeaders,
      body: z.strictObject({ bundle_id: z.string().min(1).max(64) }).openapi('BuyBundleInput'),
    },
    responses: { 201: { description: 'paid and granted', schema: BundlePurchaseSchema } },
    problems: [...STATE_REFUSALS, 'unknown_bundle', 'not_eligible', 'currency_mismatch', 'payment_failed'],
    async handler({ params, headers, body, caller }) {
      if (!findBundle(catalog, body.bundle_id)) {
        throw new ApiError('unknown_bundle', `no bundle ${body.bundle_id} in catalog ${catalog.version}`);
      }
      const m = { ...meta('buy-bundle', headers, caller), bundle_id: body.bundle_id };
      const r = await settled(subscriptions.buyBundle(params.id, m));
      if (r.outcome === 'payment_failed') {
        throw new ApiError('payment_failed', r.purchase.reason ?? 'the charge was declined', { purchase: r.purchase });
      }
      return { status: 201, body: { purchase: r.purchase, grant: r.grant } };
    },
  });

  route({
    method: 'post',
    path: '/v1/subscriptions/{id}/alerts',
    tag: 'subscriptions',
    summary: 'Replace the low-balance thresholds and the expiring-soon notice',
    description: ACTION_DESCRIPTION,
    roles: ['ops'],
    request: { params: SubscriptionIdParams, headers: IdempotencyHeaders, body: AlertSettingsSchema },
    responses: { 200: View },
    problems: [...STATE_REFUSALS, 'unknown_credit_type', 'invalid_settings'],
    async handler({ params, headers, body, caller }) {
      const unknown = body.thresholds.find((t) => !catalog.credit_types.some((c) => c.id === t.credit_type));
      if (unknown) {
        throw new ApiError('unknown_credit_type', `no credit type ${unknown.credit_type} in the catalog`);
      }
      const m = { ...meta('set-alerts', headers, caller), alerts: body };
      return { status: 200, body: await settled(subscriptions.setAlerts(params.id, m)) };
    },
  });

  route({
    method: 'post',
    path: '/v1/subscriptions/{id}/auto-repurchase',
    tag: 'subscriptions',
    summary: 'Set automatic bundle purchases when a balance runs low',
    description: ACTION_DESCRIPTION,
    roles: ['ops'],
    request: { params: SubscriptionIdParams, headers: IdempotencyHeaders, body: AutoRepurchaseInputSchema },
    responses: { 200: View },
    problems: [...STATE_REFUSALS, 'unknown_bundle', 'not_eligible', 'invalid_settings'],
    async handler({ params, headers, body, caller }) {
      if (body.bundle_id !== null && !findBundle(catalog, body.bundle_id)) {
        throw new ApiError('unknown_bundle', `no bundle ${body.bundle_id} in catalog ${catalog.version}`);
      }
      const m = { ...meta('set-auto-repurchase', headers, caller), auto_repurchase: body };
      return { status: 200, body: await settled(subscriptions.setAutoRepurchase(params.id, m)) };
    },
  });

  route({
    method: 'post',
    path: '/v1/subscriptions/{id}/auto-repurchase/resume',
    tag: 'subscriptions',
    summary: 'Resume automatic purchases paused by a declined payment',
    description: ACTION_DESCRIPTION,
    roles: ['ops'],
    request: { params: SubscriptionIdParams, headers: IdempotencyHeaders },
    responses: { 200: View },
    problems: [...STATE_REFUSALS, 'invalid_settings'],
    async handler({ params, headers, caller }) {
      const m = meta('resume-auto-repurchase', headers, caller);
      return { status: 200, body: await settled(subscriptions.resumeAutoRepurchase(params.id, m)) };
    },
  });
};
