import postgres from 'postgres';

export type Sql = postgres.Sql<{ bigint: number }>;

/**
 * Opens a postgres.js pool. bigint columns (credits, minor units) arrive as JS numbers, checked to be safe
 * integers: a value past 2^53 is a bug we want loud, not a silently rounded balance.
 */
export function connect(databaseUrl: string, options: { max?: number } = {}): Sql {
  return postgres(databaseUrl, {
    max: options.max ?? 10,
    onnotice: () => {},
    // Instants cross the wire as UTC whatever the server's default zone.
    connection: { TimeZone: 'UTC' },
    types: {
      bigint: {
        to: 20,
        from: [20],
        serialize: (value: number) => String(value),
        parse: (value: string) => {
          const n = Number(value);
          if (!Number.isSafeInteger(n)) throw new RangeError(`bigint ${value} is beyond the safe integer range`);
          return n;
        },
      },
    },
  }) as unknown as Sql;
}
