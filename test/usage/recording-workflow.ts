import { condition, defineQuery, setHandler } from '@temporalio/workflow';
import { thresholdCrossedSignal, type ThresholdCrossing } from '../../src/workflows/messages';

/** Every threshold crossing signalled to this workflow, in arrival order (duplicates kept, so tests can see them). */
export const receivedQuery = defineQuery<ThresholdCrossing[]>('received');

/** Stands in for the subscription workflow on the receiving end of the usage outbox: it only listens. */
export async function recordingWorkflow(): Promise<void> {
  const received: ThresholdCrossing[] = [];
  setHandler(thresholdCrossedSignal, (crossing) => {
    received.push(crossing);
  });
  setHandler(receivedQuery, () => received);
  await condition(() => false);
}
