// Run after `npm install` changes package-lock.json: `node scripts/fix-lockfile.mjs`.
//
// The npm registry this project is built from does not serve every platform build of some
// packages (e.g. @biomejs/cli-darwin-arm64@2.6.8, @msgpackr-extract/*-win32-x64). `npm install`
// then leaves those optional packages out of the lock, and `npm ci` refuses the lock as out of
// sync. This adds an entry for each, marked optional and with its os/cpu, so `npm ci` accepts
// the lock and skips them on machines they are not for.
import { readFileSync, writeFileSync } from 'node:fs';

const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
const pk = lock.packages;
const OSES = ['darwin', 'win32', 'linux', 'android', 'freebsd'];
let added = 0;
for (const entry of Object.values(pk)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    if (pk[key]) continue;
    const os = OSES.find((o) => name.includes(o));
    const cpu = ['arm64', 'x64', 'arm', 'ia32'].find((c) => name.includes(`-${c}`));
    pk[key] = {
      version,
      optional: true,
      ...(entry.dev ? { dev: true } : {}),
      ...(os ? { os: [os] } : {}),
      ...(cpu ? { cpu: [cpu] } : {}),
      ...(name.includes('musl') ? { libc: ['musl'] } : {}),
    };
    added++;
  }
}
writeFileSync('package-lock.json', `${JSON.stringify(lock, null, 2)}\n`);
console.log('added', added);
