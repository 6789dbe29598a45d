/**
 * `npm run bench:ab -- [<commit>]`: `npm run bench` of this checkout against the same bench of
 * another commit (default: the commit before issue 8), in one run on the same machine. The
 * other commit is checked out into a temporary git worktree that shares this node_modules when
 * its package-lock.json is the same, else gets its own (`npm ci`, from npm's cache mostly);
 * the two run in turn, ROUNDS times each (B A B A …), so both meet the same machine load. Each
 * figure is the median of its rounds. A table, then one JSON line, last.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The last commit before issue 8's changes landed. */
const DEFAULT_BASELINE = '9933673';
const ROUNDS = Number(process.env.BENCH_AB_ROUNDS ?? 2);
const FIGURES = [
  'consume_ops_per_s',
  'redis_us_per_debit',
  'consume_ratio',
  'http_rps',
  'http_ratio',
  'http_p99_ms',
  'batch_events_per_s',
] as const;
type Figure = (typeof FIGURES)[number];
type Result = Record<Figure, number>;

const note = (m: string) => process.stderr.write(`bench:ab: ${m}\n`);

function runBench(cwd: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/engine.ts'], {
      cwd,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += String(d);
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as Result);
      } catch {
        reject(new Error(`the bench in ${cwd} exited ${code} without its JSON line`));
      }
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  const mid = s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
  return Math.round(mid * 1000) / 1000;
};

async function main() {
  const baseline = process.argv[2] ?? DEFAULT_BASELINE;
  const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
  const dir = mkdtempSync(join(tmpdir(), 'burnrate-ab-'));
  const tree = join(dir, 'baseline');
  execFileSync('git', ['worktree', 'add', '--detach', tree, baseline], { cwd: ROOT, stdio: 'ignore' });
  const lock = (dir: string) => readFileSync(join(dir, 'package-lock.json'), 'utf8');
  if (lock(tree) === lock(ROOT)) symlinkSync(join(ROOT, 'node_modules'), join(tree, 'node_modules'));
  else {
    note(`${baseline} has other dependencies: npm ci in its worktree`);
    execFileSync('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], {
      cwd: tree,
      stdio: 'ignore',
    });
  }
  const runs: { baseline: Result[]; head: Result[] } = { baseline: [], head: [] };
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      note(`round ${round}/${ROUNDS}: baseline ${baseline}`);
      runs.baseline.push(await runBench(tree));
      note(`round ${round}/${ROUNDS}: this checkout (${head})`);
      runs.head.push(await runBench(ROOT));
    }
  } finally {
    execFileSync('git', ['worktree', 'remove', '--force', tree], { cwd: ROOT, stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  }
  const b = Object.fromEntries(FIGURES.map((f) => [f, median(runs.baseline.map((r) => r[f]))])) as Result;
  const h = Object.fromEntries(FIGURES.map((f) => [f, median(runs.head.map((r) => r[f]))])) as Result;
  const lines = [
    `burnrate bench:ab: npm run bench, ${baseline} (baseline) against ${head}, ${ROUNDS} rounds each, medians`,
    '',
    `${'figure'.padEnd(22)}${'baseline'.padStart(12)}${'this'.padStart(12)}${'this/base'.padStart(12)}`,
    ...FIGURES.map(
      (f) =>
        `${f.padEnd(22)}${String(b[f]).padStart(12)}${String(h[f]).padStart(12)}${(b[f] ? h[f] / b[f] : 0).toFixed(3).padStart(12)}`,
    ),
    '',
  ];
  process.stdout.write(lines.join('\n'));
  const ratio = (f: Figure) => Number((b[f] ? h[f] / b[f] : 0).toFixed(3));
  process.stdout.write(
    `${JSON.stringify({
      baseline_commit: baseline,
      head_commit: head,
      rounds: ROUNDS,
      baseline: b,
      head: h,
      consume_ops_ratio: ratio('consume_ops_per_s'),
      redis_us_per_debit_ratio: ratio('redis_us_per_debit'),
      http_rps_ratio: ratio('http_rps'),
      batch_events_ratio: ratio('batch_events_per_s'),
    })}\n`,
  );
}

await main();
