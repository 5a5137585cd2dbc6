import { randomUUID } from 'node:crypto';
import { createWriteStream, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/**
 * creditflow's command line: a thin client of the HTTP API (CREDITFLOW_URL, CREDITFLOW_API_KEY). It prints the
 * answer as JSON (or a compact table where one reads better) and exits 1 on a problem, printing its title, code
 * and detail; 2 on a usage mistake.
 */

export interface CliIo {
  env: Record<string, string | undefined>;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

type Values = Record<string, string | boolean | undefined>;

interface Command {
  usage: string;
  options?: ParseArgsConfig['options'];
  /** Names of the positional arguments, in order; all required. */
  positionals?: string[];
  required?: string[];
  /** Actions that change something send an Idempotency-Key (given, or generated and printed). */
  idempotent?: boolean;
  request: (v: Values, p: string[]) => { method: string; path: string; body?: unknown };
  table?: (body: any) => string;
  /** The answer is a file: written to --out as it arrives, never printed. */
  download?: boolean;
}

const s = (v: Values, name: string) => v[name] as string;
const seg = encodeURIComponent;

class UsageError extends Error {}

function integer(v: Values, name: string): number {
  const text = s(v, name);
  if (!/^\d+$/.test(text)) throw new UsageError(`--${name} must be a whole number`);
  return Number(text);
}

/** Fixed-width columns, right-aligned numbers. */
export function formatTable(rows: Record<string, unknown>[], columns: string[]): string {
  if (rows.length === 0) return '(none)';
  const cells = rows.map((r) => columns.map((c) => (r[c] === null || r[c] === undefined ? '-' : String(r[c]))));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const numeric = columns.map((c) => rows.every((r) => typeof r[c] === 'number'));
  const pad = (x: string, i: number) => (numeric[i] ? x.padStart(widths[i]!) : x.padEnd(widths[i]!));
  const line = (row: string[]) => row.map(pad).join('  ').trimEnd();
  return [line(columns), ...cells.map(line)].join('\n');
}

const BALANCE_COLUMNS = ['credit_type', 'available_credits', 'ledger_balance_credits', 'held_credits', 'overage_credits'];
const at = (ms: number | null | undefined) => (ms === null || ms === undefined ? '-' : new Date(ms).toISOString());

/** `--name value` options, sent as the query parameter of the same name with `-` as `_`, when given. */
function query(v: Values, names: string[]): string {
  const q = new URLSearchParams();
  for (const n of names) if (typeof v[n] === 'string') q.set(n.replace(/-/g, '_'), v[n] as string);
  const text = q.toString();
  return text ? `?${text}` : '';
}

const strings = (...names: string[]) => Object.fromEntries(names.map((n) => [n, { type: 'string' as const }]));
const RANGE = ['from', 'to', 'credit-type', 'sub-account'];
const SPEND_OPTIONS = [...RANGE, 'granularity', 'group-by', 'list'];
const EVENT_OPTIONS = [...RANGE, 'list'];
const day = (iso: string | null) => (iso === null ? '-' : iso.slice(0, 10));

/** Reports, forecasts, sub-accounts and lists. */
const REPORT_COMMANDS: Record<string, Command> = {
  'reports spend': {
    usage: 'reports spend <account id> [--from <ISO>] [--to <ISO>] [--granularity day|week|month] '
      + '[--group-by list,sub_account] [--credit-type <type>] [--list <list>] [--sub-account <id>]',
    options: strings(...SPEND_OPTIONS),
    positionals: ['account id'],
    request: (v, [id]) => ({ method: 'GET', path: `/v1/accounts/${seg(id!)}/reports/spend${query(v, SPEND_OPTIONS)}` }),
    table: (b) => [
      `spend of ${b.account_id} by ${b.granularity} (${b.time_zone}), ${b.from} → ${b.to}`,
      '',
      formatTable(b.rows, ['period', 'credit_type', 'list', 'sub_account_id', 'spent_credits', 'events']),
      '',
      formatTable(b.totals, ['credit_type', 'spent_credits', 'events']),
    ].join('\n'),
  },
  'reports list-events': {
    usage: 'reports list-events <account id> --list <list> [--from <ISO>] [--to <ISO>] [--credit-type <type>] '
      + '[--sub-account <id>] [--limit <n>] [--after <cursor>]',
    options: strings(...EVENT_OPTIONS, 'limit', 'after'),
    positionals: ['account id'],
    required: ['list'],
    request: (v, [id]) => ({ method: 'GET',
      path: `/v1/accounts/${seg(id!)}/reports/list-events${query(v, [...EVENT_OPTIONS, 'limit', 'after'])}` }),
    table: (b) => [
      formatTable(b.events, ['occurred_at', 'event_id', 'sub_account_id', 'credit_type', 'spent_credits', 'overage_credits']),
      ...(b.next_after ? ['', `more: --after ${b.next_after}`] : []),
    ].join('\n'),
  },
  'reports export': {
    usage: 'reports export <account id> --format csv|xlsx --out <file> [--report spend|list-events] '
      + '[--list <list>] [spend or list-events options]',
    options: strings(...SPEND_OPTIONS, 'format', 'out', 'report'),
    positionals: ['account id'],
    required: ['format', 'out'],
    download: true,
    request: (v, [id]) => {
      const report = (v.report as string | undefined) ?? 'spend';
      if (report !== 'spend' && report !== 'list-events') throw new UsageError('--report is spend or list-events');
      const names = report === 'spend' ? [...SPEND_OPTIONS, 'format'] : [...EVENT_OPTIONS, 'format'];
      return { method: 'GET', path: `/v1/accounts/${seg(id!)}/reports/${report}/export${query(v, names)}` };
    },
  },
  forecast: {
    usage: 'forecast <account id> [--as-of <ISO instant>]',
    options: strings('as-of'),
    positionals: ['account id'],
    request: (v, [id]) => ({ method: 'GET', path: `/v1/accounts/${seg(id!)}/forecast${query(v, ['as-of'])}` }),
    table: (b) => [
      `forecast of ${b.account_id}${b.billing_account_id === b.account_id ? '' : ` (credits of ${b.billing_account_id})`}`
        + ` as of ${b.as_of}`,
      '',
      formatTable(b.credit_types.map((c: any) => ({
        credit_type: c.credit_type,
        available_credits: c.available_credits,
        per_day_7d: c.burn.find((x: any) => x.window_days === 7)?.credits_per_day ?? '-',
        per_day_30d: c.burn.find((x: any) => x.window_days === 30)?.credits_per_day ?? '-',
        runs_out_on: c.runs_out_on,
        period_end: day(c.period_end),
        shortfall_credits: c.shortfall_credits,
        suggestion: c.suggestion ? `${c.suggestion.quantity} × ${c.suggestion.bundle_id} `
          + `(${c.suggestion.price_minor} ${c.suggestion.currency} minor)` : null,
      })), ['credit_type', 'available_credits', 'per_day_7d', 'per_day_30d', 'runs_out_on', 'period_end',
        'shortfall_credits', 'suggestion']),
    ].join('\n'),
  },
  'sub-accounts create': {
    usage: 'sub-accounts create --parent <account id> --id <id> --name <name> --shared-billing true|false '
      + '[--time-zone <IANA zone>] [--country <alpha-2>]',
    options: strings('parent', 'id', 'name', 'shared-billing', 'time-zone', 'country'),
    required: ['parent', 'id', 'name', 'shared-billing'],
    request: (v) => {
      const shared = s(v, 'shared-billing');
      if (shared !== 'true' && shared !== 'false') throw new UsageError('--shared-billing is true or false');
      return { method: 'POST', path: `/v1/accounts/${seg(s(v, 'parent'))}/sub-accounts`, body: {
        id: s(v, 'id'), name: s(v, 'name'), shared_billing: shared === 'true',
        ...(v['time-zone'] === undefined ? {} : { time_zone: s(v, 'time-zone') }),
        ...(v.country === undefined ? {} : { country: s(v, 'country') }),
      } };
    },
  },
  'sub-accounts list': {
    usage: 'sub-accounts list <account id>',
    positionals: ['account id'],
    request: (_v, [id]) => ({ method: 'GET', path: `/v1/accounts/${seg(id!)}/sub-accounts` }),
    table: (b) => formatTable(b.sub_accounts, ['id', 'name', 'shared_billing', 'billing_account_id', 'time_zone']),
  },
  'shared-billing': {
    usage: 'shared-billing <sub-account id> --enable|--disable --reason <text> [--idempotency-key <key>]',
    options: { enable: { type: 'boolean' }, disable: { type: 'boolean' }, reason: { type: 'string' } },
    positionals: ['sub-account id'],
    required: ['reason'],
    idempotent: true,
    request: (v, [id]) => {
      if (Boolean(v.enable) === Boolean(v.disable)) throw new UsageError('give one of --enable or --disable');
      return { method: 'POST', path: `/v1/accounts/${seg(id!)}/shared-billing`,
        body: { shared_billing: Boolean(v.enable), reason: s(v, 'reason') } };
    },
  },
  packages: {
    usage: 'packages <account id> [--all]',
    options: { all: { type: 'boolean' } },
    positionals: ['account id'],
    request: (v, [id]) => ({ method: 'GET', path: `/v1/accounts/${seg(id!)}/packages${v.all ? '?include_ended=true' : ''}` }),
    table: (b) => formatTable(b.packages.map((p: any) => ({ ...p, expires_at: day(p.expires_at),
      package: p.bundle_id ?? p.source })), ['package', 'credit_type', 'amount_credits', 'used_credits', 'lapsed_credits',
      'remaining_credits', 'expires_at', 'purchased_by']),
  },
  'lists show': {
    usage: 'lists show <account id>',
    positionals: ['account id'],
    request: (_v, [id]) => ({ method: 'GET', path: `/v1/accounts/${seg(id!)}/lists` }),
    table: (b) => [
      formatTable(b.limits, ['list', 'credit_type', 'period', 'limit_credits', 'spent_credits', 'expired_credits',
        'remaining_credits']),
      '',
      formatTable(b.assignments, ['credit_type', 'available_credits', 'assigned_credits', 'unassigned_credits']),
    ].join('\n'),
  },
  'lists limit': {
    usage: 'lists limit <account id> --list <list> --credit-type <type> --period month|total --amount <credits>',
    options: strings('list', 'credit-type', 'period', 'amount'),
    positionals: ['account id'],
    required: ['list', 'credit-type', 'period', 'amount'],
    request: (v, [id]) => ({ method: 'PUT',
      path: `/v1/accounts/${seg(id!)}/lists/${seg(s(v, 'list'))}/limits/${seg(s(v, 'credit-type'))}`,
      body: { period: s(v, 'period'), limit_credits: integer(v, 'amount') } }),
  },
  'lists unlimit': {
    usage: 'lists unlimit <account id> --list <list> --credit-type <type>',
    options: strings('list', 'credit-type'),
    positionals: ['account id'],
    required: ['list', 'credit-type'],
    request: (v, [id]) => ({ method: 'DELETE',
      path: `/v1/accounts/${seg(id!)}/lists/${seg(s(v, 'list'))}/limits/${seg(s(v, 'credit-type'))}` }),
  },
};

const COMMANDS: Record<string, Command> = {
  'accounts create': {
    usage: 'accounts create --id <id> --name <name> --time-zone <IANA zone> --country <alpha-2>',
    options: { id: { type: 'string' }, name: { type: 'string' }, 'time-zone': { type: 'string' },
      country: { type: 'string' } },
    required: ['id', 'name', 'time-zone', 'country'],
    request: (v) => ({ method: 'POST', path: '/v1/accounts',
      body: { id: s(v, 'id'), name: s(v, 'name'), time_zone: s(v, 'time-zone'), country: s(v, 'country') } }),
  },
  'subscriptions start': {
    usage: 'subscriptions start --id <subscription id> --account <account id> --plan <plan id>',
    options: { id: { type: 'string' }, account: { type: 'string' }, plan: { type: 'string' } },
    required: ['id', 'account', 'plan'],
    request: (v) => ({ method: 'POST', path: '/v1/subscriptions',
      body: { subscription_id: s(v, 'id'), account_id: s(v, 'account'), plan_id: s(v, 'plan') } }),
  },
  'subscriptions show': {
    usage: 'subscriptions show <subscription id>',
    positionals: ['subscription id'],
    request: (_v, [id]) => ({ method: 'GET', path: `/v1/subscriptions/${seg(id!)}` }),
    table: (b) => {
      const v = b.subscription;
      return [
        `subscription  ${v.subscription_id}   account ${v.account_id}   plan ${v.plan_id}`
          + (v.pending_plan_id ? ` (→ ${v.pending_plan_id} at renewal)` : ''),
        `status        ${v.status}   renewal ${v.renewal_enabled ? 'on' : 'off'}   next renewal ${at(v.next_renewal_at_ms)}`,
        `period        ${v.current_period
          ? `#${v.current_period.index} ${at(v.current_period.start_ms)} → ${at(v.current_period.end_ms)}` : '-'}`,
        '',
        formatTable(b.balances, BALANCE_COLUMNS),
        '',
        'grants (who bought what, and when it expires)',
        formatTable(v.grants.map((g: { expires_at_ms: number | null; expired: boolean }) => ({ ...g,
          expires_at: g.expires_at_ms === null ? 'never' : at(g.expires_at_ms), state: g.expired ? 'expired' : 'live' })),
        ['credit_type', 'source', 'amount_credits', 'bundle_id', 'purchased_by', 'expires_at', 'state']),
        ...(v.purchases.length ? ['', 'purchases', formatTable(v.purchases.map((p: { at_ms: number }) => ({ ...p, at: at(p.at_ms) })),
          ['at', 'bundle_id', 'status', 'purchased_by', 'price_minor', 'currency', 'auto', 'reason'])] : []),
      ].join('\n');
    },
  },
  'subscriptions stop-renewal': {
    usage: 'subscriptions stop-renewal <subscription id> [--idempotency-key <key>]',
    positionals: ['subscription id'],
    idempotent: true,
    request: (_v, [id]) => ({ method: 'POST', path: `/v1/subscriptions/${seg(id!)}/stop-renewal` }),
  },
  'subscriptions resume-renewal': {
    usage: 'subscriptions resume-renewal <subscription id> [--idempotency-key <key>]',
    positionals: ['subscription id'],
    idempotent: true,
    request: (_v, [id]) => ({ method: 'POST', path: `/v1/subscriptions/${seg(id!)}/resume-renewal` }),
  },
  'subscriptions cancel': {
    usage: 'subscriptions cancel <subscription id> [--reason <text>] [--idempotency-key <key>]',
    options: { reason: { type: 'string' } },
    positionals: ['subscription id'],
    idempotent: true,
    request: (v, [id]) => ({ method: 'POST', path: `/v1/subscriptions/${seg(id!)}/cancel`,
      body: v.reason === undefined ? {} : { reason: s(v, 'reason') } }),
  },
  'bundles buy': {
    usage: 'bundles buy --subscription <subscription id> --bundle <bundle id> [--idempotency-key <key>]',
    options: { subscription: { type: 'string' }, bundle: { type: 'string' } },
    required: ['subscription', 'bundle'],
    idempotent: true,
    request: (v) => ({ method: 'POST', path: `/v1/subscriptions/${seg(s(v, 'subscription'))}/bundles`,
      body: { bundle_id: s(v, 'bundle') } }),
  },
  'top-up': {
    usage: 'top-up --account <id> --credit-type <type> --amount <credits> --reason <text> [--expires-at <ISO instant>] '
      + '[--idempotency-key <key>]',
    options: { account: { type: 'string' }, 'credit-type': { type: 'string' }, amount: { type: 'string' },
      reason: { type: 'string' }, 'expires-at': { type: 'string' } },
    required: ['account', 'credit-type', 'amount', 'reason'],
    idempotent: true,
    request: (v) => ({ method: 'POST', path: `/v1/accounts/${seg(s(v, 'account'))}/top-ups`, body: {
      credit_type: s(v, 'credit-type'), amount_credits: integer(v, 'amount'), reason: s(v, 'reason'),
      ...(v['expires-at'] === undefined ? {} : { expires_at: s(v, 'expires-at') }),
    } }),
  },
  balance: {
    usage: 'balance <account id>',
    positionals: ['account id'],
    request: (_v, [id]) => ({ method: 'GET', path: `/v1/accounts/${seg(id!)}` }),
    table: (b) => formatTable(b.balances, BALANCE_COLUMNS),
  },
  ...REPORT_COMMANDS,
};

const COMMON_OPTIONS = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  'idempotency-key': { type: 'string' },
} as const;

export const USAGE = [
  'usage: creditflow <command> [options]   (env: CREDITFLOW_URL, CREDITFLOW_API_KEY)',
  '',
  ...Object.values(COMMANDS).map((c) => `  ${c.usage}`),
  '',
  'Add --json for the raw JSON answer.',
].join('\n');

function findCommand(args: string[]): { name: string; rest: string[] } | null {
  for (const words of [2, 1]) {
    const name = args.slice(0, words).join(' ');
    if (COMMANDS[name]) return { name, rest: args.slice(words) };
  }
  return null;
}

interface ProblemBody {
  title?: string;
  code?: string;
  detail?: string;
  errors?: { in?: string; path: unknown[]; message: string }[];
}

function describeProblem(status: number, body: unknown): string {
  if (!body || typeof body !== 'object') return `error: HTTP ${status}${body ? `: ${String(body)}` : ''}`;
  const p = body as ProblemBody;
  const lines = [`error: ${p.title ?? `HTTP ${status}`}${p.code ? ` [${p.code}]` : ''}`];
  if (p.detail) lines.push(`  ${p.detail}`);
  for (const e of p.errors ?? []) {
    lines.push(`  - ${[e.in, ...e.path].filter((x) => x !== undefined).join('.')}: ${e.message}`);
  }
  return lines.join('\n');
}

/** Runs one command; resolves to the process exit code. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const found = findCommand(argv);
  if (!found) {
    const asked = argv.includes('--help') || argv.includes('-h');
    (asked ? io.stdout : io.stderr)(USAGE);
    return asked ? 0 : 2;
  }
  const cmd = COMMANDS[found.name]!;
  let request: ReturnType<Command['request']>;
  let values: Values;
  try {
    const parsed = parseArgs({ args: found.rest, options: { ...COMMON_OPTIONS, ...cmd.options },
      allowPositionals: true, strict: true });
    values = parsed.values as Values;
    if (values.help) {
      io.stdout(`usage: creditflow ${cmd.usage}`);
      return 0;
    }
    const wanted = cmd.positionals ?? [];
    if (parsed.positionals.length !== wanted.length) {
      throw new UsageError(`expected ${wanted.map((w) => `<${w}>`).join(' ') || 'no arguments'}`);
    }
    const missing = (cmd.required ?? []).filter((r) => values[r] === undefined);
    if (missing.length) throw new UsageError(`missing ${missing.map((m) => `--${m}`).join(', ')}`);
    if (values['idempotency-key'] !== undefined && !cmd.idempotent) {
      throw new UsageError('--idempotency-key does not apply here');
    }
    request = cmd.request(values, parsed.positionals);
  } catch (err) {
    if (!(err instanceof UsageError) && !(err instanceof TypeError)) throw err;
    io.stderr(`${err.message}\nusage: creditflow ${cmd.usage}`);
    return 2;
  }

  const base = (io.env.CREDITFLOW_URL ?? 'http://localhost:3000').replace(/\/+$/, '');
  const headers: Record<string, string> = { accept: 'application/json' };
  if (io.env.CREDITFLOW_API_KEY) headers.authorization = `Bearer ${io.env.CREDITFLOW_API_KEY}`;
  if (cmd.idempotent) {
    const key = (values['idempotency-key'] as string | undefined) ?? randomUUID();
    if (values['idempotency-key'] === undefined) io.stderr(`idempotency-key: ${key} (pass it again to retry safely)`);
    headers['idempotency-key'] = key;
  }
  if (request.body !== undefined) headers['content-type'] = 'application/json';

  let res: Response;
  try {
    res = await fetch(`${base}${request.path}`, { method: request.method, headers,
      body: request.body === undefined ? undefined : JSON.stringify(request.body) });
  } catch (err) {
    io.stderr(`error: cannot reach ${base}: ${(err as Error).cause ?? (err as Error).message}`);
    return 1;
  }
  if (cmd.download && res.ok && res.body) {
    const out = s(values, 'out');
    await pipeline(Readable.fromWeb(res.body as never), createWriteStream(out));
    io.stdout(`wrote ${statSync(out).size} bytes to ${out} (${res.headers.get('content-type')})`);
    return 0;
  }
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch { /* not JSON: shown as text */ }
  if (!res.ok) {
    io.stderr(describeProblem(res.status, body));
    return 1;
  }
  io.stdout(cmd.table && !values.json ? cmd.table(body) : JSON.stringify(body, null, 2));
  return 0;
}

if (require.main === module) {
  run(process.argv.slice(2), {
    env: process.env,
    stdout: (t) => process.stdout.write(`${t}\n`),
    stderr: (t) => process.stderr.write(`${t}\n`),
  }).then((code) => { process.exitCode = code; }, (err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
