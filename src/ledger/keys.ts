/** '%' first, so an encoded ':' is never encoded again. */
const encodePart = (part: string): string => part.replaceAll('%', '%25').replaceAll(':', '%3A');

/**
 * A ledger idempotency key: its parts joined by ':', every part but the last with '%' and ':' percent-encoded, so
 * no two part lists share a key ('a:b' + 'c' and 'a' + 'b:c' would both read `x:a:b:c`). The last part needs no
 * encoding: everything after the last separator is it. The rule of `cf_usage_key` (003_usage.sql), so
 * `ledgerKey('usage', account, event_id)` is an event's key, and of hold keys (`hold:<account>:<request id>`).
 * Keys of ordinary ids (no ':' or '%' before the last part) read as they always did.
 */
export function ledgerKey(...parts: [string, string, ...string[]]): string {
  return parts.map((p, i) => (i === parts.length - 1 ? p : encodePart(p))).join(':');
}
