-- Usage ingestion (src/usage) and holds (src/holds), as functions in the style of 002: one round trip each, every
-- check inside the transaction and under the balance row lock taken by cf_debit / cf_lock_balance.
-- Nothing in 001/002 is redefined: cf_debit already draws at a given instant, honours holds and writes the
-- threshold outbox; these functions wrap it.
--
-- Idempotency of usage. The event's key is 'usage:<account>:<event_id>'. Its operations row (002) is never deleted,
-- so a replay is recognised for as long as the ledger lives. usage_events holds the event's detail and its result
-- for at least 35 days (cf_purge_usage refuses to go nearer); after that a replay is still answered as a duplicate,
-- from the operation's stored result.
--
-- Races between twins (the same event in flight twice at once) end in cf_claim: the second waits on the first's
-- key, then either gets its result or, when the twins differ in occurred_at or amount, raises
-- 'idempotency_conflict'. Callers retry such a call once; the retry finds the committed twin and answers duplicate.

create table usage_events (
  id                uuid primary key,            -- uuidv7: time-ordered, so the hot insert appends to the index
  account_id        text not null references accounts(id),
  event_id          text not null check (length(event_id) between 1 and 200),  -- the client's id
  credit_type       text not null,
  amount_credits    bigint not null check (amount_credits > 0),                -- as rated
  rate_card_version text not null,
  rating            jsonb not null,              -- the rater's breakdown (segments, minutes, …)
  occurred_at       timestamptz not null,        -- the debit's as_of
  received_at       timestamptz not null,
  list              text,
  metadata          jsonb not null default '{}',
  operation_key     text not null references operations(idempotency_key),
  result            jsonb not null,              -- what the client was answered; a replay gets it again
  unique (account_id, event_id)
);
create index usage_events_received on usage_events (received_at);

-- cf_debit records crossings under the debit's key; the ingest answer lists them so the API can signal at once.
create index threshold_crossings_operation on threshold_crossings (operation_key);

-- The crossings a write recorded, as the dispatcher needs them.
create function cf_crossings_of(p_key text) returns jsonb
language sql stable as $$
  select coalesce(jsonb_agg(jsonb_build_object('crossing_id', id, 'workflow_id', workflow_id,
           'credit_type', credit_type, 'threshold_credits', threshold_credits, 'available_before', available_before,
           'available_after', available_after, 'crossed_at', crossed_at) order by id), '[]')
  from threshold_crossings where operation_key = p_key
$$;

-- The answer to a replayed usage event whose usage_events row is gone (purged), rebuilt from its operation.
create function cf_usage_from_operation(p_key text, p_op_result jsonb) returns jsonb
language sql stable as $$
  select jsonb_build_object('status', 'duplicate', 'original', jsonb_build_object(
    'status', 'accepted',
    'usage_event_id', e.metadata ->> 'usage_event_id',
    'drawn_credits', p_op_result -> 'drawn_credits',
    'overage_credits', p_op_result -> 'overage_credits',
    'available_after_credits', p_op_result -> 'available_after_credits',
    'rate_card_version', e.metadata ->> 'rate_card_version',
    'thresholds_crossed', p_op_result -> 'thresholds_crossed',
    'detail_purged', true))
  from (select null) one left join lateral (
    select metadata from ledger_entries where operation_key = p_key order by id limit 1) e on true
$$;

-- Ingests one rated usage event: answers a replay with the original result, refuses an unknown account, passes on
-- a refusal the caller already decided (p_refusal: grace window, rating) once it is known not to be a replay, else
-- draws p_amount at p_occurred_at through cf_debit and records the event. A refusal writes nothing.
-- Accepted answers carry 'crossings' (outbox rows to signal); they are not part of the stored result.
create function cf_ingest_usage(
  p_account text, p_event_id text, p_credit_type text, p_amount bigint, p_rate_card_version text, p_rating jsonb,
  p_occurred_at timestamptz, p_received_at timestamptz, p_list text, p_metadata jsonb, p_refusal jsonb
) returns jsonb
language plpgsql as $$
declare
  v_key text := 'usage:' || p_account || ':' || p_event_id;
  v_prior jsonb;
  v_id uuid;
  v_debit jsonb;
  v_result jsonb;
