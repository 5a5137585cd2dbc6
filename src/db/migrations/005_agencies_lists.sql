-- Agencies (src/accounts), lists with spending limits (src/lists) and what reports read (src/reports).
-- Nothing in 001–004 is redefined here; the debit path learns shared billing and list limits in 006.
--
-- Usage attribution. A usage debit's ledger entries carry, in their metadata, `list` (when the event had one) and
-- `usage_account_id` (when the credits were drawn from another account's balance: a sub-account on shared billing
-- draws from its parent). Reports group by these; they are on the ledger entry itself because usage_events detail
-- is purged after 35 days and the ledger is forever.

-- Reports and forecasts read an account's spending by time: usage debits and their overage, by effective instant.
create index ledger_entries_spend on ledger_entries (account_id, effective_at) where kind in ('debit', 'overage');

-- Accounts and sub-accounts -------------------------------------------------------------------------------------
-- 001 has accounts.parent_account_id and shared_billing. One level only: an agency (or enterprise) and its
-- sub-accounts; a sub-account has no sub-accounts of its own, and the parent of an account never changes.
alter table accounts
  add constraint accounts_not_own_parent check (parent_account_id is distinct from id),
  add constraint accounts_shared_needs_parent check (not shared_billing or parent_account_id is not null);
create index accounts_parent on accounts (parent_account_id) where parent_account_id is not null;

-- Whose balance an account's usage draws from: its parent's when it is on shared billing, else its own.
create function cf_billing_account(p_account text) returns text
language sql stable as $$
  select case when shared_billing then parent_account_id else id end from accounts where id = p_account
$$;

-- Every shared-billing setting a sub-account has had, from creation (before = null) on. Append-only.
create table account_billing_changes (
  id                    bigint generated always as identity primary key,
  account_id            text not null references accounts(id),
  parent_account_id     text not null references accounts(id),
  shared_billing_before boolean,             -- null: the sub-account was created with shared_billing_after
  shared_billing_after  boolean not null,
  reason                text not null,
  changed_by            text not null,
  operation_key         text references operations(idempotency_key),
  changed_at            timestamptz not null default now()
);
create index account_billing_changes_account on account_billing_changes (account_id, id);

-- Creates a sub-account of p_parent. Idempotent on the whole request: the same again answers 'exists'; the same id
-- with other details, or under another parent, is refused 'account_conflict'.
create function cf_create_sub_account(p_parent text, p_id text, p_name text, p_time_zone text, p_country text,
                                      p_shared boolean, p_by text) returns jsonb
language plpgsql as $$
declare
  v_parent accounts;
  v_acc accounts;
begin
  select * into v_parent from accounts where id = p_parent for share;
  if not found then
    return jsonb_build_object('status', 'refused', 'code', 'not_found', 'message', format('no account %s', p_parent));
  end if;
  if p_id = p_parent then
    return jsonb_build_object('status', 'refused', 'code', 'account_conflict',
      'message', format('account %s exists with other details', p_id));
  end if;
  if v_parent.parent_account_id is not null then
    return jsonb_build_object('status', 'refused', 'code', 'not_a_parent',
      'message', format('%s is itself a sub-account of %s; sub-accounts are one level deep', p_parent,
                        v_parent.parent_account_id));
  end if;
  insert into accounts (id, name, time_zone, country, parent_account_id, shared_billing)
  values (p_id, p_name, p_time_zone, p_country, p_parent, p_shared)
  on conflict (id) do nothing
  returning * into v_acc;
  if found then
    insert into account_billing_changes (account_id, parent_account_id, shared_billing_before, shared_billing_after,
                                         reason, changed_by)
    values (p_id, p_parent, null, p_shared, 'created', p_by);
    return jsonb_build_object('status', 'created', 'account_id', p_id);
  end if;
  select * into v_acc from accounts where id = p_id;
  if v_acc.parent_account_id is distinct from p_parent or v_acc.name <> p_name or v_acc.time_zone <> p_time_zone
     or v_acc.country <> p_country or v_acc.shared_billing <> p_shared then
    return jsonb_build_object('status', 'refused', 'code', 'account_conflict',
      'message', format('account %s exists with other details', p_id));
  end if;
  return jsonb_build_object('status', 'exists', 'account_id', p_id);
end $$;

-- Moves a sub-account into (p_shared) or out of shared billing: an explicit change, recorded with who and why.
-- Idempotent on p_key. Asking for the state it is already in is refused ('already_shared' / 'not_shared') and
-- leaves no trace. The sub-account's own grants stay its own: drawn again once it leaves shared billing.
create function cf_set_shared_billing(p_key text, p_account text, p_shared boolean, p_reason text, p_by text)
returns jsonb
language plpgsql as $$
declare
  v_prior jsonb;
  v_acc accounts;
