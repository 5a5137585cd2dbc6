-- The usage path learns agencies and lists (src/accounts, src/lists): cf_ingest_usage and cf_ingest_usage_one of
-- 003 are replaced, with the same signatures, answers and single round trip, and two more rules:
--
-- - Shared billing. An event of a sub-account on shared billing draws from its parent's balance: it is grouped,
--   locked, checked and written under the parent's (account, credit type), its ledger entries and operation are the
--   parent's, and the entries carry `usage_account_id` (the sub-account) for reports. The usage event itself, its
--   idempotency key and its answer stay the sub-account's.
-- - List limits. An event whose list has a limit (list_limits, 005) is refused 'list_limit_exceeded' when it would
--   spend more than is left of it ('total': limit − spent − taken by expiries; 'month': limit − spent in the event's
--   calendar month, in its account's zone), checked under the balance lock and the list's row lock, so concurrent
--   debits cannot overshoot. A refusal writes nothing; an accepted event adds to the list's counter in the same
--   transaction. Lists without a limit cost nothing more than before: one lookup per batch that names a list.
--
-- Everything else is 003's, line for line: duplicates, burn order, holds, overage, thresholds, write statements.

create or replace function cf_ingest_usage(p_events jsonb) returns table (i integer, result jsonb)
language plpgsql as $$
declare
  -- the events, by 1-based position
  a_account text[]; a_event text[]; a_key text[]; a_ct text[]; a_amount bigint[]; a_version text[];
  a_rating jsonb[]; a_at timestamptz[]; a_received timestamptz[]; a_list text[]; a_meta jsonb[];
  a_refusal jsonb[]; a_copied boolean[];
  a_bill text[]; a_tz text[];  -- whose balance each event draws from; the zone of its own account (null: unknown)
  v_n integer;
  v_results jsonb[];
  p integer;
  k integer;
  g record;
  v_bal balances;
  v_prior jsonb;
  v_keys text[];
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
  -- the limits of the lists this balance's events name (locked), and the months of 'month' limits met so far
  l_acc text[]; l_list text[]; l_period text[]; l_limit bigint[]; l_spent bigint[]; l_expired bigint[];
  l_touched boolean[];
  m_lim integer[]; m_month date[]; m_spent bigint[]; m_touched boolean[];
  v_l integer; v_m integer; v_month date; v_room bigint; v_spent_now bigint;
  -- list counters to write, over all balances
  w_lacc text[] := '{}'; w_lct text[] := '{}'; w_llist text[] := '{}'; w_lspent bigint[] := '{}';
  w_macc text[] := '{}'; w_mct text[] := '{}'; w_mlist text[] := '{}'; w_mmonth date[] := '{}'; w_mspent bigint[] := '{}';
begin
  select array_agg(s.account_id order by s.ord), array_agg(s.event_id order by s.ord),
         array_agg(cf_usage_key(s.account_id, s.event_id) order by s.ord), array_agg(s.credit_type order by s.ord),
         array_agg(s.amount order by s.ord), array_agg(s.version order by s.ord), array_agg(s.rating order by s.ord),
         array_agg(s.occurred_at order by s.ord), array_agg(s.received_at order by s.ord), array_agg(s.list order by s.ord),
         array_agg(s.meta order by s.ord), array_agg(s.refusal order by s.ord), array_agg(s.copied order by s.ord),
         array_agg(coalesce(case when acc.shared_billing then acc.parent_account_id end, s.account_id) order by s.ord),
         array_agg(acc.time_zone order by s.ord)
    into a_account, a_event, a_key, a_ct, a_amount, a_version, a_rating, a_at, a_received, a_list, a_meta,
         a_refusal, a_copied, a_bill, a_tz
  from (
    select t.ord::integer as ord, t.v ->> 'account_id' as account_id, t.v ->> 'event_id' as event_id,
           t.v ->> 'credit_type' as credit_type, (t.v ->> 'amount_credits')::bigint as amount,
           t.v ->> 'rate_card_version' as version, t.v -> 'rating' as rating,
           (t.v ->> 'occurred_at')::timestamptz as occurred_at, (t.v ->> 'received_at')::timestamptz as received_at,
           t.v ->> 'list' as list, t.v -> 'metadata' as meta, nullif(t.v -> 'refusal', 'null') as refusal,
           count(*) over (partition by t.v ->> 'account_id', t.v ->> 'event_id') > 1 as copied
    from jsonb_array_elements(p_events) with ordinality as t(v, ord)
  ) s left join accounts acc on acc.id = s.account_id;
  v_n := coalesce(cardinality(a_account), 0);
  v_results := array_fill(null::jsonb, array[v_n]);

  -- One group per balance drawn from: a sub-account on shared billing draws from its parent's (g.account_id).
  for g in
    select a_bill[q] as account_id, a_ct[q] as credit_type, array_agg(q order by q) as positions
    from generate_series(1, v_n) q
    where a_refusal[q] is null
    group by 1, 2
    order by 1, 2
  loop
    select * into v_bal from balances where account_id = g.account_id and credit_type = g.credit_type for update;
    if not found then
      -- No balance row: nothing was ever granted nor overage allowed, so, as cf_debit does, refuse without
      -- creating one (and no event of it can have been taken before).
      foreach p in array g.positions loop
        v_results[p] := case when a_tz[p] is not null
          then jsonb_build_object('status', 'refused', 'code', 'insufficient_credits',
            'message', format('%s credits of %s needed, 0 available', a_amount[p], a_ct[p]),
            'available_credits', 0, 'requested_credits', a_amount[p])
          else jsonb_build_object('status', 'refused', 'code', 'unknown_account',
            'message', format('no account %s', a_account[p])) end;
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

    -- Limits of the lists named here, locked after the balance (every writer of list counters takes the balance
    -- lock first), so a limit is checked atomically with the credits.
    l_acc := '{}'; l_list := '{}'; l_period := '{}'; l_limit := '{}'; l_spent := '{}'; l_expired := '{}';
    m_lim := '{}'; m_month := '{}'; m_spent := '{}'; m_touched := '{}';
    if exists (select 1 from unnest(g.positions) q where a_list[q] is not null) then
      select coalesce(array_agg(l.account_id order by l.account_id, l.list), '{}'),
             coalesce(array_agg(l.list order by l.account_id, l.list), '{}'),
             coalesce(array_agg(l.period order by l.account_id, l.list), '{}'),
             coalesce(array_agg(l.limit_credits order by l.account_id, l.list), '{}'),
             coalesce(array_agg(l.spent_credits order by l.account_id, l.list), '{}'),
             coalesce(array_agg(l.expired_credits order by l.account_id, l.list), '{}')
        into l_acc, l_list, l_period, l_limit, l_spent, l_expired
      from (select * from list_limits
            where credit_type = g.credit_type
              and (account_id, list) in (select a_account[q], a_list[q] from unnest(g.positions) q
                                         where a_list[q] is not null)
            order by account_id, list
            for update) l;
    end if;
    l_touched := array_fill(false, array[cardinality(l_acc)]);

    foreach p in array g.positions loop
      if v_prior ? a_key[p] then
        v_results[p] := cf_usage_duplicate(a_account[p], a_event[p], a_key[p], v_prior -> a_key[p]);
        continue;
      end if;
      if a_copied[p] and v_taken ? a_key[p] then
        v_results[p] := jsonb_build_object('status', 'duplicate', 'original', v_taken -> a_key[p]);
        continue;
      end if;

      -- The list's limit, if it has one: what is left of it for this event.
      v_l := null;
      v_m := null;
      if a_list[p] is not null then
        for k in 1 .. cardinality(l_acc) loop
          if l_acc[k] = a_account[p] and l_list[k] = a_list[p] then v_l := k; end if;
        end loop;
      end if;
      if v_l is not null then
        if l_period[v_l] = 'total' then
          v_spent_now := l_spent[v_l];
          v_room := greatest(l_limit[v_l] - l_spent[v_l] - l_expired[v_l], 0);
        else
          v_month := date_trunc('month', a_at[p] at time zone a_tz[p])::date;
          for k in 1 .. cardinality(m_lim) loop
            if m_lim[k] = v_l and m_month[k] = v_month then v_m := k; end if;
          end loop;
          if v_m is null then
            -- A month not met yet in this call: its row, or nothing spent (cf_set_list_limit seeds recent months).
            m_lim := m_lim || v_l; m_month := m_month || v_month; m_touched := m_touched || false;
            m_spent := m_spent || coalesce((select spent_credits from list_month_spend
              where account_id = a_account[p] and credit_type = g.credit_type and list = a_list[p] and month = v_month), 0);
            v_m := cardinality(m_lim);
          end if;
          v_spent_now := m_spent[v_m];
          v_room := greatest(l_limit[v_l] - m_spent[v_m], 0);
        end if;
        if a_amount[p] > v_room then
          v_results[p] := jsonb_build_object('status', 'refused', 'code', 'list_limit_exceeded',
            'message', format('list %s may spend %s more %s credits %s; %s requested', a_list[p], v_room, a_ct[p],
              case when l_period[v_l] = 'total' then 'in total' else 'in ' || to_char(v_month, 'YYYY-MM') end,
              a_amount[p]),
            'list', a_list[p], 'period', l_period[v_l], 'limit_credits', l_limit[v_l], 'spent_credits', v_spent_now,
            'remaining_credits', v_room, 'requested_credits', a_amount[p]);
          continue;
        end if;
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
      if a_account[p] <> g.account_id then
        -- Drawn from the parent's balance: whose usage it was stays on the entry, for reports.
        v_meta := v_meta || jsonb_build_object('usage_account_id', a_account[p]);
      end if;
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
      if v_m is not null then
        m_spent[v_m] := m_spent[v_m] + a_amount[p];
        m_touched[v_m] := true;
      elsif v_l is not null then
        l_spent[v_l] := l_spent[v_l] + a_amount[p];
        l_touched[v_l] := true;
      end if;

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
      w_ue.id := v_usage_id; w_ue.account_id := a_account[p]; w_ue.event_id := a_event[p];
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
    for k in 1 .. cardinality(l_acc) loop
      if l_touched[k] then
        w_lacc := w_lacc || l_acc[k]; w_lct := w_lct || g.credit_type; w_llist := w_llist || l_list[k];
        w_lspent := w_lspent || l_spent[k];
      end if;
    end loop;
    for k in 1 .. cardinality(m_lim) loop
      if m_touched[k] then
        w_macc := w_macc || l_acc[m_lim[k]]; w_mct := w_mct || g.credit_type; w_mlist := w_mlist || l_list[m_lim[k]];
        w_mmonth := w_mmonth || m_month[k]; w_mspent := w_mspent || m_spent[k];
      end if;
    end loop;
  end loop;

  v_cross := cf_write_usage(w_ops, w_les, w_gid, w_grem, w_bacc, w_bct, w_bdrawn, w_bover, w_ues, w_tcs);
  if cardinality(w_lacc) > 0 then
    update list_limits l set spent_credits = u.spent
    from unnest(w_lacc, w_lct, w_llist, w_lspent) as u(acc, ct, list, spent)
    where l.account_id = u.acc and l.credit_type = u.ct and l.list = u.list;
  end if;
  if cardinality(w_macc) > 0 then
    insert into list_month_spend (account_id, credit_type, list, month, spent_credits)
    select * from unnest(w_macc, w_mct, w_mlist, w_mmonth, w_mspent)
    on conflict (account_id, credit_type, list, month) do update set spent_credits = excluded.spent_credits;
  end if;
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


-- One event, as cf_ingest_usage given a batch of one, through cf_debit (see 003); shared billing and list limits as
-- above.
create or replace function cf_ingest_usage_one(
  p_account text, p_event_id text, p_credit_type text, p_amount bigint, p_rate_card_version text, p_rating jsonb,
  p_occurred_at timestamptz, p_received_at timestamptz, p_list text, p_metadata jsonb, p_refusal jsonb
) returns jsonb
language plpgsql as $$
declare
  v_key text := cf_usage_key(p_account, p_event_id);
  v_prior jsonb;
  v_acc accounts;
  v_billing text;
  v_limit list_limits;
  v_month date;
  v_spent bigint;
  v_room bigint;
  v_id uuid;
  v_meta jsonb;
  v_debit jsonb;
  v_result jsonb;
begin
  select result into v_prior from operations where idempotency_key = v_key;
  if found then
    return cf_usage_duplicate(p_account, p_event_id, v_key, v_prior);
  end if;
  select * into v_acc from accounts where id = p_account;
  if not found then
    return jsonb_build_object('status', 'refused', 'code', 'unknown_account', 'message', format('no account %s', p_account));
  end if;
  if p_refusal is not null then
    return p_refusal;
  end if;
  v_billing := case when v_acc.shared_billing then v_acc.parent_account_id else p_account end;

  if p_list is not null then
    -- The balance lock first (cf_debit takes it again, harmlessly), then the list's: the batch path's order.
    perform 1 from balances where account_id = v_billing and credit_type = p_credit_type for update;
    select * into v_limit from list_limits
    where account_id = p_account and credit_type = p_credit_type and list = p_list for update;
    if found then
      if v_limit.period = 'total' then
        v_spent := v_limit.spent_credits;
        v_room := greatest(v_limit.limit_credits - v_limit.spent_credits - v_limit.expired_credits, 0);
      else
        v_month := date_trunc('month', p_occurred_at at time zone v_acc.time_zone)::date;
        v_spent := coalesce((select spent_credits from list_month_spend where account_id = p_account
          and credit_type = p_credit_type and list = p_list and month = v_month), 0);
        v_room := greatest(v_limit.limit_credits - v_spent, 0);
      end if;
      if p_amount > v_room then
        return jsonb_build_object('status', 'refused', 'code', 'list_limit_exceeded',
          'message', format('list %s may spend %s more %s credits %s; %s requested', p_list, v_room, p_credit_type,
            case when v_limit.period = 'total' then 'in total' else 'in ' || to_char(v_month, 'YYYY-MM') end, p_amount),
          'list', p_list, 'period', v_limit.period, 'limit_credits', v_limit.limit_credits, 'spent_credits', v_spent,
          'remaining_credits', v_room, 'requested_credits', p_amount);
      end if;
    end if;
  end if;

  v_id := uuidv7();
  v_meta := cf_usage_entry_metadata(v_id, p_event_id, p_rate_card_version, p_list);
  if v_billing <> p_account then
    v_meta := v_meta || jsonb_build_object('usage_account_id', p_account);
  end if;
  v_debit := cf_debit(v_key, v_billing, p_credit_type, p_amount, p_occurred_at, 'debit', null, v_meta);
  if (v_debit ->> 'duplicate')::boolean then
    return cf_usage_duplicate(p_account, p_event_id, v_key, v_debit - 'duplicate');
  end if;
  if v_debit ->> 'status' = 'refused' then
    return jsonb_build_object('status', 'refused', 'code', 'insufficient_credits',
      'message', format('%s credits of %s needed, %s available', p_amount, p_credit_type, v_debit -> 'available_credits'),
      'available_credits', v_debit -> 'available_credits', 'requested_credits', p_amount);
  end if;
  if v_limit.period = 'total' then
    update list_limits set spent_credits = spent_credits + p_amount
    where account_id = p_account and credit_type = p_credit_type and list = p_list;
  elsif v_limit.period = 'month' then
    insert into list_month_spend (account_id, credit_type, list, month, spent_credits)
    values (p_account, p_credit_type, p_list, v_month, p_amount)
    on conflict (account_id, credit_type, list, month)
    do update set spent_credits = list_month_spend.spent_credits + excluded.spent_credits;
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
