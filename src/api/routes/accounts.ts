import type { Sql } from '../../db/client';
import { balances } from '../../ledger';
import { EVERY_ROLE } from '../auth';
import { ApiError } from '../errors';
import type { RouteModule } from '../route';
import { AccountIdParams, Balance, ClientId, Country, iso, Timestamp, TimeZone } from '../schemas';
import { z } from '../zod';

const AccountInput = z.strictObject({
  id: ClientId,
  name: z.string().trim().min(1).max(200),
  time_zone: TimeZone.describe('the calendar periods, renewals and expiries follow'),
  country: Country.describe('decides bundle eligibility'),
}).openapi('AccountInput');

const Account = z.object({
  id: z.string(),
  name: z.string(),
  time_zone: z.string(),
  country: z.string(),
  created_at: Timestamp,
}).openapi('Account');
type Account = z.infer<typeof Account>;

const SubscriptionSummary = z.object({
  id: z.string(),
  plan_id: z.string(),
  status: z.string(),
  created_at: Timestamp,
  updated_at: Timestamp,
}).openapi('SubscriptionSummary');

const AccountDetail = z.object({
  account: Account,
  balances: z.array(Balance),
  subscriptions: z.array(SubscriptionSummary).describe('as last recorded by each subscription workflow'),
}).openapi('AccountDetail');

interface AccountRow { id: string; name: string; time_zone: string; country: string; created_at: Date }
const accountView = (r: AccountRow): Account => ({
  id: r.id, name: r.name, time_zone: r.time_zone, country: r.country, created_at: iso(r.created_at),
});

export async function findAccount(sql: Sql, id: string): Promise<AccountRow | undefined> {
  const [row] = await sql<AccountRow[]>`select id, name, time_zone, country, created_at from accounts where id = ${id}`;
  return row;
}

export async function requireAccount(sql: Sql, id: string): Promise<AccountRow> {
  const row = await findAccount(sql, id);
  if (!row) throw new ApiError('not_found', `no account ${id}`);
  return row;
}

export const accountRoutes: RouteModule = ({ route, deps: { sql } }) => {
  route({
    method: 'post',
    path: '/v1/accounts',
    tag: 'accounts',
    summary: 'Create an account',
    description: 'Idempotent on the whole body: the same request again answers 200 with the account; the same id '
      + 'with other details is a 409 `account_conflict`.',
    roles: ['billing'],
    request: { body: AccountInput },
    responses: {
      201: { description: 'created', schema: Account },
      200: { description: 'already existed with exactly these details', schema: Account },
    },
    problems: ['account_conflict'],
    async handler({ body }) {
      const [created] = await sql<AccountRow[]>`
        insert into accounts (id, name, time_zone, country)
        values (${body.id}, ${body.name}, ${body.time_zone}, ${body.country})
        on conflict (id) do nothing
        returning id, name, time_zone, country, created_at`;
      if (created) return { status: 201, body: accountView(created) };
      const existing = await requireAccount(sql, body.id);
      if (existing.name === body.name && existing.time_zone === body.time_zone && existing.country === body.country) {
        return { status: 200, body: accountView(existing) };
      }
      throw new ApiError('account_conflict', `account ${body.id} exists with other details`, {
        account: accountView(existing),
      });
    },
  });

  route({
    method: 'get',
    path: '/v1/accounts/{id}',
    tag: 'accounts',
    summary: 'An account with its exact balances and its subscriptions',
    roles: EVERY_ROLE,
    request: { params: AccountIdParams },
    responses: { 200: { description: 'the account', schema: AccountDetail } },
    problems: ['not_found'],
    async handler({ params }) {
      const account = await requireAccount(sql, params.id);
      const [bals, subs] = await Promise.all([
        balances(sql, account.id, new Date()),
        sql<{ id: string; plan_id: string; status: string; created_at: Date; updated_at: Date }[]>`
          select id, plan_id, status, created_at, updated_at from subscriptions
          where account_id = ${account.id} order by created_at, id`,
      ]);
      return {
        status: 200,
        body: {
          account: accountView(account),
          balances: bals,
          subscriptions: subs.map((s) => ({ ...s, created_at: iso(s.created_at), updated_at: iso(s.updated_at) })),
        },
      };
    },
  });
};
