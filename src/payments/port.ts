/**
 * The one door through which creditflow takes money. Every charge carries an idempotency key: a retried
 * activity asks again with the same key and gets the first answer, so a customer is never charged twice.
 * A declined charge is a result ('failed'), not an exception; exceptions mean "try again later".
 * A real provider adapter (Stripe PaymentIntents with Idempotency-Key, say) implements the same interface.
 */
export interface ChargeRequest {
  idempotency_key: string;
  account_id: string;
  amount_minor: number;
  currency: string;
  description: string;
}

export type ChargeResult =
  | { status: 'paid'; invoice_id: string }
  | { status: 'failed'; invoice_id: string; reason: string };

export interface PaymentPort {
  charge(request: ChargeRequest): Promise<ChargeResult>;
}

/** The same idempotency key came with another amount, currency or account: a caller's bug, never retried. */
export class PaymentKeyConflictError extends Error {
  override readonly name = 'PaymentKeyConflictError';
}
