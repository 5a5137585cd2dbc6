-- Webhooks (src/webhooks). 001 created the two tables; this adds what delivery needs.

-- An endpoint is never deleted, only disabled: its deliveries reference it and stay readable. 'deleted' is an
-- operator's choice; 'gone' is the receiver's, by answering 410 (the Standard Webhooks signal to stop sending).
alter table webhook_endpoints
  add column disabled_at     timestamptz,
  add column disabled_reason text check (disabled_reason in ('deleted', 'gone')),
  add constraint webhook_endpoints_disabled_consistent check ((disabled_at is null) = (disabled_reason is null));
create index webhook_endpoints_active on webhook_endpoints (account_id) where disabled_at is null;

-- A delivery is one message to one endpoint: id = deliveryIdFor(message_id, endpoint_id). account_id is the
-- event's account (a global endpoint's deliveries span many accounts), kept for listing by account.
alter table webhook_deliveries
  add column message_id text,
  add column account_id text;
update webhook_deliveries set message_id = id, account_id = payload -> 'data' ->> 'account_id' where message_id is null;
alter table webhook_deliveries
  alter column message_id set not null,
  alter column account_id set not null,
  add constraint webhook_deliveries_one_per_endpoint unique (message_id, endpoint_id),
  add constraint webhook_deliveries_attempts_nonnegative check (attempts >= 0);
create index webhook_deliveries_account on webhook_deliveries (account_id, created_at desc, id);
create index webhook_deliveries_recent on webhook_deliveries (created_at desc, id);
