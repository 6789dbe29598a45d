/**
 * WORKER_NICE (src/runtime.ts lowerCpuPriority): the worker's priority is lowered to the value,
 * on every thread, and never raised: a process started lower stays where it was; and every
 * thread goes under the batch policy (batchCpuPolicy), its nice value kept. Each case runs in a
 * child process, since a process cannot always take its own priority back.
 */
import { execFileSync } from 'node:child_process';
import { getPriority } from 'node:os';
import { describe, expect, it } from 'vitest';

const linux = process.platform === 'linux';
/** `nice -n` adds to the test process's own value (a CI may run it niced), up to 19. */
const started = (n: number) => Math.min(19, getPriority() + n);

/** SCHED_OTHER and SCHED_BATCH, as /proc/<pid>/task/<tid>/stat's `policy` (sched.h). */
const NORMAL = 0;
const BATCH = 3;

/**
 * `call` (lowerCpuPriority(10), batchCpuPolicy()) in a child started at `startNice`: its answer,
 * and each thread's nice value and policy after it (proc(5): fields 19 and 41 of `stat`).
 */
function inChild(
  startNice: number,
  call = 'lowerCpuPriority(10)',
  env: NodeJS.ProcessEnv = process.env,
): { answer: unknown; threads: number[]; policies: number[] } {
  const script = `
    import { readdirSync, readFileSync } from 'node:fs';
    const { lowerCpuPriority, batchCpuPolicy } = await import('./src/runtime.ts');
    const answer = ${call};
    const stats = readdirSync('/proc/self/task').map((tid) => {
      const stat = readFileSync('/proc/self/task/' + tid + '/stat', 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    });
    console.log(JSON.stringify({ answer, threads: stats.map((f) => Number(f[16])), policies: stats.map((f) => Number(f[38])) }));`;
  const out = execFileSync(
    '/usr/bin/nice',
    ['-n', String(startNice), process.execPath, '--import', 'tsx', '--input-type=module', '-e', script],
    { encoding: 'utf8', env },
  );
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe.skipIf(!linux)('lowerCpuPriority (WORKER_NICE)', () => {
  it('lowers every thread of the process to the value', () => {
    const { answer, threads } = inChild(0);
    const want = Math.max(10, started(0));
    expect(answer).toEqual({ nice: want });
    expect(threads.length).toBeGreaterThan(1);
    expect(new Set(threads)).toEqual(new Set([want]));
  }, 30_000);

  it('leaves a process that was started lower where it was', () => {
    const { answer, threads } = inChild(15);
    expect(answer).toEqual({ nice: started(15) });
    expect(new Set(threads)).toEqual(new Set([started(15)]));
  }, 30_000);

  it('puts every thread under the batch policy, keeping its nice value', () => {
    // Not vacuous: without chrt the same child stays normal (the next test).
    const { answer, threads, policies } = inChild(0, '[lowerCpuPriority(10), batchCpuPolicy()]');
    const want = Math.max(10, started(0));
    expect(answer).toEqual([{ nice: want }, true]);
    expect(threads.length).toBeGreaterThan(1);
    expect(new Set(policies)).toEqual(new Set([BATCH]));
    expect(new Set(threads)).toEqual(new Set([want]));
  }, 30_000);

  it('says why, and changes nothing, where chrt cannot be found', () => {
    const { answer, policies } = inChild(0, 'batchCpuPolicy()', { ...process.env, PATH: '/nonexistent' });
    expect(answer).toBe('chrt (util-linux) is not installed');
    expect(new Set(policies)).toEqual(new Set([NORMAL]));
  }, 30_000);
});
