import type { Bundle, Catalog, Plan } from '../catalog/schema';
import type {
  AlertSettings, AutoRepurchaseSettings, KnownGrant, Period, Purchase, Refusal, SubscriptionStatus,
  SubscriptionTerms, SubscriptionView, ThresholdCrossing,
} from './messages';

/**
 * Everything a subscription remembers, as plain JSON: it is what continue-as-new carries to the next run, dedupe
 * keys (answers to requests already handled) included. Decisions live here as pure methods; the workflow shell
 * only wires them to handlers, timers and activities.
 */
export interface SubscriptionSnapshot {
  terms: SubscriptionTerms;
  account: { time_zone: string; country: string };
  catalog: Catalog;
  /** The terms this subscription was sold on; a catalog change reaches it only through a plan change. */
  plan: Plan;
  /** The plan the current period's credits were granted under (differs from `plan` between a change and renewal). */
  period_plan?: Plan;
  /** The period index at which `plan` began: an annual plan is charged every 12 periods from there. */
  plan_started_index?: number;
  pending_plan_id: string | null;
  status: SubscriptionStatus;
  anchor_ms: number;
  period: Period | null;
  grants: KnownGrant[];
  purchases: Purchase[];
  alerts: AlertSettings;
  auto_repurchase: AutoRepurchaseSettings;
  past_due: { attempts: number; next_retry_ms: number; period: Period } | null;
  /** [request_id, answer, request fingerprint]: a retried request gets the same answer in any later run. */
  answered: [string, unknown, string][];
  generation: number;
  /** Added with alerts (patch 'alerts-v2'); absent in snapshots of earlier runs. */
  alert_state?: AlertState;
}

export interface AlertState {
  /** Credit type → the lowest threshold crossed and not yet recovered from. */
  low: Record<string, number>;
  /** Crossings received but not yet acted on (signals are queued; the main loop acts under the lock). */
  queued: ThresholdCrossing[];
  /** Crossing ids already acted on: however often a crossing is signalled, it is acted on once. */
  handled: number[];
  /** Grant ids already warned about their expiry. */
  expiring_notified: string[];
  /** Auto-repurchase guardrails count per calendar month in the account's time zone. */
  month: { key: string; purchases: number; spend_minor: number };
}

const HANDLED_KEPT = 1_000;

/** "2026-11" for an instant, in the account's zone (Intl is deterministic given the same tz data). */
export function monthKey(ms: number, time_zone: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: time_zone, year: 'numeric', month: '2-digit' }).format(ms).slice(0, 7);
}

export type AutoRepurchaseDecision =
  | { buy: Bundle }
  | { skip: 'disabled' | 'paused' | 'other_credit_type' | 'not_trigger' | 'max_purchases' | 'max_spend' | 'not_eligible' };

export const PAST_DUE_RETRY_DELAYS_MS = [1, 2, 4].map((days) => days * 24 * 3_600_000);
const ANSWERS_KEPT = 1_000;
const PURCHASES_KEPT = 200;

export const DEFAULT_ALERTS: AlertSettings = { thresholds: [], expiring_soon_notice_ms: 7 * 24 * 3_600_000 };
export const DEFAULT_AUTO_REPURCHASE: AutoRepurchaseSettings = {
  enabled: false, bundle_id: null, trigger_below_credits: 0, max_purchases_per_month: 0, max_spend_minor_per_month: 0,
  paused: false,
};

export class SubscriptionState {
  private constructor(readonly s: SubscriptionSnapshot) {}

  static create(init: { terms: SubscriptionTerms; account: { time_zone: string; country: string }; catalog: Catalog;
    plan: Plan; anchor_ms: number }): SubscriptionState {
    return new SubscriptionState({
      ...init, pending_plan_id: null, status: 'pending', period: null, grants: [], purchases: [],
      alerts: DEFAULT_ALERTS, auto_repurchase: DEFAULT_AUTO_REPURCHASE, past_due: null, answered: [], generation: 0,
    });
  }

  static restore(snapshot: SubscriptionSnapshot): SubscriptionState {
    return new SubscriptionState({ ...snapshot, generation: snapshot.generation + 1 });
  }

