import {
  ApplicationFailure, allHandlersFinished, condition, continueAsNew, proxyActivities, setHandler,
  upsertSearchAttributes, workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  activateUpdate, buyBundleUpdate, cancelUpdate, changePlanUpdate, stateQuery, stopRenewalUpdate, resumeRenewalUpdate,
  type ActivateResult, type BuyBundleResult, type Period, type Refusal, type RequestMeta, type SubscriptionTerms,
  type SubscriptionView,
} from './messages';
import { ACCOUNT_ID, PLAN_ID, STATUS } from './search-attributes';
import { SubscriptionState, type SubscriptionSnapshot } from './subscription-state';

const acts = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

export interface SubscriptionWorkflowInput {
  terms: SubscriptionTerms;
  /** Present when continued-as-new: the previous run's state, dedupe answers included. */
  snapshot?: SubscriptionSnapshot;
  /** History length past which the run hands over to a new one (lowered by tests to exercise the hand-over). */
  max_history_events?: number;
}

const DEFAULT_MAX_HISTORY_EVENTS = 5_000;

/** Serialises handlers and the main loop around their awaits, so two activities never race on one state. */
class Lock {
  private held = false;
  async run<T>(fn: () => Promise<T>): Promise<T> {
    await condition(() => !this.held);
    this.held = true;
    try {
      return await fn();
    } finally {
      this.held = false;
    }
  }
}

function refuse(refusal: Refusal, message?: string): never {
  throw ApplicationFailure.create({ type: refusal, message: message ?? refusal.replace(/_/g, ' '), nonRetryable: true });
}

