import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Where the CPU went during a measured window, from /proc: this process (the API), the embedded PostgreSQL
 * (postmaster, its live children, and the children it has reaped), and the whole machine (which, on a shared
 * box, shows how much of it other work took). Linux only; elsewhere the figures are null.
 */

const TICK_MS = 10; // USER_HZ is 100 on Linux

export interface CpuSnapshot {
  at_ms: number;
  api_ms: number;
  pg_ms: number | null;
  machine_busy_ms: number | null;
  machine_total_ms: number | null;
}

export interface CpuUsage {
  window_ms: number;
  /** CPU time over the window, in ms (1000 per second is one core fully used). */
  api_ms: number;
  pg_ms: number | null;
  /** Every process on the machine, ours included. */
  machine_busy_ms: number | null;
  /** Cores × window, as the kernel counted it. */
  machine_capacity_ms: number | null;
}

function statFields(pid: string): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces: fields are counted from after its closing parenthesis.
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

function postgresCpuMs(dataDir: string): number | null {
  let postmaster: string;
  try {
    postmaster = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]!.trim();
  } catch {
    return null;
  }
  // After the comm: [0]=state [1]=ppid … [11]=utime [12]=stime [13]=cutime [14]=cstime
  const own = statFields(postmaster);
  if (!own) return null;
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || pid === postmaster) continue;
    const f = statFields(pid);
    if (f && f[1] === postmaster) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks * TICK_MS;
}

function machineMs(): { busy: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return { busy: (total - idle) * TICK_MS, total: total * TICK_MS };
  } catch {
    return null;
  }
}

export function cpuSnapshot(pgDataDir: string | null): CpuSnapshot {
  const u = process.cpuUsage();
  const m = machineMs();
  return {
    at_ms: performance.now(),
    api_ms: (u.user + u.system) / 1000,
    pg_ms: pgDataDir ? postgresCpuMs(pgDataDir) : null,
    machine_busy_ms: m?.busy ?? null,
    machine_total_ms: m?.total ?? null,
  };
}

export function cpuSince(before: CpuSnapshot, pgDataDir: string | null): CpuUsage {
  const after = cpuSnapshot(pgDataDir);
  const diff = (a: number | null, b: number | null) => (a === null || b === null ? null : a - b);
  return {
    window_ms: after.at_ms - before.at_ms,
    api_ms: after.api_ms - before.api_ms,
    pg_ms: diff(after.pg_ms, before.pg_ms),
    machine_busy_ms: diff(after.machine_busy_ms, before.machine_busy_ms),
    machine_capacity_ms: diff(after.machine_total_ms, before.machine_total_ms),
  };
}

/** CPU ms so far of the processes whose command line contains `needle` (a server started in a known directory). */
export function cpuOfProcessesMatching(needle: string): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (!cmdline.includes(needle)) continue;
    const f = statFields(pid);
    if (f) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks * TICK_MS;
}
