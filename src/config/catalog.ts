/** Reads and validates the catalog file at start (R-CAT-1, R-CAT-2, R-CAT-3, R-CAT-4, R-CAT-5). */
import { readFileSync } from 'node:fs';
import { type Catalog, catalogSchema } from '../domain/catalog.js';
import { ConfigError } from './env.js';

export function parseCatalog(json: unknown, source: string): Catalog {
  const parsed = catalogSchema.safeParse(json);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`invalid catalog ${source}:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

export function loadCatalog(path: string): Catalog {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the catalog at ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`the catalog at ${path} is not JSON: ${(err as Error).message}`);
  }
  return parseCatalog(json, path);
}