  private get alertState(): AlertState {
    this.s.alert_state ??= { low: {}, queued: [], handled: [], expiring_notified: [], month: { key: '', purchases: 0, spend_minor: 0 } };
    return this.s.alert_state;
  }

  snapshot(): SubscriptionSnapshot {
    return this.s;
  }

  get status(): SubscriptionStatus {
    return this.s.status;
  }

  // --- answers kept across runs ---------------------------------------------------------------------------
  answerFor(request_id: string): unknown {
    return this.s.answered.find(([id]) => id === request_id)?.[1];
  }

  /** 'new', 'same' (answer again) or 'conflict' (the id came before with another request). */
  seen(request_id: string, fingerprint: string): 'new' | 'same' | 'conflict' {
    const prior = this.s.answered.find(([id]) => id === request_id);
    if (!prior) return 'new';
    return prior[2] === fingerprint ? 'same' : 'conflict';
  }

  remember<T>(request_id: string, answer: T, fingerprint: string): T {
    this.s.answered.push([request_id, answer, fingerprint]);
    if (this.s.answered.length > ANSWERS_KEPT) this.s.answered.splice(0, this.s.answered.length - ANSWERS_KEPT);
    return answer;
  }

  // --- lifecycle ------------------------------------------------------------------------------------------
  activated(period: Period, grants: KnownGrant[]): void {
    this.s.status = 'active';
    this.s.period = period;
    this.s.grants.push(...grants);
  }

  firstChargeFailed(): void {
    this.s.status = 'payment_failed';
  }

  /** Plan credits of the current period (allotment and rollover): swept at its end, closed on cancel. */
  currentPlanGrants(): KnownGrant[] {
    const index = this.s.period?.index;
    return this.s.grants.filter((g) => !g.expired && (g.source === 'plan_allotment' || g.source === 'rollover')
      && g.period_index === index);
  }

  /** The plan the current period was granted under: its allotments and rollover policy govern what carries over. */
  get periodPlan(): Plan {
    return this.s.period_plan ?? this.s.plan;
  }

  isChargedAt(index: number): boolean {
    return this.s.plan.billing_interval === 'monthly' || (index - (this.s.plan_started_index ?? 0)) % 12 === 0;
  }

  /**
   * Switches to the pending plan, if any, at the renewal that opens period `index`. A year already paid for is
   * used up first: leaving an annual plan waits for its next annual boundary.
   */
  takePendingPlan(index: number): Plan | null {
    if (!this.s.pending_plan_id) return null;
    const annualYearRunning = this.s.plan.billing_interval === 'annual'
      && (index - (this.s.plan_started_index ?? 0)) % 12 !== 0;
    if (annualYearRunning) return null;
    const next = this.s.catalog.plans.find((p) => p.id === this.s.pending_plan_id);
    this.s.pending_plan_id = null;
    if (!next) return null;
    this.s.period_plan = this.s.plan;
    this.s.plan = next;
    this.s.plan_started_index = index;
    return next;
  }

  refreshCatalog(catalog: Catalog): void {
    this.s.catalog = catalog;
  }

  renewed(period: Period, grants: KnownGrant[]): void {
    this.markPlanGrantsExpired();
    this.s.period_plan = this.s.plan;
    this.s.period = period;
    this.s.grants.push(...grants);
    this.s.status = 'active';
    this.s.past_due = null;
    this.pruneGrants();
  }

  renewalChargeFailed(period: Period, now_ms: number): void {
    const attempts = (this.s.past_due?.attempts ?? 0) + 1;
    const delay = PAST_DUE_RETRY_DELAYS_MS[attempts - 1];
    if (delay === undefined) {
      this.s.past_due = null;
      this.s.status = 'ended';
      return;
    }
    this.s.status = 'past_due';
    this.s.past_due = { attempts, next_retry_ms: now_ms + delay, period };
  }

  ended(status: 'ended' | 'cancelled'): void {
    this.markPlanGrantsExpired();
    this.s.status = status;
    this.s.past_due = null;
  }

  private markPlanGrantsExpired(): void {
    for (const g of this.s.grants) if (g.source === 'plan_allotment' || g.source === 'rollover') g.expired = true;
  }

  /** Expired plan grants are history the ledger keeps; the workflow forgets them to stay small. */
  private pruneGrants(): void {
    const index = this.s.period?.index ?? 0;
    this.s.grants = this.s.grants.filter((g) => !(g.expired && g.period_index !== null && g.period_index < index - 1));
  }

