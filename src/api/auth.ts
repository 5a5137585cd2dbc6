import { createHash, randomBytes } from 'node:crypto';
import type { Config } from '../config/config';
import type { Sql } from '../db/client';
import { ApiError } from './errors';
import { z } from './zod';

/**
 * API keys. A key is `cf_` + 32 random bytes (base64url), shown once at creation; only its sha256 (hex) is
 * stored, so a database dump never yields a usable key. Each key has one role:
 *
 * - admin:   everything (implicitly allowed on every route)
 * - billing: starts subscriptions and buys bundles (the money-taking actions)
 * - ops:     stops/resumes renewal, cancels, changes plans, tops up, sets alerts and auto-repurchase
 * - support: reads only
 * - ingest:  reports usage and reserves/commits holds, plus the reads every role has
 */
export const ROLES = ['admin', 'billing', 'ops', 'support', 'ingest'] as const;
export const Role = z.enum(ROLES).openapi('Role');
export type Role = z.infer<typeof Role>;

/** Role lists used by routes; admin is allowed everywhere and never needs listing. */
export const EVERY_ROLE: readonly Role[] = ['billing', 'ops', 'support', 'ingest'];
export const READERS: readonly Role[] = ['billing', 'ops', 'support'];

export interface Caller {
  key_id: string;
  role: Role;
  /** Recorded as `by` on everything the key does. */
  label: string;
}

export const KEY_PREFIX = 'cf_';
const BOOTSTRAP_KEY_ID = 'key_bootstrap_admin';

export const sha256Hex = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

export function generateApiKey(): { id: string; key: string; key_sha256: string } {
  const key = KEY_PREFIX + randomBytes(32).toString('base64url');
  return { id: `key_${randomBytes(8).toString('hex')}`, key, key_sha256: sha256Hex(key) };
}

const BEARER = /^Bearer[ \t]+([\x21-\x7e]+)[ \t]*$/i;

/**
 * Known keys are remembered briefly: on the usage hot path the lookup would otherwise be a second round trip per
 * request. A revocation through this process takes effect at once (forgetKeys); through another process, within
 * KEY_CACHE_TTL_MS. Unknown keys are never cached.
 */
export const KEY_CACHE_TTL_MS = 2_000;
const keyCache = new WeakMap<Sql, Map<string, { caller: Caller; until_ms: number }>>();

export function forgetKeys(sql: Sql): void {
  keyCache.delete(sql);
}

/** Resolves `Authorization: Bearer <key>` to its caller; anything else (absent, unknown, revoked) is a 401. */
export async function authenticate(sql: Sql, authorization: string | undefined): Promise<Caller> {
  const match = authorization ? BEARER.exec(authorization) : null;
  if (!match) throw new ApiError('unauthenticated', 'send an API key as `Authorization: Bearer <key>`');
  const hash = sha256Hex(match[1]!);
  const cache = keyCache.get(sql) ?? keyCache.set(sql, new Map()).get(sql)!;
  const hit = cache.get(hash);
  if (hit && hit.until_ms > Date.now()) return hit.caller;
  const [row] = await sql<Caller[]>`
    select id as key_id, role, label from api_keys where key_sha256 = ${hash} and revoked_at is null`;
  // One answer for unknown and revoked keys alike: a caller learns nothing about which keys once existed.
  if (!row) {
    cache.delete(hash);
    throw new ApiError('unauthenticated', 'the API key is unknown or revoked');
  }
  cache.set(hash, { caller: { ...row }, until_ms: Date.now() + KEY_CACHE_TTL_MS });
  return row;
}

export function authorize(caller: Caller, allowed: readonly Role[]): void {
  if (caller.role === 'admin' || allowed.includes(caller.role)) return;
  throw new ApiError('forbidden', `role ${caller.role} may not do this; allowed: admin, ${allowed.join(', ')}`);
}

/**
 * Stores config.ADMIN_API_KEY (hashed) as the admin key on every start. The environment is its source of truth:
 * changing the variable replaces the previous bootstrap key, and a restart re-enables it if it was revoked.
 * Unset, nothing changes (keys created through the API keep working).
 */
export async function bootstrapAdminKey(sql: Sql, config: Pick<Config, 'ADMIN_API_KEY'>): Promise<void> {
  if (!config.ADMIN_API_KEY) return;
  await sql`
    insert into api_keys (id, key_sha256, role, label)
    values (${BOOTSTRAP_KEY_ID}, ${sha256Hex(config.ADMIN_API_KEY)}, 'admin', 'bootstrap-admin')
    on conflict (id) do update set key_sha256 = excluded.key_sha256, role = 'admin', revoked_at = null`;
  forgetKeys(sql);
}
