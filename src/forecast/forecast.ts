import type { RolloverPolicy } from '../catalog/schema';
import { rolloverCredits } from '../subscriptions/rollover';

/**
 * When will an account's credits of one type run out? A pure function of what is there now (the grants' lots, what
 * is held or owed), how fast credits were spent over trailing windows, and what is scheduled: lots that expire,
 * renewals that grant a plan's allotment (and roll over what its policy allows), lots that start later.
 *
 * Spending is projected as a constant rate per window (spent_credits / window), drawn in the ledger's burn order
 * (priority, soonest expiry, source, age). Arithmetic is exact: credits are scaled by the window's length in ms so
 * that every intermediate is an integer (BigInt), and results are rounded once, stated where.
 */

export interface ForecastLot {
  remaining_credits: number;
  effective_from_ms: number;
  expires_at_ms: number | null;
  priority: number;
  /** 0 plan allotment, 1 rollover, 2 bundle, 3 adjustment: the ledger's burn order after expiry. */
  source_rank: number;
  /** Creation order, the last tiebreak. */
  seq: number;
  /** Plan credits (allotment or rollover) of this subscription: what its renewals roll over. */
  plan_of_subscription: string | null;
}

export interface ScheduledRenewal {
  at_ms: number;
  subscription_id: string;
  allotment_credits: number;
  /** When the period this renewal opens ends (the new allotment and rollover expire then). */
  period_end_ms: number;
  rollover: RolloverPolicy;
}

export interface BundleOption {
  bundle_id: string;
  amount_credits: number;
  price_minor: number;
  currency: string;
}

export interface ForecastInput {
  credit_type: string;
  as_of_ms: number;
  lots: ForecastLot[];
  /** Held for scheduled sends, and overage drawn but not settled: spoken for, taken from the lots first. */
  committed_credits: number;
  /** What was spent over each trailing window ending at as_of. */
  windows: { window_days: number; spent_credits: number }[];
  renewals: ScheduledRenewal[];
  /** The end of the current period (the next renewal, or the end of the calendar month without one). */
  period_end_ms: number;
  /** How far to look for the run-out instant. */
  horizon_ms: number;
  /** Bundles the account may buy that last to period end; eligibility is the caller's to decide. */
  bundles: BundleOption[];
  /** Bundles in this currency (the subscription's) are suggested first. */
  preferred_currency: string | null;
}

export interface BurnRate {
  window_days: number;
  spent_credits: number;
  /** spent_credits / window_days, rounded half up to hundredths, as an exact decimal string. */
  credits_per_day: string;
}

export interface Projection {
  window_days: number;
  /** First instant the projected spending finds nothing left (rounded up to the ms); null: not before the horizon. */
  runs_out_at_ms: number | null;
  /** Projected spending until period end that the credits cannot cover (rounded up to whole credits). */
  shortfall_credits: number;
  /** Credits projected to expire unspent before period end, net of what rolls over (rounded down). */
  expiring_unused_credits: number;
}

export interface Suggestion {
  bundle_id: string;
  quantity: number;
  credits: number;
  price_minor: number;
  currency: string;
}

export interface CreditForecast {
  credit_type: string;
  available_credits: number;
  burn: BurnRate[];
  projections: Projection[];
  /** The window whose projection runs out soonest (the faster burn): the one alerts and suggestions go by. */
  basis_window_days: number | null;
  runs_out_at_ms: number | null;
  period_end_ms: number;
  shortfall_credits: number;
  /** The cheapest way (bundles in the preferred currency first) to cover the shortfall until period end. */
  suggestion: Suggestion | null;
}

const DAY_MS = 86_400_000;
const big = BigInt;
const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;

export function creditsPerDay(spent_credits: number, window_days: number): string {
  const hundredths = (big(spent_credits) * 200n + big(window_days)) / (2n * big(window_days));
  return `${hundredths / 100n}.${String(hundredths % 100n).padStart(2, '0')}`;
}

interface Lot {
  left: bigint;
  from_ms: number;
  until_ms: number | null;
  priority: number;
  source_rank: number;
  seq: number;
  plan_of: string | null;
}

const byBurnOrder = (a: Lot, b: Lot) => a.priority - b.priority
  || (a.until_ms ?? Infinity) - (b.until_ms ?? Infinity) || a.source_rank - b.source_rank || a.seq - b.seq;

/** Takes up to `want` (scaled) from the lots live at `t`, in burn order; answers what was taken. */
function draw(lots: Lot[], t: number, want: bigint): bigint {
  let taken = 0n;
  for (const lot of lots) {
    if (taken === want) break;
    if (lot.left === 0n || lot.from_ms > t || (lot.until_ms !== null && lot.until_ms <= t)) continue;
    const take = lot.left < want - taken ? lot.left : want - taken;
    lot.left -= take;
    taken += take;
  }
  return taken;
}

const liveTotal = (lots: Lot[], t: number) => lots.reduce((sum, l) =>
  (l.from_ms <= t && (l.until_ms === null || l.until_ms > t) ? sum + l.left : sum), 0n);

