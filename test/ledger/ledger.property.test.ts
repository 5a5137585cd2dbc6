import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../../src/db/client';
import {
  balances, closeGrant, debit, expireGrant, extendExpiry, grantCredits, IdempotencyConflictError, ledgerViolations,
  listGrants, settleOverage,
} from '../../src/ledger';
import { createAccount, useTestDatabase, type TestDatabase } from '../support/db';
import { CONFLICT, LedgerModel, type Conflict, type Outcome, type Source } from './reference-model';

/*
 * Random sequences of ledger writes run against the real SQL functions and against the reference model at once;
 * after every write the answer, the balance, every grant and the row counts must agree. Each run gets an account
 * of its own in this file's database. Time is explicit: a clock that only moves forward, and an as_of that is
 * sometimes back-dated behind it, on a 12-hour grid so that as_of often lands exactly on an expiry.
 */

const T0_MS = Date.parse('2026-01-01T00:00:00Z');
const HALF_DAY_MS = 43_200_000;
const CREDIT_TYPE = 'sms';
/** A grant of another credit type, never touched: nothing done to CREDIT_TYPE may reach it. */
const DECOY_TYPE = 'voice';
const DECOY_CREDITS = 1000;

// ---- what the generator produces: steps that refer to grants and earlier calls by position -------------------

type Action =
  | { op: 'grant'; amount_credits: number; source: Source; priority: number; starts_in_half_days: number;
      valid_half_days: number | null }
  | { op: 'debit'; amount_credits: number; kind: 'debit' | 'adjustment' }
  | { op: 'expire'; grant: number; on_time: boolean }
  | { op: 'close'; grant: number; kind: 'expiry' | 'void' }
  | { op: 'extend'; grant: number; by_half_days: number }
  | { op: 'settle'; portion: 'all' | 'half' | 'more' | 'none' }
  | { op: 'overage_policy'; allowed: boolean }
  | { op: 'replay'; of: number }
  | { op: 'conflict'; of: number };
type Op = Action['op'];
type Step = { advance_half_days: number; backdate_half_days: number } & Action;

interface Scenario {
  overage_allowed: boolean;
  alert_thresholds_credits: number[];
  steps: Step[];
}

const grantStep = fc.record({
  op: fc.constant('grant' as const),
  amount_credits: fc.integer({ min: 1, max: 60 }),
  source: fc.constantFrom<Source>('plan_allotment', 'rollover', 'bundle', 'adjustment'),
  priority: fc.constantFrom(100, 100, 100, 50, 200),
  starts_in_half_days: fc.integer({ min: -6, max: 4 }),
  valid_half_days: fc.option(fc.integer({ min: 1, max: 40 }), { freq: 4, nil: null }),
});
const ACTIONS: Record<Op, fc.Arbitrary<Action>> = {
  grant: grantStep,
  debit: fc.record({
    op: fc.constant('debit' as const), amount_credits: fc.integer({ min: 1, max: 80 }),
    kind: fc.constantFrom('debit' as const, 'debit' as const, 'adjustment' as const),
  }),
  // on_time: as_of is the grant's own expiry, as when its timer fires; otherwise whatever the clock says.
  expire: fc.record({ op: fc.constant('expire' as const), grant: fc.nat(), on_time: fc.boolean() }),
  close: fc.record({ op: fc.constant('close' as const), grant: fc.nat(), kind: fc.constantFrom('expiry' as const, 'void' as const) }),
  extend: fc.record({ op: fc.constant('extend' as const), grant: fc.nat(), by_half_days: fc.integer({ min: -4, max: 30 }) }),
  settle: fc.record({ op: fc.constant('settle' as const), portion: fc.constantFrom('all' as const, 'half' as const, 'more' as const, 'none' as const) }),
  overage_policy: fc.record({ op: fc.constant('overage_policy' as const), allowed: fc.boolean() }),
  replay: fc.record({ op: fc.constant('replay' as const), of: fc.nat() }),
  conflict: fc.record({ op: fc.constant('conflict' as const), of: fc.nat() }),
};

interface Mix {
  weights: Partial<Record<Op, number>>;
  /** Weight of a back-dated as_of against 3 for "now". */
  backdate_weight: number;
  overage_allowed: fc.Arbitrary<boolean>;
}

