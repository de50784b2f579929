#!/usr/bin/env node
// `npm run test:desktop`: the end-to-end scenarios in a desktop VS Code through @vscode/test-electron, where one
// is installed. Nothing is downloaded: point MODEL_LENS_VSCODE at a VS Code executable (the Electron binary, e.g.
// /usr/share/code/code or ".../Visual Studio Code.app/Contents/MacOS/Electron"), or install VS Code in a standard
// place. Without one, the suite says so and exits 0; the same scenarios run in code-server under `npm test`.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { runTests } from '@vscode/test-electron';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const candidates = [
  process.env.MODEL_LENS_VSCODE,
  '/usr/share/code/code',
  '/opt/visual-studio-code/code',
  '/snap/code/current/usr/share/code/code',
  '/Applications/Visual Studio Code.app/Contents/MacOS/Electron',
  process.env.LOCALAPPDATA && join(process.env.LOCALAPPDATA, 'Programs/Microsoft VS Code/Code.exe'),
].filter(Boolean);
const vscodeExecutablePath = candidates.find((candidate) => existsSync(candidate));
if (!vscodeExecutablePath) {
  console.log('No desktop VS Code found here (set MODEL_LENS_VSCODE to its executable). The desktop suite is skipped;');
  console.log('the same scenarios run in a real VS Code (code-server) under `npm test`.');
  process.exit(0);
}

for (const [title, args] of [
  ['build', ['scripts/build.mjs']],
  ['demo checkpoints', ['--import', 'tsx', 'test/fixtures/buildCheckpoints.ts']],
]) {
  console.log(`▶ ${title}`);
  const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status || 1);
}
await esbuild.build({
  entryPoints: [join(root, 'test/desktop/suite.ts')],
  outfile: join(root, 'dist/test/desktopSuite.js'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['vscode'],
  logLevel: 'warning',
});

try {
  await runTests({
    vscodeExecutablePath,
    extensionDevelopmentPath: root,
    extensionTestsPath: join(root, 'dist/test/desktopSuite.js'),
    launchArgs: [join(root, 'demo/workspace'), '--disable-extensions', '--skip-welcome', '--disable-workspace-trust'],
  });
} catch (error) {
  console.error(`desktop suite failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
