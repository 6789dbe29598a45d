/**
 * WORKER_NICE (src/runtime.ts lowerCpuPriority): the worker's priority is lowered to the value,
 * on every thread, and never raised: a process started lower stays where it was. Each case runs
 * in a child process, since a process cannot always take its own priority back.
 */
import { execFileSync } from 'node:child_process';
import { getPriority } from 'node:os';
import { describe, expect, it } from 'vitest';

const linux = process.platform === 'linux';
/** `nice -n` adds to the test process's own value (a CI may run it niced), up to 19. */
const started = (n: number) => Math.min(19, getPriority() + n);

/** lowerCpuPriority(10) in a child started at `startNice`: its answer and its threads' values. */
function lowerInChild(startNice: number): { answer: unknown; threads: number[] } {
  const script = `
    import { readdirSync, readFileSync } from 'node:fs';
    const { lowerCpuPriority } = await import('./src/runtime.ts');
    const answer = lowerCpuPriority(10);
    const threads = readdirSync('/proc/self/task').map((tid) => {
      const stat = readFileSync('/proc/self/task/' + tid + '/stat', 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    });
    console.log(JSON.stringify({ answer, threads }));`;
  const out = execFileSync(
    'nice',
    ['-n', String(startNice), process.execPath, '--import', 'tsx', '--input-type=module', '-e', script],
    { encoding: 'utf8' },
  );
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe.skipIf(!linux)('lowerCpuPriority (WORKER_NICE)', () => {
  it('lowers every thread of the process to the value', () => {
    const { answer, threads } = lowerInChild(0);
    const want = Math.max(10, started(0));
    expect(answer).toEqual({ nice: want });
    expect(threads.length).toBeGreaterThan(1);
    expect(new Set(threads)).toEqual(new Set([want]));
  }, 30_000);

  it('leaves a process that was started lower where it was', () => {
    const { answer, threads } = lowerInChild(15);
    expect(answer).toEqual({ nice: started(15) });
    expect(new Set(threads)).toEqual(new Set([started(15)]));
  }, 30_000);
});
