import type { Request, Response } from 'express';
import { accountScope, type AccountScope } from '../../accounts/scope';
import type { Sql } from '../../db/client';
import { createTableWriter, CONTENT_TYPES, ExportAbortedError, type Cell } from '../../reports/export';
import { decodeCursor, listEventsPage, listEventsQuery, listEventView, type ListEventsFilter } from '../../reports/list-events';
import {
  ListEventsExportQuery, ListEventsPage, ListEventsQuery, MAX_REPORT_SPAN_DAYS, MAX_SPEND_ROWS, SpendExportQuery,
  SpendQuery, SpendReport, type ExportFormat, type SpendTotal,
} from '../../reports/schema';
import {
  addToTotals, parseGroupBy, resolveRange, sortedTotals, spendReport, spendRowsQuery, spendRowView, type SpendFilter,
} from '../../reports/spend';
import { authenticate, authorize, READERS } from '../auth';
import { ApiError, issuesOf, Problem, statusOf, titleOf, validationFailed, type ErrorCode, type ProblemIssue } from '../errors';
import type { Api, RouteModule } from '../route';
import { AccountIdParams } from '../schemas';
import { z } from '../zod';

const SpendQuerySchema = SpendQuery.meta({ id: 'SpendReportQuery' });
const SpendReportSchema = SpendReport.meta({ id: 'SpendReport' });
const ListEventsQuerySchema = ListEventsQuery.meta({ id: 'ListEventsQuery' });
const ListEventsPageSchema = ListEventsPage.meta({ id: 'ListEventsPage' });

/** Rows fetched from the database per round trip while an export streams. */
const EXPORT_BATCH_ROWS = 500;

/** The account (404 if none) and the sub-account filter checked against it. */
async function scopeOf(sql: Sql, accountId: string, subAccount: string | undefined): Promise<AccountScope> {
  const scope = await accountScope(sql, accountId);
  if (!scope) throw new ApiError('not_found', `no account ${accountId}`);
  if (subAccount !== undefined && !scope.usage_account_ids.includes(subAccount)) {
    throw new ApiError('not_found', `${subAccount} is neither ${accountId} nor one of its sub-accounts`);
  }
  return scope;
}

/** from/to with their defaults, checked once resolved (a `from` alone may be later than now). */
function rangeOf(q: { from?: string; to?: string }): { from: Date; to: Date } {
  const r = resolveRange(q, new Date());
  const issue = (message: string): ProblemIssue => ({ in: 'query', path: ['from'], message, code: 'custom' });
  if (r.from >= r.to) throw validationFailed([issue('must be earlier than to (default: now)')]);
  if (r.to.getTime() - r.from.getTime() > MAX_REPORT_SPAN_DAYS * 86_400_000) {
    throw validationFailed([issue(`a report spans at most ${MAX_REPORT_SPAN_DAYS} days`)]);
  }
  return r;
}

function spendFilter(q: SpendQuery): SpendFilter {
  return { ...rangeOf(q), granularity: q.granularity, group_by: parseGroupBy(q.group_by), credit_type: q.credit_type,
    list: q.list, sub_account: q.sub_account };
}

function eventsFilter(q: { list: string; from?: string; to?: string; credit_type?: string; sub_account?: string }):
  ListEventsFilter {
  return { ...rangeOf(q), list: q.list, credit_type: q.credit_type, sub_account: q.sub_account };
}

const SPEND_COLUMNS = ['period', 'period_start', 'credit_type', 'list', 'sub_account_id', 'spent_credits', 'events'];
const EVENT_COLUMNS = ['occurred_at', 'event_id', 'credit_type', 'sub_account_id', 'spent_credits', 'overage_credits',
  'rate_card_version', 'usage_event_id', 'operation_key', 'rating', 'metadata'];
const TOTAL_COLUMNS = ['credit_type', 'spent_credits', 'events'];
const totalCells = (t: SpendTotal): Cell[] => [t.credit_type, t.spent_credits, t.events];

interface ExportSpec<Q extends z.ZodType> {
  path: `/${string}`;
  summary: string;
  description: string;
  query: Q;
  /** The file name without extension. */
  fileName: (accountId: string, q: z.output<Q>) => string;
  /** The report's rows as batches of cells off a cursor, its sheet and columns, and its totals once all are read. */
  rows: (sql: Sql, scope: AccountScope, q: z.output<Q>) => { batches: AsyncIterable<Cell[][]>; sheet: string; columns: string[];
    totals: () => SpendTotal[] };
}

