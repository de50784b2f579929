#!/usr/bin/env node
// `npm run bench [-- name …]`: builds, then runs the benchmarks in bench/ one after another (all, or those named).
// Each prints its table and ratios and writes bench/results/<name>.json.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const wanted = process.argv.slice(2);
const benches = readdirSync(join(root, 'bench'))
  .filter((name) => name.endsWith('.ts') && name !== 'stats.ts')
  .filter((name) => wanted.length === 0 || wanted.some((want) => name.startsWith(want)));

const build = spawnSync(process.execPath, ['scripts/build.mjs', '--production'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status || 1);
let failed = 0;
for (const bench of benches) {
  console.log(`\n=== ${bench} ===`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', join('bench', bench)], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) failed++;
}
process.exit(failed > 0 ? 1 : 0);
