import type { RolloverPolicy } from '../catalog/schema';

/** Exact decimal string ("0.25") as a fraction of bigints, so no float ever touches a credit count. */
export function parseDecimal(value: string): { numerator: bigint; denominator: bigint } {
  const [whole, frac = ''] = value.split('.');
  const denominator = 10n ** BigInt(frac.length);
  return { numerator: BigInt(`${whole}${frac}`), denominator };
}

/** How many of `left_credits` carry into the next period under `policy`, for a plan granting `allotment_credits`. */
export function rolloverCredits(policy: RolloverPolicy, left_credits: number, allotment_credits: number): number {
  switch (policy.kind) {
    case 'none':
      return 0;
    case 'full':
      return left_credits;
    case 'capped':
      return Math.min(left_credits, policy.max_credits);
    case 'capped_fraction': {
      const { numerator, denominator } = parseDecimal(policy.fraction);
      const cap = Number((BigInt(allotment_credits) * numerator) / denominator);
      return Math.min(left_credits, cap);
    }
  }
}