function scenarios(mix: Mix): fc.Arbitrary<Scenario> {
  const timing = fc.record({
    advance_half_days: fc.constantFrom(0, 0, 1, 1, 2, 3, 6),
    backdate_half_days: fc.oneof({ arbitrary: fc.constant(0), weight: 3 },
      { arbitrary: fc.integer({ min: 1, max: 20 }), weight: mix.backdate_weight }),
  });
  const action = fc.oneof(...Object.entries(mix.weights).map(([op, weight]) => ({ arbitrary: ACTIONS[op as Op], weight: weight! })));
  const step: fc.Arbitrary<Step> = fc.tuple(timing, action).map(([t, a]) => ({ ...t, ...a }));
  return fc.record({
    overage_allowed: mix.overage_allowed,
    alert_thresholds_credits: fc.uniqueArray(fc.integer({ min: 0, max: 100 }), { maxLength: 3 }),
    steps: fc.array(step, { minLength: 3, maxLength: 30, size: 'max' }),
  });
}

// ---- what is run: concrete calls, the same for model and ledger ----------------------------------------------

type Call =
  | { op: 'grant'; key: string; amount_credits: number; source: Source; priority: number; effective_from_ms: number;
      expires_at_ms: number | null }
  | { op: 'debit'; key: string; amount_credits: number; as_of_ms: number; kind: 'debit' | 'adjustment' }
  | { op: 'expire'; key: string; grant_id: string; as_of_ms: number }
  | { op: 'close'; key: string; grant_id: string; as_of_ms: number; kind: 'expiry' | 'void' }
  | { op: 'extend'; key: string; grant_id: string; new_expires_at_ms: number; as_of_ms: number }
  | { op: 'settle'; key: string; amount_credits: number; as_of_ms: number };

function onModel(model: LedgerModel, c: Call): Outcome | Conflict {
  switch (c.op) {
    case 'grant': return model.grant(c.key, c);
    case 'debit': return model.debit(c.key, c);
    case 'expire': return model.expire(c.key, c.grant_id, c.as_of_ms);
    case 'close': return model.close(c.key, c.grant_id, c.as_of_ms, c.kind);
    case 'extend': return model.extend(c.key, c.grant_id, c.new_expires_at_ms, c.as_of_ms);
    case 'settle': return model.settle(c.key, c.amount_credits);
  }
}

/** The database's grant uuids and the model's grant ids, both ways. */
class GrantIds {
  private readonly toModel = new Map<string, string>();
  private readonly toDb = new Map<string, string>();
  link(db_id: string, model_id: string) {
    this.toModel.set(db_id, model_id);
    this.toDb.set(model_id, db_id);
  }
  model(db_id: string): string {
    return this.toModel.get(db_id) ?? `unknown grant ${db_id}`;
  }
  db(model_id: string): string {
    return this.toDb.get(model_id)!;
  }
}

async function onLedger(sql: Sql, account: string, ids: GrantIds, c: Call): Promise<unknown> {
  const at = (ms: number) => new Date(ms);
  try {
    switch (c.op) {
      case 'grant': return await grantCredits(sql, { key: c.key, accountId: account, creditType: CREDIT_TYPE,
        amountCredits: c.amount_credits, source: c.source, priority: c.priority, effectiveFrom: at(c.effective_from_ms),
        expiresAt: c.expires_at_ms === null ? null : at(c.expires_at_ms) });
      case 'debit': return await debit(sql, { key: c.key, accountId: account, creditType: CREDIT_TYPE,
        amountCredits: c.amount_credits, asOf: at(c.as_of_ms), kind: c.kind });
      case 'expire': return await expireGrant(sql, c.key, ids.db(c.grant_id), at(c.as_of_ms));
      case 'close': return await closeGrant(sql, c.key, ids.db(c.grant_id), at(c.as_of_ms), c.kind);
      case 'extend': return await extendExpiry(sql, c.key, ids.db(c.grant_id), at(c.new_expires_at_ms), at(c.as_of_ms));
      case 'settle': return await settleOverage(sql, c.key, account, CREDIT_TYPE, c.amount_credits, at(c.as_of_ms), 'inv');
    }
  } catch (err) {
    if (err instanceof IdempotencyConflictError) return CONFLICT;
    throw err;
  }
}

const TIMESTAMP_FIELDS = new Set(['effective_from', 'expires_at', 'previous_expires_at']);

/** A SQL result in the model's terms: instants as `<field>_ms`, grant uuids as model ids. */
function normalise(value: unknown, ids: GrantIds): unknown {
  if (Array.isArray(value)) return value.map((v) => normalise(v, ids));
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => {
    if (TIMESTAMP_FIELDS.has(k)) return [`${k}_ms`, v === null ? null : Date.parse(v as string)];
    if (k === 'grant_id') return [k, ids.model(v as string)];
    return [k, normalise(v, ids)];
  }));
}

