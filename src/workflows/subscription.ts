import {
  ApplicationFailure, allHandlersFinished, condition, continueAsNew, log, patched, proxyActivities, setHandler,
  upsertSearchAttributes, workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { WebhookEvent } from '../webhooks/events';
import type { WebhookActivities } from '../webhooks/activities';
import { WEBHOOK_ACTIVITY_OPTIONS } from '../webhooks/retry-policy';
import {
  activateUpdate, buyBundleUpdate, cancelUpdate, changePlanUpdate, resumeAutoRepurchaseUpdate, resumeRenewalUpdate,
  setAlertsUpdate, setAutoRepurchaseUpdate, stateQuery, stopRenewalUpdate, thresholdCrossedSignal,
  type ActivateResult, type BuyBundleResult, type Period, type Refusal, type RequestMeta, type SubscriptionTerms,
  type SubscriptionView, type ThresholdCrossing, type Purchase, type KnownGrant,
} from './messages';
import { ACCOUNT_ID, PLAN_ID, STATUS } from './search-attributes';
import { SubscriptionState, type SubscriptionSnapshot } from './subscription-state';

const acts = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});
const hooks = proxyActivities<WebhookActivities>(WEBHOOK_ACTIVITY_OPTIONS);

/**
 * Alerts, auto-repurchase and webhooks arrived after the first version. Runs that began without them (their
 * history has no marker) keep the first version's behaviour to the end of the run; continue-as-new starts the
 * next run on the new one.
 */
export const ALERTS_PATCH = 'alerts-v2';
/** The activate update answers after every activation effect is recorded (before: as soon as the status moved). */
export const ACTIVATION_PATCH = 'activate-after-record';

export interface SubscriptionWorkflowInput {
  terms: SubscriptionTerms;
  /** Present when continued-as-new: the previous run's state, dedupe answers included. */
  snapshot?: SubscriptionSnapshot;
  /** History length past which the run hands over to a new one (lowered by tests to exercise the hand-over). */
  max_history_events?: number;
}

