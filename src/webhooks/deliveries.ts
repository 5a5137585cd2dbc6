import { createHash } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { z } from 'zod';
import type { Sql } from '../db/client';
import { markEndpointGone } from './endpoints';
import { WebhookDeliveryFailed, WebhookGone, WebhookMessageConflict } from './errors';
import { WebhookEvent } from './events';

export const DELIVERY_TIMEOUT_MS = 10_000;
/** Enough of a receiver's error body to debug with, not enough to fill the table. */
const ERROR_TEXT_CHARS_MAX = 500;
export const LIST_DELIVERIES_LIMIT_MAX = 500;

export const EnqueueInput = z.strictObject({
  /** Stable for one logical event (e.g. `<subscription>:balance.low:<crossing id>`): the idempotency key. */
  message_id: z.string().min(1).max(256),
  event: WebhookEvent,
});
export type EnqueueInput = z.input<typeof EnqueueInput>;

export interface DeliveryResult {
  delivery_id: string;
  outcome: 'delivered' | 'already_delivered';
  attempts: number;
}

export const ListDeliveriesInput = z.strictObject({
  account_id: z.string().min(1).optional(),
  limit: z.number().int().min(1).max(LIST_DELIVERIES_LIMIT_MAX),
});
export type ListDeliveriesInput = z.input<typeof ListDeliveriesInput>;

export interface WebhookDelivery {
  id: string;
  message_id: string;
  endpoint_id: string;
  account_id: string;
  event_type: string;
  payload: WebhookEvent;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  delivered_at: string | null;
  created_at: string;
}

/**
 * One message to one endpoint. This id is the `webhook-id` header, so it stays the same across retries and a receiver
 * can drop duplicates by it; hashed so any message id makes a header-safe, bounded id.
 */
export function deliveryIdFor(message_id: string, endpoint_id: string): string {
  const digest = createHash('sha256').update(JSON.stringify([message_id, endpoint_id])).digest('hex');
  return `msg_${digest.slice(0, 32)}`;
}

/**
 * Records one delivery per active endpoint that wants the event's account (its own endpoints and the global ones) and
 * returns the ids of all the message's deliveries, in endpoint id order. Idempotent per message id: enqueuing the
 * same message again inserts nothing new (but for an endpoint registered in between, which gets its one delivery) and
 * still returns the deliveries to endpoints disabled since, so a retry reports them as gone rather than forgetting them.
 */
export async function enqueue(sql: Sql, input: EnqueueInput): Promise<string[]> {
  const { message_id, event } = EnqueueInput.parse(input);
  const payload = sql.json(event as never);
  // One transaction, so that a conflicting event leaves no deliveries of its own behind.
  return sql.begin(async (tx) => {
    const endpoints = await tx<{ id: string }[]>`
      select id from webhook_endpoints
      where disabled_at is null and (account_id is null or account_id = ${event.data.account_id})`;
    const endpoint_ids = endpoints.map((e) => e.id);
    const ids = endpoint_ids.map((endpoint_id) => deliveryIdFor(message_id, endpoint_id));
    await tx`
      insert into webhook_deliveries (id, message_id, endpoint_id, account_id, event_type, payload)
      select d.id, ${message_id}, d.endpoint_id, ${event.data.account_id}, ${event.type}, ${payload}
      from unnest(${ids}::text[], ${endpoint_ids}::text[]) as d (id, endpoint_id)
      on conflict do nothing`;
    const rows = await tx<{ id: string; same: boolean }[]>`
      select id, payload = ${payload}::jsonb as same from webhook_deliveries
      where message_id = ${message_id} order by endpoint_id`;
    if (rows.some((r) => !r.same)) throw new WebhookMessageConflict(message_id);
    return rows.map((r) => r.id);
  });
}

interface PendingRow {
  id: string;
  payload: WebhookEvent;
  delivered_at: Date | null;
  attempts: number;
  endpoint_id: string;
  url: string | null;
  secret: string | null;
  disabled_reason: 'deleted' | 'gone' | null;
}

export interface DeliverDeps {
  sql: Sql;
  fetch: typeof globalThis.fetch;
  now: () => Date;
  timeout_ms: number;
}

/**
 * POSTs one delivery, signed per Standard Webhooks, and records the attempt. Returns on 2xx (or if it was delivered
 * before: never a second POST); throws WebhookDeliveryFailed (retryable) on any other answer or none, and WebhookGone
 * (not retryable) on 410 or a deleted endpoint. At least once: two overlapping calls may both POST, which the
 * receiver absorbs by deduplicating on webhook-id.
 */
