#!/usr/bin/env node
// Provisions a real VS Code (code-server) for the end-to-end tests, using only the npm registry.
//
// code-server's own install scripts download things from the internet, so it is installed in steps with
// scripts off, and only the native modules it needs are compiled here against Node's headers
// (REFERENCES.md §7). The result is cached and reused; a marker file written last tells a finished
// provision from a half-finished one, which is thrown away and redone.
//
//   node scripts/provision-code-server.mjs          # prints the path of entry.js
//   import { provisionCodeServer } from './provision-code-server.mjs'

import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CODE_SERVER_VERSION = '4.100.3';

/** Native modules of VS Code's server that must be compiled, and the binary each must leave behind. */
const VSCODE_NATIVE_MODULES = [
  { name: 'node-pty', binary: 'build/Release/pty.node' },
  { name: '@parcel/watcher', binary: null }, // ships a prebuilt binary in @parcel/watcher-linux-*; checked by loading it
  { name: '@vscode/spdlog', binary: 'build/Release/spdlog.node' },
  { name: 'native-watchdog', binary: 'build/Release/watchdog.node' },
  { name: '@vscode/deviceid', binary: 'build/Release/windows.node' }, // the name is historical; it is built on Linux too
  { name: 'kerberos', binary: 'build/Release/kerberos.node', fromSource: true },
];

const MARKER = '.model-lens-provisioned.json';

// Scripts on even when started from an npm script of a project that turns them off (npm_config_* env),
// and in the foreground so the compiler's output lands in provision.log.
const REBUILD_FLAGS = ['--ignore-scripts=false', '--foreground-scripts'];

export function defaultCacheRoot() {
  return process.env.MODEL_LENS_CACHE || path.join(os.homedir(), '.cache', 'model-lens');
}

export function codeServerDir(cacheRoot = defaultCacheRoot()) {
  return path.join(cacheRoot, `code-server-${CODE_SERVER_VERSION}`);
}