  grantExpired(grant_id: string): void {
    const g = this.s.grants.find((x) => x.grant_id === grant_id);
    if (g) g.expired = true;
  }

  grantExtended(grant_id: string, expires_at_ms: number | null): void {
    const g = this.s.grants.find((x) => x.grant_id === grant_id);
    if (g) g.expires_at_ms = expires_at_ms;
  }

  /** Bundles and adjustments with an expiry of their own, due at `now_ms`. */
  dueExpiries(now_ms: number): KnownGrant[] {
    return this.s.grants.filter((g) => !g.expired && g.source !== 'plan_allotment' && g.source !== 'rollover'
      && g.expires_at_ms !== null && g.expires_at_ms <= now_ms);
  }

  isRenewalDue(now_ms: number): boolean {
    if (this.s.status === 'past_due') return this.s.past_due !== null && now_ms >= this.s.past_due.next_retry_ms;
    return (this.s.status === 'active' || this.s.status === 'renewal_stopped') && this.s.period !== null
      && now_ms >= this.s.period.end_ms;
  }

  /** The next instant something must happen, or null when only a message can wake the subscription. */
  nextDeadlineMs(): number | null {
    const candidates: number[] = [];
    if (this.s.status === 'past_due' && this.s.past_due) candidates.push(this.s.past_due.next_retry_ms);
    else if ((this.s.status === 'active' || this.s.status === 'renewal_stopped') && this.s.period) {
      candidates.push(this.s.period.end_ms);
    }
    for (const g of this.s.grants) {
      if (!g.expired && g.source !== 'plan_allotment' && g.source !== 'rollover' && g.expires_at_ms !== null) {
        candidates.push(g.expires_at_ms);
      }
    }
    if (this.s.alert_state) {
      for (const g of this.expiringSoonCandidates()) candidates.push(g.expires_at_ms! - this.s.alerts.expiring_soon_notice_ms);
    }
    return candidates.length ? Math.min(...candidates) : null;
  }

  // --- alerts and auto-repurchase (patch 'alerts-v2') -----------------------------------------------------
  private expiringSoonCandidates(): KnownGrant[] {
    const notified = new Set(this.alertState.expiring_notified);
    return this.s.grants.filter((g) => !g.expired && g.source !== 'plan_allotment' && g.source !== 'rollover'
      && g.expires_at_ms !== null && !notified.has(g.grant_id));
  }

  /** Bundles (and dated adjustments) whose expiry notice is due. */
  expiringSoonDue(now_ms: number): KnownGrant[] {
    return this.expiringSoonCandidates().filter((g) => g.expires_at_ms! - this.s.alerts.expiring_soon_notice_ms <= now_ms);
  }

  expiringNotified(grant_id: string): void {
    this.alertState.expiring_notified.push(grant_id);
  }

  /**
   * Thresholds in absolute credits per credit type, as the debit SQL needs them: each alert (credits, or a
   * percentage of the plan's allotment, rounded down), the auto-repurchase trigger, and 0 to detect depletion.
   */
  resolvedThresholds(): Record<string, number[]> {
    const out: Record<string, number[]> = {};
    const add = (ct: string, credits: number) => { (out[ct] ??= []).includes(credits) || out[ct]!.push(credits); };
    for (const ct of Object.keys(this.s.plan.allotments)) add(ct, 0);
    for (const t of this.s.alerts.thresholds) {
      const credits = t.credits ?? Math.floor(((this.s.plan.allotments[t.credit_type] ?? 0) * (t.percent_of_allotment ?? 0)) / 100);
      add(t.credit_type, 0);
      add(t.credit_type, credits);
    }
    const auto = this.s.auto_repurchase;
    const bundle = auto.enabled ? this.s.catalog.bundles.find((b) => b.id === auto.bundle_id) : undefined;
    if (bundle) {
      add(bundle.credit_type, 0);
      add(bundle.credit_type, auto.trigger_below_credits);
    }
    for (const list of Object.values(out)) list.sort((a, b) => b - a);
    return out;
  }

