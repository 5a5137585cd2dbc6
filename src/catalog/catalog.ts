import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Catalog, type Bundle, type Plan } from './schema';

export const DEFAULT_CATALOG_FILE = join(__dirname, '..', '..', 'catalog', 'catalog.json');

export class CatalogError extends Error {}

/** Reads and validates a catalog file; a bad catalog stops the process with every problem listed. */
export function loadCatalog(file: string = DEFAULT_CATALOG_FILE): Catalog {
  const parsed = Catalog.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) {
    throw new CatalogError(`catalog ${file} is invalid:\n${parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n')}`);
  }
  return parsed.data;
}

export function findPlan(catalog: Catalog, id: string): Plan | undefined {
  return catalog.plans.find((p) => p.id === id);
}

export function findBundle(catalog: Catalog, id: string): Bundle | undefined {
  return catalog.bundles.find((b) => b.id === id);
}