/** Runs one window's rate from as_of to the horizon. */
export function project(input: ForecastInput, window: { window_days: number; spent_credits: number }): Projection {
  const W = big(window.window_days * DAY_MS);
  const S = big(window.spent_credits);
  let seq = Math.max(0, ...input.lots.map((l) => l.seq)) + 1;
  const lots: Lot[] = input.lots.map((l) => ({ left: big(l.remaining_credits) * W, from_ms: l.effective_from_ms,
    until_ms: l.expires_at_ms, priority: l.priority, source_rank: l.source_rank, seq: l.seq, plan_of: l.plan_of_subscription }))
    .sort(byBurnOrder);
  let t = input.as_of_ms;
  const end = Math.max(input.horizon_ms, input.period_end_ms);
  let runsOut: number | null = null;
  let unmet = 0n;
  let expiredUnused = 0n;

  // What is already spoken for is gone before anything else is spent.
  const committed = big(input.committed_credits) * W;
  if (draw(lots, t, committed) < committed) runsOut = t;

  const times = new Set<number>([input.period_end_ms, end]);
  for (const l of lots) {
    if (l.from_ms > t) times.add(l.from_ms);
    if (l.until_ms !== null && l.until_ms > t) times.add(l.until_ms);
  }
  const renewals = input.renewals.filter((r) => r.at_ms > t && r.at_ms <= end);
  for (const r of renewals) times.add(r.at_ms);

  for (const e of [...times].filter((x) => x > t && x <= end).sort((a, b) => a - b)) {
    const demand = S * big(e - t);
    const supply = liveTotal(lots, t);
    if (supply < demand) {
      if (runsOut === null && S > 0n) runsOut = t + Number(ceilDiv(supply, S));
      if (e <= input.period_end_ms) unmet += demand - supply;
    }
    draw(lots, t, demand);
    t = e;

    // At e: renewals roll over what their plan credits have left (before those expire), then lots expire,
    // then the renewals' new credits arrive.
    const arriving: Lot[] = [];
    for (const r of renewals.filter((x) => x.at_ms === e)) {
      const left = lots.filter((l) => l.plan_of === r.subscription_id && l.until_ms === e).reduce((s, l) => s + l.left, 0n);
      const carry = rolloverCredits(r.rollover, Number(left / W), r.allotment_credits);
      if (e <= input.period_end_ms) expiredUnused -= big(carry) * W;
      const lot = (credits: number, source_rank: number): Lot => ({ left: big(credits) * W, from_ms: e,
        until_ms: r.period_end_ms, priority: 100, source_rank, seq: seq++, plan_of: r.subscription_id });
      if (carry > 0) arriving.push(lot(carry, 1));
      if (r.allotment_credits > 0) arriving.push(lot(r.allotment_credits, 0));
    }
    for (const l of lots) {
      if (l.until_ms === e && l.left > 0n) {
        if (e <= input.period_end_ms) expiredUnused += l.left;
        l.left = 0n;
      }
    }
    if (arriving.length > 0) {
      lots.push(...arriving);
      lots.sort(byBurnOrder);
    }
  }
  return {
    window_days: window.window_days,
    runs_out_at_ms: runsOut,
    shortfall_credits: Number(ceilDiv(unmet, W)),
    expiring_unused_credits: expiredUnused > 0n ? Number(expiredUnused / W) : 0,
  };
}

/** The cheapest bundle (by total price, then fewest surplus credits) covering `credits`, preferred currency first. */
export function suggestBundle(credits: number, bundles: BundleOption[], preferred: string | null): Suggestion | null {
  if (credits <= 0) return null;
  const options = bundles.filter((b) => b.amount_credits > 0).map((b) => {
    const quantity = Math.ceil(credits / b.amount_credits);
    return { bundle_id: b.bundle_id, quantity, credits: quantity * b.amount_credits, price_minor: quantity * b.price_minor,
      currency: b.currency };
  });
  options.sort((a, b) => Number(a.currency !== preferred) - Number(b.currency !== preferred)
    || (a.currency < b.currency ? -1 : a.currency > b.currency ? 1 : 0)
    || a.price_minor - b.price_minor || a.credits - b.credits || (a.bundle_id < b.bundle_id ? -1 : 1));
  return options[0] ?? null;
}

export function forecast(input: ForecastInput): CreditForecast {
  const available = input.lots.reduce((sum, l) => (l.effective_from_ms <= input.as_of_ms
    && (l.expires_at_ms === null || l.expires_at_ms > input.as_of_ms) ? sum + l.remaining_credits : sum), 0)
    - input.committed_credits;
  const burn = input.windows.map((w) => ({ ...w, credits_per_day: creditsPerDay(w.spent_credits, w.window_days) }));
  const projections = input.windows.map((w) => project(input, w));
  // The faster burn: spent_a / days_a > spent_b / days_b, compared without division.
  let basis: number | null = null;
  input.windows.forEach((w, i) => {
    const b = basis === null ? null : input.windows[basis]!;
    if (b === null || w.spent_credits * b.window_days > b.spent_credits * w.window_days) basis = i;
  });
  const chosen = basis === null ? null : projections[basis]!;
  const shortfall = chosen?.shortfall_credits ?? 0;
  return {
    credit_type: input.credit_type,
    available_credits: available,
    burn,
    projections,
    basis_window_days: chosen?.window_days ?? null,
    runs_out_at_ms: chosen?.runs_out_at_ms ?? (available <= 0 ? input.as_of_ms : null),
    period_end_ms: input.period_end_ms,
    shortfall_credits: shortfall,
    suggestion: suggestBundle(shortfall, input.bundles, input.preferred_currency),
  };
}
