import type { Sql } from '../db/client';
import {
  deliver, DELIVERY_TIMEOUT_MS, enqueue, listDeliveries, type DeliveryResult, type EnqueueInput,
  type ListDeliveriesInput, type WebhookDelivery,
} from './deliveries';
import {
  deleteEndpoint, listEndpoints, registerEndpoint, type RegisteredEndpoint, type RegisterEndpointInput,
  type WebhookEndpoint,
} from './endpoints';

export interface WebhookServiceDeps {
  sql: Sql;
  /** Injected so tests can tamper with requests on their way out; defaults to the global fetch. */
  fetch?: typeof globalThis.fetch;
  /** The clock for webhook-timestamp, delivered_at and disabled_at. */
  now?: () => Date;
  /** Per POST, response body included. */
  timeout_ms?: number;
}

export interface WebhookService {
  registerEndpoint(input: RegisterEndpointInput): Promise<RegisteredEndpoint>;
  listEndpoints(filter?: { account_id?: string }): Promise<WebhookEndpoint[]>;
  deleteEndpoint(id: string): Promise<WebhookEndpoint | null>;
  enqueue(input: EnqueueInput): Promise<string[]>;
  deliver(delivery_id: string): Promise<DeliveryResult>;
  listDeliveries(input: ListDeliveriesInput): Promise<WebhookDelivery[]>;
}

export function createWebhookService({
  sql, fetch = globalThis.fetch, now = () => new Date(), timeout_ms = DELIVERY_TIMEOUT_MS,
}: WebhookServiceDeps): WebhookService {
  const deliverDeps = { sql, fetch, now, timeout_ms };
  return {
    registerEndpoint: (input) => registerEndpoint(sql, input),
    listEndpoints: (filter) => listEndpoints(sql, filter),
    deleteEndpoint: (id) => deleteEndpoint(sql, id, now()),
    enqueue: (input) => enqueue(sql, input),
    deliver: (delivery_id) => deliver(deliverDeps, delivery_id),
    listDeliveries: (input) => listDeliveries(sql, input),
  };
}