/** Turns a step into a call against the model's current state; null when it has nothing to act on. */
function resolve(step: Step, model: LedgerModel, past: Call[], key: string, as_of_ms: number): Call | null {
  const grantAt = (n: number) => (model.grants.length === 0 ? null : model.grants[n % model.grants.length]!);
  switch (step.op) {
    case 'grant': {
      const effective_from_ms = as_of_ms + step.starts_in_half_days * HALF_DAY_MS;
      return { op: 'grant', key, amount_credits: step.amount_credits, source: step.source, priority: step.priority,
        effective_from_ms,
        expires_at_ms: step.valid_half_days === null ? null : effective_from_ms + step.valid_half_days * HALF_DAY_MS };
    }
    case 'debit':
      return { op: 'debit', key, amount_credits: step.amount_credits, as_of_ms, kind: step.kind };
    case 'expire': {
      const g = grantAt(step.grant);
      return g && { op: 'expire', key, grant_id: g.id,
        as_of_ms: step.on_time && g.expires_at_ms !== null ? g.expires_at_ms : as_of_ms };
    }
    case 'close': {
      const g = grantAt(step.grant);
      return g && { op: 'close', key, grant_id: g.id, as_of_ms, kind: step.kind };
    }
    case 'extend': {
      const g = grantAt(step.grant);
      return g && { op: 'extend', key, grant_id: g.id, as_of_ms,
        new_expires_at_ms: (g.expires_at_ms ?? as_of_ms) + step.by_half_days * HALF_DAY_MS };
    }
    case 'settle': {
      const owed = model.overage_credits;
      const amount_credits = { all: owed, half: Math.floor(owed / 2), more: owed + 1, none: 0 }[step.portion];
      return { op: 'settle', key, amount_credits, as_of_ms };
    }
    case 'replay':
      return past.length === 0 ? null : past[step.of % past.length]!;
    case 'conflict': {
      // The same key with another request: refused while the key holds a result, a fresh write once it does not.
      if (past.length === 0) return null;
      const c = past[step.of % past.length]!;
      switch (c.op) {
        case 'grant': case 'debit': case 'settle': return { ...c, amount_credits: c.amount_credits + 1 };
        case 'expire': case 'close': return { ...c, as_of_ms: c.as_of_ms + 3_600_000 };
        case 'extend': return { ...c, new_expires_at_ms: c.new_expires_at_ms + 2 * HALF_DAY_MS };
      }
    }
    case 'overage_policy':
      return null;
  }
}

/** What an account holds, independent of as_of: any write that changes nothing leaves it equal. */
async function holdings(sql: Sql, account: string, ids: GrantIds) {
  const grants = (await listGrants(sql, account)).filter((g) => g.credit_type === CREDIT_TYPE).map((g) => ({
    id: ids.model(g.id), remaining_credits: g.remaining_credits, expires_at_ms: g.expires_at?.getTime() ?? null,
  }));
  const [rows] = await sql<{ entries: number; operations: number; crossings: number; balance: number; overage: number }[]>`
    select (select count(*) from ledger_entries where account_id = ${account} and credit_type = ${CREDIT_TYPE})::int as entries,
           (select count(*) from operations where account_id = ${account})::int as operations,
           (select count(*) from threshold_crossings where account_id = ${account})::int as crossings,
           b.balance_credits as balance, b.overage_credits as overage
    from balances b where b.account_id = ${account} and b.credit_type = ${CREDIT_TYPE}`;
  return { grants, ...rows! };
}

let runs = 0;

