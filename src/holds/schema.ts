import { z } from 'zod';
import { Credits } from '../catalog/schema';
import { Metadata } from '../usage/schema';

/** A hold lives at most this long: past it, credits reserved for a send that never happened would sit idle. */
export const MAX_HOLD_TTL_S = 30 * 24 * 3600;

export const ReserveRequest = z.object({
  request_id: z.string().min(1).max(200).describe('the caller\'s id for this reservation: a retry with it answers the first result'),
  credit_type: z.string().min(1).max(64),
  amount_credits: Credits.positive(),
  ttl_s: z.number().int().min(1).max(MAX_HOLD_TTL_S).describe('the hold lapses by itself after this long'),
}).strict();
export type ReserveRequest = z.infer<typeof ReserveRequest>;

export const CommitRequest = z.object({
  amount_credits: Credits.describe('what was actually used, at most what is held; the rest is released (0 releases all)'),
  metadata: Metadata.optional().describe('kept on the ledger entry'),
}).strict();
export type CommitRequest = z.infer<typeof CommitRequest>;

export const HOLD_REFUSAL_CODES = [
  'insufficient_credits', 'unknown_account', 'unknown_credit_type', 'hold_not_found', 'hold_not_active',
  'hold_exceeded', 'idempotency_conflict',
] as const;
export type HoldRefusalCode = (typeof HOLD_REFUSAL_CODES)[number];

export const HoldRefusal = z.object({
  status: z.literal('refused'),
  code: z.enum(HOLD_REFUSAL_CODES),
  available_credits: z.number().int().optional(),
  requested_credits: z.number().int().optional(),
  held_credits: z.number().int().optional(),
  hold_status: z.string().optional(),
});
export type HoldRefusal = z.infer<typeof HoldRefusal>;

export const HoldView = z.object({
  hold_id: z.string(),
  account_id: z.string(),
  credit_type: z.string(),
  amount_credits: z.number().int(),
  status: z.enum(['active', 'lapsed', 'committed', 'released']).describe('lapsed: active but past expires_at'),
  expires_at: z.string(),
  created_at: z.string(),
  settled_at: z.string().nullable(),
});
export type HoldView = z.infer<typeof HoldView>;

export const Reserved = z.object({
  status: z.literal('held'),
  hold_id: z.string(),
  account_id: z.string(),
  credit_type: z.string(),
  amount_credits: z.number().int(),
  expires_at: z.string(),
  available_after_credits: z.number().int(),
  duplicate: z.boolean(),
});
export type Reserved = z.infer<typeof Reserved>;

export const Committed = z.object({
  status: z.literal('committed'),
  hold_id: z.string(),
  drawn_credits: z.number().int(),
  released_credits: z.number().int(),
  available_after_credits: z.number().int().nullable().describe('null when nothing was drawn'),
  duplicate: z.boolean(),
});
export type Committed = z.infer<typeof Committed>;

export const Released = z.object({
  status: z.literal('released'),
  hold_id: z.string(),
  released_credits: z.number().int(),
  duplicate: z.boolean(),
});
export type Released = z.infer<typeof Released>;
