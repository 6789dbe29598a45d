/**
 * The operator's monthly flex invoicing (R-FLX-6), through the HTTP API with an operator key:
 *
 *   npm run invoicing -- run --month 2026-10 [--dry-run]
 *   npm run invoicing -- status --month 2026-10
 *
 * `run` asks what the month would bill (a dry run), queues the run, and follows it with a
 * progress bar until no workspace-month is pending; then the totals and failures. It talks to
 * the API rather than to Redis so an operator needs an operator key, not the database, and
 * every rule (a month must be closed, operators only) is checked in one place.
 */

import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { Burnrate, BurnrateApiError, type InvoicingRunStatus } from '../../client/src/index.js';
import { type CliConfig, loadCliConfig } from '../config/cli.js';
import { inheritedEnv } from '../config/env.js';

export const USAGE = `usage: npm run invoicing -- run --month YYYY-MM [--dry-run]
       npm run invoicing -- status --month YYYY-MM

  run       queue the flex invoicing of a closed month and follow it to the end;
            --dry-run only says how many workspace-months and credits it would bill
  status    a month's workspace-months by state, what was billed, and the failures

environment: BURNRATE_URL (default http://127.0.0.1:$PORT, PORT default 3000),
             BURNRATE_OPERATOR_KEY (default the operator key in BURNRATE_API_KEYS,
             else the development key of npm start)
exit status: 0 done and nothing failed, 1 some workspace-months failed,
             2 bad usage or a month the API refuses, 3 the API could not be reached or failed`;

export type CliCommand =
  | { command: 'run'; month: string; dryRun: boolean }
  | { command: 'status'; month: string }
  | { command: 'help' };

/** A failure with the exit status it ends the CLI with. */
export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
    /** Bad arguments: the usage follows the message. */
    readonly usage = false,
  ) {
    super(message);
  }
}

const usageError = (message: string) => new CliError(2, message, true);

const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;

export function parseCliArgs(argv: string[]): CliCommand {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(argv);
  } catch (err) {
    throw usageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { command: 'help' };
  const [command, ...extra] = positionals;
  if (command === undefined) throw usageError('name a command: run or status');
  if (command !== 'run' && command !== 'status') throw usageError(`unknown command '${command}'`);
  if (extra.length > 0) throw usageError(`unexpected argument '${extra[0]}'`);
  const month = values.month;
  if (month === undefined) throw usageError('--month YYYY-MM is required');
  if (!MONTH.test(month)) throw usageError(`--month must be YYYY-MM (e.g. 2026-10), not '${month}'`);
  if (command === 'status') {
    if (values['dry-run']) throw usageError('--dry-run goes with run, not status');
    return { command, month };
  }
  return { command, month, dryRun: values['dry-run'] ?? false };
}

