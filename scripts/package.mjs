#!/usr/bin/env node
// `npm run package [-- --target linux-x64]`: a platform VSIX. Everything but ONNX Runtime is bundled by esbuild; the
// ONNX Runtime package is staged beside the bundles (dist/node_modules) with only the target platform's binaries.
// Demo data, tests and sources never enter the package: the stage holds only what is copied here.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const quiet = argv.includes('--quiet');
const target = argv.includes('--target') ? argv[argv.indexOf('--target') + 1] : 'linux-x64';
const [platform, arch] = target.split('-');
const say = (text) => quiet || console.log(text);

const ortBinaries = join(root, 'node_modules/onnxruntime-node/bin/napi-v6', platform, arch);
if (!existsSync(ortBinaries)) {
  console.error(`error: no ONNX Runtime binaries for target "${target}" in node_modules/onnxruntime-node.`);
  process.exit(2);
}

function run(command, args, cwd = root) {
  const result = spawnSync(command, args, { cwd, stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit' });
  if (result.status !== 0) process.exit(result.status || 1);
}

// A clean production build: no source maps or stale bundles from development builds.
rmSync(join(root, 'dist'), { recursive: true, force: true });
run(process.execPath, ['scripts/build.mjs', '--production']);
/** Runtime files only: no type declarations or source maps from the packages we stage. */
const runtimeOnly = (source) => !/\.(d\.ts|map|d\.ts\.map|md)$/.test(source);

const stage = join(root, '.cache/vsix-stage');
rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });
for (const file of ['extension.js', 'server.js', 'cli.js', 'knnWorker.js', 'projectionWorker.js', 'permutationWorker.js', 'ompWorker.js', 'backpackWorker.js', 'webview']) cpSync(join(root, 'dist', file), join(stage, 'dist', file), { recursive: true });
cpSync(join(root, 'media'), join(stage, 'media'), { recursive: true });
for (const file of ['LICENSE', 'CHANGELOG.md']) if (existsSync(join(root, file))) cpSync(join(root, file), join(stage, file));
// The README's screenshots are relative links into the repository, which a VSIX cannot resolve: leave them out
// rather than ship broken images.
const readme = readFileSync(join(root, 'README.md'), 'utf8').replace(/^!\[[^\]]*\]\((?!https?:)[^)]*\)\n\n?/gm, '');
writeFileSync(join(stage, 'README.md'), readme);

// ONNX Runtime: its JS, its common package, and one platform's native binaries.
const modules = join(stage, 'dist/node_modules');
const ort = join(root, 'node_modules/onnxruntime-node');
for (const part of ['package.json', 'dist', 'lib', 'LICENSE']) {
  if (existsSync(join(ort, part))) cpSync(join(ort, part), join(modules, 'onnxruntime-node', part), { recursive: true, filter: runtimeOnly });
}
cpSync(ortBinaries, join(modules, 'onnxruntime-node/bin/napi-v6', platform, arch), { recursive: true });
cpSync(join(root, 'node_modules/onnxruntime-common'), join(modules, 'onnxruntime-common'), { recursive: true, filter: runtimeOnly });

const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
delete manifest.devDependencies;
delete manifest.dependencies;
delete manifest.scripts;
manifest.files = ['dist/**', 'media/**', ...['README.md', 'LICENSE', 'CHANGELOG.md'].filter((file) => existsSync(join(stage, file)))];
writeFileSync(join(stage, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);

const out = join(root, `${manifest.name}-${manifest.version}-${target}.vsix`);
run(process.execPath, [
  join(root, 'node_modules/@vscode/vsce/vsce'),
  'package',
  '--target', target,
  '--no-dependencies',
  '--allow-missing-repository',
  '--skip-license',
  '--out', out,
], stage);
const megabytes = (statSync(out).size / 1024 / 1024).toFixed(1);
console.log(`package: ${out} (${megabytes} MB, target ${target})`);
