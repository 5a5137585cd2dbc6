import { ApplicationFailure, WorkflowIdConflictPolicy } from '@temporalio/common';
import {
  WithStartWorkflowOperation, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client,
} from '@temporalio/client';
import type { Sql } from '../db/client';
import { balances, type BalanceView } from '../ledger';
import {
  activateUpdate, buyBundleUpdate, cancelUpdate, changePlanUpdate, REFUSALS, resumeAutoRepurchaseUpdate,
  resumeRenewalUpdate, setAlertsUpdate, setAutoRepurchaseUpdate, stateQuery, stopRenewalUpdate, workflowIdFor,
  type ActivateResult, type AlertSettings, type AutoRepurchaseSettings, type BuyBundleResult, type Refusal,
  type RequestMeta, type SubscriptionTerms, type SubscriptionView,
} from '../workflows/messages';

/** What callers get back: a value, or an expected refusal (never an exception for a business outcome). */
export type Outcome<T> = { ok: true; value: T } | { ok: false; refusal: Refusal | 'not_found'; message: string };

export interface SubscriptionServiceDeps {
  client: Client;
  sql: Sql;
  taskQueue: string;
}

export interface SubscriptionDetail {
  subscription: SubscriptionView;
  /** Exact balances straight from the ledger at the time of asking. */
  balances: BalanceView[];
}

function refusalOf(err: unknown): { refusal: Refusal | 'not_found'; message: string } | null {
  if (err instanceof WorkflowNotFoundError) return { refusal: 'not_found', message: 'no such subscription' };
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
    const type = err.cause.type as Refusal | undefined;
    if (type && (REFUSALS as readonly string[]).includes(type)) return { refusal: type, message: err.cause.message };
  }
  if (err instanceof Error && err.name === 'WorkflowNotFoundError') return { refusal: 'not_found', message: 'no such subscription' };
  return null;
}

async function outcome<T>(run: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (err) {
    const r = refusalOf(err);
    if (r) return { ok: false, ...r };
    throw err;
  }
}

/** The client side of subscription workflows: what the API and CLI call. */
export function createSubscriptionService({ client, sql, taskQueue }: SubscriptionServiceDeps) {
  const handle = (id: string) => client.workflow.getHandle(workflowIdFor(id));
  return {
    /** Starts the subscription, or attaches to the one already running, and answers after its first charge. */
    start(terms: SubscriptionTerms): Promise<Outcome<ActivateResult>> {
      return outcome(async () => {
        const startOp = new WithStartWorkflowOperation('subscriptionWorkflow', {
          workflowId: workflowIdFor(terms.subscriptionId),
          taskQueue,
          args: [{ terms }],
          workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
        });
        return client.workflow.executeUpdateWithStart(activateUpdate, { args: [terms], startWorkflowOperation: startOp });
      });
    },
    stopRenewal: (id: string, meta: RequestMeta) =>
      outcome(() => handle(id).executeUpdate(stopRenewalUpdate, { args: [meta], updateId: meta.request_id })),
    resumeRenewal: (id: string, meta: RequestMeta) =>
      outcome(() => handle(id).executeUpdate(resumeRenewalUpdate, { args: [meta], updateId: meta.request_id })),
    cancel: (id: string, meta: RequestMeta & { reason?: string }) =>
      outcome(() => handle(id).executeUpdate(cancelUpdate, { args: [meta], updateId: meta.request_id })),
    changePlan: (id: string, meta: RequestMeta & { plan_id: string }) =>
      outcome(() => handle(id).executeUpdate(changePlanUpdate, { args: [meta], updateId: meta.request_id })),
    buyBundle: (id: string, meta: RequestMeta & { bundle_id: string }): Promise<Outcome<BuyBundleResult>> =>
      outcome(() => handle(id).executeUpdate(buyBundleUpdate, { args: [meta], updateId: meta.request_id })),
    setAlerts: (id: string, meta: RequestMeta & { alerts: AlertSettings }) =>
      outcome(() => handle(id).executeUpdate(setAlertsUpdate, { args: [meta], updateId: meta.request_id })),
    setAutoRepurchase: (id: string, meta: RequestMeta & { auto_repurchase: Omit<AutoRepurchaseSettings, 'paused'> }) =>
      outcome(() => handle(id).executeUpdate(setAutoRepurchaseUpdate, { args: [meta], updateId: meta.request_id })),
    resumeAutoRepurchase: (id: string, meta: RequestMeta) =>
      outcome(() => handle(id).executeUpdate(resumeAutoRepurchaseUpdate, { args: [meta], updateId: meta.request_id })),
    /** Live workflow state joined with the exact ledger balance. */
    detail(id: string): Promise<Outcome<SubscriptionDetail>> {
      return outcome(async () => {
        const subscription = await handle(id).query(stateQuery);
        return { subscription, balances: await balances(sql, subscription.account_id, new Date()) };
      });
    },
  };
}
export type SubscriptionService = ReturnType<typeof createSubscriptionService>;
