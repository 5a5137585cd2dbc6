import { createSubAccount } from '../../src/accounts/sub-accounts';
import type { Sql } from '../../src/db/client';
import { grantCredits } from '../../src/ledger';
import type { ThresholdSignaler } from '../../src/usage';

export const T0 = new Date('2026-03-10T12:00:00Z');

export const noSignals: ThresholdSignaler = {
  async signal(workflowId) {
    throw new Error(`unexpected threshold signal to ${workflowId}`);
  },
};

let n = 0;
/** A fresh agency id (test files share nothing, but a file's tests should not collide either). */
export const fresh = (name: string) => `${name}-${++n}`;

export async function createAgency(sql: Sql, id: string, opts: { timeZone?: string; credits?: Record<string, number> } = {}) {
  await sql`insert into accounts (id, name, time_zone, country) values (${id}, ${id}, ${opts.timeZone ?? 'UTC'}, 'US')`;
  for (const [ct, amount] of Object.entries(opts.credits ?? {})) await give(sql, id, ct, amount);
}

export async function createSub(sql: Sql, parent: string, id: string, shared: boolean,
  opts: { timeZone?: string; credits?: Record<string, number> } = {}) {
  const r = await createSubAccount(sql, { parent_account_id: parent, id, name: id, time_zone: opts.timeZone ?? 'UTC',
    country: 'US', shared_billing: shared, by: 'test' });
  if (r.status !== 'created') throw new Error(JSON.stringify(r));
  for (const [ct, amount] of Object.entries(opts.credits ?? {})) await give(sql, id, ct, amount);
}

export async function give(sql: Sql, account: string, creditType: string, amount: number,
  opts: { expiresAt?: Date | null; source?: 'bundle' | 'adjustment' | 'plan_allotment'; from?: Date } = {}) {
  return grantCredits(sql, { key: `give:${account}:${creditType}:${++n}`, accountId: account, creditType,
    amountCredits: amount, source: opts.source ?? 'bundle', effectiveFrom: opts.from ?? new Date('2026-01-01T00:00:00Z'),
    expiresAt: opts.expiresAt ?? null });
}

export async function available(sql: Sql, account: string, creditType: string, at: Date = T0): Promise<number> {
  const [row] = await sql<{ a: number }[]>`select cf_available(${account}, ${creditType}, ${at}) as a`;
  return row!.a;
}
