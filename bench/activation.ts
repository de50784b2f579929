/**
 * Extension activation time: loading dist/extension.js and running activate(), in a fresh process each time, with
 * a stand-in `vscode` module. Target ≤ 50 ms. For scale, the same run loads the server bundle (transformers.js and
 * the loaders): that is the heavy import the extension host must never pay.
 *
 * Run: node --import tsx bench/activation.ts   (after npm run build)
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fmt, printTable, summarise, writeResults } from './stats';

const ROOT = path.join(__dirname, '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 15);

/**
 * Runs in the child: a `vscode` stand-in where every property is a callable that returns another stand-in, so the
 * extension's calls succeed without an editor. Prints the milliseconds for require + activate.
 */
const CHILD = String.raw`
const Module = require('module');
// Bundles copy the module's own property names (esbuild's __toESM), so the stand-in lists the API's namespaces.
const API = ['window', 'workspace', 'commands', 'languages', 'env', 'Uri', 'EventEmitter', 'StatusBarAlignment', 'TreeItem',
  'TreeItemCollapsibleState', 'ThemeIcon', 'ConfigurationTarget', 'ProgressLocation', 'Selection', 'Range',
  'TextEditorRevealType', 'Disposable', 'ViewColumn', 'CancellationTokenSource', 'Position', 'Location', 'Hover',
  'MarkdownString', 'DiagnosticSeverity', 'FileSystemError', 'version'];
const stub = () => new Proxy(function () { 'use strict'; }, {
  get: (target, key) => (key === 'then' ? undefined : key === Symbol.toPrimitive ? () => '' : key === 'prototype' ? target.prototype : stub()),
  apply: () => stub(),
  construct: () => stub(),
  set: () => true,
  defineProperty: () => true,
  ownKeys: () => [...API, 'prototype'],
  getOwnPropertyDescriptor: (target, key) =>
    key === 'prototype' ? Reflect.getOwnPropertyDescriptor(target, key) : { configurable: true, enumerable: true, value: stub() },
});
const vscode = stub();
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) { return request === 'vscode' ? 'vscode' : resolve.call(this, request, ...rest); };
require.cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: vscode };
const target = process.argv[1];
const started = process.hrtime.bigint();
const loaded = require(target);
if (loaded.activate) loaded.activate({ subscriptions: [], extensionUri: stub(), asAbsolutePath: (p) => p, globalStorageUri: stub() });
const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
process.stdout.write(String(elapsed));
process.exit(0);
`;

function measure(bundle: string): number[] {
  const samples: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const result = spawnSync(process.execPath, ['-e', CHILD, path.join(ROOT, bundle)], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`${bundle}: ${result.stderr.slice(-2000)}`);
    samples.push(Number(result.stdout));
  }
  return samples;
}

const extension = summarise(measure('dist/extension.js'));
const server = summarise(measure('dist/server.js'));
printTable(
  ['bundle', 'median ms', 'p95 ms', 'runs'],
  [
    ['extension: require + activate', fmt(extension.median), fmt(extension.p95), extension.n],
    ['server bundle: require only (for scale)', fmt(server.median), fmt(server.p95), server.n],
  ],
);
console.log(`\nactivation median ${fmt(extension.median)} ms (target ≤ 50 ms: ${extension.median <= 50 ? 'met' : 'MISSED'}); the server bundle costs ${fmt(server.median / extension.median, 1)}× as much to load`);
console.log(`wrote ${writeResults('activation', { runs: RUNS, extension, serverBundle: server, ratioServerToExtension: server.median / extension.median })}`);
