-- Ledger writes as functions: one round trip each, all checks inside the same transaction and under the
-- balance row lock, so no caller can skip them. Every function takes the time it acts at (p_as_of) rather than
-- now(): usage carries its own timestamp, workflows act at workflow time. Spendability is decided here, from
-- effective_from/expires_at against p_as_of, never from whether an expiry timer has fired.

-- Instants in stored requests are written in UTC whatever the session's TimeZone, so a replay from a connection
-- set to another zone is recognised as the same request.
create function cf_utc(p timestamptz) returns jsonb
language sql immutable as $$ select to_jsonb(p at time zone 'UTC') $$;

-- Claims an idempotency key. Returns null when the key is new (caller proceeds), else the stored result
-- (with "duplicate": true) or raises 'idempotency_conflict' when the same key came with another request, another
-- account's included: no account is ever answered with what another account's operation did.
create function cf_claim(p_key text, p_account text, p_kind text, p_request jsonb) returns jsonb
language plpgsql as $$
declare
  v_op operations;
begin
  insert into operations (idempotency_key, account_id, kind, request)
  values (p_key, p_account, p_kind, p_request)
  on conflict (idempotency_key) do nothing;
  if found then
    return null;
  end if;
  select * into v_op from operations where idempotency_key = p_key;
  if v_op.account_id <> p_account then
    raise exception using errcode = 'P0001', message = 'idempotency_conflict',
      detail = format('key %s was used for another account', p_key);
  end if;
  if v_op.kind <> p_kind or v_op.request <> p_request then
    raise exception using errcode = 'P0001', message = 'idempotency_conflict',
      detail = format('key %s was used for another %s request', p_key, v_op.kind);
  end if;
  return v_op.result || '{"duplicate": true}';
end $$;

create function cf_finish(p_key text, p_result jsonb) returns jsonb
language plpgsql as $$
begin
  update operations set result = p_result where idempotency_key = p_key;
  return p_result || '{"duplicate": false}';
end $$;

-- Locks (creating if needed) the balance row of one account and credit type.
create function cf_lock_balance(p_account text, p_credit_type text) returns balances
language plpgsql as $$
declare
  v balances;
begin
  select * into v from balances where account_id = p_account and credit_type = p_credit_type for update;
  if not found then
    insert into balances (account_id, credit_type) values (p_account, p_credit_type) on conflict do nothing;
    select * into v from balances where account_id = p_account and credit_type = p_credit_type for update;
  end if;
  return v;
end $$;

create function cf_spendable(p_account text, p_credit_type text, p_as_of timestamptz) returns bigint
language sql stable as $$
  select coalesce(sum(remaining_credits), 0)::bigint from grants
  where account_id = p_account and credit_type = p_credit_type and remaining_credits > 0
    and effective_from <= p_as_of and (expires_at is null or expires_at > p_as_of)
$$;

create function cf_held(p_account text, p_credit_type text, p_as_of timestamptz, p_except uuid) returns bigint
language sql stable as $$
  select coalesce(sum(amount_credits), 0)::bigint from holds
  where account_id = p_account and credit_type = p_credit_type and status = 'active'
    and expires_at > p_as_of and id is distinct from p_except
$$;

-- Available to draw at p_as_of: spendable grants, less active holds, less unsettled overage.
create function cf_available(p_account text, p_credit_type text, p_as_of timestamptz) returns bigint
language sql stable as $$
  select cf_spendable(p_account, p_credit_type, p_as_of) - cf_held(p_account, p_credit_type, p_as_of, null)
       - coalesce((select overage_credits from balances where account_id = p_account and credit_type = p_credit_type), 0)
$$;