export function codeServerEntry(dir = codeServerDir()) {
  return path.join(dir, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
}

/** True when a previous provision of this version finished. */
export function isProvisioned(dir = codeServerDir()) {
  return existsSync(path.join(dir, MARKER)) && existsSync(codeServerEntry(dir));
}

/**
 * Makes sure code-server is provisioned and returns the path of its entry.js.
 * @param {{ cacheRoot?: string, log?: (line: string) => void }} [options]
 */
export async function provisionCodeServer(options = {}) {
  const dir = codeServerDir(options.cacheRoot ?? defaultCacheRoot());
  const log = options.log ?? ((line) => process.stderr.write(`[provision] ${line}\n`));
  if (isProvisioned(dir)) return codeServerEntry(dir);

  // Another process (a parallel test file) may be provisioning the same folder: wait for it.
  const release = await acquireLock(`${dir}.lock`, log);
  try {
    if (isProvisioned(dir)) return codeServerEntry(dir);
    await provisionInto(dir, log);
    return codeServerEntry(dir);
  } finally {
    await release();
  }
}

async function provisionInto(dir, log) {
  checkPrerequisites();
  const started = Date.now();
  log(`installing code-server@${CODE_SERVER_VERSION} into ${dir} (native compiles take several minutes)`);
  await fs.rm(dir, { recursive: true, force: true }); // a half-finished provision is redone from scratch
  await fs.mkdir(dir, { recursive: true });
  const logFile = path.join(dir, 'provision.log');
  const run = (label, cwd, args, extra) => npm(label, cwd, args, { logFile, log, ...extra });

  // npm 11 checks install scripts against an `allowScripts` policy. Name exactly the packages that
  // we compile and deny code-server's own postinstall, which would try to download things.
  await writeJson(path.join(dir, 'package.json'), {
    name: 'model-lens-code-server',
    private: true,
    allowScripts: { argon2: true, 'code-server': false },
  });
  await run('install code-server', dir, ['install', `code-server@${CODE_SERVER_VERSION}`, '--ignore-scripts', '--save-exact']);

  const codeServer = path.join(dir, 'node_modules', 'code-server');
  const vscode = path.join(codeServer, 'lib', 'vscode');
  const vscodeModules = path.join(vscode, 'node_modules');
  // Allow the modules compiled below; deny the rest, whose scripts download binaries or build Windows-only code.
  await addAllowScripts(path.join(vscode, 'package.json'), {
    ...Object.fromEntries(VSCODE_NATIVE_MODULES.map((m) => [m.name, true])),
    '@vscode/ripgrep': false,
    '@vscode/windows-process-tree': false,
    '@vscode/windows-registry': false,
  });
  await run('install VS Code server dependencies', vscode, ['install', '--omit=dev', '--ignore-scripts']);

  for (const mod of VSCODE_NATIVE_MODULES) {
    // node-pty's post-install step runs `npx node-gyp` to write compile_commands.json, which needs a
    // download and fails after pty.node is built. The binary check below is what counts.
    const tolerateFailure = mod.name === 'node-pty';
    await run(`compile ${mod.name}`, vscode, ['rebuild', mod.name, ...REBUILD_FLAGS], {
      tolerateFailure,
      // prebuild-install would otherwise try to download a prebuilt binary first.
      env: mod.fromSource ? { npm_config_build_from_source: 'true' } : {},
    });
    if (mod.binary) await expectFile(path.join(vscodeModules, mod.name, mod.binary), `compile ${mod.name}`, logFile);
  }

  // VS Code looks for ripgrep inside @vscode/ripgrep, whose postinstall would download it.
  const rgDir = path.join(vscodeModules, '@vscode', 'ripgrep', 'bin');
  await fs.mkdir(rgDir, { recursive: true });
  await fs.copyFile(findRipgrep(), path.join(rgDir, 'rg'));
  await fs.chmod(path.join(rgDir, 'rg'), 0o755);

  // Desktop VS Code reads some modules from an asar archive; code-server points that name at node_modules,
  // and built-in extensions look there for files such as the oniguruma wasm.
  await symlink('node_modules', path.join(vscode, 'node_modules.asar'));
  // The `code` CLI of the integrated terminal and the browser helper, as code-server's postinstall links them.
  await symlink('code-linux.sh', path.join(vscode, 'bin', 'remote-cli', 'code-server'));
  await symlink('browser-linux.sh', path.join(vscode, 'bin', 'helpers', 'browser.sh'));

  await run('compile argon2', dir, ['rebuild', 'argon2', ...REBUILD_FLAGS], {
    env: { npm_config_build_from_source: 'true' }, // node-pre-gyp would otherwise try a download first
  });
  await expectFile(path.join(dir, 'node_modules', 'argon2', 'lib', 'binding', 'napi-v3', 'argon2.node'), 'compile argon2', logFile);

  await checkNativeModulesLoad(vscode, logFile);
  // Even --version writes a default config into XDG folders; keep those inside the provision folder.
  const xdg = { XDG_CONFIG_HOME: path.join(dir, '.xdg-config'), XDG_DATA_HOME: path.join(dir, '.xdg-data') };
  const version = await capture(process.execPath, [codeServerEntry(dir), '--version'], xdg);
  if (!version.includes(CODE_SERVER_VERSION)) throw new Error(`code-server --version printed ${JSON.stringify(version)}`);

  await writeJson(path.join(dir, MARKER), {
    version: CODE_SERVER_VERSION,
    node: process.version,
    provisionedAt: new Date().toISOString(),
    seconds: Math.round((Date.now() - started) / 1000),
  });
  log(`done in ${Math.round((Date.now() - started) / 1000)} s: ${codeServerEntry(dir)}`);
}

function checkPrerequisites() {
  const major = Number(process.versions.node.split('.')[0]);
  if (major !== 20) {
    process.stderr.write(`[provision] warning: code-server ${CODE_SERVER_VERSION} supports Node 20; this is ${process.version}\n`);
  }
  findRipgrep();
}

function findRipgrep() {
  for (const candidate of ['/usr/bin/rg', '/usr/local/bin/rg']) if (existsSync(candidate)) return candidate;
  throw new Error('ripgrep (rg) is missing: run `bash scripts/install-system-deps.sh` first.');
}

/** Node's own headers, so node-gyp never downloads them. Debian's nodejs ships them in /usr/include/node. */
function nodeGypEnv() {
  if (process.env.npm_config_nodedir) return {};
  const prefix = path.dirname(path.dirname(process.execPath));
  return existsSync(path.join(prefix, 'include', 'node', 'common.gypi')) ? { npm_config_nodedir: prefix } : {};
}

/** Runs npm, appending its output to the provision log and printing one progress line. */
async function npm(label, cwd, args, { logFile, log, env = {}, tolerateFailure = false }) {
  const started = Date.now();
  const out = createWriteStream(logFile, { flags: 'a' });
  out.write(`\n===== ${label}: npm ${args.join(' ')} (in ${cwd})\n`);
  const code = await new Promise((resolve, reject) => {
    const child = spawn('npm', [...args, '--no-audit', '--no-fund', '--loglevel=warn'], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...nodeGypEnv(), npm_config_update_notifier: 'false', ...env },
    });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    child.on('error', reject);
    child.on('close', resolve);
  });
  await new Promise((resolve) => out.end(resolve));
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (code !== 0 && !tolerateFailure) throw new Error(`${label} failed (npm exited ${code}).\n${await tail(logFile)}`);
  log(`${label}: ${seconds} s${code !== 0 ? ` (npm exited ${code}; tolerated, the binary is checked)` : ''}`);
}

