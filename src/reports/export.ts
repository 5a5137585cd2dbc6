import ExcelJS from 'exceljs';
import type { Writable } from 'node:stream';
import type { ExportFormat } from './schema';

/**
 * Writes a report as CSV (RFC 4180) or as an Excel workbook (.xlsx, exceljs's streaming WorkbookWriter), batch by
 * batch as the rows come off a database cursor. Memory stays bounded: each xlsx row is committed (flushed into the
 * zip) as it is added, no shared-strings table is kept, and after each batch the writer waits until what it has
 * written is (nearly) all taken by the destination before asking for more rows.
 */

export type Cell = string | number | null;

export const CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
};

export interface TableWriter {
  /** Starts a table. A CSV file holds one table: only the first is written. */
  startSheet(name: string, headers: string[]): void;
  addRows(rows: readonly Cell[][]): Promise<void>;
  /** Finishes the file (the xlsx zip is only valid once this resolves). */
  end(): Promise<void>;
}

/** Raised when the client went away: the export stops reading rows. */
export class ExportAbortedError extends Error {}

/** Bytes written but not yet taken by the destination beyond which a writer waits before adding more rows. */
export const PENDING_BYTES_MAX = 1024 * 1024;

function drainOrClose(out: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
  });
}

const nextTurn = () => new Promise<void>((resolve) => { setImmediate(resolve); });

/**
 * Resolves once `pending()` is under PENDING_BYTES_MAX, waiting for the destination to drain (or a turn of the event
 * loop, for buffers upstream of it to move on). Always yields at least once, so a fast producer never starves the
 * I/O that would drain it.
 */
async function paced(out: Writable, pending: () => number): Promise<void> {
  for (;;) {
    if (out.destroyed) throw new ExportAbortedError('the destination was closed');
    if (pending() <= PENDING_BYTES_MAX && !out.writableNeedDrain) return nextTurn();
    if (out.writableNeedDrain) {
      await drainOrClose(out);
    } else {
      await new Promise((resolve) => { setTimeout(resolve, 1); });
    }
  }
}

/**
 * One CSV field. Text that a spreadsheet would run as a formula (= + - @, tab, carriage return first) is prefixed
 * with a quote: list names and metadata are the customer's own text.
 */
export function csvField(value: Cell): string {
  if (value === null) return '';
  if (typeof value === 'number') return String(value);
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvWriter(out: Writable): TableWriter {
  let sheets = 0;
  const line = (cells: readonly Cell[]) => `${cells.map(csvField).join(',')}\r\n`;
  return {
    startSheet(_name, headers) {
      sheets++;
      if (sheets === 1) out.write(line(headers));
    },
    async addRows(rows) {
      if (sheets !== 1) return;
      out.write(rows.map(line).join(''));
      await paced(out, () => out.writableLength);
    },
    async end() {
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    },
  };
}

/**
 * What exceljs holds of a streamed worksheet: its StreamBuf (the sheet's XML, until the zip takes it) and the zip's
 * deflate stream it is piped into. exceljs writes into both without heeding backpressure, so the writer measures
 * them itself. These are exceljs 4 internals; test/reports/export.large.test.ts fails if they stop bounding memory.
 */
interface StreamState { length?: number }
interface SheetInternals {
  _stream?: {
    buffers?: { length: number }[];
    pipes?: { writableLength?: number; _writableState?: StreamState; _readableState?: StreamState }[];
  };
}

function sheetPendingBytes(sheet: ExcelJS.Worksheet | undefined): number {
  const stream = (sheet as SheetInternals | undefined)?._stream;
  let bytes = 0;
  for (const b of stream?.buffers ?? []) bytes += b.length;
  // readable-stream's streams (which the zip uses) keep their buffered byte counts in their states.
  for (const p of stream?.pipes ?? []) {
    bytes += (p.writableLength ?? p._writableState?.length ?? 0) + (p._readableState?.length ?? 0);
  }
  return bytes;
}

function xlsxWriter(out: Writable): TableWriter {
  const workbook = new ExcelJS.stream.xlsx.WorkbookWriter({ stream: out, useStyles: false, useSharedStrings: false });
  workbook.creator = 'creditflow';
  let sheet: ExcelJS.Worksheet | undefined;
  return {
    startSheet(name, headers) {
      sheet?.commit();
      sheet = workbook.addWorksheet(name);
      sheet.addRow(headers).commit();
    },
    async addRows(rows) {
      for (const r of rows) sheet!.addRow(r.map((c) => (c === null ? undefined : c))).commit();
      await paced(out, () => sheetPendingBytes(sheet) + out.writableLength);
    },
    async end() {
      sheet?.commit();
      await workbook.commit();
    },
  };
}

export function createTableWriter(format: ExportFormat, out: Writable): TableWriter {
  return format === 'csv' ? csvWriter(out) : xlsxWriter(out);
}