function parseOptions(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      month: { type: 'string' },
      'dry-run': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

type RunStatus = InvoicingRunStatus;

/** A failed call as the CLI's exit status and message. */
function cliErrorOf(err: unknown, url: string): CliError {
  if (!(err instanceof BurnrateApiError)) return new CliError(3, (err as Error).message);
  if (err.status === 0) {
    const cause = (err.cause as { cause?: { code?: string } } | undefined)?.cause;
    return new CliError(
      3,
      `cannot reach the burnrate API at ${url} (${cause?.code ?? err.message}); is it running? (BURNRATE_URL)`,
    );
  }
  const what = `${err.code}: ${err.message}`;
  if (err.status === 401 || err.status === 403)
    return new CliError(
      3,
      `the API refused the operator key (${err.status} ${what}); set BURNRATE_OPERATOR_KEY`,
    );
  return new CliError(err.status === 400 ? 2 : 3, `the API answered ${err.status}: ${what}`);
}

/** The three calls the CLI makes, through the typed client (client/), its errors as exit statuses. */
export function apiClient(config: Pick<CliConfig, 'url' | 'operatorKey'>) {
  const client = new Burnrate({ baseUrl: config.url, apiKey: config.operatorKey });
  const call = async <T>(f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (err) {
      throw cliErrorOf(err, config.url);
    }
  };
  return {
    dryRun: (month: string) =>
      call(async () => {
        const r = await client.runInvoicing(month, { dryRun: true });
        const { workspaces, finalInvoices, billedCredits } = r;
        if (workspaces === undefined || finalInvoices === undefined || billedCredits === undefined)
          throw new CliError(3, `unexpected answer to a dry run of ${month}: it queued`);
        return { workspaces, finalInvoices, billedCredits };
      }),
    queue: (month: string) => call(() => client.runInvoicing(month)),
    status: (month: string) => call(() => client.invoicingStatus(month)),
  };
}

const fmt = new Intl.NumberFormat('en-US');

export function summary(s: RunStatus): string {
  const c = s.counts;
  const lines = [
    `${s.month}: ${fmt.format(s.workspaces)} workspace-months — ${fmt.format(c.item_created)} item created, ` +
      `${fmt.format(c.invoiced)} invoiced, ${fmt.format(c.skipped)} skipped, ${fmt.format(c.failed)} failed, ` +
      `${fmt.format(c.pending)} pending`,
    `billed ${fmt.format(s.billedCredits)} credits, ${fmt.format(s.amountCents)} cents`,
  ];
  if (s.failures.length > 0) {
    lines.push(`failed${c.failed > s.failures.length ? ` (the first ${s.failures.length})` : ''}:`);
    for (const f of s.failures) lines.push(`  ${f.workspaceId}  ${f.reason}`);
  }
  return `${lines.join('\n')}\n`;
}

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

/**
 * Polls the month's status until a run queued after `runsBefore` has recorded all its
 * workspace-months and none is pending. A status read is a pass over the month's states, so
 * the polls are spaced to at least ten times the last read's duration (a second at the least).
 */
async function follow(
  api: ReturnType<typeof apiClient>,
  o: { month: string; expected: number; runsBefore: number },
): Promise<RunStatus> {
  const { month, expected } = o;
  const bar = new cliProgress.SingleBar(
    {
      format: ' {bar} {value}/{total} workspace-months | {failed} failed | {rate}/s | ETA {eta_formatted}',
      stream: process.stderr,
      noTTYOutput: true,
      notTTYSchedule: 10_000,
      etaBuffer: 30,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(expected, 0, { failed: 0, rate: 0 });
  const started = performance.now();
  let lastDone = -1;
  let lastChange = Date.now();
  let warned = false;
  for (;;) {
    const t0 = performance.now();
    const s = await api.status(month);
    const readMs = performance.now() - t0;
    const done = s.workspaces - s.counts.pending;
    bar.setTotal(Math.max(expected, s.workspaces));
    bar.update(done, {
      failed: fmt.format(s.counts.failed),
      rate: fmt.format(Math.round(done / ((performance.now() - started) / 1000))),
    });
    if (s.runs > o.runsBefore && s.counts.pending === 0) {
      bar.stop();
      return s;
    }
    if (done !== lastDone) {
      lastDone = done;
      lastChange = Date.now();
    } else if (!warned && Date.now() - lastChange > 60_000) {
      warned = true;
      process.stderr.write(
        '\nno progress for a minute: is a worker process running? (npm run start:worker)\n',
      );
    }
    await sleep(Math.max(1000, readMs * 10));
  }
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = inheritedEnv()): Promise<number> {
  const cmd = parseCliArgs(argv);
  if (cmd.command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let config: CliConfig;
  try {
    config = loadCliConfig(env);
  } catch (err) {
    throw new CliError(2, (err as Error).message);
  }
  if (config.devKey) process.stderr.write('using the development operator key (set BURNRATE_OPERATOR_KEY)\n');
  const api = apiClient(config);
  if (cmd.command === 'status') {
    const s = await api.status(cmd.month);
    process.stdout.write(summary(s));
    return s.counts.failed > 0 ? 1 : 0;
  }
  const dry = await api.dryRun(cmd.month);
  const finals = dry.finalInvoices > 0 ? ` and ${fmt.format(dry.finalInvoices)} final invoices` : '';
  const what = `${cmd.month}: ${fmt.format(dry.workspaces)} workspace-months${finals} to bill, ${fmt.format(dry.billedCredits)} credits`;
  if (cmd.dryRun) {
    process.stdout.write(`${what} (dry run: nothing queued)\n`);
    return 0;
  }
  const { runs: runsBefore } = await api.status(cmd.month);
  await api.queue(cmd.month);
  process.stderr.write(`${what}; run queued\n`);
  const s = await follow(api, { month: cmd.month, expected: dry.workspaces, runsBefore });
  process.stdout.write(summary(s));
  return s.counts.failed > 0 ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      if (err instanceof CliError) {
        process.stderr.write(`invoicing: ${err.message}\n`);
        if (err.usage) process.stderr.write(`\n${USAGE}\n`);
        process.exit(err.exitCode);
      }
      process.stderr.write(`invoicing: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(3);
    },
  );
}
