/**
 * `npx tsx bench/profile.ts <file.cpuprofile> [top]`: prints the self-time and
 * inclusive-time summary of a V8 CPU profile (the broker's, written by
 * `bench/run.ts --cpu-prof` under <json-dir>/profiles/).
 */
import { formatProfile, summariseProfile } from './lib/cpuprofile.js';
import { REPO_ROOT } from './lib/rota-broker.js';

const [file, top] = process.argv.slice(2);
if (file === undefined || file === '--help') {
  console.log('Usage: npx tsx bench/profile.ts <file.cpuprofile> [top=25]');
  process.exit(file === undefined ? 2 : 0);
}
const n = Number(top ?? 25);
console.log(formatProfile(summariseProfile(file, REPO_ROOT, n), n));