begin
  v_prior := cf_claim(p_key, p_account, 'shared_billing',
    jsonb_build_object('shared_billing', p_shared, 'reason', p_reason));
  if v_prior is not null then return v_prior; end if;
  select * into v_acc from accounts where id = p_account for update;
  if v_acc.id is null or v_acc.parent_account_id is null then
    delete from operations where idempotency_key = p_key;
    return jsonb_build_object('status', 'refused',
      'code', case when v_acc.id is null then 'not_found' else 'not_a_sub_account' end, 'duplicate', false);
  end if;
  if v_acc.shared_billing = p_shared then
    delete from operations where idempotency_key = p_key;
    return jsonb_build_object('status', 'refused', 'code', case when p_shared then 'already_shared' else 'not_shared' end,
      'duplicate', false);
  end if;
  update accounts set shared_billing = p_shared where id = p_account;
  insert into account_billing_changes (account_id, parent_account_id, shared_billing_before, shared_billing_after,
                                       reason, changed_by, operation_key)
  values (p_account, v_acc.parent_account_id, v_acc.shared_billing, p_shared, p_reason, p_by, p_key);
  return cf_finish(p_key, jsonb_build_object('status', 'changed', 'account_id', p_account,
    'parent_account_id', v_acc.parent_account_id, 'shared_billing', p_shared,
    'billing_account_id', case when p_shared then v_acc.parent_account_id else p_account end));
end $$;

