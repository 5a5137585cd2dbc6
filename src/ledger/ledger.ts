import type { Sql } from '../db/client';

/**
 * The ledger's TypeScript face: thin calls into the SQL functions of migrations/002, which hold every rule.
 * Each write takes an idempotency key and the instant it acts at; replaying a key returns the first result.
 */

export type GrantSource = 'plan_allotment' | 'rollover' | 'bundle' | 'adjustment';

export interface GrantInput {
  key: string;
  accountId: string;
  creditType: string;
  amountCredits: number;
  source: GrantSource;
  priority?: number;
  effectiveFrom: Date;
  expiresAt: Date | null;
  subscriptionId?: string | null;
  bundleId?: string | null;
  purchasedBy?: string | null;
  invoiceId?: string | null;
  metadata?: Record<string, unknown>;
}

export interface GrantResult {
  status: 'granted';
  grant_id: string;
  amount_credits: number;
  effective_from: string;
  expires_at: string | null;
  duplicate: boolean;
}

export type DebitResult =
  | {
      status: 'accepted';
      drawn_credits: number;
      overage_credits: number;
      available_after_credits: number;
      entries: { grant_id: string; amount_credits: number }[];
      thresholds_crossed: number[];
      duplicate: boolean;
    }
  | {
      status: 'refused';
      code: 'insufficient_credits' | 'hold_not_active' | 'hold_exceeded';
      available_credits?: number;
      requested_credits?: number;
      held_credits?: number;
      duplicate: boolean;
    };

export interface DebitInput {
  key: string;
  accountId: string;
  creditType: string;
  amountCredits: number;
  asOf: Date;
  kind?: 'debit' | 'adjustment';
  holdId?: string | null;
  metadata?: Record<string, unknown>;
}

/** Raised for an idempotency key reused with a different request: the caller's mistake, never retried. */
export class IdempotencyConflictError extends Error {
  readonly code = 'idempotency_conflict';
}

async function call<T>(run: () => Promise<{ r: T }[]>): Promise<T> {
  try {
    const rows = await run();
    return rows[0]!.r;
  } catch (err) {
    if (err instanceof Error && 'code' in err && (err as { code: string }).code === 'P0001' && err.message === 'idempotency_conflict') {
      throw new IdempotencyConflictError((err as { detail?: string }).detail ?? err.message);
    }
    throw err;
  }
}

export function grantCredits(sql: Sql, g: GrantInput): Promise<GrantResult> {
  return call(() => sql`select cf_grant(${g.key}, ${g.accountId}, ${g.creditType}, ${g.amountCredits}, ${g.source},
    ${g.priority ?? 100}, ${g.effectiveFrom}, ${g.expiresAt}, ${g.subscriptionId ?? null}, ${g.bundleId ?? null},
    ${g.purchasedBy ?? null}, ${g.invoiceId ?? null}, ${sql.json((g.metadata ?? {}) as never)}) as r`);
}

export function debit(sql: Sql, d: DebitInput): Promise<DebitResult> {
  return call(() => sql`select cf_debit(${d.key}, ${d.accountId}, ${d.creditType}, ${d.amountCredits}, ${d.asOf},
    ${d.kind ?? 'debit'}, ${d.holdId ?? null}, ${sql.json((d.metadata ?? {}) as never)}) as r`);
}

export function expireGrant(sql: Sql, key: string, grantId: string, asOf: Date):
  Promise<{ status: 'expired' | 'not_due'; grant_id: string; expired_credits: number; duplicate: boolean }> {
  return call(() => sql`select cf_expire_grant(${key}, ${grantId}, ${asOf}) as r`);
}

/** Ends what is left of a grant now, as an 'expiry' (period end, cancellation, rollover) or a 'void' (ops). */
export function closeGrant(sql: Sql, key: string, grantId: string, asOf: Date, kind: 'expiry' | 'void',
  metadata: Record<string, unknown> = {}): Promise<{ status: 'closed'; grant_id: string; closed_credits: number; duplicate: boolean }> {
  return call(() => sql`select cf_close_grant(${key}, ${grantId}, ${asOf}, ${kind}, ${sql.json(metadata as never)}) as r`);
}

export function extendExpiry(sql: Sql, key: string, grantId: string, newExpiresAt: Date, asOf: Date):
  Promise<{ status: 'extended' | 'unchanged'; grant_id: string; expires_at: string | null; duplicate: boolean }> {
  return call(() => sql`select cf_extend_expiry(${key}, ${grantId}, ${newExpiresAt}, ${asOf}) as r`);
}

export function settleOverage(sql: Sql, key: string, accountId: string, creditType: string, amountCredits: number,
  asOf: Date, invoiceId: string): Promise<{ status: 'settled' | 'refused'; duplicate: boolean }> {
  return call(() => sql`select cf_settle_overage(${key}, ${accountId}, ${creditType}, ${amountCredits}, ${asOf}, ${invoiceId}) as r`);
}

export interface BalanceView {
  credit_type: string;
  /** Sum of every entry: the ledger's own balance, expired-but-not-yet-swept credits included. */
  ledger_balance_credits: number;
  /** What can be drawn at as_of: live grants less active holds less unsettled overage. */
  available_credits: number;
  held_credits: number;
  overage_credits: number;
}

export async function balances(sql: Sql, accountId: string, asOf: Date): Promise<BalanceView[]> {
  return sql<BalanceView[]>`
    select credit_type, balance_credits as ledger_balance_credits,
           cf_available(account_id, credit_type, ${asOf}) as available_credits,
           cf_held(account_id, credit_type, ${asOf}, null) as held_credits, overage_credits
    from balances where account_id = ${accountId} order by credit_type`;
}

export interface GrantView {
  id: string;
  credit_type: string;
  source: GrantSource;
  amount_credits: number;
  remaining_credits: number;
  priority: number;
  effective_from: Date;
  expires_at: Date | null;
  subscription_id: string | null;
  bundle_id: string | null;
  purchased_by: string | null;
  invoice_id: string | null;
}

export function listGrants(sql: Sql, accountId: string): Promise<GrantView[]> {
  return sql<GrantView[]>`
    select id, credit_type, source, amount_credits, remaining_credits, priority, effective_from, expires_at,
           subscription_id, bundle_id, purchased_by, invoice_id
    from grants where account_id = ${accountId} order by created_at, id`;
}

export interface LedgerViolation {
  violation: string;
  account_id: string;
  credit_type: string;
  subject: string;
  projected: number;
  from_entries: number;
}

/** Every broken invariant in the whole ledger (an empty list means the books balance). */
export function ledgerViolations(sql: Sql): Promise<LedgerViolation[]> {
  return sql<LedgerViolation[]>`select * from ledger_violations`;
}
