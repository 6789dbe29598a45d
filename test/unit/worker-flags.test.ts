/**
 * The worker's Node flags (src/config/worker-flags.ts) are repeated where the worker is started
 * without src/cli/start.ts: `npm run start:worker` and docker-compose.yml's worker services.
 * Each of those starts it with every flag, so a change to one cannot leave another behind.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { WORKER_NODE_FLAGS } from '../../src/config/worker-flags.js';

const root = new URL('../../', import.meta.url);
const read = (file: string) => readFileSync(new URL(file, root), 'utf8');

describe('the worker starts with its flags everywhere', () => {
  it('in npm run start:worker', () => {
    const script: string = JSON.parse(read('package.json')).scripts['start:worker'];
    const args = script.split(/\s+/);
    for (const flag of WORKER_NODE_FLAGS) expect(args).toContain(flag);
  });

  it("in each of docker-compose.yml's worker services", () => {
    const commands = read('docker-compose.yml')
      .split('\n')
      .filter((line) => /^\s*command:.*workers\/main\.ts/.test(line))
      .map((line) => JSON.parse(line.replace(/^\s*command:\s*/, '')) as string[]);
    expect(commands.length).toBeGreaterThanOrEqual(2);
    for (const command of commands) expect(command).toEqual(expect.arrayContaining(WORKER_NODE_FLAGS));
  });
});
