-- Usage ingestion (src/usage) and holds (src/holds). Nothing in 001/002 is redefined.
--
-- The usage hot path is one call, one transaction per request:
-- - cf_ingest_usage_one(...) for a single event: cf_debit itself, plus the usage row.
-- - cf_ingest_usage(jsonb) for a batch (up to 1000). It does not call cf_debit per event: repeated updates of the
--   same balance and grant rows inside one transaction leave a growing chain of row versions that every later
--   lookup walks (a batch at one account went quadratic), and each cf_debit costs some twenty statements. Instead,
--   per balance (account, credit type) it takes the balance row lock once, reads the grants and holds once, applies
--   the events in memory by cf_debit's rules (spendable at each event's own as_of, burn order, overage, thresholds)
--   and writes each table with one statement. test/usage/ingest.model.test.ts holds it equal to cf_debit applied
--   event by event, and to cf_ingest_usage_one. Grants are not locked row by row: every writer of grants (002:
--   cf_grant, cf_debit, cf_expire_grant, cf_close_grant, cf_extend_expiry) takes the balance row lock first.
--
-- Idempotency. An event is (account, event_id); its ledger key is cf_usage_key(account, event_id), which reads
-- 'usage:<account>:<event_id>'. Its operations row is never deleted, so a replay is recognised for as long as the
-- ledger lives; usage_events keeps the detail and the exact answer at least 35 days (cf_purge_usage refuses to go
-- nearer), after which a replay is answered from the operation. Twins in flight at once: in a batch they serialize
-- on the balance lock and the later one, checking under the lock, sees the earlier one's operation; singles meet in
-- cf_claim. Where neither applies (twins of different credit types; singles differing in occurred_at) the later call
-- fails on the key, and the caller runs it again, which then answers duplicate.

create table usage_events (
  id                uuid primary key,            -- uuidv7: time-ordered, so the hot insert appends to the index
  -- No foreign keys: rows are written only by the ingest functions, in the transaction that checked the account
  -- and wrote the operation; a reference check per event would cost on the hot path and catch nothing.
  account_id        text not null,
  event_id          text not null check (length(event_id) between 1 and 200),  -- the client's id
  credit_type       text not null,
  amount_credits    bigint not null check (amount_credits > 0),                -- as rated
  rate_card_version text not null,
  rating            jsonb not null,              -- the rater's breakdown (segments, minutes, …)
  occurred_at       timestamptz not null,        -- the debit's as_of
  received_at       timestamptz not null,
  list              text,
  metadata          jsonb not null default '{}',
  operation_key     text not null,
  result            jsonb not null,              -- what the client was answered; a replay gets it again
  unique (account_id, event_id)
);
create index usage_events_received on usage_events (received_at);

-- Crossings are recorded under the debit's key; commits of holds list theirs so the API can signal at once.
create index threshold_crossings_operation on threshold_crossings (operation_key);

-- The ledger key of a usage event. ':' and '%' in the account id are percent-encoded so that no two (account,
-- event) pairs share a key ('a:b' + 'c' versus 'a' + 'b:c'); for ordinary ids it reads 'usage:<account>:<event>'.
create function cf_usage_key(p_account text, p_event_id text) returns text
language sql immutable strict as $$
  select 'usage:' || replace(replace(p_account, '%', '%25'), ':', '%3A') || ':' || p_event_id
$$;

-- What a usage debit's ledger entries say about the event (the ledger outlives usage_events): which event, rated by
-- which card, and its list when it had one (reports group by it).
create function cf_usage_entry_metadata(p_usage_event_id uuid, p_event_id text, p_rate_card_version text, p_list text)
returns jsonb
language sql immutable as $$
  select jsonb_build_object('usage_event_id', p_usage_event_id, 'event_id', p_event_id,
    'rate_card_version', p_rate_card_version)
    || case when p_list is null then '{}'::jsonb else jsonb_build_object('list', p_list) end
$$;

-- The crossings a write recorded, as the dispatcher needs them.
create function cf_crossings_of(p_key text) returns jsonb
language sql stable as $$
  select coalesce(jsonb_agg(jsonb_build_object('crossing_id', id, 'workflow_id', workflow_id) order by id), '[]')
  from threshold_crossings where operation_key = p_key
