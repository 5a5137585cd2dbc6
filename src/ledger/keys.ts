/**
 * An idempotency key from its parts, joined by ':', with '%' and ':' percent-encoded in every part, so no two lists
 * of parts share a key (account 'a:b' + key 'c' and account 'a' + key 'b:c' differ). '%' first, so an encoded ':'
 * is never encoded again.
 */
export function ledgerKey(...parts: string[]): string {
  return parts.map((p) => p.replace(/%/g, '%25').replace(/:/g, '%3A')).join(':');
}