export async function deliver(deps: DeliverDeps, delivery_id: string): Promise<DeliveryResult> {
  const { sql } = deps;
  const [row] = await sql<PendingRow[]>`
    select d.id, d.payload, d.delivered_at, d.attempts, d.endpoint_id, e.url, e.secret, e.disabled_reason
    from webhook_deliveries d left join webhook_endpoints e on e.id = d.endpoint_id
    where d.id = ${delivery_id}`;
  if (!row) throw new WebhookGone(delivery_id, 'unknown_delivery', `no webhook delivery ${delivery_id}`);
  if (row.delivered_at) return { delivery_id, outcome: 'already_delivered', attempts: row.attempts };
  if (row.url === null || row.secret === null || row.disabled_reason !== null) {
    const reason = row.disabled_reason ?? 'deleted';
    // No attempt was made: keep the last one's status (a 410 says more than this does).
    await sql`update webhook_deliveries set last_error = ${`endpoint ${row.endpoint_id} is ${reason}`}
              where id = ${delivery_id} and delivered_at is null`;
    throw new WebhookGone(delivery_id, reason, `webhook endpoint ${row.endpoint_id} is ${reason}`);
  }

  // Count the attempt before sending: a crash mid-request still shows up as an attempt.
  const [claimed] = await sql<{ attempts: number }[]>`
    update webhook_deliveries set attempts = attempts + 1
    where id = ${delivery_id} and delivered_at is null returning attempts`;
  if (!claimed) return { delivery_id, outcome: 'already_delivered', attempts: row.attempts };

  const response = await post(deps, { delivery_id, url: row.url, secret: row.secret, payload: row.payload });
  if ('error' in response) {
    await recordOutcome(sql, delivery_id, { status: null, error: response.error });
    throw new WebhookDeliveryFailed(delivery_id, null, `webhook ${delivery_id} to ${row.url}: ${response.error}`);
  }
  const { status, body } = response;
  if (status >= 200 && status < 300) {
    await recordOutcome(sql, delivery_id, { status, error: null, delivered_at: deps.now() });
    return { delivery_id, outcome: 'delivered', attempts: claimed.attempts };
  }
  const error = `HTTP ${status}${body ? `: ${body}` : ''}`;
  await recordOutcome(sql, delivery_id, { status, error });
  if (status === 410) {
    await markEndpointGone(sql, row.endpoint_id, deps.now());
    throw new WebhookGone(delivery_id, 'gone', `webhook endpoint ${row.endpoint_id} answered 410 Gone`);
  }
  throw new WebhookDeliveryFailed(delivery_id, status, `webhook ${delivery_id} to ${row.url}: ${error}`);
}

type PostResult = { status: number; body: string } | { error: string };

async function post(deps: DeliverDeps, msg: { delivery_id: string; url: string; secret: string; payload: WebhookEvent }):
  Promise<PostResult> {
  const body = JSON.stringify(msg.payload);
  const sent_at = deps.now();
  const headers = {
    'content-type': 'application/json',
    'user-agent': 'creditflow-webhooks/1',
    'webhook-id': msg.delivery_id,
    'webhook-timestamp': String(Math.floor(sent_at.getTime() / 1000)),
    'webhook-signature': new Webhook(msg.secret).sign(msg.delivery_id, sent_at, body),
  };
  try {
    // A redirect is a failure, not a hop: the signed payload goes only to the registered URL.
    const response = await deps.fetch(msg.url, {
      method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(deps.timeout_ms),
    });
    const ok = response.status >= 200 && response.status < 300;
    // Drain or drop the body so the connection is released; only an error body is worth keeping.
    const text = ok ? (await response.body?.cancel().catch(() => {}), '') : await response.text().catch(() => '');
    return { status: response.status, body: text.slice(0, ERROR_TEXT_CHARS_MAX) };
  } catch (err) {
    const e = err as Error;
    const cause = (e.cause as Error | undefined)?.message;
    return { error: `${e.name}: ${e.message}${cause ? ` (${cause})` : ''}`.slice(0, ERROR_TEXT_CHARS_MAX) };
  }
}

async function recordOutcome(sql: Sql, delivery_id: string,
  o: { status: number | null; error: string | null; delivered_at?: Date }): Promise<void> {
  await sql`
    update webhook_deliveries
    set last_status = ${o.status}, last_error = ${o.error}, delivered_at = ${o.delivered_at ?? null}
    where id = ${delivery_id} and delivered_at is null`;
}

interface DeliveryRow extends Omit<WebhookDelivery, 'delivered_at' | 'created_at'> {
  delivered_at: Date | null;
  created_at: Date;
}

/** Newest first; for an account, the deliveries of its events (to its own endpoints and the global ones). */
export async function listDeliveries(sql: Sql, input: ListDeliveriesInput): Promise<WebhookDelivery[]> {
  const { account_id, limit } = ListDeliveriesInput.parse(input);
  const rows = await sql<DeliveryRow[]>`
    select id, message_id, endpoint_id, account_id, event_type, payload, attempts, last_status, last_error,
           delivered_at, created_at
    from webhook_deliveries
    where ${account_id === undefined ? sql`true` : sql`account_id = ${account_id}`}
    order by created_at desc, id
    limit ${limit}`;
  return rows.map((r) => ({
    ...r,
    delivered_at: r.delivered_at?.toISOString() ?? null,
    created_at: r.created_at.toISOString(),
  }));
}
