/**
 * The load generator, run as a child process of a bench (fork with the parent's tsx flags), so that the client's
 * own work does not share the API's event loop. It takes one job over IPC, runs it for a bounded time and count,
 * answers its figures and exits. Every loop stops by itself: at its deadline or its request count, whichever first.
 */
import http from 'node:http';
import net from 'node:net';
import postgres from 'postgres';
import { summarize, type LatencySummary } from './stats';

export interface PgUpdateJob {
  kind: 'pg-update';
  url: string;
  connections: number;
  rows: number;
  warmup_ms: number;
  duration_ms: number;
  max_ops: number;
}

/** What each event of an HTTP usage job looks like. */
export type EventShape =
  /** An SMS by its text to the US: one segment, one credit (rated by the shipped rate card). */
  | { kind: 'sms-text' }
  /** Pre-rated credits, drawn from `min`..`max`; every `huge_every`th event asks for more than exists (refused). */
  | { kind: 'credits'; min: number; max: number; huge_every?: number };

export interface HttpUsageJob {
  kind: 'http-usage';
  base_url: string;
  key: string;
  /** 1: POST /v1/usage with one event; more: POST /v1/usage/batch with this many events per request. */
  batch_size: number;
  clients: number;
  accounts: string[];
  event: EventShape;
  /** Event ids are `${event_prefix}-${client}-${n}`: unique per job. */
  event_prefix: string;
  warmup_ms: number;
  duration_ms: number;
  /** Requests in all (warm-up included) after which the clients stop, whatever the time. */
  max_requests: number;
}

export type Job = PgUpdateJob | HttpUsageJob;

export interface WindowFigures {
  /** This load client's own CPU over the window, ms. */
  client_cpu_ms: number;
  /** Operations (updates, or events) completed inside the measured window. */
  ops: number;
  requests: number;
  window_ms: number;
  ops_per_s: number;
  requests_per_s: number;
  latency_ms: LatencySummary;
}

export interface PgUpdateResult {
  kind: 'pg-update';
  window: WindowFigures;
  errors: number;
}

export interface HttpUsageResult {
  kind: 'http-usage';
  window: WindowFigures;
  /** Over the whole job, warm-up included (what the ledger must agree with). */
  total: {
    requests: number;
    events: number;
    accepted: number;
    refused: number;
    duplicate: number;
    accepted_credits: number;
    /** Per HTTP status. */
    statuses: Record<string, number>;
    /** Requests that failed outright (socket errors, timeouts) or answered an unexpected status. */
    errors: number;
    first_error: string | null;
  };
}

export type JobResult = PgUpdateResult | HttpUsageResult;

/** Latencies of the measured window, in ms, in a preallocated buffer (bounded by max requests). */
class Window {
  private readonly lat: Float64Array;
  private n = 0;
  ops = 0;
  requests = 0;
  start_ms = 0;
  end_ms = 0;
  private cpu_start = 0;
  private cpu_ms = 0;
  private timers: NodeJS.Timeout[] = [];
  private phase: 'before' | 'open' | 'closed' = 'before';
  constructor(capacity: number) {
    this.lat = new Float64Array(capacity);
  }
  /** Tells the parent when the window opens and closes (it snapshots server-side CPU then). */
  open(t0: number, warmup_ms: number, duration_ms: number): void {
    this.start_ms = t0 + warmup_ms;
    this.end_ms = this.start_ms + duration_ms;
    this.timers.push(setTimeout(() => this.begin(), warmup_ms));
    this.timers.push(setTimeout(() => this.finish(), warmup_ms + duration_ms));
  }
  private begin(): void {
    if (this.phase !== 'before') return;
    this.phase = 'open';
    this.cpu_start = cpuMs();
    process.send?.({ phase: 'window-start' });
  }
  private finish(): void {
    if (this.phase !== 'open') return;
    this.phase = 'closed';
    this.cpu_ms = cpuMs() - this.cpu_start;
    process.send?.({ phase: 'window-end' });
  }
  record(started_ms: number, finished_ms: number, ops: number): void {
    if (started_ms < this.start_ms || finished_ms > this.end_ms) return;
    this.ops += ops;
    this.requests += 1;
    if (this.n < this.lat.length) this.lat[this.n++] = finished_ms - started_ms;
  }
  /** Once every loop has stopped: closes the window now if its timer has not (the job ran out of requests). */
  close(): void {
    for (const t of this.timers) clearTimeout(t);
    if (this.phase === 'open') {
      this.end_ms = Math.min(this.end_ms, now());
      this.finish();
    } else if (this.phase === 'before') {
      this.end_ms = this.start_ms; // never opened: an empty window
    }
  }
  figures(): WindowFigures {
    const window_ms = this.end_ms - this.start_ms;
    return {
      client_cpu_ms: this.cpu_ms,
      ops: this.ops,
      requests: this.requests,
      window_ms,
      ops_per_s: (this.ops * 1000) / window_ms,
      requests_per_s: (this.requests * 1000) / window_ms,
      latency_ms: summarize(this.lat.subarray(0, this.n)),
    };
  }
}

