import { ApplicationFailure, WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import {
  WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client,
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
  // A closed subscription's id cannot start again: answered like an action on it (its recorded status).
  if (err instanceof WorkflowExecutionAlreadyStartedError) return { refusal: 'not_found', message: 'subscription has ended' };
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
    const type = err.cause.type as Refusal | undefined;
    if (type && (REFUSALS as readonly string[]).includes(type)) return { refusal: type, message: err.cause.message };
  }
  if (err instanceof Error && err.name === 'WorkflowNotFoundError') return { refusal: 'not_found', message: 'no such subscription' };
  return null;
}

/** The answer for a subscription while its workflow runs its first activities (the query throws 'not_ready'). */
function startingRefusal(err: unknown): { refusal: Refusal; message: string } | null {
  return err instanceof Error && /not_ready|subscription is starting/.test(err.message)
    ? { refusal: 'not_active', message: 'subscription is starting' } : null;
}

/** The client side of subscription workflows: what the API and CLI call. */
export function createSubscriptionService({ client, sql, taskQueue }: SubscriptionServiceDeps) {
  const handle = (id: string) => client.workflow.getHandle(workflowIdFor(id));

  /**
   * Runs a call against one subscription's workflow. A refusal is an answer; so is a workflow that has closed
   * (cancelled, ended, first payment declined): Temporal no longer finds it, but its last status is recorded.
   */
  async function outcome<T>(run: () => Promise<T>, subscriptionId?: string): Promise<Outcome<T>> {
    try {
      return { ok: true, value: await run() };
    } catch (err) {
      const r = refusalOf(err) ?? startingRefusal(err);
      if (!r) throw err;
      if (r.refusal === 'not_found' && subscriptionId) {
        const [row] = await sql<{ status: string }[]>`select status from subscriptions where id = ${subscriptionId}`;
        if (row) return { ok: false, refusal: 'not_active', message: `subscription ${subscriptionId} is ${row.status}` };
      }
      return { ok: false, ...r };
    }
  }

  return {
    /** Starts the subscription, or attaches to the one already running, and answers after its first charge. */
    start(terms: SubscriptionTerms): Promise<Outcome<ActivateResult>> {
      // Start-if-absent, then an Update that answers once the first charge is through. (Two calls rather than
      // update-with-start: the time-skipping test server does not implement multi-operations; the outcome is the
      // same because the start is idempotent and the Update's validator rejects different terms.)
      return outcome(async () => {
        const handle = await client.workflow.start('subscriptionWorkflow', {
          workflowId: workflowIdFor(terms.subscriptionId),
          taskQueue,
          args: [{ terms }],
          // Running: attach to it. Ended (cancelled, ran out, first charge declined): its id is spent, because its
          // ledger and payment keys are; a new subscription takes a new id.
          workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
          workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        });
        return handle.executeUpdate(activateUpdate, { args: [terms] });
      }, terms.subscriptionId);
    },
    stopRenewal: (id: string, meta: RequestMeta) =>
      outcome(() => handle(id).executeUpdate(stopRenewalUpdate, { args: [meta], updateId: meta.request_id }), id),
    resumeRenewal: (id: string, meta: RequestMeta) =>
      outcome(() => handle(id).executeUpdate(resumeRenewalUpdate, { args: [meta], updateId: meta.request_id }), id),
    cancel: (id: string, meta: RequestMeta & { reason?: string }) =>
      outcome(() => handle(id).executeUpdate(cancelUpdate, { args: [meta], updateId: meta.request_id }), id),
    changePlan: (id: string, meta: RequestMeta & { plan_id: string }) =>
      outcome(() => handle(id).executeUpdate(changePlanUpdate, { args: [meta], updateId: meta.request_id }), id),
    buyBundle: (id: string, meta: RequestMeta & { bundle_id: string }): Promise<Outcome<BuyBundleResult>> =>
      outcome(() => handle(id).executeUpdate(buyBundleUpdate, { args: [meta], updateId: meta.request_id }), id),
    setAlerts: (id: string, meta: RequestMeta & { alerts: AlertSettings }) =>
      outcome(() => handle(id).executeUpdate(setAlertsUpdate, { args: [meta], updateId: meta.request_id }), id),
    setAutoRepurchase: (id: string, meta: RequestMeta & { auto_repurchase: Omit<AutoRepurchaseSettings, 'paused'> }) =>
      outcome(() => handle(id).executeUpdate(setAutoRepurchaseUpdate, { args: [meta], updateId: meta.request_id }), id),
    resumeAutoRepurchase: (id: string, meta: RequestMeta) =>
      outcome(() => handle(id).executeUpdate(resumeAutoRepurchaseUpdate, { args: [meta], updateId: meta.request_id }), id),
    /** Live workflow state joined with the exact ledger balance. */
    detail(id: string): Promise<Outcome<SubscriptionDetail>> {
      return outcome(async () => {
        const subscription = await handle(id).query(stateQuery);
        return { subscription, balances: await balances(sql, subscription.account_id, new Date()) };
      }, id);
    },
  };
}
export type SubscriptionService = ReturnType<typeof createSubscriptionService>;