/**
 * A download streamed from a database cursor. `route()` answers JSON only, so exports are mounted on the router
 * directly, and do what `route()` does in the same order: authenticate, authorize, validate every part of the
 * request (all issues at once), check the account — all before the first byte is sent. Registered in the OpenAPI
 * document by hand, from the same schemas.
 */
function exportRoute<Q extends z.ZodType<{ format: ExportFormat; sub_account?: string }>>(api: Api, spec: ExportSpec<Q>) {
  const { sql } = api.deps;
  const problems: ErrorCode[] = ['validation_failed', 'unauthenticated', 'forbidden', 'not_found', 'internal'];
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of problems) byStatus.set(statusOf(code), [...(byStatus.get(statusOf(code)) ?? []), code]);
  api.registry.registerPath({
    method: 'get',
    path: spec.path,
    tags: ['reports'],
    summary: spec.summary,
    description: `${spec.description}\n\nRoles: ${['admin', ...READERS].join(', ')}.`,
    security: [{ apiKey: [] }],
    'x-creditflow-roles': ['admin', ...READERS],
    request: { params: AccountIdParams, query: spec.query as unknown as z.ZodObject },
    responses: {
      ...Object.fromEntries([...byStatus].map(([status, codes]) => [status, {
        description: codes.map((c) => `\`${c}\`: ${titleOf(c)}`).join('; '),
        content: { 'application/problem+json': { schema: Problem } },
      }])),
      200: {
        description: 'the report as a file (Content-Disposition: attachment)',
        content: {
          [CONTENT_TYPES.csv]: { schema: z.string().describe('RFC 4180 CSV with a header row') },
          [CONTENT_TYPES.xlsx]: { schema: z.string().openapi({ format: 'binary' }).describe('an Excel workbook') },
        },
      },
    },
  });

  api.router.get(spec.path.replace(/\{(\w+)\}/g, ':$1'), async (req: Request, res: Response) => {
    authorize(await authenticate(sql, req.get('authorization')), READERS);
    const issues: ProblemIssue[] = [];
    const params = AccountIdParams.safeParse(req.params);
    if (!params.success) issues.push(...issuesOf(params.error, 'params'));
    const query = spec.query.safeParse(req.query);
    if (!query.success) issues.push(...issuesOf(query.error, 'query'));
    if (!params.success || !query.success) throw validationFailed(issues);
    const q = query.data;
    const scope = await scopeOf(sql, params.data.id, q.sub_account);
    const source = spec.rows(sql, scope, q);
    const batches = source.batches[Symbol.asyncIterator]();
    try {
      // The first batch is read before anything is sent, so a query that fails is still answered as a problem.
      let next = await batches.next();
      res.attachment(`${spec.fileName(params.data.id, q)}.${q.format}`);
      res.status(200).type(CONTENT_TYPES[q.format]).setHeader('Cache-Control', 'no-store');
      const writer = createTableWriter(q.format, res);
      writer.startSheet(source.sheet, source.columns);
      for (; !next.done; next = await batches.next()) await writer.addRows(next.value);
      writer.startSheet('Totals', TOTAL_COLUMNS);
      await writer.addRows(source.totals().map(totalCells));
      await writer.end();
    } catch (err) {
      if (!res.headersSent) throw err;
      // Too late for a problem: the client sees a cut-off download. A client that left is no error of ours.
      res.destroy();
      if (!(err instanceof ExportAbortedError)) throw err;
    } finally {
      await batches.return?.();
    }
  });
}

/** Cursor batches mapped to cells, keeping per-credit-type totals as they pass. */
async function* cellsOf<R>(cursor: AsyncIterable<R[]>, cells: (r: R) => Cell[], onRow: (r: R) => void): AsyncGenerator<Cell[][]> {
  for await (const batch of cursor) {
    for (const r of batch) onRow(r);
    yield batch.map(cells);
  }
}

const json = (v: unknown): Cell => (v === null || v === undefined ? null : JSON.stringify(v));

