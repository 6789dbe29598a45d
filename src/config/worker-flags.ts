/**
 * The Node flags the worker process runs with, wherever it is started: `npm start`
 * (src/cli/start.ts), `npm run start:worker` (package.json), docker-compose.yml and the
 * invoicing and memory benchmarks, which repeat them.
 *
 * The worker's live heap stays about 30 MB whatever a run's size (a month is read a page at a
 * time; nothing accumulates), but under a run's allocation rate V8's default sizing let the
 * heap fill with garbage: peak RSS 333 MB for 100,000 workspaces. A 192 MB old generation,
 * six times the live heap, kept it at 189 MB for the same run at the same speed.
 *
 * Under a cap below 256 MB, though, V8 lets the old generation grow only 1.3 times its live
 * size before it collects it whole, which the archiver's rounds (thousands of entries read,
 * copied, then dropped) hit about 55 times in bench:memory's archiving segments.
 * `--heap-growing-percent=300` lets it grow 4 times (still at most halfway to the cap): 14–15
 * full collections, the worker 22–24% of a core against 27–28% for the same debits, and
 * bench:invoicing's 100k month in 222 s against 245 s, at a peak RSS of 245 MB against 198.
 */
export const WORKER_NODE_FLAGS = ['--max-old-space-size=192', '--heap-growing-percent=300'];
