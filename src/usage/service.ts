import type { z } from 'zod';
import type { Sql } from '../db/client';
import { createRater, loadRateCards, type Rater, type RatingBreakdown } from '../rating';
import { MAX_BATCH_EVENTS, MAX_FUTURE_SKEW_S, UsageEvent, type AcceptedUsage, type UsageResult } from './schema';
import {
  createThresholdDispatcher, type RecordedCrossing, type ThresholdDispatcher, type ThresholdSignaler,
} from './threshold-dispatcher';

export interface UsageServiceDeps {
  sql: Sql;
  signaler: ThresholdSignaler;
  /** How old an event may be and still draw credits (USAGE_GRACE_WINDOW_S); at most the 35-day retention. */
  graceWindowS: number;
  now: () => Date;
  /** Default: the shipped rate cards (catalog/rate-cards.json). */
  rater?: Rater;
  onDispatchError?: (err: unknown, crossingId: number) => void;
  /** How many group-commit writes of single events may be in flight at once (default 4). */
  maxConcurrentWrites?: number;
}

export interface UsageService {
  ingestOne(input: unknown): Promise<UsageResult>;
  /** Results in the order of the inputs. One round trip and one transaction for the whole batch. */
  ingestBatch(inputs: readonly unknown[]): Promise<UsageResult[]>;
  /** The outbox dispatcher: the API runs its sweeper; tests drain it. */
  dispatcher: ThresholdDispatcher;
}

/** One event as cf_ingest_usage takes it; `refusal` is set when the service refused it before the database. */
interface IngestRow {
  account_id: string;
  event_id: string;
  credit_type: string;
  amount_credits: number | null;
  rate_card_version: string | null;
  rating: RatingBreakdown | null;
  occurred_at: string;
  received_at: string;
  list: string | null;
  metadata: Record<string, unknown> | null;
  refusal: Extract<UsageResult, { status: 'refused' }> | null;
}

type Prepared = { row: IngestRow } | { result: UsageResult };

/** What cf_ingest_usage answers: a result, plus for an accepted event the outbox rows it recorded. */
type DbAnswer =
  | (AcceptedUsage & { crossings?: RecordedCrossing[] })
  | { status: 'duplicate'; original: AcceptedUsage }
  | Omit<Extract<UsageResult, { status: 'refused' }>, 'event_id'>;

const refused = (event_id: string | null, code: Extract<UsageResult, { status: 'refused' }>['code'], message: string,
  extra: { issues?: { path: string; message: string }[] } = {}): Extract<UsageResult, { status: 'refused' }> =>
  ({ status: 'refused', event_id, code, message, ...extra });

const issuesOf = (error: z.ZodError) =>
  error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));

/**
 * Errors after which the whole call can simply run again, and will then answer duplicate: a twin of an event
 * committed first where the functions could not wait for it (see 003_usage.sql), or a deadlock.
 */
function isRetryable(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | null;
  return e?.code === '23505' || e?.code === '40P01' || e?.code === '40001'
    || (e?.code === 'P0001' && e.message === 'idempotency_conflict');
}

async function withRetry<T>(run: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      if (attempt >= attempts || !isRetryable(err)) throw err;
    }
  }
}

