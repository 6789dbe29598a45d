/**
 * `npm run bench:copy`: what writing the archiver's COPY text costs the worker a ledger entry
 * (issue 10, src/db/ledger-copy.ts), written from the entries' bytes (CopyText) against the
 * baseline of the same run, each entry's decoded row as a string line (rowCopy), the lines
 * joined and encoded in UTF-8 (what the socket did with the string).
 *
 * The entries are real: debits through the engine's script into a private Redis, 200
 * workspaces (a pass's group) of 60 entries each (about what a pass finds per workspace under
 * load), every other one naming a feature (an `extra` field), read back as the archiver reads
 * them (XRANGE, Buffers). Both ways must give the same bytes. Prints a table, then one JSON line.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CopyText, copyEscape, type RawEntry, rowCopy } from '../src/db/ledger-copy.js';
import { monthOf } from '../src/domain/cycle.js';
import { connectApiRedis } from '../src/redis/clients.js';
import { startEmbeddedRedis } from '../src/redis/embedded-server.js';
import { EngineStore } from '../src/redis/engine-store.js';
import { workspaceKeys } from '../src/redis/keys.js';
import { ARCHIVE_BENCH_TERMS } from './terms.js';

const WORKSPACES = 200;
const PER_WORKSPACE = 60;
const REPEATS = Number(process.env.BENCH_REPEATS ?? 40);
const PREFIX = 'bc:';
const note = (s: string) => process.stdout.write(`${s}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const dir = mkdtempSync(join(tmpdir(), 'burnrate-bench-copy-'));
const server = await startEmbeddedRedis({ dir, appendOnly: false });
const redis = await connectApiRedis({ url: server.url });
try {
  const store = new EngineStore(redis, { prefix: PREFIX, idempotencyTtlSeconds: 86_400 });
  const ids = Array.from({ length: WORKSPACES }, (_, i) => `ws_${String(i).padStart(6, '0')}`);
  const now = Date.now();
  await Promise.all(
    ids.map(async (workspaceId) => {
      await store.upsert({
        workspaceId,
        terms: ARCHIVE_BENCH_TERMS,
        meta: { createdAt: new Date(now).toISOString() },
        now,
      });
      for (let n = 0; n < PER_WORKSPACE; n++) {
        const key = `${workspaceId}-${n}`;
        await store.debit({
          workspaceId,
          units: 1_000 + n,
          mode: 'consume',
          idempotencyKey: key,
          bodyHash: 'h',
          usageId: `use_${Buffer.from(key.padEnd(16, '.')).subarray(0, 16).toString('hex')}`,
          feature: n % 2 === 0 ? 'api-call' : '',
          now,
          month: monthOf(now),
        });
      }
    }),
  );
  const pages = await Promise.all(
    ids.map((id) => redis.xrangeBuffer(workspaceKeys(PREFIX, id).ledger, '-', '+') as Promise<RawEntry[]>),
  );
  const entries = pages.reduce((n, p) => n + p.length, 0);

  const asStrings = () => {
    const lines: string[] = [];
    pages.forEach((page, i) => {
      const ws = copyEscape(ids[i]!);
      for (const e of page) lines.push(rowCopy(ws, e));
    });
    return Buffer.from(lines.join(''));
  };
  const asBytes = () => {
    const copy = new CopyText(entries);
    pages.forEach((page, i) => {
      copy.add(ids[i]!, page);
    });
    return copy.bytes;
  };
  const same = asStrings().equals(asBytes());
  // Alternating, so both meet the machine in the same state; the first repeats warm the JIT.
  const times = { strings: [] as number[], bytes: [] as number[] };
  for (let r = 0; r < REPEATS; r++) {
    for (const [name, run] of [
      ['strings', asStrings],
      ['bytes', asBytes],
    ] as const) {
      const t = performance.now();
      run();
      if (r >= 5) times[name].push(((performance.now() - t) * 1000) / entries);
    }
  }
  const strings = median(times.strings);
  const bytes = median(times.bytes);
  note(`${entries} entries over ${WORKSPACES} workspaces, ${REPEATS} rounds each way (median µs a line)`);
  note(`  baseline, string lines joined and encoded  ${strings.toFixed(2)}`);
  note(`  CopyText, written from the entries' bytes   ${bytes.toFixed(2)}`);
  note(
    JSON.stringify({
      entries,
      us_per_line_strings: Number(strings.toFixed(2)),
      us_per_line_bytes: Number(bytes.toFixed(2)),
      speedup: Number((strings / bytes).toFixed(2)),
      same_bytes: same,
    }),
  );
  if (!same) process.exitCode = 1;
} finally {
  redis.disconnect();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