create function cf_grant(
  p_key text, p_account text, p_credit_type text, p_amount bigint, p_source text, p_priority integer,
  p_effective_from timestamptz, p_expires_at timestamptz, p_subscription text, p_bundle text,
  p_purchased_by text, p_invoice text, p_metadata jsonb
) returns jsonb
language plpgsql as $$
declare
  v_prior jsonb;
  v_grant grants;
  v_request jsonb := jsonb_build_object('credit_type', p_credit_type, 'amount_credits', p_amount,
    'source', p_source, 'priority', p_priority, 'effective_from', cf_utc(p_effective_from),
    'expires_at', cf_utc(p_expires_at), 'subscription_id', p_subscription, 'bundle_id', p_bundle,
    'invoice_id', p_invoice);
begin
  v_prior := cf_claim(p_key, p_account, 'grant', v_request);
  if v_prior is not null then return v_prior; end if;
  perform cf_lock_balance(p_account, p_credit_type);
  insert into grants (account_id, credit_type, amount_credits, remaining_credits, source, priority, effective_from,
                      expires_at, subscription_id, bundle_id, purchased_by, invoice_id, operation_key)
  values (p_account, p_credit_type, p_amount, p_amount, p_source, coalesce(p_priority, 100), p_effective_from,
          p_expires_at, p_subscription, p_bundle, p_purchased_by, p_invoice, p_key)
  returning * into v_grant;
  insert into ledger_entries (account_id, credit_type, grant_id, kind, amount_credits, operation_key, effective_at, metadata)
  values (p_account, p_credit_type, v_grant.id, 'grant', p_amount, p_key, p_effective_from, coalesce(p_metadata, '{}'));
  update balances set balance_credits = balance_credits + p_amount
  where account_id = p_account and credit_type = p_credit_type;
  return cf_finish(p_key, jsonb_build_object('status', 'granted', 'grant_id', v_grant.id,
    'amount_credits', p_amount, 'effective_from', p_effective_from, 'expires_at', p_expires_at));
end $$;

-- Draws p_amount at p_as_of in burn order: priority, soonest expiry (never-expiring last), plan allotment before
-- rollover before bundles before adjustments, oldest first. Refuses (and leaves no trace) when available credits
-- are short and the balance does not allow overage. p_kind is 'debit' (usage) or 'adjustment' (ops correction).
-- p_hold: the hold being committed; its own held amount counts as available to this debit and it is settled.
create function cf_debit(
  p_key text, p_account text, p_credit_type text, p_amount bigint, p_as_of timestamptz, p_kind text,
  p_hold uuid, p_metadata jsonb
) returns jsonb
language plpgsql as $$
declare
  v_prior jsonb;
  v_bal balances;
  v_hold holds;
  v_spendable bigint;
  v_held bigint;
  v_available bigint;
  v_after bigint;
  v_left bigint := p_amount;
  v_take bigint;
  v_overage bigint := 0;
  v_entries jsonb := '[]';
  v_crossed bigint[] := '{}';
  v_t bigint;
  g record;
  v_request jsonb := jsonb_build_object('credit_type', p_credit_type, 'amount_credits', p_amount,
    'as_of', cf_utc(p_as_of), 'hold_id', p_hold);