$$;

-- The answer to a replayed usage event: its stored answer, or, once the detail is purged, one rebuilt from its
-- operation and ledger entries.
create function cf_usage_duplicate(p_account text, p_event_id text, p_key text, p_op_result jsonb) returns jsonb
language sql stable as $$
  select jsonb_build_object('status', 'duplicate', 'original', coalesce(
    (select result from usage_events where account_id = p_account and event_id = p_event_id),
    (select jsonb_build_object('status', 'accepted',
       'usage_event_id', e.metadata ->> 'usage_event_id',
       'drawn_credits', p_op_result -> 'drawn_credits',
       'overage_credits', p_op_result -> 'overage_credits',
       'available_after_credits', p_op_result -> 'available_after_credits',
       'rate_card_version', e.metadata ->> 'rate_card_version',
       'thresholds_crossed', p_op_result -> 'thresholds_crossed',
       'detail_purged', true)
     from (select null) one left join lateral (
       select metadata from ledger_entries where operation_key = p_key order by id limit 1) e on true)))
$$;

-- cf_ingest_usage's writes, one statement per table, operations first (the entries reference them). Answers the
-- recorded threshold crossings by operation key: { key: [{ crossing_id, workflow_id }] }.
create function cf_write_usage(
  p_ops operations[], p_entries ledger_entries[], p_grant_ids uuid[], p_grant_remaining bigint[],
  p_bal_accounts text[], p_bal_credit_types text[], p_bal_drawn bigint[], p_bal_overage bigint[],
  p_usage usage_events[], p_crossings threshold_crossings[]
) returns jsonb
language plpgsql as $$
declare
  v_cross jsonb := '{}';
begin
  if cardinality(p_ops) = 0 then
    return v_cross;
  end if;
  insert into operations (idempotency_key, account_id, kind, request, result, created_at)
  select o.idempotency_key, o.account_id, o.kind, o.request, o.result, o.created_at from unnest(p_ops) o;
  insert into ledger_entries (account_id, credit_type, grant_id, kind, amount_credits, operation_key, effective_at,
                              metadata)
  select l.account_id, l.credit_type, l.grant_id, l.kind, l.amount_credits, l.operation_key, l.effective_at, l.metadata
  from unnest(p_entries) l;
  -- The `= any` conditions give the planner an index path; a join with unnest alone may scan the table.
  update grants gr set remaining_credits = u.rem from unnest(p_grant_ids, p_grant_remaining) as u(id, rem)
  where gr.id = u.id and gr.id = any (p_grant_ids);
  update balances b set balance_credits = b.balance_credits - u.drawn, overage_credits = b.overage_credits + u.over
  from unnest(p_bal_accounts, p_bal_credit_types, p_bal_drawn, p_bal_overage) as u(acc, ct, drawn, over)
  where b.account_id = u.acc and b.credit_type = u.ct and b.account_id = any (p_bal_accounts);
  insert into usage_events select * from unnest(p_usage);
  if cardinality(p_crossings) > 0 then
    with recorded as (
      insert into threshold_crossings (account_id, credit_type, workflow_id, threshold_credits, available_before,
                                       available_after, crossed_at, operation_key)
      select c.account_id, c.credit_type, c.workflow_id, c.threshold_credits, c.available_before, c.available_after,
             c.crossed_at, c.operation_key
      from unnest(p_crossings) c
      returning id, workflow_id, operation_key
    )
    select jsonb_object_agg(operation_key, crossings) into v_cross
    from (select operation_key, jsonb_agg(jsonb_build_object('crossing_id', id, 'workflow_id', workflow_id) order by id)
            as crossings
          from recorded group by operation_key) c;
  end if;
  return v_cross;
end $$;