/** One subscription, for as long as it lives: renewals, expiries, purchases and lifecycle requests. */
export async function subscriptionWorkflow(input: SubscriptionWorkflowInput): Promise<SubscriptionView> {
  const { terms } = input;
  const lock = new Lock();
  let state: SubscriptionState | null = input.snapshot ? SubscriptionState.restore(input.snapshot) : null;
  let wake = 0; // bumped by any handler that may move the next deadline
  const now = () => Date.now();
  const st = () => state!;

  setHandler(stateQuery, () => {
    if (!state) throw ApplicationFailure.create({ type: 'not_ready', message: 'subscription is starting' });
    return state.view();
  });

  setHandler(activateUpdate, async (asked): Promise<ActivateResult> => {
    await condition(() => state !== null && state.status !== 'pending');
    const view = st().view();
    return st().status === 'payment_failed'
      ? { outcome: 'payment_failed', reason: 'the first charge was declined', view }
      : { outcome: 'active', view };
  }, {
    validator: (asked) => {
      if (asked.accountId !== terms.accountId || asked.planId !== terms.planId
        || asked.subscriptionId !== terms.subscriptionId) {
        refuse('terms_conflict', `subscription ${terms.subscriptionId} exists with other terms`);
      }
    },
  });

  // A request already answered (maybe in an earlier run) gets that answer again, whatever has changed since;
  // the same request id with a different request is refused.
  const fingerprint = (req: RequestMeta) => JSON.stringify(req);
  const answered = <T>(req: RequestMeta, handler: () => Promise<T>) => async (): Promise<T> =>
    lock.run(async () => (st().seen(req.request_id, fingerprint(req)) === 'same'
      ? (st().answerFor(req.request_id) as T)
      : st().remember(req.request_id, await handler(), fingerprint(req))));
  const validate = (req: RequestMeta, check: () => Refusal | null) => {
    if (!state) refuse('not_active', 'subscription is starting');
    const seen = state.seen(req.request_id, fingerprint(req));
    if (seen === 'conflict') refuse('idempotency_conflict', `request ${req.request_id} was already used for another request`);
    if (seen === 'same') return;
    const refusal = check();
    if (refusal) refuse(refusal);
  };

  setHandler(stopRenewalUpdate, (req) => answered(req, async () => {
    st().stopRenewal();
    await record();
    wake++;
    return st().view();
  })(), { validator: (req) => validate(req, () => st().refuseStop()) });

  setHandler(resumeRenewalUpdate, (req) => answered(req, async () => {
    st().resumeRenewal();
    await record();
    wake++;
    return st().view();
  })(), { validator: (req) => validate(req, () => st().refuseResume(now())) });

  setHandler(cancelUpdate, (req) => answered(req, async () => {
    await acts.closePlanGrants({ subscription_id: terms.subscriptionId, grant_ids: st().currentPlanGrants().map((g) => g.grant_id),
      as_of_ms: now(), reason: req.reason ?? `cancelled by ${req.by}` });
    st().ended('cancelled');
    await record();
    wake++;
    return st().view();
  })(), { validator: (req) => validate(req, () => st().refuseCancel()) });

  setHandler(changePlanUpdate, (req) => answered(req, async () => {
    st().changePlanAtRenewal(req.plan_id);
    return st().view();
  })(), { validator: (req) => validate(req, () => st().refusePlanChange(req.plan_id)) });

  setHandler(buyBundleUpdate, (req) => answered(req, async (): Promise<BuyBundleResult> => {
    const check = st().checkBundle(req.bundle_id);
    if ('refusal' in check) refuse(check.refusal, check.message); // state changed between validation and turn
    const r = await acts.purchaseBundle({ subscription_id: terms.subscriptionId, account_id: terms.accountId,
      time_zone: st().snapshot().account.time_zone, bundle: check.bundle, request_id: req.request_id,
      purchased_by: req.by, as_of_ms: now(), auto: false });
    st().purchased(r.purchase, r.grant, r.extended);
    wake++;
    return r.grant ? { outcome: 'granted', purchase: r.purchase, grant: r.grant } : { outcome: 'payment_failed', purchase: r.purchase };
  })(), {
    validator: (req) => validate(req, () => {
      const check = st().checkBundle(req.bundle_id);
      if ('refusal' in check) refuse(check.refusal, check.message);
      return null;
    }),
  });

  async function record(): Promise<void> {
    const s = st().snapshot();
    upsertSearchAttributes([
      { key: ACCOUNT_ID, value: terms.accountId }, { key: PLAN_ID, value: s.plan.id }, { key: STATUS, value: s.status },
    ]);
    await acts.recordSubscription({ terms, plan_id: s.plan.id, status: s.status });
  }

  if (!state) {
    await lock.run(activate);
  }

  async function activate(): Promise<void> {
    const [catalog, account] = await Promise.all([acts.loadCatalog(), acts.loadAccount(terms.accountId)]);
    const plan = catalog.plans.find((p) => p.id === terms.planId);
    if (!plan) throw ApplicationFailure.nonRetryable(`unknown plan ${terms.planId}`, 'unknown_plan');
    const anchor_ms = now();
    state = SubscriptionState.create({ terms, account, catalog, plan, anchor_ms });
    await acts.applyPlanToBalances({ account_id: terms.accountId, plan, workflow_id: workflowInfo().workflowId });
    const period = await acts.computePeriod({ anchor_ms, time_zone: account.time_zone, index: 0 });
    const charge = await acts.charge({ key: `${terms.subscriptionId}:charge:period:0`, account_id: terms.accountId,
      amount_minor: plan.price_minor, currency: plan.currency, description: `${plan.id} period 0` });
    if (charge.status === 'failed') {
      st().firstChargeFailed();
      await record();
      return;
    }
    const opened = await acts.openPeriod({ subscription_id: terms.subscriptionId, account_id: terms.accountId, plan,
      period, previous_plan_grants: [], previous_allotments: {}, previous_rollover: plan.rollover,
      started_by: terms.startedBy });
    st().activated(period, opened.grants);
    await record();
  }

  /** Period end: end the subscription, or charge and open the next period (or retry a declined charge). */
  async function renew(): Promise<void> {
    const s = st();
    const ending = s.snapshot();
    if (s.status === 'renewal_stopped') return endAt(ending.period!.end_ms);
    const retry = ending.past_due;
    let period: Period;
    if (retry) {
      period = retry.period;
    } else {
      const catalog = await acts.loadCatalog();
      s.refreshCatalog(catalog);
      const previousPlan = ending.plan;
      await acts.billOverage({ subscription_id: terms.subscriptionId, account_id: terms.accountId,
        period_index: ending.period!.index, as_of_ms: ending.period!.end_ms, currency: previousPlan.currency });
      const next = s.takePendingPlan();
      if (next) await acts.applyPlanToBalances({ account_id: terms.accountId, plan: next, workflow_id: workflowInfo().workflowId });
      period = await acts.computePeriod({ anchor_ms: ending.anchor_ms, time_zone: ending.account.time_zone,
        index: ending.period!.index + 1 });
    }
    const plan = s.snapshot().plan;
    if (s.isChargedAt(period.index)) {
      const attempt = retry ? `:retry:${retry.attempts}` : '';
      const charge = await acts.charge({ key: `${terms.subscriptionId}:charge:period:${period.index}${attempt}`,
        account_id: terms.accountId, amount_minor: plan.price_minor, currency: plan.currency,
        description: `${plan.id} period ${period.index}` });
      if (charge.status === 'failed') {
        s.renewalChargeFailed(period, now());
        if (s.status === 'ended') await endAt(now());
        else await record();
        return;
      }
    }
    const opened = await acts.openPeriod({ subscription_id: terms.subscriptionId, account_id: terms.accountId, plan,
      period, previous_plan_grants: s.currentPlanGrants(), previous_allotments: s.periodPlan.allotments,
      previous_rollover: s.periodPlan.rollover, started_by: terms.startedBy });
    s.renewed(period, opened.grants);
    await record();
  }

  async function endAt(as_of_ms: number): Promise<void> {
    for (const g of st().currentPlanGrants()) {
      await acts.expireGrantAt({ subscription_id: terms.subscriptionId, grant_id: g.grant_id, as_of_ms: Math.max(as_of_ms, g.expires_at_ms ?? as_of_ms) });
    }
    st().ended('ended');
    await record();
  }

  async function expireDue(): Promise<void> {
    for (const g of st().dueExpiries(now())) {
      const r = await acts.expireGrantAt({ subscription_id: terms.subscriptionId, grant_id: g.grant_id, as_of_ms: g.expires_at_ms! });
      if (r.status === 'expired') st().grantExpired(g.grant_id);
      else st().grantExtended(g.grant_id, r.expires_at_ms);
    }
  }

  const maxHistory = input.max_history_events ?? DEFAULT_MAX_HISTORY_EVENTS;
  while (!st().isFinished()) {
    const deadline = st().nextDeadlineMs();
    const seen = wake;
    const moved = () => wake !== seen;
    if (deadline === null) await condition(moved);
    else if (deadline > now()) await condition(moved, deadline - now());
    await lock.run(async () => {
      if (st().isRenewalDue(now())) await renew();
      await expireDue();
    });
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength > maxHistory) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof subscriptionWorkflow>({ terms, snapshot: st().snapshot(), max_history_events: input.max_history_events });
    }
  }
  await condition(allHandlersFinished);
  return st().view();
}
