import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { resumeRenewalUpdate, stateQuery, stopRenewalUpdate, workflowIdFor } from '../../src/workflows/messages';
import { HOUR_MS, SubscriptionHarness } from '../support/subscriptions';

const HISTORIES = join(__dirname, 'histories');
const h = SubscriptionHarness.use();

describe('determinism', () => {
  // Each committed history was recorded from an earlier version of the workflow (scripts/record-history.ts).
  // Today's code must replay it command for command: a change that would break running workflows fails here.
  it.each(readdirSync(HISTORIES).filter((f) => f.endsWith('.json')))('replays %s with today\'s code', async (file) => {
    const history = temporal.api.history.v1.History.fromObject(JSON.parse(readFileSync(join(HISTORIES, file), 'utf8')));
    expect(history.events.length).toBeGreaterThan(100);
    await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, history, `replay-${file}`);
  });
});

describe('continue-as-new', () => {
  it('hands over state and remembered answers to the next run', async () => {
    await h.account('acc-can');
    const handle = await h.env.client.workflow.start('subscriptionWorkflow', {
      workflowId: workflowIdFor('sub-can'), taskQueue: h.w.taskQueue,
      args: [{ terms: { subscriptionId: 'sub-can', accountId: 'acc-can', planId: 'sms-1000-rollover', startedBy: 't' },
        max_history_events: 40 }],
    });
    const first = await h.service.start({ subscriptionId: 'sub-can', accountId: 'acc-can', planId: 'sms-1000-rollover', startedBy: 't' });
    expect(first).toMatchObject({ ok: true, value: { outcome: 'active' } });
    const stop = await handle.executeUpdate(stopRenewalUpdate, { args: [{ request_id: 'stop-a', by: 't' }] });
    await handle.executeUpdate(resumeRenewalUpdate, { args: [{ request_id: 'resume-a', by: 't' }] });
    await h.use('acc-can', 'sms', 100, 'can-use');
    for (let i = 0; i < 4; i++) {
      const v = await h.view('sub-can');
      await h.advanceTo(v.current_period!.end_ms + HOUR_MS);
    }
    const after = await h.env.client.workflow.getHandle(workflowIdFor('sub-can')).query(stateQuery);
    expect(after.generation).toBeGreaterThan(0);
    expect(after.current_period!.index).toBe(4);
    expect(after.status).toBe('active');
    expect(await h.available('acc-can', 'sms')).toBe(5 * 1000 - 100);
    // The stop answered before the hand-over is answered again, not acted on again (the subscription stays active).
    const again = await h.service.stopRenewal('sub-can', { request_id: 'stop-a', by: 't' });
    expect(again).toEqual({ ok: true, value: stop });
    expect((await h.view('sub-can')).status).toBe('active');
  });
});
