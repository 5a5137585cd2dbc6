import { z } from 'zod';

const port = z.coerce.number().int().min(1).max(65_535);

/** Every setting creditflow reads from the environment, validated once at start. */
export const ConfigSchema = z.object({
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional()
    .describe('External PostgreSQL; unset = embedded PostgreSQL under DATA_DIR'),
  TEMPORAL_ADDRESS: z.string().regex(/^[^:\s]+:\d+$/, 'host:port').optional()
    .describe('External Temporal frontend; unset = temporal dev server started under DATA_DIR'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('creditflow'),
  API_PORT: port.default(3000),
  EMBEDDED_PG_PORT: port.default(54_320),
  TEMPORAL_DEV_PORT: port.default(7233),
  TEMPORAL_UI_PORT: port.default(8233),
  DATA_DIR: z.string().min(1).default('.data'),
  CATALOG_FILE: z.string().min(1).optional().describe('Catalog JSON; unset = catalog/catalog.json'),
  ADMIN_API_KEY: z.string().min(24, 'at least 24 characters').optional()
    .describe('Bootstrap admin key, stored hashed on start'),
  USAGE_GRACE_WINDOW_S: z.coerce.number().int().min(0).max(35 * 24 * 3600).default(24 * 3600),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});
export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {}

/** Parses the environment; a bad value names the variable and what was wrong with it. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = ConfigSchema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}
