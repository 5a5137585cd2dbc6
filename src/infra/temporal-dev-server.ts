import { Connection } from '@temporalio/client';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import { resolve } from 'node:path';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes';

export const TEMPORAL_CLI = resolve(__dirname, '..', '..', '.tools', 'bin', 'temporal');

export interface TemporalDevServer {
  address: string;
  uiUrl: string;
  stop: () => Promise<void>;
}

/**
 * Runs `temporal server start-dev` (the CLI installed by scripts/setup.sh) with its SQLite file in dataDir, so
 * workflows survive a restart, and creditflow's search attributes registered.
 */
export async function startTemporalDevServer(o: { dataDir: string; port: number; uiPort: number }): Promise<TemporalDevServer> {
  if (!existsSync(TEMPORAL_CLI)) throw new Error(`${TEMPORAL_CLI} is missing: run scripts/setup.sh`);
  mkdirSync(o.dataDir, { recursive: true });
  const log = openSync(resolve(o.dataDir, 'temporal.log'), 'a');
  const args = ['server', 'start-dev', '--db-filename', resolve(o.dataDir, 'temporal.sqlite'), '--port', String(o.port),
    '--ui-port', String(o.uiPort), '--ip', '127.0.0.1', '--log-level', 'warn',
    ...SEARCH_ATTRIBUTES.flatMap((k) => ['--search-attribute', `${k.name}=Keyword`])];
  const child: ChildProcess = spawn(TEMPORAL_CLI, args, { stdio: ['ignore', log, log] });
  const address = `127.0.0.1:${o.port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`temporal dev server exited (${child.exitCode}); see ${o.dataDir}/temporal.log`);
    try {
      const c = await Connection.connect({ address, connectTimeout: 1_000 });
      await c.workflowService.getSystemInfo({});
      await c.close();
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return {
    address,
    uiUrl: `http://127.0.0.1:${o.uiPort}`,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