begin
  if p_amount <= 0 then
    raise exception using errcode = 'P0001', message = 'invalid_amount';
  end if;
  v_prior := cf_claim(p_key, p_account, p_kind, v_request);
  if v_prior is not null then return v_prior; end if;
  -- No balance row means nothing was ever granted nor overage allowed: refuse without creating one.
  select * into v_bal from balances where account_id = p_account and credit_type = p_credit_type for update;
  if not found then
    delete from operations where idempotency_key = p_key;
    return jsonb_build_object('status', 'refused', 'code', 'insufficient_credits',
      'available_credits', 0, 'requested_credits', p_amount, 'duplicate', false);
  end if;

  if p_hold is not null then
    select * into v_hold from holds where id = p_hold and account_id = p_account and credit_type = p_credit_type
      for update;
    if not found or v_hold.status <> 'active' or v_hold.expires_at <= p_as_of then
      delete from operations where idempotency_key = p_key;
      return jsonb_build_object('status', 'refused', 'code', 'hold_not_active', 'duplicate', false);
    end if;
    if p_amount > v_hold.amount_credits then
      delete from operations where idempotency_key = p_key;
      return jsonb_build_object('status', 'refused', 'code', 'hold_exceeded', 'held_credits', v_hold.amount_credits,
        'duplicate', false);
    end if;
  end if;

  v_spendable := cf_spendable(p_account, p_credit_type, p_as_of);
  v_held := cf_held(p_account, p_credit_type, p_as_of, p_hold);
  v_available := v_spendable - v_held - v_bal.overage_credits;
  if p_amount > v_available and not v_bal.overage_allowed then
    delete from operations where idempotency_key = p_key;
    return jsonb_build_object('status', 'refused', 'code', 'insufficient_credits',
      'available_credits', greatest(v_available, 0), 'requested_credits', p_amount, 'duplicate', false);
  end if;

  for g in
    select id, remaining_credits from grants
    where account_id = p_account and credit_type = p_credit_type and remaining_credits > 0
      and effective_from <= p_as_of and (expires_at is null or expires_at > p_as_of)
    order by priority, expires_at nulls last, source_rank, seq
    for update
  loop
    exit when v_left = 0;
    v_take := least(g.remaining_credits, v_left);
    update grants set remaining_credits = remaining_credits - v_take where id = g.id;
    insert into ledger_entries (account_id, credit_type, grant_id, kind, amount_credits, operation_key, effective_at, metadata)
    values (p_account, p_credit_type, g.id, p_kind, -v_take, p_key, p_as_of, coalesce(p_metadata, '{}'));
    v_entries := v_entries || jsonb_build_object('grant_id', g.id, 'amount_credits', v_take);
    v_left := v_left - v_take;
  end loop;

  if v_left > 0 then
    -- Only reachable under an overage policy (checked above): the shortfall is billable at the next renewal.
    v_overage := v_left;
    insert into ledger_entries (account_id, credit_type, grant_id, kind, amount_credits, operation_key, effective_at, metadata)
    values (p_account, p_credit_type, null, 'overage', -v_overage, p_key, p_as_of, coalesce(p_metadata, '{}'));
  end if;

  update balances set balance_credits = balance_credits - p_amount, overage_credits = overage_credits + v_overage
  where account_id = p_account and credit_type = p_credit_type;
  if p_hold is not null then
    update holds set status = 'committed', settled_at = p_as_of where id = p_hold;
  end if;

  v_after := v_available - p_amount;
  if v_bal.notify_workflow_id is not null then
    foreach v_t in array v_bal.alert_thresholds_credits loop
      if v_available > v_t and v_after <= v_t then
        v_crossed := v_crossed || v_t;
        insert into threshold_crossings (account_id, credit_type, workflow_id, threshold_credits, available_before,
                                         available_after, crossed_at, operation_key)
        values (p_account, p_credit_type, v_bal.notify_workflow_id, v_t, v_available, v_after, p_as_of, p_key);
      end if;
    end loop;
  end if;

  return cf_finish(p_key, jsonb_build_object('status', 'accepted', 'drawn_credits', p_amount,
    'overage_credits', v_overage, 'available_after_credits', v_after, 'entries', v_entries,
    'thresholds_crossed', to_jsonb(v_crossed)));
end $$;

-- Removes what is left of a grant once it has expired at p_as_of. A grant whose expiry was extended past p_as_of
-- is left alone ('not_due'), so a stale timer can never take live credits.
create function cf_expire_grant(p_key text, p_grant uuid, p_as_of timestamptz) returns jsonb
language plpgsql as $$
declare
  v_prior jsonb;
  v_grant grants;
