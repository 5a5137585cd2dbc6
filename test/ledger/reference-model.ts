/**
 * A reference model of one account's balance of one credit type: the rules of migrations/002 written as plainly as
 * possible, with no SQL, no concurrency and no clock. The property test runs the same operations against both and
 * demands the same answers. Instants are epoch milliseconds; grant ids are the model's own ('g0', 'g1', …) and the
 * test maps the database's uuids onto them.
 *
 * Rules it encodes (and so pins):
 * - Spendable at t: grants with remaining > 0, effective_from <= t < expires_at (never-expiring: no upper bound).
 *   Available = spendable − unsettled overage (this model has no holds).
 * - A debit draws in burn order: priority asc, expires_at asc with never-expiring last, source
 *   plan_allotment < rollover < bundle < adjustment, then creation order. It is refused, and leaves no trace, when
 *   available < amount and overage is not allowed; under overage the shortfall becomes overage.
 * - Every write has an idempotency key. A key seen before with the same kind and request answers the stored
 *   result with duplicate: true and changes nothing; with another request it is a conflict. Refusals are not
 *   stored, so their key stays free.
 */

export type Source = 'plan_allotment' | 'rollover' | 'bundle' | 'adjustment';

const SOURCE_RANK: Record<Source, number> = { plan_allotment: 0, rollover: 1, bundle: 2, adjustment: 3 };

export interface ModelGrant {
  id: string;
  amount_credits: number;
  remaining_credits: number;
  source: Source;
  priority: number;
  effective_from_ms: number;
  expires_at_ms: number | null;
  /** Creation order: the last tie-break of the burn order. */
  seq: number;
}

export const CONFLICT = { status: 'idempotency_conflict' } as const;
export type Conflict = typeof CONFLICT;

export type GrantOutcome = {
  status: 'granted'; grant_id: string; amount_credits: number; effective_from_ms: number; expires_at_ms: number | null;
  duplicate: boolean;
};
export type DebitOutcome =
  | {
      status: 'accepted'; drawn_credits: number; overage_credits: number; available_after_credits: number;
      entries: { grant_id: string; amount_credits: number }[]; thresholds_crossed: number[]; duplicate: boolean;
    }
  | { status: 'refused'; code: 'insufficient_credits'; available_credits: number; requested_credits: number;
      duplicate: false };
export type ExpireOutcome =
  | { status: 'expired'; grant_id: string; expired_credits: number; duplicate: boolean }
  | { status: 'not_due'; grant_id: string; expires_at_ms: number | null; expired_credits: 0; duplicate: boolean };
export type CloseOutcome = { status: 'closed'; grant_id: string; closed_credits: number; duplicate: boolean };
export type ExtendOutcome =
  | { status: 'extended'; grant_id: string; previous_expires_at_ms: number; expires_at_ms: number; duplicate: boolean }
  | { status: 'unchanged'; grant_id: string; expires_at_ms: number | null; duplicate: boolean };
export type SettleOutcome =
  | { status: 'settled'; amount_credits: number; duplicate: boolean }
  | { status: 'refused'; code: 'nothing_to_settle'; overage_credits: number; duplicate: false };

export type Outcome = GrantOutcome | DebitOutcome | ExpireOutcome | CloseOutcome | ExtendOutcome | SettleOutcome;

export interface ModelBalance {
  ledger_balance_credits: number;
  available_credits: number;
  held_credits: number;
  overage_credits: number;
}

interface StoredOperation {
  kind: string;
  /** The fields the SQL function compares on a replay, serialised in a fixed order. */
  request: string;
  result: Outcome;
}

function isLive(g: ModelGrant, at_ms: number): boolean {
  return g.remaining_credits > 0 && g.effective_from_ms <= at_ms && (g.expires_at_ms === null || g.expires_at_ms > at_ms);
}