begin
  select result into v_prior from usage_events where account_id = p_account and event_id = p_event_id;
  if found then
    return jsonb_build_object('status', 'duplicate', 'original', v_prior);
  end if;
  select result into v_prior from operations where idempotency_key = v_key;
  if found then
    return cf_usage_from_operation(v_key, v_prior);
  end if;
  if not exists (select 1 from accounts where id = p_account) then
    return jsonb_build_object('status', 'refused', 'code', 'unknown_account', 'message', format('no account %s', p_account));
  end if;
  if p_refusal is not null then
    return p_refusal;
  end if;

  v_id := uuidv7();
  v_debit := cf_debit(v_key, p_account, p_credit_type, p_amount, p_occurred_at, 'debit', null,
    jsonb_build_object('usage_event_id', v_id, 'event_id', p_event_id, 'rate_card_version', p_rate_card_version));
  if (v_debit ->> 'duplicate')::boolean then
    -- A twin committed while this call waited on the key.
    select result into v_prior from usage_events where account_id = p_account and event_id = p_event_id;
    if found then
      return jsonb_build_object('status', 'duplicate', 'original', v_prior);
    end if;
    return cf_usage_from_operation(v_key, v_debit - 'duplicate');
  end if;
  if v_debit ->> 'status' = 'refused' then
    return jsonb_build_object('status', 'refused', 'code', v_debit ->> 'code',
      'message', format('%s credits of %s needed, %s available', p_amount, p_credit_type, v_debit -> 'available_credits'),
      'available_credits', v_debit -> 'available_credits', 'requested_credits', p_amount);
  end if;

  v_result := jsonb_build_object('status', 'accepted', 'usage_event_id', v_id, 'drawn_credits', p_amount,
    'overage_credits', v_debit -> 'overage_credits', 'available_after_credits', v_debit -> 'available_after_credits',
    'rate_card_version', p_rate_card_version, 'thresholds_crossed', v_debit -> 'thresholds_crossed');
  insert into usage_events (id, account_id, event_id, credit_type, amount_credits, rate_card_version, rating,
                            occurred_at, received_at, list, metadata, operation_key, result)
  values (v_id, p_account, p_event_id, p_credit_type, p_amount, p_rate_card_version, coalesce(p_rating, '{}'),
          p_occurred_at, p_received_at, p_list, coalesce(p_metadata, '{}'), v_key, v_result);
  if jsonb_array_length(v_debit -> 'thresholds_crossed') > 0 then
    return v_result || jsonb_build_object('crossings', cf_crossings_of(v_key));
  end if;
  return v_result;
end $$;

-- A batch in one transaction (one round trip, one commit). Events are applied grouped by balance, in a fixed
-- order, so two batches lock balances in the same order and cannot deadlock each other; within one balance the
-- client's order is kept (it decides which event is refused when credits run short). Rows come back as
-- (i, result) with i the event's position in p_events.
create function cf_ingest_usage_batch(p_events jsonb) returns table (i integer, result jsonb)
language plpgsql as $$
declare
  e record;
begin
  for e in
    select (ord - 1)::integer as pos, value as v from jsonb_array_elements(p_events) with ordinality as t(value, ord)
    order by value ->> 'account_id', value ->> 'credit_type', ord
  loop
    i := e.pos;
    result := cf_ingest_usage(e.v ->> 'account_id', e.v ->> 'event_id', e.v ->> 'credit_type',
      (e.v ->> 'amount_credits')::bigint, e.v ->> 'rate_card_version', e.v -> 'rating',
      (e.v ->> 'occurred_at')::timestamptz, (e.v ->> 'received_at')::timestamptz, e.v ->> 'list',
      e.v -> 'metadata', nullif(e.v -> 'refusal', 'null'::jsonb));
    return next;
  end loop;
end $$;

-- Deletes usage detail received before p_before. Retention is at least 35 days (longer than the widest grace
-- window, USAGE_GRACE_WINDOW_S ≤ 35 days): a nearer cut-off is refused. Replays stay recognised after the purge
-- through the operations rows, which are never deleted.
create function cf_purge_usage(p_before timestamptz) returns bigint
language plpgsql as $$
declare
  v_deleted bigint;
begin
  if p_before > now() - interval '35 days' then
    raise exception using errcode = 'P0001', message = 'retention_violation',
      detail = format('usage is kept 35 days; %s is later than %s', p_before, now() - interval '35 days');
  end if;
  delete from usage_events where received_at < p_before;
  get diagnostics v_deleted = row_count;
  return v_deleted;
end $$;

-- Holds. A hold reserves credits that exist now: available at p_as_of (spendable − active holds − unsettled
-- overage) must cover it, overage policy or not; otherwise it is refused and leaves no trace. It lapses by itself
-- at expires_at (cf_held ignores it from then on), so no timer is needed. It is settled once: committed through
-- cf_debit(p_hold) — which may draw less than held, the rest going back — or released.
create function cf_hold(p_key text, p_account text, p_credit_type text, p_amount bigint, p_expires_at timestamptz,
                        p_as_of timestamptz) returns jsonb
language plpgsql as $$
declare
  v_prior jsonb;
  v_bal balances;
  v_available bigint;
  v_hold holds;
