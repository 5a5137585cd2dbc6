import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../../src/db/client';
import {
  createTemporalSignaler, createThresholdDispatcher, createUsageService, type ThresholdSignaler, type UsageService,
} from '../../src/usage';
import type { ThresholdCrossing } from '../../src/workflows/messages';
import { useTestDatabase, type TestDatabase } from '../support/db';
import { seedAccount, testClock } from './harness';
import { receivedQuery } from './recording-workflow';

async function eventually<T>(read: () => Promise<T>, done: (v: T) => boolean, timeout_ms = 10_000): Promise<T> {
  const until = Date.now() + timeout_ms;
  for (;;) {
    const v = await read();
    if (done(v) || Date.now() > until) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('threshold crossings reach the subscription workflow', () => {
  let db: TestDatabase;
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let workerRun: Promise<void>;
  let signaler: ThresholdSignaler;
  let usage: UsageService;
  const taskQueue = `usage-thresholds-${Math.random().toString(36).slice(2)}`;
  const clock = testClock();

  beforeAll(async () => {
    db = await useTestDatabase();
    Runtime.install({ logger: new DefaultLogger('WARN') });
    env = await TestWorkflowEnvironment.createLocal({
      server: { executable: { type: 'existing-path', path: '.tools/bin/temporal' } },
    });
    worker = await Worker.create({ connection: env.nativeConnection, taskQueue,
      workflowsPath: join(__dirname, 'recording-workflow.ts') });
    workerRun = worker.run();
    signaler = createTemporalSignaler(env.client);
    usage = createUsageService({ sql: db.sql, signaler, graceWindowS: 3600, now: clock.now });
  });

  afterAll(async () => {
    worker?.shutdown();
    await workerRun;
    await env?.teardown();
  });

  /** An account with `credits` SMS credits whose balance alerts a fresh recording workflow at `thresholds`. */
  async function watchedAccount(sql: Sql, name: string, credits: number, thresholds: number[]) {
    const acc = await seedAccount(sql, name, { sms: credits });
    const workflowId = `subscription/${acc}`;
    await env.client.workflow.start('recordingWorkflow', { taskQueue, workflowId });
    await sql`update balances set notify_workflow_id = ${workflowId}, alert_thresholds_credits = ${thresholds}
              where account_id = ${acc} and credit_type = 'sms'`;
    /** Waits until the workflow has seen `expected` signals (0: answers at once). */
    const received = (expected: number) => eventually(
      () => env.client.workflow.getHandle(workflowId).query(receivedQuery), (r) => r.length >= expected);
    return { acc, workflowId, received };
  }

  const outbox = (sql: Sql, acc: string) => sql<{ id: number; threshold_credits: number; delivered: boolean }[]>`
    select id, threshold_credits, delivered_at is not null as delivered from threshold_crossings
    where account_id = ${acc} order by id`;

  it('a debit that crosses writes an outbox row and the workflow gets it as a signal', async () => {
    const { sql } = db;
    const { acc, received } = await watchedAccount(sql, 'cross', 100, [50, 10]);
    const r = await usage.ingestOne({ event_id: 'big', account_id: acc, credit_type: 'sms', amount_credits: 55 });
    expect(r).toMatchObject({ status: 'accepted', available_after_credits: 45, thresholds_crossed: [50] });
    await usage.dispatcher.drain();
    const rows = await outbox(sql, acc);
    expect(rows).toEqual([{ id: expect.any(Number), threshold_credits: 50, delivered: true }]);
    expect(await received(1)).toEqual([{ crossing_id: rows[0]!.id, credit_type: 'sms', threshold_credits: 50,
      available_before: 100, available_after: 45, crossed_at_ms: clock.now().getTime() } satisfies ThresholdCrossing]);

    // A batch that crosses the next threshold: signalled after the batch commits.
    await usage.ingestBatch([
      { event_id: 'b1', account_id: acc, credit_type: 'sms', amount_credits: 30 },
      { event_id: 'b2', account_id: acc, credit_type: 'sms', amount_credits: 10 },
    ]);
    await usage.dispatcher.drain();
    const got = await received(2);
    expect(got.map((c) => [c.threshold_credits, c.available_before, c.available_after])).toEqual([[50, 100, 45], [10, 15, 5]]);
    // A replay does not cross again.
    expect(await usage.ingestOne({ event_id: 'b2', account_id: acc, credit_type: 'sms', amount_credits: 10 }))
      .toMatchObject({ status: 'duplicate' });
    expect(await outbox(sql, acc)).toHaveLength(2);
  });

  it('each crossing is recorded and signalled exactly once, however many debits race past it', async () => {
    const { sql } = db;
    const { acc, received } = await watchedAccount(sql, 'race', 64, [48, 32, 16, 0]);
    const results = await Promise.all(Array.from({ length: 64 }, (_, i) =>
      usage.ingestOne({ event_id: `r${i}`, account_id: acc, credit_type: 'sms', amount_credits: 1 })));
    expect(results.every((r) => r.status === 'accepted')).toBe(true);
    await usage.dispatcher.drain();
    const rows = await outbox(sql, acc);
    expect(rows.map((r) => [r.threshold_credits, r.delivered])).toEqual([[48, true], [32, true], [16, true], [0, true]]);
    const got = await received(4);
    expect(got.map((c) => c.crossing_id).sort((a, b) => a - b)).toEqual(rows.map((r) => r.id));
    expect(got.map((c) => c.available_after).sort((a, b) => b - a)).toEqual([48, 32, 16, 0]);
  });

  it('the sweeper delivers what failed after the debit, and never signals a row twice', async () => {
    const { sql } = db;
    let outage = true;
    const flaky: ThresholdSignaler = {
      signal: (id, crossing) => (outage ? Promise.reject(new Error('temporal unavailable')) : signaler.signal(id, crossing)),
    };
    const failures: number[] = [];
    const flakyUsage = createUsageService({ sql, signaler: flaky, graceWindowS: 3600, now: clock.now,
      onDispatchError: (_err, id) => failures.push(id) });
    const { acc, received } = await watchedAccount(sql, 'sweep', 10, [5]);
    await flakyUsage.ingestOne({ event_id: 's1', account_id: acc, credit_type: 'sms', amount_credits: 6 });
    await flakyUsage.dispatcher.drain();
    const [row] = await outbox(sql, acc);
    expect(row).toMatchObject({ delivered: false });
    expect(failures).toEqual([row!.id]);

    outage = false;
    // Two sweepers at once (two API processes): the row lock lets only one of them signal it.
    const sweeper = createThresholdDispatcher({ sql, signaler });
    const outcomes = await Promise.all([sweeper.dispatchPending(100), flakyUsage.dispatcher.dispatchPending(100)]);
    expect(outcomes.reduce((n, o) => n + o.delivered, 0)).toBeGreaterThanOrEqual(1);
    expect(await outbox(sql, acc)).toEqual([{ ...row, delivered: true }]);
    expect(await received(1)).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(await received(0)).toHaveLength(1);
    expect((await sweeper.dispatchPending(100)).delivered).toBe(0);
  });

  it('a crossing for a workflow that is gone counts as delivered', async () => {
    const { sql } = db;
    const acc = await seedAccount(sql, 'gone', { sms: 10 });
    await sql`update balances set notify_workflow_id = 'subscription/never-started', alert_thresholds_credits = '{5}'
              where account_id = ${acc} and credit_type = 'sms'`;
    await usage.ingestOne({ event_id: 'g1', account_id: acc, credit_type: 'sms', amount_credits: 9 });
    await usage.dispatcher.drain();
    expect(await outbox(sql, acc)).toMatchObject([{ threshold_credits: 5, delivered: true }]);
  });
});
