import type { Sql } from '../db/client';
import { PaymentKeyConflictError, type ChargeRequest, type ChargeResult, type PaymentPort } from './port';

/**
 * Default adapter: records each charge as an invoice in Postgres, paid at once — unless the account has a row in
 * simulated_payment_failures (always, or the next N charges), which is how tests and demos make payments fail.
 * Zero-amount charges (free plans) are always paid.
 */
export function createPostgresInvoicePayments(sql: Sql): PaymentPort {
  return {
    async charge(req: ChargeRequest): Promise<ChargeResult> {
      return sql.begin(async (tx) => {
        // Serialise charges that share a key: the second waits, then finds the first's invoice.
        await tx`select pg_advisory_xact_lock(hashtextextended(${req.idempotency_key}, 0))`;
        const [existing] = await tx<{ id: string; status: 'paid' | 'failed'; failure_reason: string | null;
          account_id: string; amount_minor: number; currency: string }[]>`
          select id, status, failure_reason, account_id, amount_minor, currency from invoices
          where idempotency_key = ${req.idempotency_key}`;
        if (existing) {
          if (existing.account_id !== req.account_id || existing.amount_minor !== req.amount_minor
            || existing.currency !== req.currency) {
            throw new PaymentKeyConflictError(`charge ${req.idempotency_key} was made for ${existing.amount_minor} `
              + `${existing.currency} to ${existing.account_id}`);
          }
          return toResult(existing);
        }
        let failure: string | null = null;
        if (req.amount_minor > 0) {
          const [sim] = await tx<{ remaining: number | null }[]>`
            select remaining from simulated_payment_failures where account_id = ${req.account_id} for update`;
          if (sim && (sim.remaining === null || sim.remaining > 0)) {
            failure = 'card_declined';
            if (sim.remaining !== null) {
              await tx`update simulated_payment_failures set remaining = remaining - 1 where account_id = ${req.account_id}`;
            }
          }
        }
        const [row] = await tx<{ id: string; status: 'paid' | 'failed'; failure_reason: string | null }[]>`
          insert into invoices (account_id, idempotency_key, amount_minor, currency, description, status, failure_reason)
          values (${req.account_id}, ${req.idempotency_key}, ${req.amount_minor}, ${req.currency}, ${req.description},
                  ${failure ? 'failed' : 'paid'}, ${failure})
          returning id, status, failure_reason`;
        return toResult(row!);
      });
    },
  };
}

function toResult(row: { id: string; status: 'paid' | 'failed'; failure_reason: string | null }): ChargeResult {
  return row.status === 'paid'
    ? { status: 'paid', invoice_id: row.id }
    : { status: 'failed', invoice_id: row.id, reason: row.failure_reason ?? 'declined' };
}

/** Test and demo control: make the account's next `count` charges fail (null = every charge until cleared). */
export async function simulatePaymentFailures(sql: Sql, accountId: string, count: number | null): Promise<void> {
  await sql`insert into simulated_payment_failures (account_id, remaining) values (${accountId}, ${count})
            on conflict (account_id) do update set remaining = excluded.remaining`;
}

export async function clearPaymentFailures(sql: Sql, accountId: string): Promise<void> {
  await sql`delete from simulated_payment_failures where account_id = ${accountId}`;
}
