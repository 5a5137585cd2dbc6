import type { Sql } from '../../src/db/client';
import { grantCredits, type GrantSource } from '../../src/ledger';
import type { ThresholdSignaler } from '../../src/usage';
import { createAccount } from '../support/db';

export const T0 = new Date('2026-03-01T12:00:00Z');
export const minutes = (n: number) => n * 60_000;

/** A clock the test moves by hand; the service reads it for received_at, the grace window and hold expiry. */
export function testClock(start: Date = T0) {
  let t = start.getTime();
  return {
    now: () => new Date(t),
    set: (d: Date) => { t = d.getTime(); },
    advance: (ms: number) => { t += ms; },
  };
}

/** For files where no balance has alert thresholds: a signal would be a bug, so it fails loudly. */
export const noSignalsExpected: ThresholdSignaler = {
  async signal(workflowId) {
    throw new Error(`unexpected threshold signal to ${workflowId}`);
  },
};

let seq = 0;
/** A fresh account with one grant of each listed credit type (source bundle, never expiring, effective long ago). */
export async function seedAccount(sql: Sql, name: string, grants: Record<string, number> = {},
  opts: { source?: GrantSource; effectiveFrom?: Date; expiresAt?: Date | null } = {}): Promise<string> {
  const id = `${name}-${++seq}-${Math.random().toString(36).slice(2, 8)}`;
  await createAccount(sql, id);
  for (const [creditType, amount] of Object.entries(grants)) {
    await grantCredits(sql, { key: `seed:${id}:${creditType}`, accountId: id, creditType, amountCredits: amount,
      source: opts.source ?? 'bundle', effectiveFrom: opts.effectiveFrom ?? new Date('2020-01-01T00:00:00Z'),
      expiresAt: opts.expiresAt ?? null });
  }
  return id;
}

/** Rows this account has in every table a usage or hold write could touch. */
export async function traces(sql: Sql, accountId: string) {
  const [row] = await sql<{ operations: number; ledger_entries: number; usage_events: number; holds: number;
    threshold_crossings: number }[]>`
    select (select count(*)::int from operations where account_id = ${accountId}) as operations,
           (select count(*)::int from ledger_entries where account_id = ${accountId}) as ledger_entries,
           (select count(*)::int from usage_events where account_id = ${accountId}) as usage_events,
           (select count(*)::int from holds where account_id = ${accountId}) as holds,
           (select count(*)::int from threshold_crossings where account_id = ${accountId}) as threshold_crossings`;
  return row!;
}

export async function availableCredits(sql: Sql, accountId: string, creditType: string, at: Date): Promise<number> {
  const [row] = await sql<{ a: number }[]>`select cf_available(${accountId}, ${creditType}, ${at}) as a`;
  return row!.a;
}
