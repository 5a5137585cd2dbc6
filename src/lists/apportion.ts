/**
 * Largest-remainder apportionment, exactly as cf_apportion (005_agencies_lists.sql) does it, which is the rule the
 * ledger applies; this copy is the reference the tests hold the SQL to, and what callers use to preview a split.
 *
 * total is split in proportion to weights: each part gets floor(total × weight / Σweights); the credits left over
 * (fewer than the number of parts) go one each to the largest remainders, ties to the larger weight, then to the
 * earlier position. The parts always add up to total exactly: nothing is created or lost.
 */
export function apportion(total: number, weights: readonly number[]): number[] {
  if (!Number.isSafeInteger(total) || total < 0 || weights.some((w) => !Number.isSafeInteger(w) || w < 0)) {
    throw new RangeError('apportion takes a whole total and whole weights, none negative');
  }
  const sum = weights.reduce((a, w) => a + BigInt(w), 0n);
  if (sum === 0n || total === 0) return weights.map(() => 0);
  if (BigInt(total) > sum) throw new RangeError(`cannot take ${total} from weights summing to ${sum}`);
  const t = BigInt(total);
  const shares = weights.map((w) => (t * BigInt(w)) / sum);
  let left = Number(t - shares.reduce((a, s) => a + s, 0n));
  const order = weights.map((w, i) => ({ i, w: BigInt(w), r: (t * BigInt(w)) % sum }))
    .sort((a, b) => (a.r !== b.r ? (a.r > b.r ? -1 : 1) : a.w !== b.w ? (a.w > b.w ? -1 : 1) : a.i - b.i));
  for (const { i } of order) {
    if (left === 0) break;
    shares[i]! += 1n;
    left--;
  }
  return shares.map(Number);
}

export interface ExpiryAllocation {
  from_unassigned_credits: number;
  /** In the order the assignments were given. */
  from_lists: { list: string; taken_credits: number }[];
}

/**
 * Where `expired_credits` come from when a package expires: credits not assigned to any list first (the pool less
 * what the lists have assigned), then the lists' assignments in proportion to what each has (apportion).
 */
export function allocateExpiry(input: { expired_credits: number; pool_credits: number;
  assigned: readonly { list: string; assigned_credits: number }[] }): ExpiryAllocation {
  const assigned = input.assigned.reduce((a, l) => a + l.assigned_credits, 0);
  const unassigned = Math.max(input.pool_credits - assigned, 0);
  const fromUnassigned = Math.min(input.expired_credits, unassigned);
  const rest = Math.min(input.expired_credits - fromUnassigned, assigned);
  const shares = apportion(rest, input.assigned.map((l) => l.assigned_credits));
  return {
    from_unassigned_credits: fromUnassigned,
    from_lists: input.assigned.map((l, i) => ({ list: l.list, taken_credits: shares[i]! })),
  };
}
