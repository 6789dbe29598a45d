/** R-OPS-4: every key of a workspace hashes to one Redis Cluster slot. */
import { expect, it } from 'vitest';
import { workspaceKeys } from '../../src/redis/keys.js';

/** The part of a key Redis Cluster hashes: the first {…} with something inside, else all. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  if (close < 0 || close === open + 1) return key;
  return key.slice(open + 1, close);
}

it('R-OPS-4 all keys of a workspace, idempotency keys with braces included, share the hash tag {ws:<id>}', () => {
  const k = workspaceKeys('br:', 'acme-42');
  const keys = [
    k.engine,
    k.meta,
    k.lots,
    k.lotbal,
    k.ledger,
    k.flexMonths,
    k.usageIdem('job-{7}:step'),
    k.usageIdem('}{'),
    k.adjustmentIdem('{x}'),
  ];
  expect(new Set(keys.map(hashTag))).toEqual(new Set(['ws:acme-42']));
  expect(hashTag(workspaceKeys('br:', 'other').engine)).toBe('ws:other');
});