/** Burn order as a comparator; never-expiring sorts after every expiry. */
function burnOrder(a: ModelGrant, b: ModelGrant): number {
  const expiry = (g: ModelGrant) => g.expires_at_ms ?? Number.POSITIVE_INFINITY;
  return a.priority - b.priority || expiry(a) - expiry(b) || SOURCE_RANK[a.source] - SOURCE_RANK[b.source] || a.seq - b.seq;
}

export class LedgerModel {
  readonly grants: ModelGrant[] = [];
  balance_credits = 0;
  overage_credits = 0;
  /** Rows the database should hold for this account: ledger entries and stored (non-refused) operations. */
  entry_count = 0;
  private readonly operations = new Map<string, StoredOperation>();

  constructor(
    public overage_allowed: boolean,
    private readonly alert_thresholds_credits: number[] = [],
  ) {}

  get operation_count(): number {
    return this.operations.size;
  }

  /** Whether `key` already holds a result (a replay of it will answer that result). */
  isStored(key: string): boolean {
    return this.operations.has(key);
  }

  grant(key: string, g: { amount_credits: number; source: Source; priority: number; effective_from_ms: number;
    expires_at_ms: number | null }): GrantOutcome | Conflict {
    const request = JSON.stringify([g.amount_credits, g.source, g.effective_from_ms, g.expires_at_ms]);
    const prior = this.claim(key, 'grant', request);
    if (prior) return prior as GrantOutcome | Conflict;
    const grant: ModelGrant = { id: `g${this.grants.length}`, remaining_credits: g.amount_credits, seq: this.grants.length, ...g };
    this.grants.push(grant);
    this.balance_credits += g.amount_credits;
    this.entry_count += 1;
    return this.finish(key, 'grant', request, {
      status: 'granted', grant_id: grant.id, amount_credits: g.amount_credits, effective_from_ms: g.effective_from_ms,
      expires_at_ms: g.expires_at_ms, duplicate: false,
    });
  }

  debit(key: string, d: { amount_credits: number; as_of_ms: number; kind: 'debit' | 'adjustment' }): DebitOutcome | Conflict {
    const request = JSON.stringify([d.amount_credits, d.as_of_ms]);
    const prior = this.claim(key, d.kind, request);
    if (prior) return prior as DebitOutcome | Conflict;
    const available = this.available(d.as_of_ms);
    if (d.amount_credits > available && !this.overage_allowed) {
      return { status: 'refused', code: 'insufficient_credits', available_credits: Math.max(available, 0),
        requested_credits: d.amount_credits, duplicate: false };
    }
    let left = d.amount_credits;
    const entries: { grant_id: string; amount_credits: number }[] = [];
    for (const g of this.grants.filter((g) => isLive(g, d.as_of_ms)).sort(burnOrder)) {
      if (left === 0) break;
      const take = Math.min(g.remaining_credits, left);
      g.remaining_credits -= take;
      entries.push({ grant_id: g.id, amount_credits: take });
      left -= take;
    }
    const overage = left; // non-zero only under the overage policy, checked above
    this.balance_credits -= d.amount_credits;
    this.overage_credits += overage;
    this.entry_count += entries.length + (overage > 0 ? 1 : 0);
    const after = available - d.amount_credits;
    const crossed = this.alert_thresholds_credits.filter((t) => available > t && after <= t);
    return this.finish(key, d.kind, request, {
      status: 'accepted', drawn_credits: d.amount_credits, overage_credits: overage, available_after_credits: after,
      entries, thresholds_crossed: crossed, duplicate: false,
    });
  }

  /** Sweeps a grant at its expiry: a grant not yet expired at as_of (extended, or early timer) is left alone. */
  expire(key: string, grant_id: string, as_of_ms: number): ExpireOutcome | Conflict {
    const request = JSON.stringify([grant_id, as_of_ms]);
    const prior = this.claim(key, 'expiry', request);
    if (prior) return prior as ExpireOutcome | Conflict;
    const g = this.grantById(grant_id);
    if (g.expires_at_ms === null || g.expires_at_ms > as_of_ms) {
      return this.finish(key, 'expiry', request,
        { status: 'not_due', grant_id, expires_at_ms: g.expires_at_ms, expired_credits: 0, duplicate: false });
    }
    const expired = this.empty(g);
    return this.finish(key, 'expiry', request, { status: 'expired', grant_id, expired_credits: expired, duplicate: false });
  }

