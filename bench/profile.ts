/**
 * `npx tsx bench/profile.ts <file.cpuprofile> [top]`: prints the self-time and
 * inclusive-time summary of a V8 CPU profile (the broker's, written by
 * `bench/run.ts --cpu-prof` under <json-dir>/profiles/).
 */
import { formatProfile, summariseProfile } from './lib/cpuprofile.js';
import { REPO_ROOT } from './lib/rota-broker.js';

const [file, top, ...rest] = process.argv.slice(2);
if (file === undefined || file === '--help') {
  console.log('Usage: npx tsx bench/profile.ts <file.cpuprofile> [top=25]');
  process.exit(file === undefined ? 2 : 0);
}
const n = Number(top ?? 25);
if (!Number.isInteger(n) || n < 1 || rest.length > 0) {
  // A profile folder holds one file per thread (tsx adds a loader thread), so a
  // glob easily passes two files: the second then landed here as `top`.
  console.error(
    `bench/profile.ts takes one profile file and a count; got ${process.argv.length - 2} arguments` +
      ` (top = ${JSON.stringify(top)}). The largest file of a profiles folder is the main thread's.`,
  );
  process.exit(2);
}
console.log(formatProfile(summariseProfile(file, REPO_ROOT, n), n));