  refuseAlerts(alerts: AlertSettings): Refusal | null {
    const types = new Set(this.s.catalog.credit_types.map((t) => t.id));
    for (const t of alerts.thresholds) {
      if (!types.has(t.credit_type)) return 'invalid_settings';
      if ((t.credits === undefined) === (t.percent_of_allotment === undefined)) return 'invalid_settings';
      const pct = t.percent_of_allotment;
      if (pct !== undefined && (!Number.isInteger(pct) || pct < 1 || pct > 100)) return 'invalid_settings';
      if (t.percent_of_allotment !== undefined && !this.s.plan.allotments[t.credit_type]) return 'invalid_settings';
    }
    return null;
  }

  setAlerts(alerts: AlertSettings): void {
    this.s.alerts = alerts;
    void this.alertState;
  }

  refuseAutoRepurchase(settings: Omit<AutoRepurchaseSettings, 'paused'>): { refusal: Refusal; message: string } | null {
    if (!settings.enabled) return null;
    if (!settings.bundle_id) return { refusal: 'invalid_settings', message: 'auto-repurchase needs a bundle_id' };
    const check = this.checkBundle(settings.bundle_id);
    return 'refusal' in check ? check : null;
  }

  setAutoRepurchase(settings: Omit<AutoRepurchaseSettings, 'paused'>): void {
    this.s.auto_repurchase = { ...settings, paused: this.s.auto_repurchase.paused };
    void this.alertState;
  }

  refuseResumeAutoRepurchase(): Refusal | null {
    return this.s.auto_repurchase.paused ? null : 'invalid_settings';
  }

  resumeAutoRepurchase(): void {
    this.s.auto_repurchase = { ...this.s.auto_repurchase, paused: false };
  }

  queueCrossing(c: ThresholdCrossing): void {
    const a = this.alertState;
    if (a.handled.includes(c.crossing_id) || a.queued.some((q) => q.crossing_id === c.crossing_id)) return;
    a.queued.push(c);
  }

  /** The next crossing to act on, marked handled as it is taken (a repeated signal finds it handled). */
  takeCrossing(): ThresholdCrossing | null {
    const a = this.alertState;
    const c = a.queued.shift();
    if (!c) return null;
    a.handled.push(c.crossing_id);
    if (a.handled.length > HANDLED_KEPT) a.handled.splice(0, a.handled.length - HANDLED_KEPT);
    if (a.low[c.credit_type] === undefined || c.threshold_credits < a.low[c.credit_type]!) a.low[c.credit_type] = c.threshold_credits;
    return c;
  }

  hasQueuedCrossings(): boolean {
    return (this.s.alert_state?.queued.length ?? 0) > 0;
  }

  /** Credit types marked low whose balance should be re-checked after credits arrive. */
  lowCreditTypes(): [string, number][] {
    return Object.entries(this.alertState.low);
  }

  recovered(credit_type: string): void {
    delete this.alertState.low[credit_type];
  }

  /** Whether this crossing buys a bundle: only the trigger's own crossing, within this month's guardrails. */
  autoRepurchaseFor(c: ThresholdCrossing, now_ms: number): AutoRepurchaseDecision {
    const auto = this.s.auto_repurchase;
    if (!auto.enabled || !auto.bundle_id) return { skip: 'disabled' };
    if (auto.paused) return { skip: 'paused' };
    const check = this.checkBundle(auto.bundle_id);
    if ('refusal' in check) return { skip: 'not_eligible' };
    if (check.bundle.credit_type !== c.credit_type) return { skip: 'other_credit_type' };
    if (c.threshold_credits !== auto.trigger_below_credits) return { skip: 'not_trigger' };
    const month = this.currentMonth(now_ms);
    if (month.purchases >= auto.max_purchases_per_month) return { skip: 'max_purchases' };
    if (month.spend_minor + check.bundle.price_minor > auto.max_spend_minor_per_month) return { skip: 'max_spend' };
    return { buy: check.bundle };
  }

  private currentMonth(now_ms: number): AlertState['month'] {
    const a = this.alertState;
    const key = monthKey(now_ms, this.s.account.time_zone);
    if (a.month.key !== key) a.month = { key, purchases: 0, spend_minor: 0 };
    return a.month;
  }