begin
  select * into v_grant from grants where id = p_grant;
  if not found then
    raise exception using errcode = 'P0001', message = 'grant_not_found';
  end if;
  v_prior := cf_claim(p_key, v_grant.account_id, 'expiry', jsonb_build_object('grant_id', p_grant, 'as_of', cf_utc(p_as_of)));
  if v_prior is not null then return v_prior; end if;
  perform cf_lock_balance(v_grant.account_id, v_grant.credit_type);
  select * into v_grant from grants where id = p_grant for update;
  if v_grant.expires_at is null or v_grant.expires_at > p_as_of then
    return cf_finish(p_key, jsonb_build_object('status', 'not_due', 'grant_id', p_grant,
      'expires_at', v_grant.expires_at, 'expired_credits', 0));
  end if;
  if v_grant.remaining_credits > 0 then
    insert into ledger_entries (account_id, credit_type, grant_id, kind, amount_credits, operation_key, effective_at)
    values (v_grant.account_id, v_grant.credit_type, p_grant, 'expiry', -v_grant.remaining_credits, p_key, v_grant.expires_at);
    update grants set remaining_credits = 0 where id = p_grant;
    update balances set balance_credits = balance_credits - v_grant.remaining_credits
    where account_id = v_grant.account_id and credit_type = v_grant.credit_type;
  end if;
  return cf_finish(p_key, jsonb_build_object('status', 'expired', 'grant_id', p_grant,
    'expired_credits', v_grant.remaining_credits));
end $$;

-- Ends what is left of a grant now (cancellation, a rollover moving credits, an ops void). The removed credits
-- are recorded as an entry of p_kind ('expiry' or 'void'); the grant row keeps its history.
create function cf_close_grant(p_key text, p_grant uuid, p_as_of timestamptz, p_kind text, p_metadata jsonb) returns jsonb
language plpgsql as $$
declare
  v_prior jsonb;
  v_grant grants;
begin
  select * into v_grant from grants where id = p_grant;
  if not found then
    raise exception using errcode = 'P0001', message = 'grant_not_found';
  end if;
  v_prior := cf_claim(p_key, v_grant.account_id, 'close_' || p_kind,
    jsonb_build_object('grant_id', p_grant, 'as_of', cf_utc(p_as_of)));
  if v_prior is not null then return v_prior; end if;
  perform cf_lock_balance(v_grant.account_id, v_grant.credit_type);
  select * into v_grant from grants where id = p_grant for update;
  if v_grant.remaining_credits > 0 then
    insert into ledger_entries (account_id, credit_type, grant_id, kind, amount_credits, operation_key, effective_at, metadata)
    values (v_grant.account_id, v_grant.credit_type, p_grant, p_kind, -v_grant.remaining_credits, p_key, p_as_of,
            coalesce(p_metadata, '{}'));
    update grants set remaining_credits = 0 where id = p_grant;
    update balances set balance_credits = balance_credits - v_grant.remaining_credits
    where account_id = v_grant.account_id and credit_type = v_grant.credit_type;
  end if;
  return cf_finish(p_key, jsonb_build_object('status', 'closed', 'grant_id', p_grant,
    'closed_credits', v_grant.remaining_credits));
end $$;

-- Moves a grant's expiry later (never earlier), recorded as a zero-amount entry with the old and new instants.
create function cf_extend_expiry(p_key text, p_grant uuid, p_new_expires_at timestamptz, p_as_of timestamptz) returns jsonb
language plpgsql as $$
declare
  v_prior jsonb;
  v_grant grants;
begin
  select * into v_grant from grants where id = p_grant;
  if not found then
    raise exception using errcode = 'P0001', message = 'grant_not_found';
  end if;
  v_prior := cf_claim(p_key, v_grant.account_id, 'expiry_extension',
    jsonb_build_object('grant_id', p_grant, 'expires_at', cf_utc(p_new_expires_at)));
  if v_prior is not null then return v_prior; end if;
  perform cf_lock_balance(v_grant.account_id, v_grant.credit_type);
  select * into v_grant from grants where id = p_grant for update;
  if v_grant.expires_at is null or v_grant.expires_at >= p_new_expires_at
     or v_grant.expires_at <= p_as_of or v_grant.remaining_credits = 0 then
    return cf_finish(p_key, jsonb_build_object('status', 'unchanged', 'grant_id', p_grant,
      'expires_at', v_grant.expires_at));
  end if;
  update grants set expires_at = p_new_expires_at where id = p_grant;
  insert into ledger_entries (account_id, credit_type, grant_id, kind, amount_credits, operation_key, effective_at, metadata)
  values (v_grant.account_id, v_grant.credit_type, p_grant, 'expiry_extension', 0, p_key, p_as_of,
          jsonb_build_object('previous_expires_at', v_grant.expires_at, 'expires_at', p_new_expires_at));
  return cf_finish(p_key, jsonb_build_object('status', 'extended', 'grant_id', p_grant,
    'previous_expires_at', v_grant.expires_at, 'expires_at', p_new_expires_at));
