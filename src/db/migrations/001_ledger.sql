-- creditflow ledger. Credits are bigint units of their credit type; money is bigint minor units + ISO currency.
-- Append-only: ledger_entries and operations are never updated or deleted (but for a refused operation, which is
-- rolled back inside its own transaction). grants.remaining_credits, grants.expires_at and balances.* are
-- projections kept in the same transaction as the entries that explain them; check_ledger() proves it.

create table accounts (
  id                text primary key,
  name              text not null,
  time_zone         text not null,
  country           text not null,
  parent_account_id text references accounts(id),
  shared_billing    boolean not null default false,
  created_at        timestamptz not null default now()
);

-- Projection of each subscription workflow's terms and status, written by its activities (eligibility, listing).
create table subscriptions (
  id          text primary key,
  account_id  text not null references accounts(id),
  plan_id     text not null,
  status      text not null,
  terms       jsonb not null,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now()
);
create index subscriptions_account on subscriptions (account_id);

-- Every ledger write is an operation with a caller-chosen key (workflow id + step, or the client's event id).
-- A replay with the same key returns the stored result; the same key with another request is a conflict.
create table operations (
  idempotency_key text primary key,
  account_id      text not null,
  kind            text not null,
  request         jsonb not null,
  result          jsonb,
  created_at      timestamptz not null default now()
);
create index operations_created on operations (created_at);

create table grants (
  id                uuid primary key default gen_random_uuid(),
  -- Creation order, strict even inside one transaction (created_at is the transaction's now()): the last tiebreak.
  seq               bigint generated always as identity unique,
  account_id        text not null references accounts(id),
  credit_type       text not null,
  amount_credits    bigint not null check (amount_credits > 0),
  remaining_credits bigint not null check (remaining_credits >= 0 and remaining_credits <= amount_credits),
  source            text not null check (source in ('plan_allotment', 'rollover', 'bundle', 'adjustment')),
  -- Burn order after priority and expiry: plan allotment, then rollover, then bundles, then adjustments.
  source_rank       smallint generated always as (
                      case source when 'plan_allotment' then 0 when 'rollover' then 1 when 'bundle' then 2 else 3 end
                    ) stored,
  priority          integer not null default 100,
  effective_from    timestamptz not null,
  expires_at        timestamptz,
  subscription_id   text,
  bundle_id         text,
  purchased_by      text,
  invoice_id        text,
  operation_key     text not null unique references operations(idempotency_key),
  created_at        timestamptz not null default now(),
  check (expires_at is null or expires_at > effective_from)
);
create index grants_drawable on grants (account_id, credit_type, priority, expires_at, source_rank, seq)
  where remaining_credits > 0;
create index grants_subscription on grants (subscription_id);

create table ledger_entries (
  id             bigint generated always as identity primary key,
  account_id     text not null references accounts(id),
  credit_type    text not null,
  grant_id       uuid references grants(id),
  kind           text not null check (kind in
                   ('grant', 'debit', 'adjustment', 'expiry', 'void', 'overage', 'overage_settled', 'expiry_extension')),
  amount_credits bigint not null,
  operation_key  text not null references operations(idempotency_key),
  effective_at   timestamptz not null,
  recorded_at    timestamptz not null default now(),
  metadata       jsonb not null default '{}'
);
create index ledger_entries_account on ledger_entries (account_id, credit_type, id);
create index ledger_entries_grant on ledger_entries (grant_id);

-- One row per account and credit type: the lock every write to that balance takes first, and the projections.
create table balances (
  account_id           text not null references accounts(id),
  credit_type          text not null,
  balance_credits      bigint not null default 0,  -- sum of all entries (expired-but-not-yet-swept included)
  overage_credits      bigint not null default 0,  -- drawn beyond zero under an overage policy, not yet settled
  overage_allowed      boolean not null default false,
  overage_price_minor_per_credit bigint,
  alert_thresholds_credits bigint[] not null default '{}',
  notify_workflow_id   text,
  primary key (account_id, credit_type)
);

-- Credits held for a scheduled send: available = spendable - active unexpired holds.
create table holds (
  id              uuid primary key default gen_random_uuid(),
  account_id      text not null references accounts(id),
  credit_type     text not null,
  amount_credits  bigint not null check (amount_credits > 0),
  status          text not null default 'active' check (status in ('active', 'committed', 'released')),
  expires_at      timestamptz not null,
  created_at      timestamptz not null default now(),
  settled_at      timestamptz,
  operation_key   text not null unique references operations(idempotency_key)
);
create index holds_active on holds (account_id, credit_type, expires_at) where status = 'active';

-- Outbox: a debit that crosses an alert threshold records it here in its own transaction; the API signals the
-- subscription's workflow after commit and a sweeper retries what was not delivered.
create table threshold_crossings (
  id                bigint generated always as identity primary key,
  account_id        text not null,
  credit_type       text not null,
  workflow_id       text not null,
  threshold_credits bigint not null,
  available_before  bigint not null,
  available_after   bigint not null,
  crossed_at        timestamptz not null,
  operation_key     text not null,
  delivered_at      timestamptz
);
create index threshold_crossings_pending on threshold_crossings (id) where delivered_at is null;

create table invoices (
  id              uuid primary key default gen_random_uuid(),
  account_id      text not null references accounts(id),
  idempotency_key text not null unique,
  amount_minor    bigint not null check (amount_minor >= 0),
  currency        text not null,
  description     text not null,
  status          text not null check (status in ('paid', 'failed')),
  failure_reason  text,
  created_at      timestamptz not null default now()
);

-- The default payment adapter fails charges on demand for tests and demos ('always' or the next N charges).
create table simulated_payment_failures (
  account_id      text primary key references accounts(id),
  remaining       integer           -- null = always
);

create table api_keys (
  id          text primary key,
  key_sha256  text not null unique,
  role        text not null check (role in ('admin', 'billing', 'ops', 'support', 'ingest')),
  label       text not null,
  created_at  timestamptz not null default now(),
  revoked_at  timestamptz
);

create table webhook_endpoints (
  id          text primary key,
  url         text not null,
  secret      text not null,
  account_id  text references accounts(id),  -- null: every account
  created_at  timestamptz not null default now()
);

create table webhook_deliveries (
  id             text primary key,          -- the Standard Webhooks message id (stable across retries)
  endpoint_id    text not null references webhook_endpoints(id),
  event_type     text not null,
  payload        jsonb not null,
  attempts       integer not null default 0,
  last_status    integer,
  last_error     text,
  delivered_at   timestamptz,
  created_at     timestamptz not null default now()
);
