/** The typed client's test clock methods (issue 11 §3) against the real service. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Burnrate, BurnrateApiError } from '../../client/src/index.js';
import { OPERATOR, PLATFORM, startTestApi, type TestApi } from '../support/http.js';

const NOV_21 = Date.UTC(2026, 10, 21, 12);
let api: TestApi;
let operator: Burnrate;
beforeAll(async () => {
  api = await startTestApi({ now: NOV_21, testClock: true });
  operator = new Burnrate({ baseUrl: api.base, apiKey: OPERATOR });
});
afterAll(() => api.close());

it('issue 11 §3: testClock() reads it, advanceTestClock() moves it, typed errors when refused', async () => {
  expect(await operator.testClock()).toEqual({ now: new Date(NOV_21).toISOString(), offsetMs: 0 });
  const to = new Date(Date.UTC(2026, 11, 2));
  const moved = await operator.advanceTestClock(to);
  expect(moved).toMatchObject({
    now: to.toISOString(),
    offsetMs: to.getTime() - NOV_21,
    invoicingRuns: ['2026-11'],
  });
  expect((await operator.testClock()).now).toBe(to.toISOString());

  const back = await operator.advanceTestClock('2026-11-30T00:00:00Z').catch((e: unknown) => e);
  expect(back).toBeInstanceOf(BurnrateApiError);
  expect(back).toMatchObject({ status: 400, code: 'invalid_request' });
  const platform = await new Burnrate({ baseUrl: api.base, apiKey: PLATFORM })
    .testClock()
    .catch((e: unknown) => e);
  expect(platform).toMatchObject({ status: 403, code: 'forbidden' });
  expect((await operator.testClock()).now).toBe(to.toISOString());
});
