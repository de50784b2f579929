#!/usr/bin/env node
// `npm test`: build, make the fixtures, package the VSIX the end-to-end tests install, then run every suite (unit,
// integration, webview, end-to-end) in one node:test run, so the closing summary covers them all.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
  if (result.status !== 0) {
    console.error(`\n${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
    process.exit(result.status || 1);
  }
}

function testFiles(folder) {
  const found = [];
  for (const name of readdirSync(folder).sort()) {
    const full = join(folder, name);
    if (statSync(full).isDirectory()) found.push(...testFiles(full));
    else if (name.endsWith('.test.ts')) found.push(relative(root, full));
  }
  return found;
}

const onlyArgs = process.argv.slice(2);
// Strict types first: esbuild strips them without checking.
if (onlyArgs.length === 0) run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.']);
run(process.execPath, ['scripts/build.mjs']);
run(process.execPath, ['--import', 'tsx', 'test/fixtures/buildCheckpoints.ts']);
const files = onlyArgs.length > 0 ? onlyArgs : testFiles(join(root, 'test'));
if (files.some((file) => file.includes('e2e'))) run(process.execPath, ['scripts/package.mjs', '--quiet']);

// One process per file, one file at a time: the end-to-end suite starts a whole VS Code and wants the machine.
run(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files]);