const DEFAULT_MAX_HISTORY_EVENTS = 5_000;
const PRE_PATCH_MESSAGE = 'this run predates alert settings; they apply after its next continue-as-new';

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
  const v2 = patched(ALERTS_PATCH);
  const answerAfterRecord = patched(ACTIVATION_PATCH);
  const inflight: Promise<unknown>[] = [];
  const iso = (ms: number) => new Date(ms).toISOString();
  /** Webhooks never hold up billing: they run beside it and are awaited only before the run ends or hands over. */
  const notify = (message_id: string, event: WebhookEvent) => {
    if (!v2) return;
    inflight.push(hooks.sendWebhook({ message_id: `${terms.subscriptionId}:${message_id}`, event })
      .catch((err: unknown) => log.warn('webhook gave up', { message_id, error: String(err) })));
  };
  let state: SubscriptionState | null = input.snapshot ? SubscriptionState.restore(input.snapshot) : null;
  let wake = 0; // bumped by any handler that may move the next deadline
  const now = () => Date.now();
  const st = () => state!;

  setHandler(stateQuery, () => {
    if (!state) throw ApplicationFailure.create({ type: 'not_ready', message: 'subscription is starting' });
    return state.view();
  });

  // Answers only once activation has finished all its effects (charge, grants, thresholds, the recorded row).
  let activationDone = input.snapshot !== undefined;
  setHandler(activateUpdate, async (): Promise<ActivateResult> => {
    // Runs from before this patch answered as soon as the status moved (before the row was recorded).
    await condition(() => (answerAfterRecord ? activationDone : state !== null && state.status !== 'pending'));
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
      // Still closing after a cancel or its last period: it is over, not started again.
      if (state && (state.status === 'cancelled' || state.status === 'ended')) {
        refuse('not_active', `subscription ${terms.subscriptionId} is ${state.status}`);
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
    await releaseBalances(now());
    notify('subscription.ended', { type: 'subscription.ended', timestamp: iso(now()), data: { account_id: terms.accountId,
      subscription_id: terms.subscriptionId, plan_id: st().snapshot().plan.id, reason: 'cancelled' } });
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
    notify(`purchase:${req.request_id}`, purchaseEvent(r.purchase, r.grant));
    if (r.grant) await checkRecovered(`purchase:${req.request_id}`);
    wake++;
    return r.grant ? { outcome: 'granted', purchase: r.purchase, grant: r.grant } : { outcome: 'payment_failed', purchase: r.purchase };
  })(), {
    validator: (req) => validate(req, () => {
      const check = st().checkBundle(req.bundle_id);
      if ('refusal' in check) refuse(check.refusal, check.message);
      return null;
    }),
  });

  /** Runs begun before alerts existed cannot take alert settings (they get them after their next continue-as-new). */
  const notInThisRun = (): Refusal | null => (v2 ? null : 'invalid_settings');

  setHandler(thresholdCrossedSignal, (c: ThresholdCrossing) => {
    if (!state || !v2) return;
    state.queueCrossing(c);
    wake++;
  });

  setHandler(setAlertsUpdate, (req) => answered(req, async () => {
    st().setAlerts(req.alerts);
    await applyThresholds();
    wake++;
    return st().view();
  })(), { validator: (req) => validate(req, () => notInThisRun() ?? st().refuseAlerts(req.alerts)) });

  setHandler(setAutoRepurchaseUpdate, (req) => answered(req, async () => {
    st().setAutoRepurchase(req.auto_repurchase);
    await applyThresholds();
    return st().view();
  })(), {
    validator: (req) => validate(req, () => {
      if (notInThisRun()) refuse('invalid_settings', PRE_PATCH_MESSAGE);
      const r = st().refuseAutoRepurchase(req.auto_repurchase);
      if (r) refuse(r.refusal, r.message);
      return null;
    }),
  });

  setHandler(resumeAutoRepurchaseUpdate, (req) => answered(req, async () => {
    st().resumeAutoRepurchase();
    return st().view();
  })(), { validator: (req) => validate(req, () => notInThisRun() ?? st().refuseResumeAutoRepurchase()) });

  /** An ended subscription stops allowing overage (after billing what was drawn) and stops watching thresholds. */
  async function releaseBalances(as_of_ms: number): Promise<void> {
    if (!v2) return;
    const s = st().snapshot();
    await acts.billOverage({ subscription_id: terms.subscriptionId, account_id: terms.accountId,
      period_index: s.period?.index ?? 0, as_of_ms, currency: s.plan.currency, final: true });
    await acts.releaseBalances({ account_id: terms.accountId, workflow_id: workflowInfo().workflowId });
  }

  async function applyThresholds(): Promise<void> {
    if (!v2) return;
    await acts.applyThresholds({ account_id: terms.accountId, workflow_id: workflowInfo().workflowId,
      thresholds: st().resolvedThresholds() });
  }

  function purchaseEvent(p: Purchase, grant: KnownGrant | null): WebhookEvent {
    const subject = { account_id: terms.accountId, subscription_id: terms.subscriptionId, request_id: p.request_id,
      bundle_id: p.bundle_id, purchased_by: p.purchased_by, auto: p.auto, price_minor: p.price_minor, currency: p.currency };
    return grant && p.status === 'succeeded'
      ? { type: 'purchase.succeeded', timestamp: iso(p.at_ms), data: { ...subject, credit_type: grant.credit_type,
        amount_credits: grant.amount_credits, grant_id: grant.grant_id, invoice_id: p.invoice_id! } }
      : { type: 'purchase.failed', timestamp: iso(p.at_ms), data: { ...subject, invoice_id: p.invoice_id, reason: p.reason ?? 'declined' } };
  }

  /** After credits arrive (renewal, purchase): a balance that was low and is above its threshold again recovered. */
  async function checkRecovered(tag: string): Promise<void> {
    if (!v2) return;
    for (const [credit_type, threshold] of st().lowCreditTypes()) {
      const facts = await acts.balanceFacts({ account_id: terms.accountId, credit_type, as_of_ms: now() });
      if (facts.available_credits <= threshold) continue;
      st().recovered(credit_type);
      notify(`balance.recovered:${credit_type}:${tag}`, { type: 'balance.recovered', timestamp: iso(now()), data: {
        account_id: terms.accountId, subscription_id: terms.subscriptionId, credit_type,
        available_credits: facts.available_credits, threshold_credits: threshold === 0 ? null : threshold } });
    }
  }

  /** A crossing: alert once, and buy a bundle when it is the auto-repurchase trigger and the guardrails allow. */
  async function actOnCrossing(c: ThresholdCrossing): Promise<void> {
    const subject = { account_id: terms.accountId, subscription_id: terms.subscriptionId, credit_type: c.credit_type };
    if (c.threshold_credits === 0) {
      const facts = await acts.balanceFacts({ account_id: terms.accountId, credit_type: c.credit_type, as_of_ms: now() });
      notify(`balance.depleted:${c.crossing_id}`, { type: 'balance.depleted', timestamp: iso(c.crossed_at_ms), data: {
        ...subject, available_credits: c.available_after, overage_allowed: facts.overage_allowed, overage_credits: facts.overage_credits } });
    } else {
      notify(`balance.low:${c.crossing_id}`, { type: 'balance.low', timestamp: iso(c.crossed_at_ms), data: {
        ...subject, threshold_credits: c.threshold_credits, available_before_credits: c.available_before,
        available_after_credits: c.available_after } });
    }
    const decision = st().autoRepurchaseFor(c, now());
    if (!('buy' in decision)) return;
    const r = await acts.purchaseBundle({ subscription_id: terms.subscriptionId, account_id: terms.accountId,
      time_zone: st().snapshot().account.time_zone, bundle: decision.buy, request_id: `auto:${c.crossing_id}`,
      purchased_by: 'auto-repurchase', as_of_ms: now(), auto: true });
    st().purchased(r.purchase, r.grant, r.extended);
    notify(`purchase:auto:${c.crossing_id}`, purchaseEvent(r.purchase, r.grant));
    if (r.grant) {
      st().autoPurchased(now(), r.purchase.price_minor);
      await checkRecovered(`auto:${c.crossing_id}`);
    } else {
      st().autoPurchaseFailed();
    }
  }

  async function warnExpiringSoon(): Promise<void> {
    for (const g of st().expiringSoonDue(now())) {
      st().expiringNotified(g.grant_id);
      const left = await acts.grantRemaining({ grant_id: g.grant_id });
      if (left <= 0) continue;
      notify(`credits.expiring_soon:${g.grant_id}`, { type: 'credits.expiring_soon', timestamp: iso(now()), data: {
        account_id: terms.accountId, subscription_id: terms.subscriptionId, credit_type: g.credit_type,
        grant_id: g.grant_id, source: g.source, expiring_credits: left, expires_at: iso(g.expires_at_ms!) } });
    }
  }

  async function record(): Promise<void> {
    const s = st().snapshot();
    upsertSearchAttributes([
      { key: ACCOUNT_ID, value: terms.accountId }, { key: PLAN_ID, value: s.plan.id }, { key: STATUS, value: s.status },
    ]);
    await acts.recordSubscription({ terms, plan_id: s.plan.id, status: s.status });
  }

  if (!state) {
    await lock.run(activate);
    activationDone = true;
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
      notify('subscription.ended', { type: 'subscription.ended', timestamp: iso(now()), data: { account_id: terms.accountId,
        subscription_id: terms.subscriptionId, plan_id: plan.id, reason: 'payment_failed' } });
      return;
    }
    const opened = await acts.openPeriod({ subscription_id: terms.subscriptionId, account_id: terms.accountId, plan,
      period, previous_plan_grants: [], previous_allotments: {}, previous_rollover: plan.rollover,
      started_by: terms.startedBy });
    st().activated(period, opened.grants);
    await applyThresholds();
    await record();
  }

  /** Period end: end the subscription, or charge and open the next period (or retry a declined charge). */
  async function renew(): Promise<void> {
    const s = st();
    const ending = s.snapshot();
    if (s.status === 'renewal_stopped') return endAt(ending.period!.end_ms, 'period_ended');
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
      const next = s.takePendingPlan(ending.period!.index + 1);
      if (next) await acts.applyPlanToBalances({ account_id: terms.accountId, plan: next, workflow_id: workflowInfo().workflowId });
      period = await acts.computePeriod({ anchor_ms: ending.anchor_ms, time_zone: ending.account.time_zone,
        index: ending.period!.index + 1 });
    }
    const plan = s.snapshot().plan;
    let chargedInvoice: string | null = null;
    if (s.isChargedAt(period.index)) {
      const attempt = retry ? `:retry:${retry.attempts}` : '';
      const charge = await acts.charge({ key: `${terms.subscriptionId}:charge:period:${period.index}${attempt}`,
        account_id: terms.accountId, amount_minor: plan.price_minor, currency: plan.currency,
        description: `${plan.id} period ${period.index}` });
      if (charge.status === 'failed') {
        s.renewalChargeFailed(period, now());
        if (s.status === 'ended') await endAt(now(), 'payment_failed');
        else await record();
        return;
      }
      chargedInvoice = charge.invoice_id;
    }
    const opened = await acts.openPeriod({ subscription_id: terms.subscriptionId, account_id: terms.accountId, plan,
      period, previous_plan_grants: s.currentPlanGrants(), previous_allotments: s.periodPlan.allotments,
      previous_rollover: s.periodPlan.rollover, started_by: terms.startedBy });
    s.renewed(period, opened.grants);
    await record();
    if (v2) {
      await applyThresholds();
      notify(`subscription.renewed:${period.index}`, { type: 'subscription.renewed', timestamp: iso(period.start_ms), data: {
        account_id: terms.accountId, subscription_id: terms.subscriptionId, plan_id: plan.id, period_index: period.index,
        period_start: iso(period.start_ms), period_end: iso(period.end_ms), invoice_id: chargedInvoice,
        price_minor: s.isChargedAt(period.index) ? plan.price_minor : 0, currency: plan.currency,
        granted: opened.grants.map((g) => ({ grant_id: g.grant_id, credit_type: g.credit_type, source: g.source,
          amount_credits: g.amount_credits })) } });
      await checkRecovered(`renewal:${period.index}`);
    }
  }

  async function endAt(as_of_ms: number, reason: 'period_ended' | 'payment_failed'): Promise<void> {
    for (const g of st().currentPlanGrants()) {
      await acts.expireGrantAt({ subscription_id: terms.subscriptionId, grant_id: g.grant_id, as_of_ms: Math.max(as_of_ms, g.expires_at_ms ?? as_of_ms) });
    }
    st().ended('ended');
    await record();
    await releaseBalances(as_of_ms);
    notify('subscription.ended', { type: 'subscription.ended', timestamp: iso(as_of_ms), data: { account_id: terms.accountId,
      subscription_id: terms.subscriptionId, plan_id: st().snapshot().plan.id, reason } });
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
    const work = () => moved() || st().hasQueuedCrossings();
    if (deadline === null) await condition(work);
    else if (deadline > now()) await condition(work, deadline - now());
    await lock.run(async () => {
      if (st().isRenewalDue(now())) await renew();
      await expireDue();
      if (v2) {
        for (let c = st().takeCrossing(); c; c = st().takeCrossing()) await actOnCrossing(c);
        await warnExpiringSoon();
      }
    });
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength > maxHistory) {
      await condition(allHandlersFinished);
      await Promise.all(inflight);
      return continueAsNew<typeof subscriptionWorkflow>({ terms, snapshot: st().snapshot(), max_history_events: input.max_history_events });
    }
  }
  await condition(allHandlersFinished);
  await Promise.all(inflight);
  return st().view();
}
