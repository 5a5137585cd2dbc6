import ExcelJS from 'exceljs';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main';
import { useApi } from '../support/api';
import { grant, spend } from './harness';

const h = useApi();
const DAY = 86_400_000;
const NOW = Date.now();

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

beforeAll(async () => {
  expect((await cli('accounts create --id acme --name Acme --time-zone UTC --country US', h.keys.billing)).code).toBe(0);
  const sub = await cli('sub-accounts create --parent acme --id acme-shop --name Shop --shared-billing true', h.keys.billing);
  expect(sub.code, sub.err).toBe(0);
  await grant(h.db.sql, 'acme', 'sms', 5_000);
  // 100 a day for the last 10 days, half of it the shop's, on two lists.
  for (let d = 1; d <= 10; d++) {
    const at = new Date(NOW - d * DAY);
    await spend(h.db.sql, { account: 'acme', billing: 'acme', credit_type: 'sms', list: 'news', amount: 50, at,
      event_id: `a${d}` });
    await spend(h.db.sql, { account: 'acme-shop', billing: 'acme', credit_type: 'sms', list: 'promo', amount: 50, at,
      event_id: `s${d}` });
  }
});

describe('the CLI for reports, forecasts, sub-accounts and lists', () => {
  it('prints the spend report as a table, and its JSON with --json', async () => {
    const r = await cli('reports spend acme --granularity month --group-by sub_account', h.keys.support);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^spend of acme by month \(UTC\)/);
    expect(r.out).toMatch(/^period\s+credit_type\s+list\s+sub_account_id\s+spent_credits\s+events$/m);
    expect(r.out).toMatch(/^sms\s+1000\s+20$/m);
    const json = JSON.parse((await cli('reports spend acme --group-by list --json', h.keys.support)).out);
    expect(json.totals).toEqual([{ credit_type: 'sms', spent_credits: 1000, events: 20 }]);
  });

  it('drills into a list', async () => {
    const r = await cli('reports list-events acme --list promo --limit 3', h.keys.support);
    expect(r.code, r.err).toBe(0);
    expect(r.out.split('\n').filter((l) => /acme-shop\s+sms\s+50\s+0$/.test(l))).toHaveLength(3);
    expect(r.out).toMatch(/^more: --after \S+$/m);
  });

  it('exports to a file, as CSV or as a workbook', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cf-cli-'));
    const csv = await cli(`reports export acme --format csv --out ${join(dir, 'spend.csv')} --granularity week`, h.keys.support);
    expect(csv.code, csv.err).toBe(0);
    expect(csv.out).toMatch(/^wrote \d+ bytes to .*spend\.csv \(text\/csv; charset=utf-8\)$/);
    expect(readFileSync(join(dir, 'spend.csv'), 'utf8')).toMatch(/^period,period_start,credit_type,list,sub_account_id/);
    const xlsx = await cli(`reports export acme --report list-events --list news --format xlsx --out ${join(dir, 'news.xlsx')}`,
      h.keys.support);
    expect(xlsx.code, xlsx.err).toBe(0);
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.readFile(join(dir, 'news.xlsx'));
    expect(wb.getWorksheet('Events')!.actualRowCount).toBe(11);
    expect(wb.getWorksheet('Totals')!.getRow(2).values).toEqual([undefined, 'sms', 500, 10]);
    expect((await cli('reports export acme --report usage --format csv --out x', h.keys.support)).code).toBe(2);
  });

  it('prints a forecast', async () => {
    const r = await cli(`forecast acme-shop --as-of ${new Date(NOW).toISOString()}`, h.keys.support);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^forecast of acme-shop \(credits of acme\) as of /);
    // 4,000 left at 100 a day: forty days from now.
    const outOn = new Date(NOW + 40 * DAY).toISOString().slice(0, 10);
    expect(r.out).toMatch(new RegExp(`^sms\\s+4000\\s+100\\.00\\s+33\\.33\\s+${outOn}\\s`, 'm'));
  });

  it('lists sub-accounts and packages, moves billing, sets and lifts a list limit', async () => {
    expect((await cli('sub-accounts list acme', h.keys.support)).out).toMatch(/^acme-shop\s+Shop\s+true\s+acme\s+UTC$/m);
    expect((await cli('packages acme-shop', h.keys.support)).out).toMatch(/^bundle\s+sms\s+5000\s+1000\s+0\s+4000\s+-/m);
    const moved = await cli('shared-billing acme-shop --disable --reason "own invoices"', h.keys.billing);
    expect(moved.code, moved.err).toBe(0);
    expect(JSON.parse(moved.out)).toMatchObject({ shared_billing: false, billing_account_id: 'acme-shop' });
    expect((await cli('shared-billing acme-shop --enable --disable --reason x', h.keys.billing)).code).toBe(2);
    const set = await cli('lists limit acme --list news --credit-type sms --period total --amount 300', h.keys.ops);
    expect(set.code, set.err).toBe(0);
    expect((await cli('lists show acme', h.keys.support)).out).toMatch(/^news\s+sms\s+total\s+300\s+0\s+0\s+300$/m);
    expect((await cli('lists unlimit acme --list news --credit-type sms', h.keys.ops)).code).toBe(0);
    const gone = await cli('lists unlimit acme --list news --credit-type sms', h.keys.ops);
    expect(gone.code).toBe(1);
    expect(gone.err).toMatch(/\[not_found\]/);
  });
});