export const reportRoutes: RouteModule = (api) => {
  const { route, deps: { sql } } = api;

  route({
    method: 'get',
    path: '/v1/accounts/{id}/reports/spend',
    tag: 'reports',
    summary: 'Credits spent over time, by list, sub-account and credit type',
    description: 'Usage debits and overage from the ledger, bucketed by day, ISO week or month in the account\'s time '
      + 'zone. An agency\'s report includes its sub-accounts\' usage (whichever balance it was drawn from); a '
      + `sub-account's, its own. At most ${MAX_SPEND_ROWS} rows: a larger report is a 422 \`report_too_large\` `
      + '(use the export, which streams).',
    roles: READERS,
    request: { params: AccountIdParams, query: SpendQuerySchema },
    responses: { 200: { description: 'the report', schema: SpendReportSchema } },
    problems: ['not_found', 'report_too_large'],
    async handler({ params, query }) {
      const scope = await scopeOf(sql, params.id, query.sub_account);
      const f = spendFilter(query);
      const r = await spendReport(sql, scope, f, MAX_SPEND_ROWS);
      if (r.status === 'too_large') {
        throw new ApiError('report_too_large', `the report has more than ${r.max_rows} rows: narrow it, use a coarser `
          + 'granularity, or export it', { max_rows: r.max_rows });
      }
      return {
        status: 200,
        body: { account_id: scope.account_id, time_zone: scope.time_zone, from: f.from.toISOString(),
          to: f.to.toISOString(), granularity: f.granularity, group_by: f.group_by, rows: r.rows, totals: r.totals },
      };
    },
  });

  route({
    method: 'get',
    path: '/v1/accounts/{id}/reports/list-events',
    tag: 'reports',
    summary: 'One list\'s usage, event by event, with what each cost',
    description: 'Each debit of the list in the range (oldest first, a page at a time) with its credits and, while '
      + 'usage detail is kept (35 days), the rating breakdown and metadata of its usage event.',
    roles: READERS,
    request: { params: AccountIdParams, query: ListEventsQuerySchema },
    responses: { 200: { description: 'a page of events', schema: ListEventsPageSchema } },
    problems: ['not_found'],
    async handler({ params, query }) {
      const after = query.after === undefined ? undefined : decodeCursor(query.after);
      if (after === null) {
        throw validationFailed([{ in: 'query', path: ['after'], message: 'not a cursor this API gave', code: 'custom' }]);
      }
      const scope = await scopeOf(sql, params.id, query.sub_account);
      const f = eventsFilter(query);
      const page = await listEventsPage(sql, scope, f, { after, limit: query.limit });
      return { status: 200, body: { account_id: scope.account_id, list: f.list, from: f.from.toISOString(),
        to: f.to.toISOString(), ...page } };
    },
  });

  exportRoute(api, {
    path: '/v1/accounts/{id}/reports/spend/export',
    summary: 'The spend report as a CSV or Excel file',
    description: 'The same rows as `GET …/reports/spend` (any number of them, streamed), plus in the workbook a '
      + '`Totals` sheet by credit type.',
    query: SpendExportQuery.meta({ id: 'SpendExportQuery' }),
    fileName: (id, q) => `spend-${id}-${q.granularity}`,
    rows(db, scope, q) {
      const f = spendFilter(q);
      const totals = new Map<string, SpendTotal>();
      return {
        sheet: 'Spend',
        columns: SPEND_COLUMNS,
        totals: () => sortedTotals(totals),
        batches: cellsOf(spendRowsQuery(db, scope, f).cursor(EXPORT_BATCH_ROWS), (r) => {
          const v = spendRowView(r);
          return [v.period, v.period_start, v.credit_type, v.list, v.sub_account_id, v.spent_credits, v.events];
        }, (r) => addToTotals(totals, r)),
      };
    },
  });

  exportRoute(api, {
    path: '/v1/accounts/{id}/reports/list-events/export',
    summary: 'One list\'s events as a CSV or Excel file',
    description: 'Every event of `GET …/reports/list-events` in the range (streamed), plus in the workbook a `Totals` '
      + 'sheet by credit type. `rating` and `metadata` are JSON text.',
    query: ListEventsExportQuery.meta({ id: 'ListEventsExportQuery' }),
    fileName: (id) => `list-events-${id}`,
    rows(db, scope, q) {
      const totals = new Map<string, SpendTotal>();
      return {
        sheet: 'Events',
        columns: EVENT_COLUMNS,
        totals: () => sortedTotals(totals),
        batches: cellsOf(listEventsQuery(db, scope, eventsFilter(q)).cursor(EXPORT_BATCH_ROWS), (r) => {
          const v = listEventView(r);
          return [v.occurred_at, v.event_id, v.credit_type, v.sub_account_id, v.spent_credits, v.overage_credits,
            v.rate_card_version, v.usage_event_id, v.operation_key, json(v.detail?.rating), json(v.detail?.metadata)];
        }, (r) => addToTotals(totals, { ...r, events: 1 })),
      };
    },
  });
};