-- Ingests rated usage events, given as a jsonb array of
--   { account_id, event_id, credit_type, amount_credits, rate_card_version, rating, occurred_at, received_at,
--     list, metadata, refusal }
-- where `refusal` (the caller's own: grace window, rating) is answered once the event is known not to be a replay.
-- Answers one row per event, (i, result) with i its 0-based position, result one of
--   { status: 'accepted', usage_event_id, drawn_credits, overage_credits, available_after_credits,
--     rate_card_version, thresholds_crossed[, crossings] }   -- crossings: outbox rows to signal, not stored
--   { status: 'duplicate', original }
--   { status: 'refused', code, message, ... }                 -- writes nothing
-- Balances are locked in (account, credit type) order, so concurrent calls cannot deadlock each other; within a
-- balance the events are applied in the order sent (it decides which is refused when credits run short). An event
-- sent twice in one batch is taken once; a copy after an accepted one answers duplicate, a copy after a refused one
-- is tried again, as it would be in a later call.
create function cf_ingest_usage(p_events jsonb) returns table (i integer, result jsonb)
language plpgsql as $$
declare
  -- the events, by 1-based position
  a_account text[]; a_event text[]; a_key text[]; a_ct text[]; a_amount bigint[]; a_version text[];
  a_rating jsonb[]; a_at timestamptz[]; a_received timestamptz[]; a_list text[]; a_meta jsonb[];
  a_refusal jsonb[]; a_copied boolean[];
  v_n integer;
  v_results jsonb[];
  p integer;
  k integer;
  g record;
  v_bal balances;
  v_prior jsonb;
  v_keys text[];
  v_exists boolean;
  -- the balance being worked on: its grants in burn order and its active holds
  g_id uuid[]; g_rem bigint[]; g_from timestamptz[]; g_until timestamptz[]; g_touched boolean[];
  h_amount bigint[]; h_until timestamptz[];
  v_overage bigint;
  v_drawn_sum bigint;
  v_overage_sum bigint;
  -- one event
  v_spendable bigint; v_held bigint; v_available bigint; v_left bigint; v_take bigint; v_after bigint;
  v_t bigint; v_crossed bigint[]; v_entries jsonb; v_usage_id uuid; v_meta jsonb; v_result jsonb;
  -- rows to write, over all balances
  w_op operations; w_ops operations[] := '{}';
  w_le ledger_entries; w_les ledger_entries[] := '{}';
  w_ue usage_events; w_ues usage_events[] := '{}';
  w_tc threshold_crossings; w_tcs threshold_crossings[] := '{}';
  w_gid uuid[] := '{}'; w_grem bigint[] := '{}';
  w_bacc text[] := '{}'; w_bct text[] := '{}'; w_bdrawn bigint[] := '{}'; w_bover bigint[] := '{}';
  v_cross jsonb;
  v_pos_of_key jsonb := '{}';
  v_taken jsonb := '{}';  -- accepted in this call, for events sent more than once (a_copied): key → answer
begin
  select array_agg(s.account_id order by s.ord), array_agg(s.event_id order by s.ord),
         array_agg(cf_usage_key(s.account_id, s.event_id) order by s.ord), array_agg(s.credit_type order by s.ord),
         array_agg(s.amount order by s.ord), array_agg(s.version order by s.ord), array_agg(s.rating order by s.ord),
         array_agg(s.occurred_at order by s.ord), array_agg(s.received_at order by s.ord), array_agg(s.list order by s.ord),
         array_agg(s.meta order by s.ord), array_agg(s.refusal order by s.ord), array_agg(s.copied order by s.ord)
    into a_account, a_event, a_key, a_ct, a_amount, a_version, a_rating, a_at, a_received, a_list, a_meta,
         a_refusal, a_copied
  from (
    select t.ord::integer as ord, t.v ->> 'account_id' as account_id, t.v ->> 'event_id' as event_id,
           t.v ->> 'credit_type' as credit_type, (t.v ->> 'amount_credits')::bigint as amount,
           t.v ->> 'rate_card_version' as version, t.v -> 'rating' as rating,
           (t.v ->> 'occurred_at')::timestamptz as occurred_at, (t.v ->> 'received_at')::timestamptz as received_at,
           t.v ->> 'list' as list, t.v -> 'metadata' as meta, nullif(t.v -> 'refusal', 'null') as refusal,
           count(*) over (partition by t.v ->> 'account_id', t.v ->> 'event_id') > 1 as copied
    from jsonb_array_elements(p_events) with ordinality as t(v, ord)
  ) s;
  v_n := coalesce(cardinality(a_account), 0);
  v_results := array_fill(null::jsonb, array[v_n]);

  for g in
    select a_account[q] as account_id, a_ct[q] as credit_type, array_agg(q order by q) as positions
    from generate_series(1, v_n) q
    where a_refusal[q] is null
    group by 1, 2
    order by 1, 2
  loop
    select * into v_bal from balances where account_id = g.account_id and credit_type = g.credit_type for update;
    if not found then
      -- No balance row: nothing was ever granted nor overage allowed, so, as cf_debit does, refuse without
      -- creating one (and no event of it can have been taken before).
      v_exists := exists (select 1 from accounts where id = g.account_id);
      foreach p in array g.positions loop
        v_results[p] := case when v_exists
          then jsonb_build_object('status', 'refused', 'code', 'insufficient_credits',
            'message', format('%s credits of %s needed, 0 available', a_amount[p], a_ct[p]),
            'available_credits', 0, 'requested_credits', a_amount[p])
          else jsonb_build_object('status', 'refused', 'code', 'unknown_account',
            'message', format('no account %s', g.account_id)) end;
      end loop;
      continue;
    end if;

    -- Seen before: committed earlier, or by a twin while this call waited for the lock. (Keys as an array, not a
    -- subquery, so the lookup is an index probe per key whatever the planner guesses about the subquery.)
    v_keys := array(select a_key[q] from unnest(g.positions) q);
    select coalesce(jsonb_object_agg(idempotency_key, o.result), '{}') into v_prior
    from operations o where idempotency_key = any (v_keys);

    -- cf_debit's burn order: priority, soonest expiry (never last), source, creation.
    select coalesce(array_agg(id order by priority, expires_at nulls last, source_rank, seq), '{}'),
           coalesce(array_agg(remaining_credits order by priority, expires_at nulls last, source_rank, seq), '{}'),
           coalesce(array_agg(effective_from order by priority, expires_at nulls last, source_rank, seq), '{}'),
           coalesce(array_agg(expires_at order by priority, expires_at nulls last, source_rank, seq), '{}')
      into g_id, g_rem, g_from, g_until
    from grants where account_id = g.account_id and credit_type = g.credit_type and remaining_credits > 0;
    g_touched := array_fill(false, array[cardinality(g_id)]);
    select coalesce(array_agg(amount_credits), '{}'), coalesce(array_agg(expires_at), '{}') into h_amount, h_until
    from holds where account_id = g.account_id and credit_type = g.credit_type and status = 'active';
    v_overage := v_bal.overage_credits;
    v_drawn_sum := 0;
    v_overage_sum := 0;

    foreach p in array g.positions loop
      if v_prior ? a_key[p] then
        v_results[p] := cf_usage_duplicate(a_account[p], a_event[p], a_key[p], v_prior -> a_key[p]);
        continue;
      end if;
      if a_copied[p] and v_taken ? a_key[p] then
        v_results[p] := jsonb_build_object('status', 'duplicate', 'original', v_taken -> a_key[p]);
        continue;
      end if;

      -- What cf_debit would see at this event's as_of.
      v_spendable := 0;
      for k in 1 .. cardinality(g_id) loop
        if g_from[k] <= a_at[p] and (g_until[k] is null or g_until[k] > a_at[p]) then
          v_spendable := v_spendable + g_rem[k];
        end if;
      end loop;
      v_held := 0;
      for k in 1 .. cardinality(h_amount) loop
        if h_until[k] > a_at[p] then v_held := v_held + h_amount[k]; end if;
      end loop;
      v_available := v_spendable - v_held - v_overage;
      if a_amount[p] > v_available and not v_bal.overage_allowed then
        v_results[p] := jsonb_build_object('status', 'refused', 'code', 'insufficient_credits',
          'message', format('%s credits of %s needed, %s available', a_amount[p], a_ct[p], greatest(v_available, 0)),
          'available_credits', greatest(v_available, 0), 'requested_credits', a_amount[p]);
        continue;
      end if;

      v_usage_id := uuidv7();
      v_meta := cf_usage_entry_metadata(v_usage_id, a_event[p], a_version[p], a_list[p]);
      w_le.account_id := g.account_id; w_le.credit_type := g.credit_type; w_le.operation_key := a_key[p];
      w_le.effective_at := a_at[p]; w_le.metadata := v_meta; w_le.kind := 'debit';
      v_left := a_amount[p];
      v_entries := '[]';
      for k in 1 .. cardinality(g_id) loop
        exit when v_left = 0;
        if g_rem[k] > 0 and g_from[k] <= a_at[p] and (g_until[k] is null or g_until[k] > a_at[p]) then
          v_take := least(g_rem[k], v_left);
          g_rem[k] := g_rem[k] - v_take;
          g_touched[k] := true;
          w_le.grant_id := g_id[k]; w_le.amount_credits := -v_take;
          w_les := w_les || w_le;
          v_entries := v_entries || jsonb_build_object('grant_id', g_id[k], 'amount_credits', v_take);
          v_left := v_left - v_take;
        end if;
      end loop;
      if v_left > 0 then
        -- Only reachable under an overage policy (checked above): billable at the next renewal.
        w_le.grant_id := null; w_le.kind := 'overage'; w_le.amount_credits := -v_left;
        w_les := w_les || w_le;
        v_overage := v_overage + v_left;
      end if;
      v_drawn_sum := v_drawn_sum + a_amount[p];
      v_overage_sum := v_overage_sum + v_left;

      v_after := v_available - a_amount[p];
      v_crossed := '{}';
      if v_bal.notify_workflow_id is not null then
        foreach v_t in array v_bal.alert_thresholds_credits loop
          if v_available > v_t and v_after <= v_t then
            v_crossed := v_crossed || v_t;
            w_tc.account_id := g.account_id; w_tc.credit_type := g.credit_type;
            w_tc.workflow_id := v_bal.notify_workflow_id; w_tc.threshold_credits := v_t;
            w_tc.available_before := v_available; w_tc.available_after := v_after; w_tc.crossed_at := a_at[p];
            w_tc.operation_key := a_key[p];
            w_tcs := w_tcs || w_tc;
            v_pos_of_key := v_pos_of_key || jsonb_build_object(a_key[p], p);
          end if;
        end loop;
      end if;

      -- The operation exactly as cf_debit would have recorded it, so the ledger reads the same either way.
      w_op.idempotency_key := a_key[p]; w_op.account_id := g.account_id; w_op.kind := 'debit';
      w_op.request := jsonb_build_object('credit_type', g.credit_type, 'amount_credits', a_amount[p],
        'as_of', cf_utc(a_at[p]), 'hold_id', null);
      w_op.result := jsonb_build_object('status', 'accepted', 'drawn_credits', a_amount[p],
        'overage_credits', v_left, 'available_after_credits', v_after, 'entries', v_entries,
        'thresholds_crossed', to_jsonb(v_crossed));
      w_op.created_at := now();
      w_ops := w_ops || w_op;

      v_result := jsonb_build_object('status', 'accepted', 'usage_event_id', v_usage_id, 'drawn_credits', a_amount[p],
        'overage_credits', v_left, 'available_after_credits', v_after, 'rate_card_version', a_version[p],
        'thresholds_crossed', to_jsonb(v_crossed));
      w_ue.id := v_usage_id; w_ue.account_id := g.account_id; w_ue.event_id := a_event[p];
      w_ue.credit_type := g.credit_type; w_ue.amount_credits := a_amount[p]; w_ue.rate_card_version := a_version[p];
      w_ue.rating := coalesce(a_rating[p], '{}'); w_ue.occurred_at := a_at[p]; w_ue.received_at := a_received[p];
      w_ue.list := a_list[p]; w_ue.metadata := coalesce(a_meta[p], '{}'); w_ue.operation_key := a_key[p];
      w_ue.result := v_result;
      w_ues := w_ues || w_ue;
      v_results[p] := v_result;
      if a_copied[p] then
        v_taken := v_taken || jsonb_build_object(a_key[p], v_result);
      end if;
    end loop;

    for k in 1 .. cardinality(g_id) loop
      if g_touched[k] then
        w_gid := w_gid || g_id[k];
        w_grem := w_grem || g_rem[k];
      end if;
    end loop;
    if v_drawn_sum > 0 then
      w_bacc := w_bacc || g.account_id; w_bct := w_bct || g.credit_type;
      w_bdrawn := w_bdrawn || v_drawn_sum; w_bover := w_bover || v_overage_sum;
    end if;
  end loop;

  v_cross := cf_write_usage(w_ops, w_les, w_gid, w_grem, w_bacc, w_bct, w_bdrawn, w_bover, w_ues, w_tcs);
  for p in select (value)::integer from jsonb_each_text(v_pos_of_key) loop
    v_results[p] := v_results[p] || jsonb_build_object('crossings', v_cross -> a_key[p]);
  end loop;

  -- Events the caller refused itself: a replay is still a duplicate, an unknown account is said so.
  for p in select q from generate_series(1, v_n) q where a_refusal[q] is not null loop
    if a_copied[p] and v_taken ? a_key[p] then
      v_results[p] := jsonb_build_object('status', 'duplicate', 'original', v_taken -> a_key[p]);
      continue;
    end if;
    select o.result into v_prior from operations o where idempotency_key = a_key[p];
    if found then
      v_results[p] := cf_usage_duplicate(a_account[p], a_event[p], a_key[p], v_prior);
    elsif not exists (select 1 from accounts where id = a_account[p]) then
      v_results[p] := jsonb_build_object('status', 'refused', 'code', 'unknown_account',
        'message', format('no account %s', a_account[p]));
    else
      v_results[p] := a_refusal[p];
    end if;
  end loop;

  for p in 1 .. v_n loop
    i := p - 1;
    result := v_results[p];
    return next;
  end loop;
end $$;

-- One event, for the single-event endpoint: the same answers as cf_ingest_usage given a batch of one (the model test
-- holds them together), through cf_debit itself, which for one event costs fewer statements than the batch
-- machinery. Twins racing here meet in cf_claim: the later one gets the first's result, or, when the twins differ
-- in occurred_at, raises 'idempotency_conflict' and the caller retries, which then answers duplicate.
create function cf_ingest_usage_one(
  p_account text, p_event_id text, p_credit_type text, p_amount bigint, p_rate_card_version text, p_rating jsonb,
  p_occurred_at timestamptz, p_received_at timestamptz, p_list text, p_metadata jsonb, p_refusal jsonb
) returns jsonb
language plpgsql as $$
declare
  v_key text := cf_usage_key(p_account, p_event_id);
  v_prior jsonb;
  v_id uuid;
  v_debit jsonb;
  v_result jsonb;
begin
  select result into v_prior from operations where idempotency_key = v_key;
  if found then
    return cf_usage_duplicate(p_account, p_event_id, v_key, v_prior);
  end if;
  if not exists (select 1 from accounts where id = p_account) then
    return jsonb_build_object('status', 'refused', 'code', 'unknown_account', 'message', format('no account %s', p_account));
  end if;
  if p_refusal is not null then
    return p_refusal;
  end if;

  v_id := uuidv7();
  v_debit := cf_debit(v_key, p_account, p_credit_type, p_amount, p_occurred_at, 'debit', null,
    cf_usage_entry_metadata(v_id, p_event_id, p_rate_card_version, p_list));
  if (v_debit ->> 'duplicate')::boolean then
    return cf_usage_duplicate(p_account, p_event_id, v_key, v_debit - 'duplicate');
  end if;
  if v_debit ->> 'status' = 'refused' then
    return jsonb_build_object('status', 'refused', 'code', 'insufficient_credits',
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
  -- As cf_debit: no balance row means nothing to hold, and a refusal creates none.
  select * into v_bal from balances where account_id = p_account and credit_type = p_credit_type for update;
  v_available := case when found
    then cf_spendable(p_account, p_credit_type, p_as_of) - cf_held(p_account, p_credit_type, p_as_of, null)
         - v_bal.overage_credits
    else 0 end;
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