-- Lists and their limits ---------------------------------------------------------------------------------------
-- A list (sending list, campaign, department) is a name on usage. Without a limit it draws freely from the
-- account's credits. A limit caps what the list may spend of one credit type: per calendar month of the account's
-- zone, or in total since the limit was set. The list belongs to the account whose usage it is (a sub-account's
-- lists are the sub-account's, even when it draws from its parent).
create table list_limits (
  account_id      text not null references accounts(id),
  credit_type     text not null,
  list            text not null check (length(list) between 1 and 200),
  period          text not null check (period in ('month', 'total')),
  limit_credits   bigint not null check (limit_credits > 0),
  -- 'total' only: spent since the limit was set, and what expiries took from the list's assignment (see below).
  -- What is still assigned to the list: greatest(limit_credits - spent_credits - expired_credits, 0).
  spent_credits   bigint not null default 0 check (spent_credits >= 0),
  expired_credits bigint not null default 0 check (expired_credits >= 0),
  set_by          text not null,
  set_at          timestamptz not null,
  primary key (account_id, credit_type, list)
);

-- 'month' limits: what each limited list spent in each month (first day of the month in the account's zone).
create table list_month_spend (
  account_id    text not null,
  credit_type   text not null,
  list          text not null,
  month         date not null,
  spent_credits bigint not null check (spent_credits >= 0),
  primary key (account_id, credit_type, list, month)
);

-- Every change to a list's limit. Append-only.
create table list_limit_changes (
  id            bigint generated always as identity primary key,
  account_id    text not null references accounts(id),
  credit_type   text not null,
  list          text not null,
  action        text not null check (action in ('set', 'removed')),
  period        text check (period in ('month', 'total')),
  limit_credits bigint,
  changed_by    text not null,
  changed_at    timestamptz not null
);
create index list_limit_changes_list on list_limit_changes (account_id, credit_type, list, id);

-- The first day of the calendar month p_at falls in, in p_account's zone.
create function cf_account_month(p_account text, p_at timestamptz) returns date
language sql stable as $$
  select date_trunc('month', p_at at time zone time_zone)::date from accounts where id = p_account
$$;

-- Credits of one type a list of p_account spent in [p_from, p_to), from the ledger (wherever they were drawn).
create function cf_list_spent(p_account text, p_credit_type text, p_list text, p_from timestamptz, p_to timestamptz)
returns bigint
language sql stable as $$
  select coalesce(-sum(e.amount_credits), 0)::bigint
  from ledger_entries e
  where e.account_id in (select p_account union all select parent_account_id from accounts
                         where id = p_account and parent_account_id is not null)
    and e.kind in ('debit', 'overage') and e.credit_type = p_credit_type
    and e.effective_at >= p_from and e.effective_at < p_to
    and e.metadata ->> 'list' = p_list
    and coalesce(e.metadata ->> 'usage_account_id', e.account_id) = p_account
$$;

-- Sets (or changes) a list's limit. A 'total' limit counts spending from when it is first set; changing its amount
-- keeps what was spent. Switching between 'month' and 'total' starts afresh. A 'month' limit starts from what the
-- list already spent this month and the two before (usage may be back-dated by up to 35 days), read from the ledger
-- under the lock of the balance the account draws from, so no debit in flight is missed. The usage path reads a
-- month without a row as nothing spent, which from then on is exact.
create function cf_set_list_limit(p_account text, p_credit_type text, p_list text, p_period text, p_limit bigint,
                                  p_by text, p_as_of timestamptz) returns jsonb
language plpgsql as $$
declare
  v_billing text := cf_billing_account(p_account);
  v_prior list_limits;
  v_month date;
  v_tz text;
  m date;
begin
  if v_billing is null then
    return jsonb_build_object('status', 'refused', 'code', 'not_found');
  end if;
  perform 1 from balances where account_id = v_billing and credit_type = p_credit_type for update;
  select * into v_prior from list_limits
  where account_id = p_account and credit_type = p_credit_type and list = p_list for update;
  if found and v_prior.period = p_period then
    update list_limits set limit_credits = p_limit, set_by = p_by, set_at = p_as_of
    where account_id = p_account and credit_type = p_credit_type and list = p_list;
  else
    delete from list_limits where account_id = p_account and credit_type = p_credit_type and list = p_list;
    delete from list_month_spend where account_id = p_account and credit_type = p_credit_type and list = p_list;
    insert into list_limits (account_id, credit_type, list, period, limit_credits, set_by, set_at)
    values (p_account, p_credit_type, p_list, p_period, p_limit, p_by, p_as_of);
    if p_period = 'month' then
      select time_zone into v_tz from accounts where id = p_account;
      v_month := cf_account_month(p_account, p_as_of);
      foreach m in array array[(v_month - interval '2 months')::date, (v_month - interval '1 month')::date, v_month] loop
        insert into list_month_spend (account_id, credit_type, list, month, spent_credits)
        values (p_account, p_credit_type, p_list, m,
                cf_list_spent(p_account, p_credit_type, p_list, m::timestamp at time zone v_tz,
                              (m + interval '1 month')::timestamp at time zone v_tz));
      end loop;
    end if;
  end if;
  insert into list_limit_changes (account_id, credit_type, list, action, period, limit_credits, changed_by, changed_at)
  values (p_account, p_credit_type, p_list, 'set', p_period, p_limit, p_by, p_as_of);
  return jsonb_build_object('status', 'set', 'replaced', v_prior.account_id is not null);
end $$;

create function cf_remove_list_limit(p_account text, p_credit_type text, p_list text, p_by text, p_as_of timestamptz)
returns jsonb
language plpgsql as $$
declare
  v_billing text := cf_billing_account(p_account);
begin
  perform 1 from balances where account_id = v_billing and credit_type = p_credit_type for update;
  delete from list_limits where account_id = p_account and credit_type = p_credit_type and list = p_list;
  if not found then
    return jsonb_build_object('status', 'refused', 'code', 'no_limit');
  end if;
  delete from list_month_spend where account_id = p_account and credit_type = p_credit_type and list = p_list;
  insert into list_limit_changes (account_id, credit_type, list, action, changed_by, changed_at)
  values (p_account, p_credit_type, p_list, 'removed', p_by, p_as_of);
  return jsonb_build_object('status', 'removed');
end $$;

-- Expiry with assignments ---------------------------------------------------------------------------------------
-- A 'total' limit is an assignment of credits to a list. When package credits expire, the expired credits are
-- taken first from credits not assigned to any list; the rest is taken from the lists' assignments in proportion
-- to what each has assigned, by largest remainder, so the parts add up to exactly what expired.
-- "Package credits": grants of source bundle or adjustment. A plan's own credits end at every period boundary
-- and (under a rollover policy) come straight back as a rollover grant; letting that cycle eat the assignments
-- every month would shrink every capped list for credits that were never lost.

-- Splits p_total in proportion to p_weights (largest remainder): floor shares, then one more to the largest
-- remainders, ties to the larger weight, then to the earlier position. The parts sum to p_total exactly.
-- src/lists/apportion.ts is the same rule in TypeScript; test/lists proves them equal.
create function cf_apportion(p_total bigint, p_weights bigint[]) returns bigint[]
language plpgsql immutable as $$
declare
  v_sum numeric := 0;
  v_shares bigint[] := '{}';
  v_left bigint := p_total;
  r record;
begin
  if p_total < 0 or exists (select 1 from unnest(p_weights) w where w < 0) then
    raise exception using errcode = 'P0001', message = 'invalid_apportion';
  end if;
  select coalesce(sum(w), 0) into v_sum from unnest(p_weights) w;
  if v_sum = 0 or p_total = 0 then
    return array_fill(0::bigint, array[coalesce(cardinality(p_weights), 0)]);
  end if;
  if p_total > v_sum then
    raise exception using errcode = 'P0001', message = 'invalid_apportion',
      detail = format('%s is more than the weights'' sum %s', p_total, v_sum);
  end if;
  for r in select ord, w from unnest(p_weights) with ordinality as t(w, ord) order by ord loop
    v_shares := v_shares || floor(p_total::numeric * r.w / v_sum)::bigint;
    v_left := v_left - floor(p_total::numeric * r.w / v_sum)::bigint;
  end loop;
  for r in
    select ord from unnest(p_weights) with ordinality as t(w, ord)
    order by mod(p_total::numeric * w, v_sum) desc, w desc, ord
    limit v_left
  loop
    v_shares[r.ord] := v_shares[r.ord] + 1;
  end loop;
  return v_shares;
end $$;

-- What each expiry took from unassigned credits (list null) and from each list's assignment. Append-only.
create table list_expiry_allocations (
  id              bigint generated always as identity primary key,
  ledger_entry_id bigint not null references ledger_entries(id),
  account_id      text not null,           -- the list's account (null list: the balance's account)
  credit_type     text not null,
  list            text,                    -- null: credits not assigned to any list
  assigned_before_credits bigint,          -- the list's assignment just before (null for the unassigned part)
  taken_credits   bigint not null check (taken_credits >= 0)
);
create index list_expiry_allocations_entry on list_expiry_allocations (ledger_entry_id);

-- Runs for each expiry entry, inside the expiring function's transaction and under its balance lock.
create function cf_allocate_expiry() returns trigger
language plpgsql as $$
declare
  v_source text;
  v_expired bigint := -new.amount_credits;
  v_pool bigint;
  v_assigned bigint;
  v_unassigned bigint;
  v_from_unassigned bigint;
  v_rest bigint;
  v_accounts text[];
  v_lists text[];
  v_weights bigint[];
  v_shares bigint[];
  k integer;
begin
  select source into v_source from grants where id = new.grant_id;
  if v_expired <= 0 or v_source is null or v_source not in ('bundle', 'adjustment') then
    return null;
  end if;
  -- The lists drawing on this balance: the account's own, and those of its sub-accounts on shared billing.
  with limited as (
    select l.account_id, l.list, greatest(l.limit_credits - l.spent_credits - l.expired_credits, 0) as assigned
    from list_limits l join accounts a on a.id = l.account_id
    where l.credit_type = new.credit_type and l.period = 'total'
      and (l.account_id = new.account_id or (a.parent_account_id = new.account_id and a.shared_billing))
    order by l.account_id, l.list
    for update of l
  )
  select coalesce(array_agg(account_id order by account_id, list), '{}'), coalesce(array_agg(list order by account_id, list), '{}'),
         coalesce(array_agg(assigned order by account_id, list), '{}'), coalesce(sum(assigned), 0)
    into v_accounts, v_lists, v_weights, v_assigned
  from limited where assigned > 0;
  if v_assigned = 0 then
    return null;
  end if;
  -- The credits there were just before the expiry instant: this grant's expired credits and every other live grant.
  select v_expired + coalesce(sum(remaining_credits), 0) into v_pool
  from grants
  where account_id = new.account_id and credit_type = new.credit_type and id <> new.grant_id and remaining_credits > 0
    and effective_from < new.effective_at and (expires_at is null or expires_at >= new.effective_at);
  v_unassigned := greatest(v_pool - v_assigned, 0);
  v_from_unassigned := least(v_expired, v_unassigned);
  v_rest := least(v_expired - v_from_unassigned, v_assigned);
  insert into list_expiry_allocations (ledger_entry_id, account_id, credit_type, list, taken_credits)
  values (new.id, new.account_id, new.credit_type, null, v_from_unassigned);
  if v_rest = 0 then
    return null;
  end if;
  v_shares := cf_apportion(v_rest, v_weights);
  for k in 1 .. cardinality(v_lists) loop
    insert into list_expiry_allocations (ledger_entry_id, account_id, credit_type, list, assigned_before_credits,
                                         taken_credits)
    values (new.id, v_accounts[k], new.credit_type, v_lists[k], v_weights[k], v_shares[k]);
    update list_limits set expired_credits = expired_credits + v_shares[k]
    where account_id = v_accounts[k] and credit_type = new.credit_type and list = v_lists[k];
  end loop;
  return null;
end $$;

create trigger ledger_entries_expiry_allocation after insert on ledger_entries
  for each row when (new.kind = 'expiry') execute function cf_allocate_expiry();