export function createUsageService(deps: UsageServiceDeps): UsageService {
  const { sql, graceWindowS, now } = deps;
  const rater = deps.rater ?? createRater(loadRateCards());
  const dispatcher = createThresholdDispatcher({ sql, signaler: deps.signaler, onError: deps.onDispatchError });

  /** Everything decided without the database: shape, grace window, rating. */
  function prepare(input: unknown, receivedAt: Date): Prepared {
    const parsed = UsageEvent.safeParse(input);
    if (!parsed.success) {
      const id = (input as { event_id?: unknown } | null)?.event_id;
      return { result: refused(typeof id === 'string' ? id : null, 'invalid_event', 'the event is not valid',
        { issues: issuesOf(parsed.error) }) };
    }
    const e = parsed.data;
    const occurredAt = e.occurred_at === undefined ? receivedAt : new Date(e.occurred_at);
    const row: IngestRow = {
      account_id: e.account_id, event_id: e.event_id, credit_type: e.credit_type, amount_credits: null,
      rate_card_version: null, rating: null, occurred_at: occurredAt.toISOString(), received_at: receivedAt.toISOString(),
      list: e.list ?? null, metadata: e.metadata ?? null, refusal: null,
    };
    const age_ms = receivedAt.getTime() - occurredAt.getTime();
    if (age_ms > graceWindowS * 1000 || -age_ms > MAX_FUTURE_SKEW_S * 1000) {
      row.refusal = refused(e.event_id, 'timestamp_outside_grace', `occurred_at must be within the last ${graceWindowS} s `
        + `and at most ${MAX_FUTURE_SKEW_S} s ahead of the server clock (${receivedAt.toISOString()})`);
      return { row };
    }
    const rating = rater.rate({ credit_type: e.credit_type, occurred_at: occurredAt, sms: e.sms, voice: e.voice,
      amount_credits: e.amount_credits });
    if (!rating.ok) {
      row.refusal = refused(e.event_id, rating.code, rating.message);
      return { row };
    }
    row.amount_credits = rating.amount_credits;
    row.rate_card_version = rating.rate_card_version;
    row.rating = rating.breakdown;
    return { row };
  }

  /** Turns the database's answer into the client's, collecting the crossings to signal. */
  function answer(row: IngestRow, db: DbAnswer, crossings: RecordedCrossing[]): UsageResult {
    if (db.status === 'accepted') {
      const { crossings: recorded, ...accepted } = db;
      if (recorded) crossings.push(...recorded);
      return { ...accepted, event_id: row.event_id };
    }
    return { ...db, event_id: row.event_id } as UsageResult;
  }

  /** One event alone takes the single-event function: measured at about half the database CPU of a batch of one. */
  async function writeOne(r: IngestRow): Promise<UsageResult> {
    const rows = await withRetry(() => sql<{ a: DbAnswer }[]>`select cf_ingest_usage_one(${r.account_id}, ${r.event_id},
      ${r.credit_type}, ${r.amount_credits}, ${r.rate_card_version}, ${r.rating === null ? null : sql.json(r.rating)},
      ${r.occurred_at}, ${r.received_at}, ${r.list}, ${r.metadata === null ? null : sql.json(r.metadata as never)},
      ${r.refusal === null ? null : sql.json(r.refusal)}) as a`);
    const crossings: RecordedCrossing[] = [];
    const result = answer(r, rows[0]!.a, crossings);
    dispatcher.notify(crossings);
    return result;
  }

  /** One round trip and one transaction for any number of prepared rows. */
  async function writeRows(rows: readonly IngestRow[]): Promise<UsageResult[]> {
    if (rows.length === 1) return [await writeOne(rows[0]!)];
    const answers = await withRetry(() => sql<{ i: number; result: DbAnswer }[]>`
      select i, result from cf_ingest_usage(${sql.json(rows as never)})`);
    const crossings: RecordedCrossing[] = [];
    const results: UsageResult[] = new Array(rows.length);
    for (const { i, result } of answers) results[i] = answer(rows[i]!, result, crossings);
    dispatcher.notify(crossings);
    return results;
  }

  async function ingestMany(inputs: readonly unknown[]): Promise<UsageResult[]> {
    const receivedAt = now();
    const prepared = inputs.map((input) => prepare(input, receivedAt));
    const results: (UsageResult | undefined)[] = prepared.map((p) => ('result' in p ? p.result : undefined));
    const sent = prepared.flatMap((p, index) => ('row' in p ? [{ index, row: p.row }] : []));
    if (sent.length === 0) return results as UsageResult[];
    const written = await writeRows(sent.map((x) => x.row));
    sent.forEach(({ index }, i) => { results[index] = written[i]; });
    return results as UsageResult[];
  }

  /**
   * Group commit for single events: while `maxFlushes` writes are in flight, new events wait and go together in
   * the next write (one round trip, one commit, one lock per balance for all of them). An idle service writes an
   * event at once, so batching adds no delay; under load it turns many commits into few. Same SQL, same rules as a
   * batch: each event still gets its own answer, and one refused event does not touch the others. A write that
   * fails (an event the database rejects) fails its whole transaction, so then the group's events run again one at
   * a time, in order: each gets its own result or its own error, never a stranger's.
   */
  type Waiting = { row: IngestRow; resolve: (r: UsageResult) => void; reject: (e: unknown) => void };
  const waiting: Waiting[] = [];
  let flushing = 0;
  const maxFlushes = deps.maxConcurrentWrites ?? 4;
  async function writeGroup(group: readonly Waiting[]): Promise<void> {
    try {
      const results = await writeRows(group.map((w) => w.row));
      group.forEach((w, i) => w.resolve(results[i]!));
      return;
    } catch (err) {
      if (group.length === 1) {
        group[0]!.reject(err);
        return;
      }
    }
    for (const w of group) {
      await writeRows([w.row]).then((results) => w.resolve(results[0]!), w.reject);
    }
  }
  function flush(): void {
    if (flushing >= maxFlushes || waiting.length === 0) return;
    const group = waiting.splice(0, MAX_BATCH_EVENTS);
    flushing++;
    void writeGroup(group).finally(() => {
      flushing--;
      flush();
    });
  }

  return {
    dispatcher,

    async ingestOne(input) {
      const prepared = prepare(input, now());
      if ('result' in prepared) return prepared.result;
      return new Promise<UsageResult>((resolve, reject) => {
        waiting.push({ row: prepared.row, resolve, reject });
        flush();
      });
    },

    async ingestBatch(inputs) {
      if (inputs.length > MAX_BATCH_EVENTS) throw new RangeError(`a batch holds at most ${MAX_BATCH_EVENTS} events`);
      return ingestMany(inputs);
    },
  };
}
