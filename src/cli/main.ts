import { randomUUID } from 'node:crypto';
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
