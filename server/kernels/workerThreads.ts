/**
 * Starts a worker thread from a module that sits beside this code: the bundled `<name>.js` in dist/, or the `.ts`
 * source under tsx when running from sources (tests and benchmarks).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ModelLensError } from '../errors';

export interface WorkerEntry {
  file: string;
  /** Run the TypeScript source through tsx's require hook (tests and benchmarks, not the bundle). */
  viaTsx: boolean;
}

/** Where a worker script is: `<name>.js` beside the running bundle, else `<sourceDir>/<name>.ts`. */
export function resolveWorkerEntry(name: string, sourceDir: string, bundleDir: string = dirname(__filename)): WorkerEntry {
  for (const directory of [bundleDir, sourceDir]) {
    const bundled = join(directory, `${name}.js`);
    if (existsSync(bundled)) return { file: bundled, viaTsx: false };
  }
  const source = join(sourceDir, `${name}.ts`);
  if (existsSync(source)) return { file: source, viaTsx: true };
  throw new ModelLensError(
    'not-found',
    `the worker script ${name} is missing (looked for ${join(bundleDir, `${name}.js`)} and ${source}).`,
    undefined,
    `Rebuild Model Lens (npm run build); the build must emit dist/${name}.js beside dist/server.js.`,
  );
}

/**
 * A `.ts` entry is loaded by an eval'd CommonJS stub that registers tsx's require hook first: Node 20 does not apply
 * `--import tsx` from a worker's execArgv to the worker's own entry module.
 */
export function startWorker(entry: WorkerEntry, name: string): Worker {
  if (!entry.viaTsx) return new Worker(entry.file, { name });
  const tsxRequireHook = 'tsx/cjs'; // a variable, so bundlers leave this test-only path alone
  const tsx = require.resolve(tsxRequireHook);
  return new Worker(`require(${JSON.stringify(tsx)}); require(${JSON.stringify(entry.file)});`, { eval: true, name });
}