begin
  if p_amount <= 0 or p_expires_at <= p_as_of then
    raise exception using errcode = 'P0001', message = 'invalid_hold',
      detail = format('amount %s must be positive and expiry %s after %s', p_amount, p_expires_at, p_as_of);
  end if;
  if not exists (select 1 from accounts where id = p_account) then
    return jsonb_build_object('status', 'refused', 'code', 'unknown_account', 'duplicate', false);
  end if;
  -- The expiry is left out of the request: a retry computes it afresh from its own clock.
  v_prior := cf_claim(p_key, p_account, 'hold', jsonb_build_object('credit_type', p_credit_type, 'amount_credits', p_amount));
  if v_prior is not null then return v_prior; end if;
  v_bal := cf_lock_balance(p_account, p_credit_type);
  v_available := cf_spendable(p_account, p_credit_type, p_as_of) - cf_held(p_account, p_credit_type, p_as_of, null)
                 - v_bal.overage_credits;
  if p_amount > v_available then
    delete from operations where idempotency_key = p_key;
    return jsonb_build_object('status', 'refused', 'code', 'insufficient_credits',
      'available_credits', greatest(v_available, 0), 'requested_credits', p_amount, 'duplicate', false);
  end if;
  insert into holds (account_id, credit_type, amount_credits, expires_at, created_at, operation_key)
  values (p_account, p_credit_type, p_amount, p_expires_at, p_as_of, p_key)
  returning * into v_hold;
  return cf_finish(p_key, jsonb_build_object('status', 'held', 'hold_id', v_hold.id, 'account_id', p_account,
    'credit_type', p_credit_type, 'amount_credits', p_amount, 'expires_at', p_expires_at,
    'available_after_credits', v_available - p_amount));
end $$;

-- Commits a hold: draws p_amount (≤ held) through cf_debit, which settles the hold, so what was held beyond
-- p_amount is available again. A replay of the key answers the first result whatever its as_of.
create function cf_commit_hold(p_key text, p_hold uuid, p_amount bigint, p_as_of timestamptz, p_metadata jsonb)
returns jsonb
language plpgsql as $$
declare
  v_op operations;
  v_hold holds;
  v_debit jsonb;
begin
  select * into v_hold from holds where id = p_hold;
  if not found then
    return jsonb_build_object('status', 'refused', 'code', 'hold_not_found', 'duplicate', false);
  end if;
  select * into v_op from operations where idempotency_key = p_key;
  if found then
    if (v_op.request ->> 'amount_credits')::bigint <> p_amount then
      raise exception using errcode = 'P0001', message = 'idempotency_conflict',
        detail = format('hold %s was committed for %s credits', p_hold, v_op.request ->> 'amount_credits');
    end if;
    return v_op.result || jsonb_build_object('duplicate', true, 'hold_id', p_hold, 'held_credits', v_hold.amount_credits);
  end if;
  v_debit := cf_debit(p_key, v_hold.account_id, v_hold.credit_type, p_amount, p_as_of, 'debit', p_hold,
               coalesce(p_metadata, '{}') || jsonb_build_object('hold_id', p_hold));
  if v_debit ->> 'status' <> 'accepted' then
    return v_debit;
  end if;
  v_debit := v_debit || jsonb_build_object('hold_id', p_hold, 'held_credits', v_hold.amount_credits);
  if not (v_debit ->> 'duplicate')::boolean and jsonb_array_length(v_debit -> 'thresholds_crossed') > 0 then
    return v_debit || jsonb_build_object('crossings', cf_crossings_of(p_key));
  end if;
  return v_debit;
end $$;

-- Releases a hold that is active and not lapsed at p_as_of; anything else is refused without a trace.
create function cf_release_hold(p_key text, p_hold uuid, p_as_of timestamptz) returns jsonb
language plpgsql as $$
declare
  v_prior jsonb;
  v_hold holds;
begin
  select * into v_hold from holds where id = p_hold;
  if not found then
    return jsonb_build_object('status', 'refused', 'code', 'hold_not_found', 'duplicate', false);
  end if;
  v_prior := cf_claim(p_key, v_hold.account_id, 'hold_release', jsonb_build_object('hold_id', p_hold));
  if v_prior is not null then return v_prior; end if;
  perform cf_lock_balance(v_hold.account_id, v_hold.credit_type);
  select * into v_hold from holds where id = p_hold for update;
  if v_hold.status <> 'active' or v_hold.expires_at <= p_as_of then
    delete from operations where idempotency_key = p_key;
    return jsonb_build_object('status', 'refused', 'code', 'hold_not_active',
      'hold_status', case when v_hold.status = 'active' then 'lapsed' else v_hold.status end, 'duplicate', false);
  end if;
  update holds set status = 'released', settled_at = p_as_of where id = p_hold;
  return cf_finish(p_key, jsonb_build_object('status', 'released', 'hold_id', p_hold,
    'released_credits', v_hold.amount_credits));
end $$;
