import type { Sql } from '../db/client';
import type { RecordedCrossing, ThresholdDispatcher } from '../usage/threshold-dispatcher';
import type { Committed, CommitRequest, HoldRefusal, HoldView, Released, Reserved, ReserveRequest } from './schema';

export interface HoldServiceDeps {
  sql: Sql;
  now: () => Date;
  /** Credit types a hold may be taken in (the catalog's). */
  creditTypes: readonly string[];
  /** Signals threshold crossings a commit records; without it they wait for the sweeper. */
  dispatcher?: ThresholdDispatcher;
}

export interface HoldService {
  reserve(accountId: string, req: ReserveRequest): Promise<Reserved | HoldRefusal>;
  /** Draws what was used (≤ held) and gives back the rest; 0 releases the whole hold. */
  commit(holdId: string, req: CommitRequest): Promise<Committed | HoldRefusal>;
  release(holdId: string): Promise<Released | HoldRefusal>;
  get(holdId: string): Promise<HoldView | null>;
  listForAccount(accountId: string): Promise<HoldView[]>;
}

// Keys: the caller's request id names a reservation; a hold is settled once, so its id names the settlement.
// ':' and '%' in the account id are percent-encoded, so no two (account, request) pairs share a key.
const reserveKey = (accountId: string, requestId: string) =>
  `hold:${accountId.replaceAll('%', '%25').replaceAll(':', '%3A')}:${requestId}`;
const commitKey = (holdId: string) => `hold-commit:${holdId}`;
const releaseKey = (holdId: string) => `hold-release:${holdId}`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const notFound: HoldRefusal = { status: 'refused', code: 'hold_not_found' };

/** What the SQL functions answer: a success of their own shape, or a refusal carrying `duplicate: false`. */
type Answer<T> = T | (HoldRefusal & { duplicate?: boolean });

interface CommitAnswer {
  status: 'accepted';
  drawn_credits: number;
  held_credits: number;
  available_after_credits: number;
  duplicate: boolean;
  crossings?: RecordedCrossing[];
}

/** A refusal never happened, so the ledger's `duplicate` flag is dropped from it. */
function refusal(r: HoldRefusal & { duplicate?: boolean }): HoldRefusal {
  const { duplicate: _ignored, ...rest } = r;
  return rest;
}

function isIdempotencyConflict(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === 'P0001' && e.message === 'idempotency_conflict';
}

/**
 * Runs a keyed write; a conflict on its key is either a twin that committed first (the retry then answers its
 * result) or a reuse with another request (the retry conflicts again, answered as a refusal).
 */
async function keyed<T>(run: () => Promise<T>): Promise<T | HoldRefusal> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      if (!isIdempotencyConflict(err)) throw err;
      if (attempt >= 2) return { status: 'refused', code: 'idempotency_conflict' };
    }
  }
}

interface HoldRow {
  id: string;
  account_id: string;
  credit_type: string;
  amount_credits: number;
  status: 'active' | 'committed' | 'released';
  expires_at: Date;
  created_at: Date;
  settled_at: Date | null;
}

export function createHoldService({ sql, now, creditTypes, dispatcher }: HoldServiceDeps): HoldService {
  const known = new Set(creditTypes);

  const view = (h: HoldRow, at: Date): HoldView => ({
    hold_id: h.id, account_id: h.account_id, credit_type: h.credit_type, amount_credits: h.amount_credits,
    status: h.status === 'active' && h.expires_at <= at ? 'lapsed' : h.status,
    expires_at: h.expires_at.toISOString(), created_at: h.created_at.toISOString(),
    settled_at: h.settled_at?.toISOString() ?? null,
  });

  async function release(holdId: string): Promise<Released | HoldRefusal> {
    if (!UUID.test(holdId)) return notFound;
    const r = await keyed(async () => (await sql<{ r: Answer<Released> }[]>`
      select cf_release_hold(${releaseKey(holdId)}, ${holdId}, ${now()}) as r`)[0]!.r);
    return r.status === 'released' ? r : refusal(r);
  }

  return {
    release,

    async reserve(accountId, req) {
      if (!known.has(req.credit_type)) return { status: 'refused', code: 'unknown_credit_type' };
      const at = now();
      const expiresAt = new Date(at.getTime() + req.ttl_s * 1000);
      const r = await keyed(async () => (await sql<{ r: Answer<Reserved> }[]>`
        select cf_hold(${reserveKey(accountId, req.request_id)}, ${accountId}, ${req.credit_type}, ${req.amount_credits},
                       ${expiresAt}, ${at}) as r`)[0]!.r);
      if (r.status !== 'held') return refusal(r);
      return { ...r, expires_at: new Date(r.expires_at).toISOString() }; // jsonb carries Postgres' timestamp text
    },

    async commit(holdId, req) {
      if (!UUID.test(holdId)) return notFound;
      if (req.amount_credits === 0) {
        const released = await release(holdId);
        if (released.status !== 'released') return released;
        return { status: 'committed', hold_id: holdId, drawn_credits: 0, released_credits: released.released_credits,
          available_after_credits: null, duplicate: released.duplicate };
      }
      const r = await keyed(async () => (await sql<{ r: Answer<CommitAnswer> }[]>`
        select cf_commit_hold(${commitKey(holdId)}, ${holdId}, ${req.amount_credits}, ${now()},
                              ${sql.json((req.metadata ?? {}) as never)}) as r`)[0]!.r);
      if (r.status !== 'accepted') return refusal(r);
      dispatcher?.notify(r.crossings ?? []);
      return { status: 'committed', hold_id: holdId, drawn_credits: r.drawn_credits,
        released_credits: r.held_credits - r.drawn_credits, available_after_credits: r.available_after_credits,
        duplicate: r.duplicate };
    },

    async get(holdId) {
      if (!UUID.test(holdId)) return null;
      const [h] = await sql<HoldRow[]>`select * from holds where id = ${holdId}`;
      return h ? view(h, now()) : null;
    },

    async listForAccount(accountId) {
      const at = now();
      const rows = await sql<HoldRow[]>`
        select * from holds where account_id = ${accountId} order by created_at desc, id limit 500`;
      return rows.map((h) => view(h, at));
    },
  };
}
