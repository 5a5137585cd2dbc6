import ExcelJS from 'exceljs';
import { Writable } from 'node:stream';
import v8 from 'node:v8';
import vm from 'node:vm';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTableWriter, csvField } from '../../src/reports/export';
import { MAX_SPEND_ROWS } from '../../src/reports/schema';
import { expectProblem, useApi } from '../support/api';
import { parseCsv } from './csv';
import { createParent, grant } from './harness';

const h = useApi();
// One event in six on the list 'even', every other on a list of its own: one report row more than the limit.
const EVENTS = 12_000;
const FROM = '2026-01-01T00:00:00Z';
const TO = '2026-02-01T00:00:00Z';

beforeAll(async () => {
  const { sql } = h.db;
  await createParent(sql, 'big');
  await grant(sql, 'big', 'sms', 10 * EVENTS);
  // Batches of 500 debits per statement: each statement is its own transaction, so no row gathers a long chain.
  for (let start = 0; start < EVENTS; start += 500) {
    await sql`
      select cf_debit('usage:big:' || i, 'big', 'sms', (1 + i % 3)::bigint,
                      timestamptz '2026-01-02T00:00:00Z' + i * interval '1 minute', 'debit', null,
                      jsonb_build_object('event_id', 'b' || i, 'list', case when i % 6 = 0 then 'even' else 'l' || i end))
      from generate_series(${start}::int, ${Math.min(start + 500, EVENTS) - 1}::int) i`;
  }
}, 300_000);

const [spentTotal, evenCount, evenSpent] = (() => {
  let all = 0; let n = 0; let even = 0;
  for (let i = 0; i < EVENTS; i++) {
    all += 1 + (i % 3);
    if (i % 6 === 0) { n++; even += 1 + (i % 3); }
  }
  return [all, n, even];
})();

describe('large reports', () => {
  it(`a JSON report past ${MAX_SPEND_ROWS} rows is refused as report_too_large, pointing at the export`, async () => {
    const p = expectProblem(await h.call('GET', `/v1/accounts/big/reports/spend?from=${FROM}&to=${TO}&granularity=month`,
      { key: h.keys.support }), 422, 'report_too_large');
    expect(p.max_rows).toBe(MAX_SPEND_ROWS);
  });

  it('the same report exports whole as CSV, streamed in chunks, adding up to the ledger', async () => {
    const res = await fetch(`${h.url}/v1/accounts/big/reports/spend/export?from=${FROM}&to=${TO}&granularity=month&format=csv`,
      { headers: { authorization: `Bearer ${h.keys.support}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('transfer-encoding')).toBe('chunked');
    const [header, ...rows] = parseCsv(await res.text());
    expect(header).toEqual(['period', 'period_start', 'credit_type', 'list', 'sub_account_id', 'spent_credits', 'events']);
    expect(rows.length).toBe(MAX_SPEND_ROWS + 1);
    expect(rows.reduce((a, r) => a + Number(r[5]), 0)).toBe(spentTotal);
  });

  it('a list with thousands of events exports whole as xlsx; read back, it matches the ledger', async () => {
    const res = await fetch(`${h.url}/v1/accounts/big/reports/list-events/export?list=even&from=${FROM}&to=${TO}&format=xlsx`,
      { headers: { authorization: `Bearer ${h.keys.billing}` } });
    expect(res.status).toBe(200);
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(await res.arrayBuffer());
    const events = wb.getWorksheet('Events')!;
    expect(events.actualRowCount).toBe(evenCount + 1);
    let sum = 0;
    events.eachRow((row, n) => { if (n > 1) sum += row.getCell(5).value as number; });
    expect(sum).toBe(evenSpent);
    expect(wb.getWorksheet('Totals')!.getRow(2).values).toEqual([undefined, 'sms', evenSpent, evenCount]);
  });
});

describe('the table writer', () => {
  it('waits for a slow destination to drain: never more than one batch is pending', async () => {
    let maxPending = 0;
    const chunks: Buffer[] = [];
    const slow = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _enc, done) {
        chunks.push(chunk);
        setImmediate(done);
      },
    });
    const writer = createTableWriter('csv', slow);
    writer.startSheet('T', ['a', 'b']);
    const batch = Array.from({ length: 500 }, (_, i) => [`row ${i}`, i]);
    let batchBytes = 0;
    for (let b = 0; b < 200; b++) {
      await writer.addRows(batch);
      maxPending = Math.max(maxPending, slow.writableLength);
      batchBytes = Math.max(batchBytes, batch.map((r) => `${r[0]},${r[1]}\r\n`).join('').length);
    }
    await writer.end();
    expect(maxPending).toBeLessThanOrEqual(16 * 1024);
    expect(Buffer.concat(chunks).toString('utf8').split('\r\n').length).toBe(200 * 500 + 2);
    expect(batchBytes).toBeGreaterThan(0);
  });

  it('stops with ExportAbortedError when the destination is closed mid-way', async () => {
    const out = new Writable({ highWaterMark: 1024, write(_c, _e, done) { setTimeout(done, 5); } });
    const writer = createTableWriter('xlsx', out);
    writer.startSheet('T', ['a']);
    const rows = Array.from({ length: 2000 }, (_, i) => [`value ${i}`]);
    setTimeout(() => out.destroy(), 20);
    await expect((async () => { for (;;) await writer.addRows(rows); })()).rejects.toThrow('the destination was closed');
  });

  it.each([
    ['plain', 'plain'], ['a,b', '"a,b"'], ['say "hi"', '"say ""hi"""'], ['two\nlines', '"two\nlines"'],
    ['=1+1', "'=1+1"], ['+1', "'+1"], ['-1', "'-1"], ['@SUM(A1)', "'@SUM(A1)"], [' padded ', '" padded "'],
  ])('CSV field %j is written %j', (value, written) => {
    expect(csvField(value)).toBe(written);
  });

  it('numbers and nulls are written bare', () => {
    expect([csvField(-12), csvField(0), csvField(null)]).toEqual(['-12', '0', '']);
  });

  it('xlsx: memory stays flat however many rows go to a slow destination', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const used = () => { gc(); const m = process.memoryUsage(); return m.heapUsed + m.external + m.arrayBuffers; };
    let written = 0;
    const slow = new Writable({ highWaterMark: 64 * 1024, write(c: Buffer, _e, done) { written += c.length; setTimeout(done, 1); } });
    const writer = createTableWriter('xlsx', slow);
    writer.startSheet('T', ['at', 'list', 'credits', 'type']);
    // ~120 bytes of sheet XML a row: 240,000 rows would hold ~30 MB if nothing pushed back.
    const batch = Array.from({ length: 500 }, (_, i) => [`2026-01-01T00:00:00.${String(i).padStart(3, '0')}Z`,
      `a list name of some length ${i}`, i * 7, 'sms']);
    const samples: number[] = [];
    for (let n = 1; n <= 480; n++) {
      await writer.addRows(batch);
      if (n % 160 === 0) samples.push(used());
    }
    await writer.end();
    expect(written).toBeGreaterThan(1_000_000);
    expect(samples[2]! - samples[0]!, `memory samples ${samples.map((b) => Math.round(b / 1e6))} MB`).toBeLessThan(8e6);
  });
});