const now = () => performance.now();
const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

async function runPgUpdate(job: PgUpdateJob): Promise<PgUpdateResult> {
  const sql = postgres(job.url, { max: job.connections, onnotice: () => {} });
  try {
    await sql`create table if not exists bench_counter (id integer primary key, n bigint not null default 0)`;
    await sql`insert into bench_counter (id) select g from generate_series(1, ${job.rows}) g on conflict do nothing`;
    // Open every connection before the clock starts.
    await Promise.all(Array.from({ length: job.connections }, () => sql`select 1`));
    const t0 = now();
    const w = new Window(job.max_ops);
    w.open(t0, job.warmup_ms, job.duration_ms);
    let issued = 0;
    let errors = 0;
    const loop = async () => {
      while (issued < job.max_ops && now() < w.end_ms) {
        issued++;
        const id = 1 + Math.floor(Math.random() * job.rows);
        const started = now();
        try {
          await sql`update bench_counter set n = n + 1 where id = ${id}`;
          w.record(started, now(), 1);
        } catch {
          errors++;
        }
      }
    };
    await Promise.all(Array.from({ length: job.connections }, loop));
    w.close();
    return { kind: 'pg-update', window: w.figures(), errors };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

const HUGE_CREDITS = 1_000_000_000_000;

function makeEvent(job: HttpUsageJob, id: string, account: string, n: number): Record<string, unknown> {
  const e = job.event;
  if (e.kind === 'sms-text') {
    return { event_id: id, account_id: account, credit_type: 'sms', sms: { to_country: 'US', text: `Your code is ${n % 1_000_000}` } };
  }
  const huge = e.huge_every !== undefined && n % e.huge_every === e.huge_every - 1;
  const amount = huge ? HUGE_CREDITS : e.min + Math.floor(Math.random() * (e.max - e.min + 1));
  return { event_id: id, account_id: account, credit_type: 'sms', amount_credits: amount };
}

type Post = (payload: Buffer) => Promise<{ status: number; text: string }>;

/**
 * A lean keep-alive HTTP/1.1 client: one connection per load client, one request at a time on it (no pipelining),
 * answers read by Content-Length. It does what node:http's Agent does for this traffic at a fraction of the CPU,
 * which matters when the load generator shares two cores with the server it measures. BENCH_HTTP_CLIENT=node
 * switches to node:http.
 */
function rawConnection(url: URL, key: string): { post: Post; close: () => void } {
  const head = `POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: keep-alive\r\n`
    + `Authorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: `;
  let socket: net.Socket | null = null;
  let buf: Buffer = Buffer.alloc(0);
  let waiting: { resolve: (v: { status: number; text: string }) => void; reject: (e: Error) => void } | null = null;
  const fail = (err: Error) => {
    const w = waiting;
    waiting = null;
    socket?.destroy();
    socket = null;
    w?.reject(err);
  };
  const tryParse = () => {
    if (!waiting) return;
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const headers = buf.subarray(0, end).toString('latin1');
    const status = Number(headers.slice(9, 12));
    const m = /\r\ncontent-length:\s*(\d+)/i.exec(headers);
    if (!m) return fail(new Error(`answer without content-length: ${headers.slice(0, 200)}`));
    const length = Number(m[1]);
    if (buf.length < end + 4 + length) return;
    const text = buf.subarray(end + 4, end + 4 + length).toString('utf8');
    buf = buf.subarray(end + 4 + length);
    const w = waiting;
    waiting = null;
    if (/\r\nconnection:\s*close/i.test(headers)) { socket?.destroy(); socket = null; }
    w.resolve({ status, text });
  };
  const open = () => {
    const s = net.connect({ host: url.hostname, port: Number(url.port), noDelay: true });
    s.on('data', (d: Buffer) => { buf = buf.length ? Buffer.concat([buf, d]) : d; tryParse(); });
    s.on('error', (e) => fail(e));
    s.on('close', () => { if (socket === s) socket = null; if (waiting) fail(new Error('connection closed')); });
    buf = Buffer.alloc(0);
    return s;
  };
  return {
    post(payload) {
      return new Promise((resolvePost, reject) => {
        waiting = { resolve: resolvePost, reject };
        socket ??= open();
        socket.write(Buffer.concat([Buffer.from(`${head}${payload.length}\r\n\r\n`, 'latin1'), payload]));
        const timer = setTimeout(() => fail(new Error('request timed out after 30 s')), 30_000);
        const done = waiting;
        const settle = <A extends unknown[]>(f: (...a: A) => void) => (...a: A) => { clearTimeout(timer); f(...a); };
        done.resolve = settle(done.resolve);
        done.reject = settle(done.reject);
      });
    },
    close() { socket?.destroy(); },
  };
}

interface UsageAnswer { status?: string; drawn_credits?: number; code?: string; refusal?: string }

async function runHttpUsage(job: HttpUsageJob): Promise<HttpUsageResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: job.clients, maxFreeSockets: job.clients });
  const url = new URL(job.batch_size > 1 ? '/v1/usage/batch' : '/v1/usage', job.base_url);
  const total: HttpUsageResult['total'] = {
    requests: 0, events: 0, accepted: 0, refused: 0, duplicate: 0, accepted_credits: 0, statuses: {}, errors: 0,
    first_error: null,
  };
  const fail = (why: string) => {
    total.errors++;
    total.first_error ??= why;
  };
  const nodePost: Post = (payload) => new Promise<{ status: number; text: string }>((resolvePost, reject) => {
    const req = http.request({
      host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent,
      headers: { authorization: `Bearer ${job.key}`, 'content-type': 'application/json', 'content-length': String(payload.length) },
      timeout: 30_000,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolvePost({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('request timed out after 30 s')));
    req.on('error', reject);
    req.end(payload);
  });

  const tally = (a: UsageAnswer) => {
    if (a.status === 'accepted') {
      total.accepted++;
      total.accepted_credits += a.drawn_credits ?? 0;
    } else if (a.status === 'duplicate') {
      total.duplicate++;
    } else if (a.status === 'refused' || a.refusal !== undefined) {
      total.refused++;
    } else {
      fail(`unexpected answer ${JSON.stringify(a).slice(0, 300)}`);
    }
  };

  const t0 = now();
  const w = new Window(job.max_requests);
  w.open(t0, job.warmup_ms, job.duration_ms);
  let issued = 0;
  const useNode = process.env.BENCH_HTTP_CLIENT === 'node';
  const raws: { close: () => void }[] = [];
  const loop = async (client: number) => {
    const raw = useNode ? null : rawConnection(url, job.key);
    if (raw) raws.push(raw);
    const post = raw ? raw.post : nodePost;
    for (let n = 0; issued < job.max_requests && now() < w.end_ms; n++) {
      issued++;
      const events = Array.from({ length: job.batch_size }, (_, k) => {
        const seq = n * job.batch_size + k;
        const account = job.accounts[Math.floor(Math.random() * job.accounts.length)]!;
        return makeEvent(job, `${job.event_prefix}-${client}-${seq}`, account, seq);
      });
      const payload = Buffer.from(JSON.stringify(job.batch_size > 1 ? { events } : events[0]));
      const started = now();
      let answer: { status: number; text: string };
      try {
        answer = await post(payload);
      } catch (err) {
        fail(String(err));
        continue;
      }
      const finished = now();
      total.requests++;
      total.events += job.batch_size;
      total.statuses[answer.status] = (total.statuses[answer.status] ?? 0) + 1;
      let body: unknown;
      try {
        body = JSON.parse(answer.text);
      } catch {
        fail(`status ${answer.status}, not JSON: ${answer.text.slice(0, 200)}`);
        continue;
      }
      if (job.batch_size > 1) {
        if (answer.status !== 200) {
          fail(`batch answered ${answer.status}: ${answer.text.slice(0, 300)}`);
          continue;
        }
        for (const r of (body as { results: UsageAnswer[] }).results) tally(r);
      } else if (answer.status === 201 || answer.status === 200 || answer.status === 422) {
        tally(body as UsageAnswer);
      } else {
        fail(`single answered ${answer.status}: ${answer.text.slice(0, 300)}`);
        continue;
      }
      w.record(started, finished, job.batch_size);
    }
  };
  try {
    await Promise.all(Array.from({ length: job.clients }, (_, c) => loop(c)));
    w.close();
  } finally {
    for (const r of raws) r.close();
    agent.destroy();
  }
  return { kind: 'http-usage', window: w.figures(), total };
}

export async function runJob(job: Job): Promise<JobResult> {
  return job.kind === 'pg-update' ? runPgUpdate(job) : runHttpUsage(job);
}

if (require.main === module) {
  process.once('message', (job: Job) => {
    runJob(job).then(
      (result) => process.send!({ ok: true, result }, () => process.exit(0)),
      (err: unknown) => process.send!({ ok: false, error: String((err as Error)?.stack ?? err) }, () => process.exit(1)),
    );
  });
}
