import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { connect } from '../../src/db/client';
import { migrate } from '../../src/db/migrate';
import { startEmbeddedPostgres } from '../../src/infra/embedded-postgres';
import { bundleWorkflows } from '../../src/worker';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A server URL without database; test files clone TEMPLATE_DB into a database of their own. */
    pgServerUrl: string;
    /** The subscription workflows bundled once for the whole run (bundling takes seconds). */
    workflowBundlePath: string;
  }
}

export const TEMPLATE_DB = 'creditflow_template';

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolvePort(port));
    });
    srv.on('error', reject);
  });
}

/** One PostgreSQL for the whole run: embedded by default, or the server DATABASE_URL points at. */
export default async function setup(project: TestProject) {
  let stop = async () => {};
  let serverUrl: string;
  if (process.env.DATABASE_URL) {
    const u = new URL(process.env.DATABASE_URL);
    u.pathname = '/';
    serverUrl = u.toString().replace(/\/$/, '');
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'creditflow-pg-'));
    chmodSync(dir, 0o755); // as root, PostgreSQL runs as an unprivileged user that must reach its data dir
    const pg = await startEmbeddedPostgres({ dataDir: join(dir, 'data'), port: await freePort(), persistent: false });
    serverUrl = pg.url('').replace(/\/$/, '');
    stop = async () => { await pg.stop(); rmSync(dir, { recursive: true, force: true }); };
  }
  const admin = connect(`${serverUrl}/postgres`, { max: 1 });
  await admin.unsafe(`drop database if exists ${TEMPLATE_DB} with (force)`);
  await admin.unsafe(`create database ${TEMPLATE_DB}`);
  const template = connect(`${serverUrl}/${TEMPLATE_DB}`, { max: 1 });
  await migrate(template);
  await template.end();
  await admin.end();
  project.provide('pgServerUrl', serverUrl);
  const bundleDir = mkdtempSync(join(tmpdir(), 'creditflow-bundle-'));
  const bundlePath = join(bundleDir, 'workflows.js');
  writeFileSync(bundlePath, (await bundleWorkflows()).code);
  project.provide('workflowBundlePath', bundlePath);
  const stopPg = stop;
  stop = async () => { await stopPg(); rmSync(bundleDir, { recursive: true, force: true }); };
  return async () => { await stop(); };
}
