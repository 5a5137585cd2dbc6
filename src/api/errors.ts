import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { ZodError } from 'zod';
import { IdempotencyConflictError } from '../ledger';
import type { Refusal } from '../workflows/messages';
import { z } from './zod';

/**
 * Every error the API answers is an RFC 9457 problem (application/problem+json) with a stable snake_case `code`
 * from the closed table below. Clients branch on `code`, never on `title` or `detail`.
 *
 * Status policy:
 * - 400: the request itself is malformed — unparseable JSON, or a body/param/query/header that fails its schema
 *   (`validation_failed`, with `errors` listing each zod issue and where it was). Fix the request; never retry as is.
 * - 402 `payment_failed`: the request was fine and the charge was attempted, but declined.
 * - 409: the request clashes with what exists — the same id or idempotency key with another body, or a
 *   subscription whose state does not allow the action (already stopped, not active, period ended).
 * - 422: a well-formed request the domain refuses — unknown plan/bundle/credit type, not eligible, not enough
 *   credits, an invalid setting. These are ordinary outcomes, not failures of the service.
 * - 500 `internal`: only what nobody expected; logged with its stack, answered without internals.
 */
const PROBLEMS = {
  bad_request: { status: 400, title: 'The request could not be read' },
  validation_failed: { status: 400, title: 'The request does not match its schema' },
  unauthenticated: { status: 401, title: 'A valid API key is required' },
  payment_failed: { status: 402, title: 'The payment was declined' },
  forbidden: { status: 403, title: "The API key's role does not allow this" },
  not_found: { status: 404, title: 'No such resource' },
  account_conflict: { status: 409, title: 'The account exists with other details' },
  idempotency_conflict: { status: 409, title: 'The idempotency key was used for another request' },
  terms_conflict: { status: 409, title: 'The subscription exists with other terms' },
  not_active: { status: 409, title: 'The subscription is not active' },
  already_stopped: { status: 409, title: 'Renewal is already stopped' },
  not_stopped: { status: 409, title: 'Renewal is not stopped' },
  period_ended: { status: 409, title: 'The current period has ended' },
  already_shared: { status: 409, title: 'The sub-account is already on shared billing' },
  not_shared: { status: 409, title: 'The sub-account is not on shared billing' },
  payload_too_large: { status: 413, title: 'The request body is too large' },
  unsupported_media_type: { status: 415, title: 'The request body encoding is not supported' },
  unknown_plan: { status: 422, title: 'No such plan in the catalog' },
  unknown_bundle: { status: 422, title: 'No such bundle in the catalog' },
  unknown_credit_type: { status: 422, title: 'No such credit type in the catalog' },
  not_eligible: { status: 422, title: 'Not eligible' },
  insufficient_credits: { status: 422, title: 'Not enough credits' },
  unrateable: { status: 422, title: 'The usage cannot be rated by any rate card' },
  timestamp_outside_grace: { status: 422, title: 'The usage is older than the grace window (or in the future)' },
  hold_exceeded: { status: 422, title: 'A commit cannot draw more than its hold' },
  hold_not_active: { status: 409, title: 'The hold is committed, released or lapsed' },
  same_plan: { status: 422, title: 'The subscription is already on that plan' },
  currency_mismatch: { status: 422, title: 'The currency differs from the subscription’s' },
  invalid_settings: { status: 422, title: 'The settings are not valid for this subscription' },
  report_too_large: { status: 422, title: 'The report has too many rows to answer at once; export it' },
  not_a_parent: { status: 422, title: 'A sub-account cannot have sub-accounts' },
  not_a_sub_account: { status: 422, title: 'The account is not a sub-account' },
  list_limit_exceeded: { status: 422, title: 'The list\'s spending limit does not allow this' },
  internal: { status: 500, title: 'Something unexpected happened' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof PROBLEMS;
export const ERROR_CODES = Object.keys(PROBLEMS) as [ErrorCode, ...ErrorCode[]];
export const ErrorCodeSchema = z.enum(ERROR_CODES);

// Every refusal the subscription workflow can raise must have a problem code (tsc fails here if one is missing).
type UncoveredRefusal = Exclude<Refusal, ErrorCode>;
const everyRefusalCovered: [UncoveredRefusal] extends [never] ? true : UncoveredRefusal = true;
void everyRefusalCovered;

export const statusOf = (code: ErrorCode): number => PROBLEMS[code].status;
export const titleOf = (code: ErrorCode): string => PROBLEMS[code].title;

export const ProblemIssue = z.object({
  in: z.enum(['body', 'params', 'query', 'headers']).optional(),
  path: z.array(z.union([z.string(), z.number()])),
  message: z.string(),
  code: z.string().describe('the zod issue code'),
});
export type ProblemIssue = z.infer<typeof ProblemIssue>;

export const Problem = z.looseObject({
  type: z.string().describe('URI naming the problem type: urn:creditflow:problem:<code>'),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  instance: z.string().describe('the request path this problem answers'),
  code: ErrorCodeSchema,
  errors: z.array(ProblemIssue).optional().describe('every schema issue, for validation_failed'),
}).openapi('Problem', { description: 'RFC 9457 problem details; further members depend on `code`' });
export type Problem = z.infer<typeof Problem>;

/** A problem to answer: thrown by handlers and middleware, turned into problem+json by `problemHandler`. */
export class ApiError extends Error {
  readonly status: number;
  constructor(readonly code: ErrorCode, readonly detail: string, readonly extensions: Record<string, unknown> = {}) {
    super(detail);
    this.name = 'ApiError';
    this.status = statusOf(code);
  }
}

export function issuesOf(error: ZodError, where?: ProblemIssue['in']): ProblemIssue[] {
  return error.issues.map((i) => ({
    ...(where ? { in: where } : {}),
    path: i.path.map((p) => (typeof p === 'symbol' ? String(p) : p)),
    message: i.message,
    code: i.code,
  }));
}

export function validationFailed(issues: ProblemIssue[]): ApiError {
  const first = issues[0];
  const where = first ? [first.in, ...first.path].filter((p) => p !== undefined).join('.') : '';
  const detail = first ? `${where || 'request'}: ${first.message}` : 'the request does not match its schema';
  return new ApiError('validation_failed', issues.length > 1 ? `${detail} (and ${issues.length - 1} more)` : detail,
    { errors: issues });
}

function sendProblem(req: Request, res: Response, err: ApiError): void {
  const body: Problem = {
    ...err.extensions,
    type: `urn:creditflow:problem:${err.code}`,
    title: titleOf(err.code),
    status: err.status,
    detail: err.detail,
    instance: req.originalUrl,
    code: err.code,
  };
  if (err.code === 'unauthenticated') res.setHeader('WWW-Authenticate', 'Bearer realm="creditflow"');
  res.status(err.status).type('application/problem+json').send(JSON.stringify(body));
}

/** Errors raised by express.json() (body-parser) carry a `type`; they are the client's, not ours. */
function fromBodyParser(err: { type?: unknown; status?: unknown; message?: string }): ApiError | null {
  switch (err.type) {
    case 'entity.parse.failed':
      return new ApiError('bad_request', 'the body is not valid JSON');
    case 'entity.too.large':
      return new ApiError('payload_too_large', 'the body exceeds the size limit');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new ApiError('unsupported_media_type', err.message ?? 'unsupported body encoding');
    default:
      if (typeof err.type === 'string' && typeof err.status === 'number' && err.status >= 400 && err.status < 500) {
        return new ApiError('bad_request', err.message ?? 'the body could not be read');
      }
      return null;
  }
}

/** Translates anything thrown while handling a request; only the unexpected becomes a logged 500. */
export function toApiError(err: unknown): ApiError | null {
  if (err instanceof ApiError) return err;
  if (err instanceof ZodError) return validationFailed(issuesOf(err));
  if (err instanceof IdempotencyConflictError) return new ApiError('idempotency_conflict', err.message);
  if (err && typeof err === 'object') return fromBodyParser(err);
  return null;
}

export type ErrorLogger = (message: string, fields: Record<string, unknown>) => void;

export function problemHandler(log: ErrorLogger): ErrorRequestHandler {
  return (err, req, res, next) => {
    if (res.headersSent) return next(err);
    const known = toApiError(err);
    if (known) return sendProblem(req, res, known);
    log('unexpected error answering a request', {
      method: req.method, path: req.originalUrl, error: err instanceof Error ? err.stack ?? err.message : String(err),
    });
    sendProblem(req, res, new ApiError('internal', 'the server could not complete the request; it has been logged'));
  };
}

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new ApiError('not_found', `no route ${req.method} ${req.path}`));
};
