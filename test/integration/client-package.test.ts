/**
 * The typed client as the package the project builds (issue 11 §2): `npm run build:client`
 * writes client/dist (an ESM bundle and its declarations), and a project outside this one that
 * has `@burnrate/client` in its node_modules imports it by name, runs it against the real
 * service, and gets its types checked by tsc.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { OPERATOR, PLATFORM, startTestApi, type TestApi } from '../support/http.js';

const run = promisify(execFile);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

let api: TestApi;
let project: string;
beforeAll(async () => {
  await run('npm', ['run', 'build:client'], { cwd: ROOT });
  api = await startTestApi({ now: Date.now() });
  // A consumer project: @burnrate/client in its node_modules, as npm would link or install it.
  project = mkdtempSync(join(tmpdir(), 'burnrate-client-consumer-'));
  mkdirSync(join(project, 'node_modules', '@burnrate'), { recursive: true });
  symlinkSync(join(ROOT, 'client'), join(project, 'node_modules', '@burnrate', 'client'), 'dir');
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module' }));
}, 120_000);
afterAll(async () => {
  await api?.close();
  if (project) rmSync(project, { recursive: true, force: true });
});

it('imports by its name and debits through the real service, once per key', async () => {
  writeFileSync(
    join(project, 'use.mjs'),
    `import { Burnrate, BurnrateApiError } from '@burnrate/client';
const b = new Burnrate({ baseUrl: process.env.BASE, apiKey: process.env.KEY });
const op = new Burnrate({ baseUrl: process.env.BASE, apiKey: process.env.OPERATOR_KEY });
await op.putWorkspace('pkg', { planId: 'growth' });
const first = await b.usage('pkg', { credits: 2, idempotencyKey: 'k1' });
const again = await b.usage('pkg', { credits: 2, idempotencyKey: 'k1' });
let missing = null;
try { await b.getWorkspace('nope'); } catch (e) { missing = e instanceof BurnrateApiError ? [e.status, e.code] : String(e); }
const ws = await b.getWorkspace('pkg');
console.log(JSON.stringify({ first, again, missing, used: ws.included.used }));
`,
  );
  const { stdout } = await run(process.execPath, ['use.mjs'], {
    cwd: project,
    env: { ...process.env, BASE: api.base, KEY: PLATFORM, OPERATOR_KEY: OPERATOR },
  });
  const out = JSON.parse(stdout);
  expect(out.first).toMatchObject({ ok: true, replayed: false });
  expect(out.again).toMatchObject({ ok: true, replayed: true, usageId: out.first.usageId });
  expect(out.missing).toEqual([404, 'not_found']);
  expect(out.used).toBe('2');
}, 60_000);

it("ships its types: tsc checks a consumer's code against them", async () => {
  const tsconfig = {
    compilerOptions: {
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      target: 'ES2022',
      lib: ['ES2022', 'DOM'],
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: [],
    },
    files: ['use.ts'],
  };
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(tsconfig));
  const consumer = (extra: string) =>
    `import { Burnrate, type Workspace, type UsageResult } from '@burnrate/client';
const b = new Burnrate({ baseUrl: 'http://127.0.0.1:1', apiKey: 'k' });
export async function f(): Promise<string> {
  const ws: Workspace = await b.getWorkspace('w');
  const r: UsageResult = await b.usage('w', { credits: 1 });
  ${extra}
  return ws.planId + String(r.ok);
}
`;
  writeFileSync(join(project, 'use.ts'), consumer(''));
  await run(process.execPath, [TSC, '-p', project], { cwd: project });
  // Not vacuous: a wrong use is an error, so the types are real, not `any`.
  writeFileSync(
    join(project, 'use.ts'),
    consumer("const n: number = ws.planId; void n; await b.usage('w', { credits: {} });"),
  );
  const failed = await run(process.execPath, [TSC, '-p', project], { cwd: project }).then(
    () => null,
    (err: { stdout: string }) => err.stdout,
  );
  expect(failed).toMatch(/TS2322/);
}, 120_000);