  /** Ends whatever is left of a grant, live or not, as an 'expiry' or a 'void' entry. */
  close(key: string, grant_id: string, as_of_ms: number, kind: 'expiry' | 'void'): CloseOutcome | Conflict {
    const request = JSON.stringify([grant_id, as_of_ms]);
    const prior = this.claim(key, kind, request);
    if (prior) return prior as CloseOutcome | Conflict;
    const closed = this.empty(this.grantById(grant_id));
    return this.finish(key, kind, request, { status: 'closed', grant_id, closed_credits: closed, duplicate: false });
  }

  /** Moves a live, unexpired grant's expiry later; anything else is answered 'unchanged'. as_of is not part of
   *  the request (a replay at another instant answers the first result). */
  extend(key: string, grant_id: string, new_expires_at_ms: number, as_of_ms: number): ExtendOutcome | Conflict {
    const request = JSON.stringify([grant_id, new_expires_at_ms]);
    const prior = this.claim(key, 'expiry_extension', request);
    if (prior) return prior as ExtendOutcome | Conflict;
    const g = this.grantById(grant_id);
    if (g.expires_at_ms === null || g.expires_at_ms >= new_expires_at_ms || g.expires_at_ms <= as_of_ms
      || g.remaining_credits === 0) {
      return this.finish(key, 'expiry_extension', request,
        { status: 'unchanged', grant_id, expires_at_ms: g.expires_at_ms, duplicate: false });
    }
    const previous = g.expires_at_ms;
    g.expires_at_ms = new_expires_at_ms;
    this.entry_count += 1; // a zero-amount entry recording old and new expiry
    return this.finish(key, 'expiry_extension', request, {
      status: 'extended', grant_id, previous_expires_at_ms: previous, expires_at_ms: new_expires_at_ms, duplicate: false,
    });
  }

  settle(key: string, amount_credits: number): SettleOutcome | Conflict {
    const request = JSON.stringify([amount_credits]);
    const prior = this.claim(key, 'overage_settled', request);
    if (prior) return prior as SettleOutcome | Conflict;
    if (amount_credits <= 0 || amount_credits > this.overage_credits) {
      return { status: 'refused', code: 'nothing_to_settle', overage_credits: this.overage_credits, duplicate: false };
    }
    this.overage_credits -= amount_credits;
    this.balance_credits += amount_credits;
    this.entry_count += 1;
    return this.finish(key, 'overage_settled', request, { status: 'settled', amount_credits, duplicate: false });
  }

  available(at_ms: number): number {
    const spendable = this.grants.filter((g) => isLive(g, at_ms)).reduce((sum, g) => sum + g.remaining_credits, 0);
    return spendable - this.overage_credits;
  }

  balance(at_ms: number): ModelBalance {
    return { ledger_balance_credits: this.balance_credits, available_credits: this.available(at_ms), held_credits: 0,
      overage_credits: this.overage_credits };
  }

  grantById(id: string): ModelGrant {
    const g = this.grants.find((x) => x.id === id);
    if (!g) throw new Error(`model has no grant ${id}`);
    return g;
  }

  private empty(g: ModelGrant): number {
    const removed = g.remaining_credits;
    if (removed > 0) {
      g.remaining_credits = 0;
      this.balance_credits -= removed;
      this.entry_count += 1;
    }
    return removed;
  }

  private claim(key: string, kind: string, request: string): Outcome | Conflict | null {
    const prior = this.operations.get(key);
    if (!prior) return null;
    if (prior.kind !== kind || prior.request !== request) return CONFLICT;
    return { ...prior.result, duplicate: true } as Outcome; // refusals are never stored, so never replayed
  }

  private finish<T extends Outcome>(key: string, kind: string, request: string, result: T): T {
    this.operations.set(key, { kind, request, result });
    return result;
  }
}
