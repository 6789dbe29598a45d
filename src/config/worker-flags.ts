/**
 * The Node flags the worker process runs with, wherever it is started: `npm start`
 * (src/cli/start.ts), `npm run start:worker` (package.json), docker-compose.yml and the
 * invoicing benchmark, which repeat them.
 *
 * The worker's live heap stays about 30 MB whatever a run's size (a month is read a page at a
 * time; nothing accumulates), but under a run's allocation rate V8's default sizing let the
 * heap fill with garbage: peak RSS 333 MB for 100,000 workspaces. A 192 MB old generation,
 * six times the live heap, kept it at 189 MB for the same run at the same speed.
 */
export const WORKER_NODE_FLAGS = ['--max-old-space-size=192'];
