/**
 * WORKER_NICE (src/runtime.ts lowerCpuPriority): the worker's priority is lowered to the value,
 * on every thread, and never raised: a process started lower stays where it was. And
 * WORKER_CPU_POLICY (setCpuPolicy): every thread goes under the policy asked, batch keeping its
 * nice value, and back from idle to batch only where the system lets it (sched(7)): with
 * CAP_SYS_NICE, and not for a process without it and without RLIMIT_NICE. Each case runs in a
 * child process, since a process cannot always take its own priority back.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { getPriority } from 'node:os';
import { describe, expect, it } from 'vitest';
import { hasCapSysNice, SCHED } from '../support/cpu.js';

const linux = process.platform === 'linux';
/** `nice -n` adds to the test process's own value (a CI may run it niced), up to 19. */
const started = (n: number) => Math.min(19, getPriority() + n);

const { normal: NORMAL, batch: BATCH, idle: IDLE } = SCHED;

/**
 * `call` (lowerCpuPriority(10), setCpuPolicy(…)) in a child started at `startNice`: its answer,
 * and each thread's nice value and policy after it (test/support/cpu.ts threadPriorities).
 */
function inChild(
  startNice: number,
  call = 'lowerCpuPriority(10)',
  env: NodeJS.ProcessEnv = process.env,
  as: string[] = [],
): { answer: unknown; threads: number[]; policies: number[] } {
  const script = `
    const { lowerCpuPriority, setCpuPolicy } = await import('./src/runtime.ts');
    const { threadPriorities } = await import('./test/support/cpu.ts');
    const called = ${call};
    const answer = Array.isArray(called) ? await Promise.all(called) : await called;
    const { nices, policies } = threadPriorities('self');
    console.log(JSON.stringify({ answer, threads: nices, policies }));`;
  const command = [
    '/usr/bin/nice',
    '-n',
    String(startNice),
    process.execPath,
    '--import',
    'tsx',
    '--input-type=module',
    '-e',
    script,
  ];
  const [file, ...args] = [...as, ...command];
  const out = execFileSync(file!, args, { encoding: 'utf8', env });
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
});

describe.skipIf(!linux)('setCpuPolicy (WORKER_CPU_POLICY)', () => {
  it('puts every thread under the batch policy, keeping its nice value', () => {
    // Not vacuous: without chrt the same child stays normal (the next test).
    const { answer, threads, policies } = inChild(0, "[lowerCpuPriority(10), setCpuPolicy('batch')]");
    const want = Math.max(10, started(0));
    expect(answer).toEqual([{ nice: want }, true]);
    expect(threads.length).toBeGreaterThan(1);
    expect(new Set(policies)).toEqual(new Set([BATCH]));
    expect(new Set(threads)).toEqual(new Set([want]));
  }, 30_000);

  it('says why, and changes nothing, where chrt cannot be found', () => {
    const { answer, policies } = inChild(0, "setCpuPolicy('idle')", { ...process.env, PATH: '/nonexistent' });
    expect(answer).toBe('chrt (util-linux) is not installed');
    expect(new Set(policies)).toEqual(new Set([NORMAL]));
  }, 30_000);

  it('puts every thread under the idle policy (the default)', () => {
    const { answer, threads, policies } = inChild(0, "[lowerCpuPriority(10), setCpuPolicy('idle')]");
    expect(answer).toEqual([{ nice: Math.max(10, started(0)) }, true]);
    expect(threads.length).toBeGreaterThan(1);
    expect(new Set(policies)).toEqual(new Set([IDLE]));
  }, 30_000);

  it.skipIf(!hasCapSysNice())(
    'with CAP_SYS_NICE, leaves idle for batch (the lag hook, workers/cpu-policy.ts)',
    () => {
      const back = inChild(0, "[setCpuPolicy('idle'), setCpuPolicy('batch')]");
      expect(back.answer).toEqual([true, true]);
      expect(new Set(back.policies)).toEqual(new Set([BATCH]));
    },
    30_000,
  );

  // Without CAP_SYS_NICE: root drops it from its bounding set (setpriv; the same user, so the
  // checkout stays readable); a process without it is already there. Either way RLIMIT_NICE 0,
  // the usual default (prlimit may always lower it).
  const unprivileged = hasCapSysNice()
    ? process.getuid?.() === 0 && existsSync('/usr/bin/setpriv')
      ? ['/usr/bin/setpriv', '--bounding-set=-sys_nice', '--inh-caps=-sys_nice']
      : undefined
    : [];
  it.skipIf(!unprivileged || !existsSync('/usr/bin/prlimit'))(
    'without CAP_SYS_NICE or RLIMIT_NICE, idle cannot be left: the answer says why and the threads stay idle',
    () => {
      const { answer, policies } = inChild(0, "[setCpuPolicy('idle'), setCpuPolicy('batch')]", process.env, [
        '/usr/bin/prlimit',
        '--nice=0',
        ...unprivileged!,
      ]);
      expect(answer).toEqual([true, expect.stringMatching(/not permitted|permission/i)]);
      expect(new Set(policies)).toEqual(new Set([IDLE]));
    },
    30_000,
  );
});
