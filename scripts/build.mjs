#!/usr/bin/env node
// Bundles the extension host, the server, the CLI and the webviews with esbuild. `vscode` is provided by the
// editor; onnxruntime-node ships its native binaries in node_modules, so both stay external.
import * as esbuild from 'esbuild';
import { chmod, mkdir, readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

const node = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'warning',
  external: ['vscode', 'onnxruntime-node'],
  // sharp is transformers.js's image backend, imported at load time; text never needs it, so a stub stands in.
  alias: { sharp: join(root, 'server/vendor/sharpUnavailable.ts') },
  // transformers.js reads import.meta.url for its cache paths; give the CJS bundle a working value.
  define: { 'import.meta.url': 'importMetaUrl' },
  banner: { js: "const importMetaUrl = require('url').pathToFileURL(__filename).href;" },
};

const webviews = existsSync(join(root, 'webview'))
  ? (await readdir(join(root, 'webview'), { withFileTypes: true }))
      .filter((entry) => entry.isDirectory() && existsSync(join(root, 'webview', entry.name, 'main.ts')))
      .map((entry) => entry.name)
  : [];

const builds = [
  { ...node, entryPoints: { extension: join(root, 'extension/extension.ts') }, outdir: join(root, 'dist') },
  {
    ...node,
    // Worker threads are separate bundles beside server.js, where the server looks for them.
    entryPoints: {
      server: join(root, 'server/server.ts'),
      knnWorker: join(root, 'server/kernels/knnWorker.ts'),
      projectionWorker: join(root, 'server/features/neighbours/projectionWorker.ts'),
      permutationWorker: join(root, 'server/features/probes/permutationWorker.ts'),
      ompWorker: join(root, 'server/kernels/ompWorker.ts'),
      backpackWorker: join(root, 'server/features/backpack/backpackWorker.ts'),
    },
    outdir: join(root, 'dist'),
  },
  {
    ...node,
    entryPoints: { cli: join(root, 'server/cli/main.ts') },
    outdir: join(root, 'dist'),
    banner: { js: `#!/usr/bin/env node\n${node.banner.js}` },
  },
  ...webviews.map((name) => ({
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    sourcemap: production ? false : 'linked',
    minify: production,
    logLevel: 'warning',
    entryPoints: { [name]: join(root, 'webview', name, 'main.ts') },
    outdir: join(root, 'dist/webview'),
  })),
];

await mkdir(join(root, 'dist'), { recursive: true });
if (watch) {
  for (const options of builds) await (await esbuild.context(options)).watch();
  console.log('esbuild: watching');
} else {
  const started = Date.now();
  await Promise.all(builds.map((options) => esbuild.build(options)));
  // The CLI is run directly as `model-lens` (package.json "bin").
  await chmod(join(root, 'dist/cli.js'), 0o755);
  console.log(`build: ${builds.length} bundles in ${Date.now() - started} ms${production ? ' (production)' : ''}`);
}
