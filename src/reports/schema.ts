import { z } from 'zod';

/** Requests and answers of the reports. Plain zod (the API names them with .meta() when it registers them). */

export const MAX_REPORT_SPAN_DAYS = 1100;
/** A JSON spend report answers at most this many rows; larger ones are for the export, which streams. */
export const MAX_SPEND_ROWS = 10_000;
export const MAX_EVENTS_PAGE = 500;

const Instant = z.iso.datetime({ offset: true });
const Name = z.string().min(1).max(200);

export const GRANULARITIES = ['day', 'week', 'month'] as const;
export type Granularity = (typeof GRANULARITIES)[number];
export const DIMENSIONS = ['list', 'sub_account'] as const;
export type Dimension = (typeof DIMENSIONS)[number];

export const EXPORT_FORMATS = ['csv', 'xlsx'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

const range = {
  from: Instant.optional().describe('start of the report, inclusive (default: 30 days before `to`)'),
  to: Instant.optional().describe('end of the report, exclusive (default: now)'),
};
const filters = {
  credit_type: z.string().min(1).max(64).optional(),
  sub_account: z.string().min(1).max(128).optional()
    .describe('only this account\'s usage: the account itself or one of its sub-accounts'),
};

/** Checks what one schema cannot see field by field: the range is forward and not too long. */
function checkRange(q: { from?: string; to?: string }, ctx: z.RefinementCtx) {
  if (q.from === undefined || q.to === undefined) return;
  const span_ms = Date.parse(q.to) - Date.parse(q.from);
  if (span_ms <= 0) ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be later than from' });
  if (span_ms > MAX_REPORT_SPAN_DAYS * 86_400_000) {
    ctx.addIssue({ code: 'custom', path: ['to'], message: `a report spans at most ${MAX_REPORT_SPAN_DAYS} days` });
  }
}

const spendShape = {
  ...range,
  granularity: z.enum(GRANULARITIES).default('day').describe('buckets, in the account\'s time zone (weeks start Monday)'),
  group_by: z.string().regex(/^((list|sub_account)(,(list|sub_account))*)?$/, 'a comma-separated subset of list, sub_account')
    .default('list,sub_account')
    .describe('dimensions besides credit type (always one): list, sub_account, both, or empty for neither'),
  ...filters,
  list: Name.optional().describe('only this list'),
};

export const SpendQuery = z.object(spendShape).superRefine(checkRange);
export type SpendQuery = z.output<typeof SpendQuery>;

export const SpendExportQuery = z.object({ ...spendShape, format: z.enum(EXPORT_FORMATS) }).superRefine(checkRange);
export type SpendExportQuery = z.output<typeof SpendExportQuery>;

export const SpendRow = z.object({
  period: z.string().describe('the bucket\'s first day, YYYY-MM-DD in the account\'s time zone'),
  period_start: Instant,
  credit_type: z.string(),
  list: z.string().nullable().describe('null: usage without a list (or not grouped by list)'),
  sub_account_id: z.string().nullable().describe('whose usage it was (or null when not grouped by sub_account)'),
  spent_credits: z.number().int(),
  events: z.number().int().describe('debits (usage events, committed holds) that spent them'),
});
export type SpendRow = z.infer<typeof SpendRow>;

export const SpendTotal = z.object({
  credit_type: z.string(),
  spent_credits: z.number().int(),
  events: z.number().int(),
});
export type SpendTotal = z.infer<typeof SpendTotal>;

export const SpendReport = z.object({
  account_id: z.string(),
  time_zone: z.string(),
  from: Instant,
  to: Instant,
  granularity: z.enum(GRANULARITIES),
  group_by: z.array(z.enum(DIMENSIONS)),
  rows: z.array(SpendRow).describe('by period, then credit type, list and sub-account'),
  totals: z.array(SpendTotal).describe('by credit type: the sum of the rows'),
});
export type SpendReport = z.infer<typeof SpendReport>;

const eventsShape = {
  list: Name.describe('the list to drill into'),
  ...range,
  ...filters,
};

export const ListEventsQuery = z.object({
  ...eventsShape,
  limit: z.coerce.number().int().min(1).max(MAX_EVENTS_PAGE).default(100),
  after: z.string().min(1).max(1000).optional().describe('`next_after` of the previous page'),
}).superRefine(checkRange);
export type ListEventsQuery = z.output<typeof ListEventsQuery>;

export const ListEventsExportQuery = z.object({ ...eventsShape, format: z.enum(EXPORT_FORMATS) }).superRefine(checkRange);
export type ListEventsExportQuery = z.output<typeof ListEventsExportQuery>;

export const ListEvent = z.object({
  occurred_at: Instant,
  event_id: z.string().nullable().describe('the client\'s event id (null for a debit that was not a usage event)'),
  operation_key: z.string(),
  credit_type: z.string(),
  sub_account_id: z.string(),
  spent_credits: z.number().int().describe('what the event cost, overage included'),
  overage_credits: z.number().int(),
  rate_card_version: z.string().nullable(),
  usage_event_id: z.string().nullable(),
  detail: z.object({
    rating: z.record(z.string(), z.unknown()),
    metadata: z.record(z.string(), z.unknown()),
  }).nullable().describe('the rating breakdown and the event\'s metadata; null once usage detail is purged (35 days)'),
});
export type ListEvent = z.infer<typeof ListEvent>;

export const ListEventsPage = z.object({
  account_id: z.string(),
  list: z.string(),
  from: Instant,
  to: Instant,
  events: z.array(ListEvent).describe('oldest first'),
  next_after: z.string().nullable().describe('pass as `after` for the next page; null on the last page'),
});
export type ListEventsPage = z.infer<typeof ListEventsPage>;
