import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Sql } from '../db/client';

/** Standard Webhooks recommends 24 to 64 bytes of key; 32 matches the HMAC-SHA256 block of output. */
const SECRET_BYTES = 32;

export const RegisterEndpointInput = z.strictObject({
  /** Caller-chosen for idempotent registration; generated when absent. */
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/).optional(),
  url: z.url({ protocol: /^https?$/ }),
  /** null: the endpoint receives every account's events. */
  account_id: z.string().min(1).nullable(),
});
export type RegisterEndpointInput = z.input<typeof RegisterEndpointInput>;

export interface WebhookEndpoint {
  id: string;
  url: string;
  account_id: string | null;
  created_at: string;
  disabled_at: string | null;
  disabled_reason: 'deleted' | 'gone' | null;
}

/** Only registration hands out the secret; listings never do. */
export interface RegisteredEndpoint extends WebhookEndpoint {
  secret: string;
}

/** A registration with the same id but another url or account: ids are idempotency keys. */
export class WebhookEndpointConflict extends Error {
  override readonly name = 'WebhookEndpointConflict';
  constructor(readonly endpoint_id: string) {
    super(`webhook endpoint ${endpoint_id} is already registered with another url or account`);
  }
}

/** `whsec_` + base64 of random bytes: the format every Standard Webhooks library accepts as is. */
export function generateSecret(): string {
  return `whsec_${randomBytes(SECRET_BYTES).toString('base64')}`;
}

interface EndpointRow {
  id: string;
  url: string;
  secret: string;
  account_id: string | null;
  created_at: Date;
  disabled_at: Date | null;
  disabled_reason: 'deleted' | 'gone' | null;
}

function toEndpoint(row: EndpointRow): WebhookEndpoint {
  return {
    id: row.id,
    url: row.url,
    account_id: row.account_id,
    created_at: row.created_at.toISOString(),
    disabled_at: row.disabled_at?.toISOString() ?? null,
    disabled_reason: row.disabled_reason,
  };
}

/** Registering the same id again with the same url and account returns the first registration, secret included. */
export async function registerEndpoint(sql: Sql, input: RegisterEndpointInput): Promise<RegisteredEndpoint> {
  const { id = `ep_${randomBytes(12).toString('hex')}`, url, account_id } = RegisterEndpointInput.parse(input);
  await sql`
    insert into webhook_endpoints (id, url, secret, account_id)
    values (${id}, ${url}, ${generateSecret()}, ${account_id})
    on conflict (id) do nothing`;
  const [row] = await sql<EndpointRow[]>`select * from webhook_endpoints where id = ${id}`;
  if (!row) throw new Error(`webhook endpoint ${id} vanished after insert`);
  if (row.url !== url || row.account_id !== account_id) throw new WebhookEndpointConflict(id);
  return { ...toEndpoint(row), secret: row.secret };
}

/**
 * Without account_id: every endpoint. With it: the endpoints that receive that account's events, i.e. its own and
 * the global ones. Disabled endpoints are listed too (with why), since their deliveries remain.
 */
export async function listEndpoints(sql: Sql, filter: { account_id?: string } = {}): Promise<WebhookEndpoint[]> {
  const rows = filter.account_id === undefined
    ? await sql<EndpointRow[]>`select * from webhook_endpoints order by created_at, id`
    : await sql<EndpointRow[]>`
        select * from webhook_endpoints where account_id is null or account_id = ${filter.account_id}
        order by created_at, id`;
  return rows.map(toEndpoint);
}

/**
 * Disables the endpoint for good (rows stay: deliveries reference them). Pending deliveries to it end in WebhookGone;
 * new messages skip it. Null when there is no such endpoint.
 */
export async function deleteEndpoint(sql: Sql, id: string, at: Date): Promise<WebhookEndpoint | null> {
  await sql`
    update webhook_endpoints set disabled_at = ${at}, disabled_reason = 'deleted'
    where id = ${id} and disabled_at is null`;
  const [row] = await sql<EndpointRow[]>`select * from webhook_endpoints where id = ${id}`;
  return row ? toEndpoint(row) : null;
}

/** The receiver's 410 Gone: the Standard Webhooks way of asking the sender to stop. */
export async function markEndpointGone(sql: Sql, id: string, at: Date): Promise<void> {
  await sql`
    update webhook_endpoints set disabled_at = ${at}, disabled_reason = 'gone'
    where id = ${id} and disabled_at is null`;
}