end $$;

-- Settles unbilled overage once it has been invoiced (at renewal).
create function cf_settle_overage(p_key text, p_account text, p_credit_type text, p_amount bigint, p_as_of timestamptz,
                                  p_invoice text) returns jsonb
language plpgsql as $$
declare
  v_prior jsonb;
  v_bal balances;
begin
  v_prior := cf_claim(p_key, p_account, 'overage_settled',
    jsonb_build_object('credit_type', p_credit_type, 'amount_credits', p_amount));
  if v_prior is not null then return v_prior; end if;
  v_bal := cf_lock_balance(p_account, p_credit_type);
  if p_amount <= 0 or p_amount > v_bal.overage_credits then
    delete from operations where idempotency_key = p_key;
    return jsonb_build_object('status', 'refused', 'code', 'nothing_to_settle', 'overage_credits', v_bal.overage_credits,
      'duplicate', false);
  end if;
  insert into ledger_entries (account_id, credit_type, grant_id, kind, amount_credits, operation_key, effective_at, metadata)
  values (p_account, p_credit_type, null, 'overage_settled', p_amount, p_key, p_as_of,
          jsonb_build_object('invoice_id', p_invoice));
  update balances set balance_credits = balance_credits + p_amount, overage_credits = overage_credits - p_amount
  where account_id = p_account and credit_type = p_credit_type;
  return cf_finish(p_key, jsonb_build_object('status', 'settled', 'amount_credits', p_amount));
end $$;

-- Invariants, as rows of violations (empty = the ledger holds together).
create view ledger_violations as
  select 'grant_remaining_mismatch' as violation, g.account_id, g.credit_type, g.id::text as subject,
         g.remaining_credits as projected, coalesce(sum(e.amount_credits), 0)::bigint as from_entries
  from grants g left join ledger_entries e on e.grant_id = g.id
  group by g.id having g.remaining_credits <> coalesce(sum(e.amount_credits), 0)
  union all
  select 'balance_mismatch', b.account_id, b.credit_type, b.account_id || '/' || b.credit_type,
         b.balance_credits, coalesce((select sum(amount_credits) from ledger_entries e
                                      where e.account_id = b.account_id and e.credit_type = b.credit_type), 0)::bigint
  from balances b
  where b.balance_credits <> coalesce((select sum(amount_credits) from ledger_entries e
                                       where e.account_id = b.account_id and e.credit_type = b.credit_type), 0)
  union all
  select 'overage_mismatch', b.account_id, b.credit_type, b.account_id || '/' || b.credit_type,
         b.overage_credits, coalesce((select -sum(amount_credits) from ledger_entries e
                                      where e.account_id = b.account_id and e.credit_type = b.credit_type
                                        and e.kind in ('overage', 'overage_settled')), 0)::bigint
  from balances b
  where b.overage_credits <> coalesce((select -sum(amount_credits) from ledger_entries e
                                       where e.account_id = b.account_id and e.credit_type = b.credit_type
                                         and e.kind in ('overage', 'overage_settled')), 0)
  union all
  select 'negative_without_overage', b.account_id, b.credit_type, b.account_id || '/' || b.credit_type,
         b.balance_credits, 0
  from balances b where b.balance_credits < 0 and not b.overage_allowed and b.overage_credits = 0;
