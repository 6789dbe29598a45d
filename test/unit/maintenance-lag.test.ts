/**
 * The archive's lag alert (issue 10 §1: an alert when the lag passes ARCHIVE_LAG_ALERT_SECONDS):
 * one error line when a pass's lag first passes the limit, one info line when it is back to half
 * the limit or less, nothing in between however many passes lag or how the lag hovers. And the
 * hook the worker moves its CPU policy by (workers/cpu-policy.ts), told after every pass whether
 * the lag is past its mark (a tenth of the limit, at least 10 s or the limit when shorter) and
 * not yet back at half of it.
 */
import type { Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import type { ArchivePass, LedgerArchive } from '../../src/db/ledger-archive.js';
import type { MaintenanceJob } from '../../src/queues/maintenance.js';
import { maintenanceProcessor } from '../../workers/maintenance.js';
import { capturedLog } from '../support/log.js';

const pass = (lagSeconds: number): ArchivePass => ({
  workspaces: 1,
  copied: 0,
  trimmed: 0,
  usageDaysTrimmed: 0,
  alertsMoved: 0,
  rewound: [],
  lagSeconds,
});

const job = { name: 'ledger-archive', id: 'a', data: { kind: 'ledger-archive' }, attemptsMade: 0, opts: {} };

/** Runs one archive job a lag, in order: what the hook heard and the log's messages by level. */
async function run(lags: number[], limit: number) {
  const heard: boolean[] = [];
  const { log, said } = capturedLog();
  const queued = [...lags];
  const archive = { runPass: async () => pass(queued.shift()!) } as unknown as LedgerArchive;
  const processor = maintenanceProcessor({
    redis: undefined as never,
    store: undefined as never,
    alerts: undefined as never,
    keyPrefix: 'lag:',
    clock: undefined as never,
    log,
    archive: { archive, lagAlertSeconds: limit, onLagging: (lagging) => heard.push(lagging) },
  });
  for (const _ of lags) await processor(job as unknown as Job<MaintenanceJob>);
  return { heard, errors: said(50), infos: said(30) };
}

describe('the archive lag alert (ARCHIVE_LAG_ALERT_SECONDS)', () => {
  it('speaks once on each crossing, not on every lagging pass, and clears at half the limit', async () => {
    const { errors, infos } = await run([1, 301, 500, 900, 300, 151, 2, 0, 400, 12], 300);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/lag passed ARCHIVE_LAG_ALERT_SECONDS/);
    expect(infos.filter((m) => m === 'ledger archive caught up')).toHaveLength(2);
  });

  it('a lag hovering at the limit alerts once and clears only at half of it', async () => {
    const { errors, infos } = await run([301, 200, 301, 160, 299, 151, 150, 301], 300);
    expect(errors).toHaveLength(2);
    expect(infos.filter((m) => m === 'ledger archive caught up')).toHaveLength(1);
  });

  it('says nothing while the lag stays within the limit (a lag equal to it included)', async () => {
    const { errors, infos } = await run([0, 5, 300, 299], 300);
    expect(errors).toEqual([]);
    expect(infos).toEqual([]);
  });
});

describe("the hook of the worker's CPU policy (onLagging)", () => {
  it('is told after every pass: past a tenth of the limit, until back at half that', async () => {
    const { heard, errors } = await run([29, 30, 31, 200, 16, 29, 31, 15, 31, 300, 0], 300);
    expect(heard).toEqual([false, false, true, true, true, true, true, false, true, true, false]);
    expect(errors).toEqual([]);
  });

  it('never below 10 s, or the limit when that is shorter: a busy archive does not move the policy', async () => {
    expect((await run([3, 9, 10, 11, 6, 5], 20)).heard).toEqual([false, false, false, true, true, false]);
    expect((await run([0.5, 1.5, 0.6, 0.5], 1)).heard).toEqual([false, true, true, false]);
  });
});
