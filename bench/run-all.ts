/**
 * Runs every benchmark one after the other (each prints its own figures). Needs `npm run build`
 * first. Run it on a quiet machine: the figures are throughput and latency on this machine's CPUs.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const benches: Array<[string, string[]]> = [
  ['server/bench/issuance.ts', []],
  ['server/bench/bootstrap.ts', []],
  ['server/bench/issuance-stores.ts', []],
  ['server/bench/connect-storm.ts', []],
  ['server/bench/broker.ts', []],
  ['server/bench/broker.ts', ['--broker', 'embedded']],
  ['bench/esp32-flash.ts', []],
  ['bench/esp32-wire-limit.ts', []],
  ['bench/pi-provision.ts', []],
  ['bench/ui-web.ts', []],
];

let failed = 0;
for (const [file, args] of benches) {
  console.log(`\n===== ${file} ${args.join(' ')} =====`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, file), ...args], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    failed += 1;
    console.log(`(${file} exited with ${r.status ?? r.signal})`);
  }
}
process.exit(failed === 0 ? 0 : 1);