/** Runs one scenario on a fresh account, checking everything after every step. */
async function check(sql: Sql, scenario: Scenario): Promise<void> {
  const account = `prop-${++runs}`;
  const model = new LedgerModel(scenario.overage_allowed, scenario.alert_thresholds_credits);
  const ids = new GrantIds();
  await createAccount(sql, account);
  await sql`insert into balances (account_id, credit_type, overage_allowed, alert_thresholds_credits, notify_workflow_id)
            values (${account}, ${CREDIT_TYPE}, ${scenario.overage_allowed}, ${scenario.alert_thresholds_credits},
                    ${scenario.alert_thresholds_credits.length > 0 ? `wf-${account}` : null})`;
  await grantCredits(sql, { key: `${account}:decoy`, accountId: account, creditType: DECOY_TYPE,
    amountCredits: DECOY_CREDITS, source: 'bundle', effectiveFrom: new Date(T0_MS - 1000 * HALF_DAY_MS), expiresAt: null });

  let clock_ms = T0_MS;
  let crossings = 0;
  let overage_ever_allowed = scenario.overage_allowed;
  const past: Call[] = [];
  let before = await holdings(sql, account, ids);
  for (const [n, step] of scenario.steps.entries()) {
    clock_ms += step.advance_half_days * HALF_DAY_MS;
    const as_of_ms = clock_ms - step.backdate_half_days * HALF_DAY_MS;
    if (step.op === 'overage_policy') {
      model.overage_allowed = step.allowed;
      overage_ever_allowed ||= step.allowed;
      await sql`update balances set overage_allowed = ${step.allowed}
                where account_id = ${account} and credit_type = ${CREDIT_TYPE}`;
      continue;
    }
    const call = resolve(step, model, past, `${account}:${n}`, as_of_ms);
    if (!call) continue;
    const was_stored = model.isStored(call.key);

    const expected = onModel(model, call);
    const raw = await onLedger(sql, account, ids, call);
    if (call.op === 'grant' && expected.status === 'granted' && !expected.duplicate) {
      ids.link((raw as { grant_id: string }).grant_id, expected.grant_id);
    }
    const actual = normalise(raw, ids) as Outcome | Conflict;
    expect(actual, `step ${n}: ${JSON.stringify(call)}`).toEqual(expected);
    if (expected.status !== 'idempotency_conflict') past.push(call);

    // A draw only ever comes from a grant that was live at the debit's own as_of, back-dated or not.
    if (call.op === 'debit' && actual.status === 'accepted' && 'entries' in actual && !actual.duplicate) {
      for (const e of actual.entries) {
        const g = model.grantById(e.grant_id);
        expect(g.effective_from_ms).toBeLessThanOrEqual(call.as_of_ms);
        if (g.expires_at_ms !== null) expect(g.expires_at_ms).toBeGreaterThan(call.as_of_ms);
      }
      crossings += actual.thresholds_crossed.length;
    }

    const [bal, decoy] = await balances(sql, account, new Date(as_of_ms)).then((rows) =>
      [rows.find((r) => r.credit_type === CREDIT_TYPE), rows.find((r) => r.credit_type === DECOY_TYPE)]);
    expect(bal).toEqual({ credit_type: CREDIT_TYPE, ...model.balance(as_of_ms) });
    expect(decoy).toEqual({ credit_type: DECOY_TYPE, ledger_balance_credits: DECOY_CREDITS, available_credits: DECOY_CREDITS,
      held_credits: 0, overage_credits: 0 });
    // Below zero only by unsettled overage, and no overage at all where the policy never allowed it.
    if (!overage_ever_allowed) expect(bal!.overage_credits).toBe(0);
    expect(bal!.ledger_balance_credits + bal!.overage_credits).toBeGreaterThanOrEqual(0);
    expect(bal!.available_credits + bal!.overage_credits).toBeGreaterThanOrEqual(0);
    if (bal!.overage_credits === 0) expect(Math.min(bal!.ledger_balance_credits, bal!.available_credits)).toBeGreaterThanOrEqual(0);

    const after = await holdings(sql, account, ids);
    expect(after).toEqual({
      grants: model.grants.map((g) => ({ id: g.id, remaining_credits: g.remaining_credits, expires_at_ms: g.expires_at_ms })),
      entries: model.entry_count, operations: model.operation_count + 1, crossings,
      balance: model.balance_credits, overage: model.overage_credits,
    });
    if (was_stored) expect(after, `replay of ${call.key} changed the ledger`).toEqual(before);
    before = after;
  }
  expect((await ledgerViolations(sql)).filter((v) => v.account_id === account)).toEqual([]);
}

const EVERYTHING: Mix['weights'] = {
  grant: 5, debit: 6, expire: 2, close: 1, extend: 2, settle: 1, overage_policy: 1, replay: 2, conflict: 1,
};

describe('ledger against its reference model', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await useTestDatabase();
  });
  const property = (mix: Mix, numRuns: number) => async () => {
    await fc.assert(fc.asyncProperty(scenarios(mix), (s) => check(db.sql, s)), { numRuns });
  };

  it('any sequence of writes answers exactly what the model answers, and leaves the books where the model does',
    property({ weights: EVERYTHING, backdate_weight: 1, overage_allowed: fc.boolean() }, 120), 600_000);

  it('a replayed key answers its first result and changes nothing; a reused key with another request changes nothing',
    property({ weights: { grant: 3, debit: 4, expire: 1, close: 1, extend: 1, settle: 1, replay: 6, conflict: 3 },
      backdate_weight: 1, overage_allowed: fc.boolean() }, 50), 600_000);

  it('a back-dated debit never draws a grant that had expired, or had not started, at its as_of',
    property({ weights: { grant: 5, debit: 8, expire: 2, extend: 2, replay: 1 }, backdate_weight: 6,
      overage_allowed: fc.constant(false) }, 50), 600_000);

  it('without an overage policy no balance goes below zero; with one, only by the overage not yet settled',
    property({ weights: { grant: 3, debit: 8, expire: 1, close: 1, settle: 3, overage_policy: 2, replay: 1 },
      backdate_weight: 1, overage_allowed: fc.constantFrom(true, true, false) }, 40), 600_000);
});
