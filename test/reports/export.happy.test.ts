import ExcelJS from 'exceljs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useApi } from '../support/api';
import { csvObjects } from './csv';
import { createParent, createSub, grant, ledgerSpent, spend, type Spend } from './harness';

const h = useApi();
const FROM = '2026-02-01T00:00:00.000Z';
const TO = '2026-03-01T00:00:00.000Z';
const spends: Spend[] = [];
const NASTY_LIST = '=HYPERLINK("http://x","click"), "quoted"';

async function download(path: string, key = h.keys.support) {
  const res = await fetch(`${h.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

async function workbook(bytes: Buffer): Promise<ExcelJS.Workbook> {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(bytes as unknown as ArrayBuffer);
  return wb;
}

/** A worksheet's rows as objects keyed by its header row. */
function sheetObjects(ws: ExcelJS.Worksheet): Record<string, unknown>[] {
  const rows: unknown[][] = [];
  ws.eachRow({ includeEmpty: false }, (row) => { rows.push((row.values as unknown[]).slice(1)); });
  const [header, ...data] = rows;
  return data.map((r) => Object.fromEntries((header as string[]).map((k, i) => [k, r[i] ?? null])));
}

beforeAll(async () => {
  const { sql } = h.db;
  await createParent(sql, 'exp', 'Europe/Rome');
  await createSub(sql, 'exp', 'exp-sub', true);
  await grant(sql, 'exp', 'sms', 100_000);
  await grant(sql, 'exp', 'voice_local_min', 100_000);
  const lists = ['news', 'promo', NASTY_LIST, null];
  for (let i = 0; i < 60; i++) {
    spends.push({ account: i % 4 === 0 ? 'exp-sub' : 'exp', billing: 'exp', credit_type: i % 5 === 0 ? 'voice_local_min' : 'sms',
      list: lists[i % 4]!, amount: 1 + ((i * 7) % 13), at: new Date(Date.parse(FROM) + i * 11 * 3_600_000 + 123),
      event_id: `x${i}` });
  }
  for (const s of spends) await spend(sql, s);
});

describe('spend export', () => {
  const query = `from=${FROM}&to=${TO}&granularity=week`;

  it('CSV: the same rows as the JSON report, as an attachment', async () => {
    const json = await h.call('GET', `/v1/accounts/exp/reports/spend?${query}`, { key: h.keys.support });
    const file = await download(`/v1/accounts/exp/reports/spend/export?${query}&format=csv`);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(file.headers.get('content-disposition')).toBe('attachment; filename=spend-exp-week.csv');
    const rows = csvObjects(file.bytes.toString('utf8'));
    expect(rows).toEqual(json.body.rows.map((r: Record<string, unknown>) => Object.fromEntries(Object.entries(r).map(
      ([k, v]) => [k, v === null ? '' : k === 'list' && v === NASTY_LIST ? `'${NASTY_LIST}` : String(v)]))));
  });

  it('xlsx: a real workbook whose Spend sheet and Totals match the report and the ledger', async () => {
    const json = await h.call('GET', `/v1/accounts/exp/reports/spend?${query}`, { key: h.keys.support });
    const file = await download(`/v1/accounts/exp/reports/spend/export?${query}&format=xlsx`);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
    const wb = await workbook(file.bytes);
    expect(wb.worksheets.map((w) => w.name)).toEqual(['Spend', 'Totals']);
    // A formula-looking list name is text in a workbook, never a formula.
    expect(sheetObjects(wb.getWorksheet('Spend')!)).toEqual(json.body.rows);
    const totals = sheetObjects(wb.getWorksheet('Totals')!);
    expect(totals).toEqual(json.body.totals);
    const ledger = await ledgerSpent(h.db.sql, ['exp', 'exp-sub'], new Date(FROM), new Date(TO));
    expect(Object.fromEntries(totals.map((t) => [t.credit_type, t.spent_credits]))).toEqual(ledger);
    expect(totals.reduce((a, t) => a + (t.events as number), 0)).toBe(spends.length);
  });
});

describe('list events export', () => {
  it.each(['csv', 'xlsx'] as const)('%s: every event of the list with its cost, adding up to the ledger', async (format) => {
    const file = await download(`/v1/accounts/exp/reports/list-events/export?list=news&from=${FROM}&to=${TO}&format=${format}`);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-disposition')).toBe(`attachment; filename=list-events-exp.${format}`);
    const events = format === 'csv' ? csvObjects(file.bytes.toString('utf8'))
      : sheetObjects((await workbook(file.bytes)).getWorksheet('Events')!);
    const news = spends.filter((s) => s.list === 'news');
    expect(events.map((e) => [e.event_id, Number(e.spent_credits), e.sub_account_id, e.occurred_at]))
      .toEqual(news.map((s) => [s.event_id, s.amount, s.account, s.at.toISOString()]));
    const [ledger] = await h.db.sql<{ spent: number }[]>`
      select (-sum(amount_credits))::bigint as spent from ledger_entries
      where account_id = 'exp' and kind in ('debit', 'overage') and metadata ->> 'list' = 'news'`;
    expect(events.reduce((a, e) => a + Number(e.spent_credits), 0)).toBe(ledger!.spent);
  });

  it('an export of a list with no usage is a header row (and empty totals)', async () => {
    const file = await download(`/v1/accounts/exp/reports/list-events/export?list=none&format=csv`);
    expect(file.bytes.toString('utf8')).toBe('occurred_at,event_id,credit_type,sub_account_id,spent_credits,'
      + 'overage_credits,rate_card_version,usage_event_id,operation_key,rating,metadata\r\n');
  });
});
