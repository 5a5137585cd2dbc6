import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { thresholdCrossedSignal } from '../workflows/messages';
import type { ThresholdSignaler } from './threshold-dispatcher';

/**
 * Signals the subscription workflow. A workflow that no longer exists (the subscription ended) has nobody left to
 * tell: that counts as delivered, or the sweeper would retry it forever. Each signal has its own deadline, because
 * the dispatcher holds the outbox row lock while it waits.
 */
export function createTemporalSignaler(client: Client, { timeout_ms = 5_000 }: { timeout_ms?: number } = {}): ThresholdSignaler {
  return {
    async signal(workflowId, crossing) {
      try {
        await client.withDeadline(Date.now() + timeout_ms,
          () => client.workflow.getHandle(workflowId).signal(thresholdCrossedSignal, crossing));
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return;
        throw err;
      }
    },
  };
}
