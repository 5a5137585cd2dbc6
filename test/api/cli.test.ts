import { describe, expect, it } from 'vitest';
import { formatTable, run } from '../../src/cli/main';
import { useApi } from '../support/api';

// The CLI against the real HTTP server, Temporal dev server and worker.
const h = useApi({ temporal: 'worker' });

async function cli(args: string, key = h.keys.admin) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(args.match(/"[^"]*"|\S+/g)!.map((a) => a.replace(/^"|"$/g, '')), {
    env: { CREDITFLOW_URL: h.url, CREDITFLOW_API_KEY: key },
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('creditflow CLI', () => {
  it('creates an account, starts a subscription, shows it, tops up and prints the balance', async () => {
    const created = await cli('accounts create --id cli-1 --name "CLI Co" --time-zone Europe/London --country GB');
    expect(created.code).toBe(0);
    expect(JSON.parse(created.out)).toMatchObject({ id: 'cli-1', name: 'CLI Co', country: 'GB' });

    const started = await cli('subscriptions start --id cli-sub-1 --account cli-1 --plan sms-200', h.keys.billing);
    expect(started.code, started.err).toBe(0);
    expect(JSON.parse(started.out)).toMatchObject({ status: 'active', plan_id: 'sms-200' });

    const topUp = await cli('top-up --account cli-1 --credit-type sms --amount 25 --reason "goodwill" --idempotency-key t-1', h.keys.ops);
    expect(topUp.code, topUp.err).toBe(0);
    expect(JSON.parse(topUp.out)).toMatchObject({ duplicate: false, grant: { amount_credits: 25 } });

    const balance = await cli('balance cli-1', h.keys.support);
    expect(balance.code).toBe(0);
    expect(balance.out.split('\n')).toEqual([
      expect.stringMatching(/^credit_type\s+available_credits\s+ledger_balance_credits\s+held_credits\s+overage_credits$/),
      expect.stringMatching(/^sms\s+225\s+225\s+0\s+0$/),
    ]);

    const shown = await cli('subscriptions show cli-sub-1', h.keys.support);
    expect(shown.code).toBe(0);
    expect(shown.out).toMatch(/status\s+active/);
    expect(shown.out).toMatch(/^sms\s+225/m);
    expect(JSON.parse((await cli('subscriptions show cli-sub-1 --json')).out).subscription.subscription_id).toBe('cli-sub-1');
  });

  it('stops and resumes renewal, buys a bundle and cancels, printing the generated Idempotency-Key', async () => {
    await cli('accounts create --id cli-2 --name two --time-zone UTC --country US');
    await cli('subscriptions start --id cli-sub-2 --account cli-2 --plan sms-200');
    const stopped = await cli('subscriptions stop-renewal cli-sub-2', h.keys.ops);
    expect(stopped.code).toBe(0);
    expect(stopped.err).toMatch(/^idempotency-key: [0-9a-f-]{36}/);
    expect(JSON.parse(stopped.out).status).toBe('renewal_stopped');
    expect(JSON.parse((await cli('subscriptions resume-renewal cli-sub-2', h.keys.ops)).out).status).toBe('active');
    const bought = await cli('bundles buy --subscription cli-sub-2 --bundle sms-payg-500 --idempotency-key b-1', h.keys.billing);
    expect(bought.code, bought.err).toBe(0);
    expect(JSON.parse(bought.out).grant.amount_credits).toBe(500);
    const cancelled = await cli('subscriptions cancel cli-sub-2 --reason "moving on"', h.keys.ops);
    expect(JSON.parse(cancelled.out).status).toBe('cancelled');
  });

  it('exits 1 on a problem, printing its title, code and detail', async () => {
    const r = await cli('top-up --account nobody --credit-type sms --amount 5 --reason x', h.keys.ops);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/error: No such resource \[not_found\]\n {2}no account nobody/);
    const denied = await cli('accounts create --id x --name x --time-zone UTC --country US', h.keys.support);
    expect(denied.code).toBe(1);
    expect(denied.err).toMatch(/\[forbidden\]/);
    const invalid = await cli('accounts create --id cli-3 --name x --time-zone Mars/Base --country US');
    expect(invalid.code).toBe(1);
    expect(invalid.err).toMatch(/\[validation_failed\][\s\S]*- body\.time_zone: /);
  });

  it('exits 2 on a usage mistake without calling the server', async () => {
    expect((await cli('top-up --account a --credit-type sms --amount ten --reason x')).code).toBe(2);
    expect((await cli('accounts create --id only')).err).toMatch(/missing --name, --time-zone, --country/);
    expect((await cli('balance')).code).toBe(2);
    expect((await cli('balance a --bogus')).code).toBe(2);
    expect((await cli('nonsense')).code).toBe(2);
    expect((await cli('--help')).code).toBe(0);
  });

  it('exits 1 when the server cannot be reached', async () => {
    const err: string[] = [];
    const code = await run(['balance', 'a'], { env: { CREDITFLOW_URL: 'http://127.0.0.1:1' }, stdout: () => {}, stderr: (t) => err.push(t) });
    expect(code).toBe(1);
    expect(err.join()).toMatch(/cannot reach http:\/\/127\.0\.0\.1:1/);
  });

  it('formats tables with right-aligned numbers', () => {
    expect(formatTable([{ a: 'x', n: 5 }, { a: 'long', n: 123 }], ['a', 'n'])).toBe('a       n\nx       5\nlong  123');
  });
});
