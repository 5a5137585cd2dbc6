import type { Sql } from '../db/client';
import type { ThresholdCrossing } from '../workflows/messages';

/**
 * Delivers threshold crossings from the outbox (threshold_crossings, written by cf_debit in the debit's own
 * transaction) to the subscription workflows. At least once: a crash between a signal and marking it delivered
 * sends it again, so the workflow dedupes by crossing_id. Never twice at once: a row is signalled only by the
 * transaction holding its row lock (for update skip locked), so the after-debit path and the sweeper never race.
 */

/** The port to whoever is told; the Temporal implementation is temporal-signaler.ts. */
export interface ThresholdSignaler {
  signal(workflowId: string, crossing: ThresholdCrossing): Promise<void>;
}

/** What a write that crossed reports about each crossing (cf_crossings_of). */
export interface RecordedCrossing {
  crossing_id: number;
  workflow_id: string;
}

export interface DispatchOutcome {
  delivered: number;
  failed: number;
}

export interface ThresholdDispatcher {
  /** After a commit that recorded crossings: signal them in the background; failures are left to the sweeper. */
  notify(crossings: readonly RecordedCrossing[]): void;
  /** Signals up to `limit` undelivered crossings, oldest first (the sweeper's step). */
  dispatchPending(limit: number): Promise<DispatchOutcome>;
  /** Runs dispatchPending every interval_ms until the returned stop() is awaited. */
  startSweeper(interval_ms: number, limit?: number): { stop(): Promise<void> };
  /** Resolves once every background delivery started so far has finished (tests, shutdown). */
  drain(): Promise<void>;
}

interface OutboxRow {
  id: number;
  workflow_id: string;
  credit_type: string;
  threshold_credits: number;
  available_before: number;
  available_after: number;
  crossed_at: Date;
}

export function createThresholdDispatcher({ sql, signaler, onError = () => {} }: {
  sql: Sql;
  signaler: ThresholdSignaler;
  /** Told of each failed signal (the row stays pending), or with crossingId -1 of a failed delivery transaction. */
  onError?: (err: unknown, crossingId: number) => void;
}): ThresholdDispatcher {
  const inFlight = new Set<Promise<unknown>>();

  async function signalLocked(pick: (tx: Sql) => Promise<OutboxRow[]>): Promise<DispatchOutcome> {
    let failed = 0;
    const delivered = await sql.begin(async (tx) => {
      const rows = await pick(tx as unknown as Sql);
      const done: number[] = [];
      for (const row of rows) {
        try {
          await signaler.signal(row.workflow_id, {
            crossing_id: row.id,
            credit_type: row.credit_type,
            threshold_credits: row.threshold_credits,
            available_before: row.available_before,
            available_after: row.available_after,
            crossed_at_ms: row.crossed_at.getTime(),
          });
          done.push(row.id);
        } catch (err) {
          failed++;
          onError(err, row.id);
        }
      }
      if (done.length > 0) await tx`update threshold_crossings set delivered_at = now() where id = any(${done})`;
      return done.length;
    });
    return { delivered, failed };
  }

  const dispatchPending = (limit: number) => signalLocked((tx) => tx<OutboxRow[]>`
    select id, workflow_id, credit_type, threshold_credits, available_before, available_after, crossed_at
    from threshold_crossings where delivered_at is null order by id limit ${limit} for update skip locked`);

  const deliverNow = (ids: number[]) => signalLocked((tx) => tx<OutboxRow[]>`
    select id, workflow_id, credit_type, threshold_credits, available_before, available_after, crossed_at
    from threshold_crossings where id = any(${ids}) and delivered_at is null order by id for update skip locked`);

  function track(p: Promise<unknown>) {
    const tracked = p.catch((err) => onError(err, -1)).finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  }

  return {
    dispatchPending,
    notify(crossings) {
      if (crossings.length > 0) track(deliverNow(crossings.map((c) => c.crossing_id)));
    },
    startSweeper(interval_ms, limit = 100) {
      let stopped = false;
      let running: Promise<unknown> = Promise.resolve();
      const timer = setInterval(() => {
        if (stopped) return;
        running = running.then(() => dispatchPending(limit)).catch((err) => onError(err, -1));
      }, interval_ms);
      return {
        async stop() {
          stopped = true;
          clearInterval(timer);
          await running;
        },
      };
    },
    async drain() {
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
  };
}
