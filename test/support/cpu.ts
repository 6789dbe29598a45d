/**
 * What the tests of the worker's CPU priority read off Linux (proc(5), sched(7)): each thread's
 * nice value and policy, and whether this process may leave the idle policy.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** SCHED_OTHER, SCHED_BATCH and SCHED_IDLE, as `stat`'s `policy` field (sched.h). */
export const SCHED = { normal: 0, batch: 3, idle: 5 } as const;

/** Each thread's nice value and policy (fields 19 and 41 of /proc/<pid>/task/<tid>/stat). */
export function threadPriorities(pid: number | 'self'): { nices: number[]; policies: number[] } {
  const fields = readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  });
  return { nices: fields.map((f) => Number(f[16])), policies: fields.map((f) => Number(f[38])) };
}

/** Whether util-linux's chrt is on the PATH. */
export function hasChrt(): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, 'chrt')));
}

/** Whether this process holds CAP_SYS_NICE (bit 23 of CapEff): root in a stock container does not. */
export function hasCapSysNice(): boolean {
  const line = readFileSync('/proc/self/status', 'utf8').match(/^CapEff:\s*([0-9a-f]+)$/m);
  return line ? (BigInt(`0x${line[1]}`) & (1n << 23n)) !== 0n : false;
}

/** Whether a thread at nice `nice` may leave the idle policy (sched(7): RLIMIT_NICE or the capability). */
export function mayLeaveIdle(nice: number): boolean {
  if (hasCapSysNice()) return true;
  const row = readFileSync('/proc/self/limits', 'utf8').match(/^Max nice priority\s+(\S+)/m);
  const soft = row?.[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(row?.[1] ?? 0);
  return soft >= 20 - nice;
}
