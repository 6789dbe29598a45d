/**
 * `npm run build`: the billing page's bundle (issue 11 §1), web/billing → dist/billing/
 * (index.html, app.js, app.css), by esbuild; the API serves it under /billing/ with nothing
 * fetched at run time. `npm start` and the tests call ensureBillingBuilt(), which builds only
 * when the bundle is missing or older than a source (the page, its client, the i18n).
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { BILLING_DIST } from '../src/billing/dist-path.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'web/billing');
const STAMP = join(BILLING_DIST, '.built');
/** What the bundle is made of: a change to any of these rebuilds it. */
const SOURCES = [
  SRC,
  join(ROOT, 'client/src'),
  // The server's own units and limits, which the page imports.
  join(ROOT, 'src/domain/units.ts'),
  join(ROOT, 'scripts/build-billing.ts'),
];

function newest(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(st.mtimeMs, ...readdirSync(path).map((f) => newest(join(path, f))));
}

export async function buildBilling(o: { minify?: boolean } = {}): Promise<void> {
  // Built beside the bundle, then swapped in: a build running at the same time as another (two
  // test runs) or as a server reading it never leaves a half-written bundle in place.
  const out = `${BILLING_DIST}.building-${process.pid}`;
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  await build({
    entryPoints: { app: join(SRC, 'main.tsx') },
    outdir: out,
    bundle: true,
    format: 'esm',
    target: ['chrome110', 'firefox110', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: o.minify ?? true,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'warning',
    tsconfig: join(SRC, 'tsconfig.json'),
  });
  copyFileSync(join(SRC, 'app.css'), join(out, 'app.css'));
  copyFileSync(join(SRC, 'index.html'), join(out, 'index.html'));
  writeFileSync(join(out, '.built'), new Date().toISOString());
  const old = `${BILLING_DIST}.old-${process.pid}`;
  const code = (err: unknown) => (err as NodeJS.ErrnoException).code;
  try {
    renameSync(BILLING_DIST, old);
  } catch (err) {
    if (code(err) !== 'ENOENT') throw err; // none yet, or another build just moved it
  }
  try {
    renameSync(out, BILLING_DIST);
  } catch (err) {
    // Another build put its bundle in place first: the same sources, so it stays.
    if (code(err) !== 'ENOTEMPTY' && code(err) !== 'EEXIST') throw err;
  }
  rmSync(old, { recursive: true, force: true });
  rmSync(out, { recursive: true, force: true });
}

/** Builds the bundle when it is missing or stale; says whether it did. */
export async function ensureBillingBuilt(): Promise<boolean> {
  const built = existsSync(STAMP) ? statSync(STAMP).mtimeMs : 0;
  if (built > Math.max(...SOURCES.filter(existsSync).map(newest))) return false;
  await buildBilling();
  return true;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildBilling();
  process.stdout.write(`built the billing page in ${BILLING_DIST}\n`);
}