async function expectFile(file, label, logFile) {
  if (!existsSync(file)) {
    throw new Error(
      `${label} did not produce ${file}. Missing build headers? Run \`bash scripts/install-system-deps.sh\`.\n${await tail(logFile)}`,
    );
  }
}

/** Loads every native module in a child Node, which proves the binaries match this Node's ABI. */
async function checkNativeModulesLoad(vscode, logFile) {
  const names = VSCODE_NATIVE_MODULES.map((m) => m.name);
  const script = `const r = require('node:module').createRequire(${JSON.stringify(path.join(vscode, 'index.js'))});
for (const n of ${JSON.stringify(names)}) r(n);`;
  try {
    await capture(process.execPath, ['-e', script]);
  } catch (error) {
    throw new Error(`A native module of VS Code does not load: ${error.message}\n${await tail(logFile)}`);
  }
}

function capture(command, args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(output) : reject(new Error(`exit ${code}: ${output.slice(-2000)}`))));
  });
}

async function tail(file, lines = 40) {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  return `--- last lines of ${file} ---\n${text.split('\n').slice(-lines).join('\n')}`;
}

async function writeJson(file, value) {
  await fs.writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

async function addAllowScripts(packageJson, policy) {
  const pkg = JSON.parse(await fs.readFile(packageJson, 'utf8'));
  pkg.allowScripts = { ...pkg.allowScripts, ...policy };
  await writeJson(packageJson, pkg);
}

async function symlink(target, linkPath) {
  await fs.rm(linkPath, { recursive: true, force: true });
  await fs.symlink(target, linkPath);
}

/**
 * A lock folder (mkdir is atomic) holding the owner's pid. A lock whose owner is gone is stale and taken over.
 * @returns {Promise<() => Promise<void>>} the release function
 */
async function acquireLock(lockDir, log) {
  await fs.mkdir(path.dirname(lockDir), { recursive: true });
  let announced = false;
  for (;;) {
    try {
      await fs.mkdir(lockDir);
      await fs.writeFile(path.join(lockDir, 'pid'), String(process.pid));
      return () => fs.rm(lockDir, { recursive: true, force: true });
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
    }
    const owner = Number(await fs.readFile(path.join(lockDir, 'pid'), 'utf8').catch(() => '0'));
    if (owner && !isAlive(owner)) {
      await fs.rm(lockDir, { recursive: true, force: true });
      continue;
    }
    if (!announced) log(`waiting for another provision (pid ${owner || '?'}) to finish`);
    announced = true;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  provisionCodeServer().then(
    (entry) => console.log(entry),
    (error) => {
      console.error(`[provision] ${error.message}`);
      process.exit(1);
    },
  );
}
