import { fork } from 'node:child_process';
import { join } from 'node:path';
import type { HttpUsageJob, HttpUsageResult, Job, JobResult, PgUpdateJob, PgUpdateResult } from './load-client';

const CLIENT = join(__dirname, 'load-client.ts');

type Phase = 'window-start' | 'window-end';
type Message = { phase: Phase } | { ok: true; result: JobResult } | { ok: false; error: string };

/**
 * Runs one load job in a child process (the parent's tsx flags carried over) and answers its figures. onPhase is
 * called as the child opens and closes its measured window. The child is killed if it outlives the job's own
 * bounds by a wide margin, so a stuck bench still ends.
 */
export function runLoad(job: PgUpdateJob, onPhase?: (p: Phase) => void): Promise<PgUpdateResult>;
export function runLoad(job: HttpUsageJob, onPhase?: (p: Phase) => void): Promise<HttpUsageResult>;
export function runLoad(job: Job, onPhase: (p: Phase) => void = () => {}): Promise<JobResult> {
  const limit_ms = job.warmup_ms + job.duration_ms + 60_000;
  return new Promise((resolveJob, reject) => {
    const child = fork(CLIENT, [], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let answered = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`load client outlived its bounds (${limit_ms} ms)`));
    }, limit_ms);
    child.on('message', (m: Message) => {
      if ('phase' in m) {
        onPhase(m.phase);
        return;
      }
      answered = true;
      clearTimeout(timer);
      if (m.ok) resolveJob(m.result);
      else reject(new Error(`load client failed: ${m.error}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!answered) reject(new Error(`load client exited (${code}) without an answer`));
    });
    child.send(job);
  });
}
