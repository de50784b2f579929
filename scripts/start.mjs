#!/usr/bin/env node
// `npm start`: the product on its embedded demo. Builds, makes the demo checkpoints, packages the VSIX, provisions a
// real VS Code (code-server, cached), installs the VSIX and opens the demo workspace with the models pre-opened.
// It binds to loopback only and prints the URL. Ctrl+C stops it.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { provisionCodeServer } from './provision-code-server.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const requestedPort = Number(process.env.PORT ?? process.argv[process.argv.indexOf('--port') + 1] ?? NaN);

// code-server writes a config file and data under XDG folders; keep them inside the demo profile, not in $HOME.
const profile = join(root, '.cache/demo-vscode');
const env = { ...process.env, XDG_CONFIG_HOME: join(profile, 'xdg-config'), XDG_DATA_HOME: join(profile, 'xdg-data') };

function step(title, command, args) {
  console.log(`▶ ${title}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env });
  if (result.status !== 0) process.exit(result.status || 1);
}

/** The requested port if given, else a free one chosen by the OS on 127.0.0.1. */
function pickPort() {
  if (Number.isInteger(requestedPort) && requestedPort > 0) return Promise.resolve(requestedPort);
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
    probe.on('error', reject);
  });
}

step('build the demo checkpoints', process.execPath, ['--import', 'tsx', 'test/fixtures/buildCheckpoints.ts']);
step('package the extension', process.execPath, ['scripts/package.mjs']);

console.log('▶ provision VS Code (code-server; minutes the first time, cached afterwards)');
const entry = await provisionCodeServer({ log: (line) => console.log(`  ${line}`) });

// A persistent profile for the demo, so settings and layout survive restarts.
const userData = join(profile, 'user-data');
const extensions = join(profile, 'extensions');
mkdirSync(join(userData, 'User'), { recursive: true });
mkdirSync(extensions, { recursive: true });
writeFileSync(
  join(userData, 'User/settings.json'),
  JSON.stringify(
    {
      'workbench.startupEditor': 'none',
      'workbench.tips.enabled': false,
      'workbench.welcomePage.walkthroughs.openOnInstall': false,
      'security.workspace.trust.enabled': false,
      'telemetry.telemetryLevel': 'off',
      'update.mode': 'none',
      'extensions.autoCheckUpdates': false,
      'workbench.colorTheme': process.env.MODEL_LENS_THEME ?? 'Default Dark Modern',
    },
    null,
    2,
  ),
);

const vsix = readdirSync(root).find((name) => /^model-lens-.*\.vsix$/.test(name));
if (!vsix) {
  console.error('error: the VSIX was not built; run "npm run package" to see why.');
  process.exit(1);
}
const common = ['--user-data-dir', userData, '--extensions-dir', extensions];
step(`install ${vsix}`, process.execPath, [entry, ...common, '--force', '--install-extension', join(root, vsix)]);

const port = await pickPort();
const workspace = join(root, 'demo/workspace');
if (!existsSync(workspace)) {
  console.error(`error: the demo workspace ${workspace} is missing.`);
  process.exit(1);
}
const server = spawn(
  process.execPath,
  [entry, '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', ...common, workspace],
  { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env },
);
const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`;
let announced = false;
const watch = (chunk) => {
  const text = chunk.toString();
  if (process.env.MODEL_LENS_VERBOSE) process.stdout.write(text);
  if (!announced && /HTTP server listening/.test(text)) {
    announced = true;
    console.log(`\nModel Lens demo is running (loopback only):\n\n  ${url}\n\nOpen it in a browser. Ctrl+C stops it.`);
  }
};
server.stdout.on('data', watch);
server.stderr.on('data', watch);
server.on('exit', (code) => process.exit(code ?? 0));
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.kill(signal));
