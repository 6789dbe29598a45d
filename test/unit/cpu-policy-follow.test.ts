/**
 * workers/cpu-policy.ts followArchiveLag: the worker's CPU policy following the archive's lag
 * (WORKER_CPU_POLICY=idle, issue 10). It moves only when the lag's answer differs from the
 * policy it is under, one move at a time; a passing failure (chrt timed out) is tried again at
 * the next pass; a refusal is logged once and never tried again. `setCpuPolicy` is a stand-in
 * answering from a script: the real one has its own tests (cpu-priority.test.ts).
 */
import { describe, expect, it } from 'vitest';
import type { CpuPolicy } from '../../src/runtime.js';
import { followArchiveLag } from '../../workers/cpu-policy.js';
import { capturedLog } from '../support/log.js';

const REFUSED = "chrt: failed to set tid 4242's policy: Operation not permitted";
const TIMED_OUT = 'chrt did not finish within 10 s';

/** A follower whose setCpuPolicy answers `answers` in turn (true when they run out). */
function follower(answers: (true | string | Error)[] = []) {
  const asked: CpuPolicy[] = [];
  const { log, said } = capturedLog();
  const queue = [...answers];
  const f = followArchiveLag({
    setCpuPolicy: async (policy) => {
      asked.push(policy);
      const answer = queue.shift() ?? true;
      if (answer instanceof Error) throw answer;
      return answer;
    },
    log,
  });
  /** Tells the follower one pass's answer and waits for the move it started, if any. */
  const pass = async (lagging: boolean) => {
    f.onLagging(lagging);
    await f.settled();
  };
  return { pass, f, asked, warns: () => said(40), errors: () => said(50), infos: () => said(30) };
}

describe('followArchiveLag (WORKER_CPU_POLICY=idle)', () => {
  it('moves to batch past the mark and back to idle once caught up, once each', async () => {
    const t = follower();
    for (const lagging of [false, false, true, true, true, false, false]) await t.pass(lagging);
    expect(t.asked).toEqual(['batch', 'idle']);
    expect(t.warns()).toEqual([expect.stringMatching(/runs under the batch CPU policy/)]);
    expect(t.infos()).toEqual([expect.stringMatching(/back under the idle CPU policy/)]);
  });

  it('tries again at the next pass after chrt timed out or threw, until the move is made', async () => {
    const t = follower([TIMED_OUT, new Error('spawn failed'), true]);
    for (const lagging of [true, true, true, true]) await t.pass(lagging);
    expect(t.asked).toEqual(['batch', 'batch', 'batch']);
    expect(t.errors()).toEqual([]);
    expect(t.warns().filter((m) => /trying again/.test(m))).toHaveLength(2);
  });

  it('a move back to idle that failed leaves the policy unknown: either answer moves it again', async () => {
    const t = follower([true, TIMED_OUT]);
    for (const lagging of [true, false, true]) await t.pass(lagging);
    // Batch, the failed move to idle, then batch again although batch is what it asked first.
    expect(t.asked).toEqual(['batch', 'idle', 'batch']);
  });

  it('a refusal is logged once, naming the setting, and never tried again', async () => {
    const t = follower([REFUSED]);
    for (const lagging of [true, true, false, true, true]) await t.pass(lagging);
    expect(t.asked).toEqual(['batch']);
    expect(t.errors()).toHaveLength(1);
    expect(t.errors()[0]).toMatch(/WORKER_CPU_POLICY=batch/);
  });

  it('one move at a time: answers while a move runs are not queued behind it', async () => {
    const t = follower();
    t.f.onLagging(true);
    t.f.onLagging(true);
    t.f.onLagging(false);
    await t.f.settled();
    expect(t.asked).toEqual(['batch']);
    // The next pass's answer is heard.
    await t.pass(false);
    expect(t.asked).toEqual(['batch', 'idle']);
  });
});
