import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, expect, inject } from 'vitest';
import { connect, type Sql } from '../../src/db/client';
import { ledgerViolations } from '../../src/ledger';

const TEMPLATE_DB = 'creditflow_template';

export interface TestDatabase {
  sql: Sql;
  url: string;
}

/**
 * A database of this test file's own, cloned from the migrated template. After every test the ledger's
 * invariants are checked (each balance and each grant equals the sum of its entries).
 */
export async function useTestDatabase(): Promise<TestDatabase> {
  const server = inject('pgServerUrl');
  const name = `cf_test_${randomBytes(6).toString('hex')}`;
  const admin = connect(`${server}/postgres`, { max: 1 });
  // Two files cloning the template at the same instant collide ("being accessed by other users"): retry.
  for (let attempt = 1; ; attempt++) {
    try {
      await admin.unsafe(`create database ${name} template ${TEMPLATE_DB}`);
      break;
    } catch (err) {
      if (attempt >= 20 || !String(err).includes('being accessed by other users')) throw err;
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
  await admin.end();
  const url = `${server}/${name}`;
  const sql = connect(url, { max: 20 });
  afterEach(async () => {
    expect(await ledgerViolations(sql)).toEqual([]);
  });
  afterAll(async () => {
    await sql.end();
    const drop = connect(`${server}/postgres`, { max: 1 });
    await drop.unsafe(`drop database if exists ${name} with (force)`);
    await drop.end();
  });
  return { sql, url };
}

export async function createAccount(sql: Sql, id: string, opts: { timeZone?: string; country?: string } = {}) {
  await sql`insert into accounts (id, name, time_zone, country)
            values (${id}, ${id}, ${opts.timeZone ?? 'UTC'}, ${opts.country ?? 'US'})`;
}