  autoPurchased(now_ms: number, price_minor: number): void {
    const month = this.currentMonth(now_ms);
    month.purchases += 1;
    month.spend_minor += price_minor;
  }

  autoPurchaseFailed(): void {
    this.s.auto_repurchase = { ...this.s.auto_repurchase, paused: true };
  }

  /** Ended for good once no grant of its own is left to expire. */
  isFinished(): boolean {
    const over = this.s.status === 'ended' || this.s.status === 'cancelled' || this.s.status === 'payment_failed';
    return over && this.nextDeadlineMs() === null;
  }

  // --- requests -------------------------------------------------------------------------------------------
  refuseStop(): Refusal | null {
    if (this.s.status === 'renewal_stopped') return 'already_stopped';
    return this.s.status === 'active' ? null : 'not_active';
  }

  stopRenewal(): void {
    this.s.status = 'renewal_stopped';
  }

  refuseResume(now_ms: number): Refusal | null {
    if (this.s.status !== 'renewal_stopped') return 'not_stopped';
    return this.s.period && now_ms < this.s.period.end_ms ? null : 'period_ended';
  }

  resumeRenewal(): void {
    this.s.status = 'active';
  }

  refuseCancel(): Refusal | null {
    return ['active', 'renewal_stopped', 'past_due'].includes(this.s.status) ? null : 'not_active';
  }

  refusePlanChange(plan_id: string): Refusal | null {
    const plan = this.s.catalog.plans.find((p) => p.id === plan_id);
    if (!plan) return 'unknown_plan';
    if (this.s.status !== 'active') return 'not_active';
    if (plan_id === this.s.plan.id && this.s.pending_plan_id === null) return 'same_plan';
    if (plan.currency !== this.s.plan.currency) return 'currency_mismatch';
    return null;
  }

  changePlanAtRenewal(plan_id: string): void {
    this.s.pending_plan_id = plan_id === this.s.plan.id ? null : plan_id;
  }

  /** Which bundle a request may buy, or why not. */
  checkBundle(bundle_id: string): { bundle: Bundle } | { refusal: Refusal; message: string } {
    const bundle = this.s.catalog.bundles.find((b) => b.id === bundle_id);
    if (!bundle) return { refusal: 'unknown_bundle', message: `no bundle ${bundle_id} in catalog ${this.s.catalog.version}` };
    if (this.s.status !== 'active' && this.s.status !== 'renewal_stopped') {
      return { refusal: 'not_active', message: `subscription is ${this.s.status}` };
    }
    const rules = bundle.eligibility;
    if (rules.requires_paid_plan && this.s.plan.price_minor === 0) {
      return { refusal: 'not_eligible', message: `${bundle_id} needs a paid plan; ${this.s.plan.id} is free` };
    }
    if (rules.countries && !rules.countries.includes(this.s.account.country)) {
      return { refusal: 'not_eligible', message: `${bundle_id} is sold in ${rules.countries.join(', ')} only` };
    }
    return { bundle };
  }

  purchased(purchase: Purchase, grant: KnownGrant | null, extended: { grant_id: string; expires_at_ms: number }[]): void {
    this.s.purchases.push(purchase);
    if (this.s.purchases.length > PURCHASES_KEPT) this.s.purchases.splice(0, this.s.purchases.length - PURCHASES_KEPT);
    if (grant) this.s.grants.push(grant);
    for (const e of extended) this.grantExtended(e.grant_id, e.expires_at_ms);
  }

  // --- live state -----------------------------------------------------------------------------------------
  view(): SubscriptionView {
    const s = this.s;
    const renewal_enabled = s.status === 'active' || s.status === 'past_due';
    return {
      subscription_id: s.terms.subscriptionId, account_id: s.terms.accountId, plan_id: s.plan.id,
      pending_plan_id: s.pending_plan_id, status: s.status, time_zone: s.account.time_zone, renewal_enabled,
      current_period: s.period,
      next_renewal_at_ms: s.status === 'past_due' ? s.past_due?.next_retry_ms ?? null
        : renewal_enabled && s.period ? s.period.end_ms : null,
      billing_interval: s.plan.billing_interval, grants: s.grants, purchases: s.purchases, alerts: s.alerts,
      auto_repurchase: s.auto_repurchase, catalog_version: s.catalog.version, generation: s.generation,
    };
  }
}
