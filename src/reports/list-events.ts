import type { AccountScope } from '../accounts/scope';
import type { Sql } from '../db/client';
import type { ListEvent } from './schema';

/**
 * One list's spending, event by event: each debit of the list (its ledger entries grouped by operation) with what
 * it cost, joined to the usage event's detail (rating breakdown, metadata) while that detail is kept (35 days).
 * Ordered by (instant, operation key in byte order, whatever the database's collation), which is also the page cursor.
 */

export interface ListEventsFilter {
  list: string;
  from: Date;
  to: Date;
  credit_type?: string;
  sub_account?: string;
}

export interface EventsCursor {
  /** The instant exactly as PostgreSQL wrote it (microseconds kept), and the operation key. */
  at: string;
  key: string;
}

interface ListEventDbRow {
  occurred_at: Date;
  cursor_at: string;
  operation_key: string;
  credit_type: string;
  sub_account_id: string;
  event_id: string | null;
  rate_card_version: string | null;
  usage_event_id: string | null;
  spent_credits: number;
  overage_credits: number;
  rating: Record<string, unknown> | null;
  event_metadata: Record<string, unknown> | null;
}

export const encodeCursor = (c: EventsCursor): string => Buffer.from(JSON.stringify([c.at, c.key])).toString('base64url');

/** The cursor in `text`, or null when it is not one this API wrote. */
export function decodeCursor(text: string): EventsCursor | null {
  try {
    const v: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string'
      && !Number.isNaN(Date.parse(v[0]))) {
      return { at: v[0], key: v[1] };
    }
  } catch { /* not base64url JSON */ }
  return null;
}

export function listEventsQuery(sql: Sql, scope: AccountScope, f: ListEventsFilter, page?: { after?: EventsCursor; limit: number }) {
  const after = page?.after;
  return sql<ListEventDbRow[]>`
    select b.*, u.rating, u.metadata as event_metadata
    from (
      select e.effective_at as occurred_at, to_json(e.effective_at) #>> '{}' as cursor_at, e.operation_key,
             e.credit_type, coalesce(e.metadata ->> 'usage_account_id', e.account_id) as sub_account_id,
             max(e.metadata ->> 'event_id') as event_id, max(e.metadata ->> 'rate_card_version') as rate_card_version,
             max(e.metadata ->> 'usage_event_id') as usage_event_id,
             (-sum(e.amount_credits))::bigint as spent_credits,
             (-coalesce(sum(e.amount_credits) filter (where e.kind = 'overage'), 0))::bigint as overage_credits
      from ledger_entries e
      where e.account_id = any(${scope.ledger_account_ids}) and e.kind in ('debit', 'overage')
        and e.effective_at >= ${f.from} and e.effective_at < ${f.to}
        and e.metadata ->> 'list' = ${f.list}
        and coalesce(e.metadata ->> 'usage_account_id', e.account_id) = any(${scope.usage_account_ids})
        ${f.credit_type === undefined ? sql`` : sql`and e.credit_type = ${f.credit_type}`}
        ${f.sub_account === undefined ? sql``
          : sql`and coalesce(e.metadata ->> 'usage_account_id', e.account_id) = ${f.sub_account}`}
        ${after === undefined ? sql`` : sql`and (e.effective_at, e.operation_key collate "C") > (${after.at}::timestamptz, ${after.key})`}
      group by e.effective_at, e.operation_key, e.credit_type, 5
      order by e.effective_at, e.operation_key collate "C"
      ${page === undefined ? sql`` : sql`limit ${page.limit + 1}`}
    ) b
    left join usage_events u on u.id = b.usage_event_id::uuid
    order by b.occurred_at, b.operation_key collate "C"`;
}

export const listEventView = (r: ListEventDbRow): ListEvent => ({
  occurred_at: r.occurred_at.toISOString(),
  event_id: r.event_id,
  operation_key: r.operation_key,
  credit_type: r.credit_type,
  sub_account_id: r.sub_account_id,
  spent_credits: r.spent_credits,
  overage_credits: r.overage_credits,
  rate_card_version: r.rate_card_version,
  usage_event_id: r.usage_event_id,
  detail: r.rating === null ? null : { rating: r.rating, metadata: r.event_metadata ?? {} },
});

/** A page of a list's events, oldest first, and the cursor for the next one (null on the last). */
export async function listEventsPage(sql: Sql, scope: AccountScope, f: ListEventsFilter,
  page: { after?: EventsCursor; limit: number }): Promise<{ events: ListEvent[]; next_after: string | null }> {
  const rows = await listEventsQuery(sql, scope, f, page);
  const shown = rows.slice(0, page.limit);
  const last = shown[shown.length - 1];
  return {
    events: shown.map(listEventView),
    next_after: rows.length > page.limit && last ? encodeCursor({ at: last.cursor_at, key: last.operation_key }) : null,
  };
}
