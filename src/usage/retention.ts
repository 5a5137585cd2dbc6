import type { Sql } from '../db/client';

/** Usage detail is kept at least this long: longer than the widest grace window, so no accepted event is forgotten. */
export const USAGE_RETENTION_DAYS = 35;

/**
 * Deletes usage_events received before `before`, which must be at least 35 days ago (the database refuses a nearer
 * cut-off). Replays of purged events are still answered as duplicates, from the ledger's operations.
 */
export async function purgeUsage(sql: Sql, before: Date): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select cf_purge_usage(${before}) as n`;
  return row!.n;
}
