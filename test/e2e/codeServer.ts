// End-to-end harness: a real VS Code (code-server, provisioned by scripts/provision-code-server.mjs) driven
// through Debian's Chromium with playwright-core.
//
//   const session = await startCodeServer({ workspace: 'test/fixtures/x', vsix: 'model-lens.vsix' });
//   try { await session.openFile('a.txt'); assert.match(await session.hoverText('hello'), /…/); }
//   finally { await session.stop(); }
//
// Every session gets its own port, user-data, extensions, browser profile and copy of the workspace, so
// sessions never see each other's state. Set MODEL_LENS_E2E_KEEP=1 to keep the temporary folders.

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, rmSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Frame, type Page } from 'playwright-core';
import { provisionCodeServer } from '../../scripts/provision-code-server.mjs';

import { CHROMIUM_FLAGS, CHROMIUM_PATH } from '../support/chromium';

export { CHROMIUM_FLAGS, CHROMIUM_PATH };

/** Settings that make the workbench deterministic: no welcome page, walkthroughs, telemetry, trust prompt or updates. */
export const DETERMINISTIC_SETTINGS: Record<string, unknown> = {
  'workbench.startupEditor': 'none',
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'workbench.editor.enablePreview': false,
  'telemetry.telemetryLevel': 'off',
  'security.workspace.trust.enabled': false,
  'update.mode': 'none',
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'extensions.ignoreRecommendations': true,
  'git.enabled': false,
  'explorer.compactFolders': false,
  'editor.minimap.enabled': false,
  'editor.hover.delay': 150,
  'window.restoreWindows': 'none',
};

const LOG_DIR = path.join(os.tmpdir(), 'model-lens-e2e-logs');
const EXIT_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export interface StartOptions {
  /** Folder whose contents are copied into a fresh workspace folder (omit for an empty one). */
  workspace?: string;
  /** Open `workspace` where it is instead of copying it (extraFiles are then written into it). */
  openInPlace?: boolean;
  /** VSIX file(s) installed with `--install-extension` before code-server starts. */
  vsix?: string | string[];
  /** User settings, merged over DETERMINISTIC_SETTINGS. */
  settings?: Record<string, unknown>;
  /** Files to write into the workspace, by path relative to it. */
  extraFiles?: Record<string, string | Uint8Array>;
  /** Extra environment for code-server and so for the extension host. */
  env?: Record<string, string>;
  viewport?: { width: number; height: number };
  /** Milliseconds to wait for the workbench after the page opens (default 90 s). */
  startTimeoutMs?: number;
}

export interface Session {
  readonly page: Page;
  readonly context: BrowserContext;
  readonly url: string;
  readonly port: number;
  /** The workspace folder that code-server has open. */
  readonly workspace: string;
  /** code-server's output and the browser's console errors; kept after stop(), when VS Code's own logs
   * (e.g. the extension host's) are copied beside it into `<name>-vscode-logs/`. */
  readonly logFile: string;
  /** Opens a workspace file by clicking through the Explorer; resolves when its tab is active. */
  openFile(relativePath: string): Promise<void>;
  /** Hovers `text` in the active editor and returns the hover's text, retrying until it appears (and contains `contains`). */
  hoverText(text: string, options?: { contains?: string | RegExp; timeoutMs?: number }): Promise<string>;
  /** Runs a command palette entry by its full title, e.g. "Model Lens: Show Tokens" (F1, type, click). */
  runCommand(title: string, timeoutMs?: number): Promise<void>;
  /** Messages of the notification toasts now on screen. */
  notifications(): Promise<string[]>;
  /** Waits until a toast's message matches and returns it. */
  waitForNotification(match: string | RegExp, timeoutMs?: number): Promise<string>;
  /**
   * The content frame of a webview: pass an editor tab or view title, or a CSS selector for the outer
   * `iframe.webview`. The frame is replaced when the extension sets new HTML, so fetch it again after that.
   */
  webviewFrame(titleOrSelector: string, timeoutMs?: number): Promise<Frame>;
  /** Focuses the active editor and selects all of its text. */
  selectAll(): Promise<void>;
  /** Selects the first occurrence of `text` (on one line) in the active editor by dragging the mouse over it. */
  selectText(text: string): Promise<void>;
  screenshot(file: string): Promise<void>;
  /** Closes the browser, kills code-server's process group and removes the temporary folders. Safe to call twice. */
  stop(): Promise<void>;
}

/** Packages an extension folder into a VSIX with the repo's own @vscode/vsce. */
export async function buildVsix(extensionDir: string, outFile: string): Promise<string> {
  const vsce = path.join(path.dirname(createRequire(import.meta.url).resolve('@vscode/vsce/package.json')), 'vsce');
  const args = [vsce, 'package', '--out', outFile, '--allow-missing-repository', '--skip-license', '--no-dependencies'];
  const result = await run(process.execPath, args, { cwd: extensionDir });
  if (result.code !== 0 || !existsSync(outFile)) throw new Error(`vsce package failed in ${extensionDir}:\n${result.output}`);
  return outFile;
}

export async function startCodeServer(options: StartOptions = {}): Promise<Session> {
  const entry = await provisionCodeServer();
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'model-lens-e2e-'));
  await fs.mkdir(LOG_DIR, { recursive: true });
  const logFile = path.join(LOG_DIR, `${path.basename(tmp)}.log`);
  const vscodeLogDir = path.join(LOG_DIR, `${path.basename(tmp)}-vscode-logs`);
  const log = createWriteStream(logFile, { flags: 'a' });
  log.on('error', () => undefined); // a late write from a dying process must not crash the test run
  const dirs = {
    userData: path.join(tmp, 'user-data'),
    extensions: path.join(tmp, 'extensions'),
    browser: path.join(tmp, 'browser-profile'),
    xdgConfig: path.join(tmp, 'xdg-config'),
    xdgData: path.join(tmp, 'xdg-data'),
  };
  let server: ChildProcess | undefined;
  let context: BrowserContext | undefined;
  let stopped = false;

  // If the test process ends without calling stop(), still take code-server's process group down with it.
  const killOnExit = () => {
    killGroup(server, 'SIGKILL');
    if (!process.env.MODEL_LENS_E2E_KEEP) rmSync(tmp, { recursive: true, force: true });
  };
  const killOnSignal = (signal: NodeJS.Signals) => {
    killOnExit();
    // Re-raise for the default action (exit) unless someone else handles the signal.
    if (process.listenerCount(signal) === 1) {
      process.removeListener(signal, killOnSignal);
      process.kill(process.pid, signal);
    }
  };
  process.once('exit', killOnExit);
  for (const signal of EXIT_SIGNALS) process.on(signal, killOnSignal);

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await context?.close().catch(() => undefined);
    await stopProcessGroup(server);
    server?.stdout?.unpipe(log);
    server?.stderr?.unpipe(log);
    process.removeListener('exit', killOnExit);
    for (const signal of EXIT_SIGNALS) process.removeListener(signal, killOnSignal);
    await new Promise((resolve) => log.end(resolve));
    // VS Code's own logs (extension host, server, renderer) sit in user-data; keep them beside our log.
    await fs.cp(path.join(dirs.userData, 'logs'), vscodeLogDir, { recursive: true }).catch(() => undefined);
    if (!process.env.MODEL_LENS_E2E_KEEP) await fs.rm(tmp, { recursive: true, force: true });
  };

  try {
    for (const dir of Object.values(dirs)) await fs.mkdir(dir, { recursive: true });
    const workspace = await prepareWorkspace(tmp, options);
    await writeJsonFile(path.join(dirs.userData, 'User', 'settings.json'), { ...DETERMINISTIC_SETTINGS, ...options.settings });
    // An explicit config file, so code-server does not write one into ~/.config.
    const configFile = path.join(tmp, 'config.yaml');
    await fs.writeFile(configFile, 'auth: none\ncert: false\n');

    const env = serverEnv(dirs, options.env);
    const common = ['--config', configFile, '--user-data-dir', dirs.userData, '--extensions-dir', dirs.extensions];

    const vsixes = options.vsix === undefined ? [] : [options.vsix].flat();
    for (const vsix of vsixes) {
      const installed = await run(process.execPath, [entry, ...common, '--install-extension', path.resolve(vsix)], { env });
      log.write(`$ code-server --install-extension ${vsix}\n${installed.output}\n`);
      if (installed.code !== 0 || !/successfully installed/i.test(installed.output)) {
        throw new Error(`Installing ${vsix} failed:\n${installed.output}`);
      }
    }

    // A free port can be taken between probing and binding; try again with another one.
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      const args = [
        entry,
        ...common,
        '--auth', 'none',
        '--bind-addr', `127.0.0.1:${port}`,
        '--disable-telemetry',
        '--disable-update-check',
        '--disable-workspace-trust',
        '--disable-getting-started-override',
        '--ignore-last-opened',
        workspace,
      ];
      log.write(`$ node ${args.join(' ')}\n`);
      // detached: its own process group, so stop() can kill the extension host, pty host and watchers too.
      server = spawn(process.execPath, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      server.stdout!.pipe(log, { end: false });
      server.stderr!.pipe(log, { end: false });
      const ready = await waitUntilAnswering(server, port, 60_000);
      if (ready) break;
      await stopProcessGroup(server);
      const text = await fs.readFile(logFile, 'utf8');
      if (attempt >= 3 || !text.includes('EADDRINUSE')) {
        throw new Error(`code-server did not start.\n${lastLines(text, 40)}`);
      }
    }

    context = await chromium.launchPersistentContext(dirs.browser, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: options.viewport ?? { width: 1400, height: 900 },
    });
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (message) => {
      if (message.type() === 'error') log.write(`[browser console] ${message.text()}\n`);
    });
    page.on('pageerror', (error) => log.write(`[browser page error] ${error.message}\n`));

    const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`;
    await page.goto(url);
    const startDeadline = Date.now() + (options.startTimeoutMs ?? 90_000);
    await waitForWorkbench(page, workspace, startDeadline);
    // Extensions' contributions (commands, hovers) exist only once the extension host runs.
    await waitForLogLine(logFile, 'Launched Extension Host Process', startDeadline);
    return createSession({ page, context, url, port, workspace, logFile, stop });
  } catch (error) {
    await stop();
    throw withLog(error, logFile);
  }
}

function createSession(base: Pick<Session, 'page' | 'context' | 'url' | 'port' | 'workspace' | 'logFile' | 'stop'>): Session {
  const { page, logFile } = base;
  /** Wraps a helper so a failure says where the log and a screenshot of the moment are. */
  const diagnose = async <T>(what: string, action: () => Promise<T>): Promise<T> => {
    try {
      return await action();
    } catch (error) {
      const shot = logFile.replace(/\.log$/, `-${Date.now()}.png`);
      await page.screenshot({ path: shot }).catch(() => undefined);
      throw withLog(error, logFile, `${what} failed; screenshot: ${shot}`);
    }
  };

  const session: Session = {
    ...base,

    openFile: (relativePath) => diagnose(`openFile(${relativePath})`, async () => {
      const segments = relativePath.split(/[\\/]/).filter(Boolean);
      const clicked = await clickThroughExplorer(page, segments);
      // The Explorer renders only the rows in view; a file further down is opened through Quick Open
      // (F1 with the '>' removed), which finds files by path.
      if (!clicked) await quickOpen(page, segments.join('/'));
      const tab = page
        .locator('.part.editor .tabs-container .tab.active')
        .filter({ has: page.locator('.label-name', { hasText: exactly(segments.at(-1)!) }) });
      await tab.waitFor({ state: 'visible', timeout: 15_000 });
    }),

    hoverText: (text, options = {}) => diagnose(`hoverText(${JSON.stringify(text)})`, async () => {
      const deadline = Date.now() + (options.timeoutMs ?? 30_000);
      let lastSeen = '';
      for (let attempt = 0; Date.now() < deadline; attempt++) {
        const box = await findTextBox(page, text);
        if (!box) {
          await page.waitForTimeout(300); // the editor may still be rendering
          continue;
        }
        // Leave the word first: monaco starts a new hover only on a fresh mouse move onto the position. The
        // parking spot is the empty middle of the activity bar, where nothing shows a hover of its own.
        const viewport = page.viewportSize() ?? { width: 1400, height: 900 };
        await page.mouse.move(4, viewport.height / 2, { steps: 2 });
        await page.waitForTimeout(attempt === 0 ? 50 : 400);
        await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2, { steps: 4 });
        const shown = await waitForHover(page, Math.min(5_000, Math.max(0, deadline - Date.now())));
        lastSeen = shown ?? lastSeen;
        if (shown && matches(shown, options.contains)) return shown;
      }
      throw new Error(`No hover${options.contains ? ` containing ${options.contains}` : ''} over "${text}"; last seen: ${JSON.stringify(lastSeen)}`);
    }),

    runCommand: (title, timeoutMs = 30_000) => diagnose(`runCommand(${title})`, async () => {
      const deadline = Date.now() + timeoutMs;
      const widget = page.locator('.quick-input-widget');
      // Pick the entry whose label is exactly the title: fuzzy matching may rank a similar one first.
      const row = widget
        .locator('.quick-input-list .monaco-list-row')
        .filter({ has: page.locator('.label-name', { hasText: exactly(title) }) })
        .first();
      for (;;) {
        await closeQuickInput(page);
        await page.keyboard.press('F1');
        const input = widget.locator('.quick-input-box input');
        await input.waitFor({ state: 'visible', timeout: 10_000 });
        await input.fill(`>${title}`);
        // The palette lists the commands known when it opened; an extension that is still being registered
        // appears only after reopening it.
        const found = await row.waitFor({ state: 'visible', timeout: 3_000 }).then(() => true, () => false);
        if (found) break;
        if (Date.now() > deadline) throw new Error(`No command titled "${title}" in the palette`);
      }
      await row.click();
      // The palette closes, or the command opens a quick pick of its own at once (a wizard): either way it ran.
      const input = widget.locator('.quick-input-box input');
      const deadline2 = Date.now() + 10_000;
      for (;;) {
        const hidden = !(await widget.isVisible());
        const value = hidden ? '' : await input.inputValue().catch(() => '');
        if (hidden || !value.startsWith('>')) break;
        if (Date.now() > deadline2) throw new Error(`The command palette stayed open after choosing "${title}"`);
        await page.waitForTimeout(100);
      }
    }),

    notifications: () => readNotifications(page),

    waitForNotification: (match, timeoutMs = 15_000) => diagnose(`waitForNotification(${match})`, async () => {
      const deadline = Date.now() + timeoutMs;
      let seen: string[] = [];
      while (Date.now() < deadline) {
        seen = await readNotifications(page);
        const found = seen.find((message) => matches(message, match));
        if (found !== undefined) return found;
        await page.waitForTimeout(200);
      }
      throw new Error(`No notification matching ${match}; on screen: ${JSON.stringify(seen)}`);
    }),

    webviewFrame: (target, timeoutMs = 20_000) => diagnose(`webviewFrame(${target})`, () => findWebviewFrame(page, target, timeoutMs)),

    selectAll: () => diagnose('selectAll', async () => {
      await activeEditorLines(page).click();
      await page.keyboard.press('Control+A');
    }),

    selectText: (text) => diagnose(`selectText(${JSON.stringify(text)})`, async () => {
      const box = await waitForTextBox(page, text, 10_000);
      const y = box.y + box.height / 2;
      // 1 px inside the first and last characters puts the caret before the first and after the last.
      await page.mouse.move(box.x + 1, y);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width - 1, y, { steps: 5 });
      await page.mouse.up();
    }),

    screenshot: async (file) => {
      await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
      await page.screenshot({ path: file });
    },
  };
  return session;
}

// ---------------------------------------------------------------------------------------------------------
// Workbench helpers

async function waitForWorkbench(page: Page, workspace: string, deadline: number): Promise<void> {
  const left = () => Math.max(1_000, deadline - Date.now());
  await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: left() });
  await page.locator('.part.statusbar').waitFor({ state: 'visible', timeout: left() });
  // The Explorer lists files only once the connection to the server is up: a good sign that it is usable.
  const entries = await fs.readdir(workspace);
  if (entries.length > 0) {
    await showExplorer(page);
    await page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ state: 'visible', timeout: left() });
  }
}

/** Clicks each path segment's row in the Explorer (expanding folders); false if a row is not on screen. */
async function clickThroughExplorer(page: Page, segments: string[]): Promise<boolean> {
  await showExplorer(page);
  for (let level = 1; level <= segments.length; level++) {
    // Rows carry their depth in aria-level (the workspace root's children are level 1); compact folders are
    // off (DETERMINISTIC_SETTINGS), so one row is one path segment.
    const row = page
      .locator(`.explorer-folders-view .monaco-list-row[aria-level="${level}"]`)
      .filter({ has: page.locator('.label-name', { hasText: exactly(segments[level - 1]) }) })
      .first();
    const visible = await row.waitFor({ state: 'visible', timeout: 5_000 }).then(() => true, () => false);
    if (!visible) return false;
    const expanded = await row.getAttribute('aria-expanded'); // null for files
    if (expanded === null || expanded === 'false') await row.click();
  }
  return true;
}

async function quickOpen(page: Page, relativePath: string): Promise<void> {
  await closeQuickInput(page);
  await page.keyboard.press('F1');
  const widget = page.locator('.quick-input-widget');
  const input = widget.locator('.quick-input-box input');
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  await input.fill(relativePath);
  const row = widget.locator('.quick-input-list .monaco-list-row').first();
  await row.waitFor({ state: 'visible', timeout: 15_000 });
  await page.keyboard.press('Enter');
  await widget.waitFor({ state: 'hidden', timeout: 10_000 });
}

async function showExplorer(page: Page): Promise<void> {
  if (await page.locator('.explorer-folders-view').isVisible()) return;
  // Click the Explorer in the activity bar; its action label is named by aria-label.
  await page.locator('.activitybar .action-label[aria-label^="Explorer"]').first().click();
  await page.locator('.explorer-folders-view').waitFor({ state: 'visible', timeout: 10_000 });
}

async function closeQuickInput(page: Page): Promise<void> {
  if (await page.locator('.quick-input-widget').isVisible()) {
    await page.keyboard.press('Escape');
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 5_000 });
  }
}

function activeEditorLines(page: Page) {
  return page.locator('.part.editor .editor-group-container.active .monaco-editor .view-lines').first();
}

async function readNotifications(page: Page): Promise<string[]> {
  const messages = page.locator('.notifications-toasts .notification-toast .notification-list-item-message');
  return (await messages.allInnerTexts()).map((text) => text.trim());
}

/** The text of the visible hover once it has real content, or undefined after timeoutMs. */
async function waitForHover(page: Page, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  do {
    // Workbench tooltips (tabs, status bar) are built from the same hover widget: leave them out.
    const texts = await page.locator('.monaco-hover:not(.hidden):not(.workbench-hover) .monaco-hover-content').allInnerTexts();
    const text = texts.map((t) => t.trim()).filter(Boolean).join('\n');
    if (text && !/^Loading\.\.\.$/.test(text)) return text;
    await page.waitForTimeout(100);
  } while (Date.now() < deadline);
  return undefined;
}

interface Box { x: number; y: number; width: number; height: number }

async function waitForTextBox(page: Page, text: string, timeoutMs: number): Promise<Box> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const box = await findTextBox(page, text);
    if (box) return box;
    if (Date.now() > deadline) throw new Error(`"${text}" is not on screen in the active editor`);
    await page.waitForTimeout(200);
  }
}

/**
 * The on-screen box of the first occurrence of `text` in the active editor's rendered lines. A match may span
 * several token spans (`.view-line span`), so it is located with a DOM Range over the line's text nodes.
 */
function findTextBox(page: Page, text: string): Promise<Box | null> {
  return page.evaluate((needle) => {
    const scope = document.querySelector('.part.editor .editor-group-container.active .monaco-editor') ?? document;
    const lines = Array.from(scope.querySelectorAll<HTMLElement>('.view-lines .view-line')).sort(
      (a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top,
    );
    for (const line of lines) {
      const nodes: Text[] = [];
      const walker = document.createTreeWalker(line, NodeFilter.SHOW_TEXT);
      while (walker.nextNode()) nodes.push(walker.currentNode as Text);
      // Monaco renders spaces as no-break spaces; one character for one, so offsets still line up.
      const lineText = nodes.map((n) => n.data).join('').replace(/\u00a0/g, ' ');
      const index = lineText.indexOf(needle);
      if (index < 0) continue;
      // Map the match's start and end offsets to (text node, offset) pairs. Written as a plain loop: tsx
      // wraps named inner functions in __name(), which does not exist in the page.
      const ends: Array<[Text, number]> = [];
      for (const target of [index, index + needle.length]) {
        let offset = target;
        let found: [Text, number] = [nodes[nodes.length - 1], nodes[nodes.length - 1].data.length];
        for (const node of nodes) {
          if (offset <= node.data.length) {
            found = [node, offset];
            break;
          }
          offset -= node.data.length;
        }
        ends.push(found);
      }
      const range = document.createRange();
      range.setStart(ends[0][0], ends[0][1]);
      range.setEnd(ends[1][0], ends[1][1]);
      const rect = range.getBoundingClientRect();
      if (rect.width === 0) continue;
      return { x: rect.left, y: rect.top, width: rect.width, height: rect.height };
    }
    return null;
  }, text);
}

/**
 * Webviews are two nested iframes: the outer `iframe.webview.ready` (VS Code's host page) and, inside it,
 * `#active-frame` with the extension's HTML. The outer iframe has no title, so a title is resolved by
 * position: the visible webview that lies inside the active editor (for an editor tab of that title) or
 * inside the view pane of that title.
 */
async function findWebviewFrame(page: Page, target: string, timeoutMs: number): Promise<Frame> {
  const deadline = Date.now() + timeoutMs;
  const isSelector = /^(iframe|[.#[])/.test(target);
  for (;;) {
    const index = isSelector ? 0 : await webviewIndexByTitle(page, target);
    const outer = isSelector ? page.locator(target).first() : page.locator('iframe.webview.ready').nth(index ?? 0);
    if (index !== null && (await outer.count()) > 0) {
      const outerFrame = await (await outer.elementHandle({ timeout: 5_000 }))?.contentFrame();
      const innerHandle = await outerFrame?.waitForSelector('#active-frame', { timeout: 5_000 }).catch(() => null);
      const inner = await innerHandle?.contentFrame();
      if (inner) {
        await inner.waitForLoadState('domcontentloaded');
        return inner;
      }
    }
    if (Date.now() > deadline) throw new Error(`No webview found for ${JSON.stringify(target)}`);
    await page.waitForTimeout(250);
  }
}

/** Index among `iframe.webview.ready` of the webview showing `title`, or null when it is not (yet) on screen. */
async function webviewIndexByTitle(page: Page, title: string): Promise<number | null> {
  const tab = page.locator('.part.editor .tabs-container .tab').filter({ has: page.locator('.label-name', { hasText: exactly(title) }) }).first();
  let area = null;
  if ((await tab.count()) > 0) {
    // Clicking the tab makes its group the active one (a tab can be active in a group that is not).
    if (!(await tab.evaluate((el) => el.classList.contains('active') && el.closest('.editor-group-container.active') !== null))) await tab.click();
    area = page.locator('.part.editor .editor-group-container.active .editor-container').first();
  } else {
    const pane = page.locator('.pane').filter({ has: page.locator('.pane-header .title', { hasText: exactly(title) }) }).first();
    if ((await pane.count()) === 0) return null;
    const header = pane.locator('.pane-header').first();
    if ((await header.getAttribute('aria-expanded')) === 'false') await header.click();
    area = pane.locator('.pane-body').first();
  }
  const box = await area.boundingBox();
  if (!box) return null;
  return page.evaluate((b) => {
    const frames = Array.from(document.querySelectorAll('iframe.webview.ready'));
    const index = frames.findIndex((frame) => {
      const r = frame.getBoundingClientRect();
      const cx = r.left + r.width / 2;
      const cy = r.top + r.height / 2;
      return r.width > 0 && cx >= b.x && cx <= b.x + b.width && cy >= b.y && cy <= b.y + b.height;
    });
    return index < 0 ? null : index;
  }, box);
}

function exactly(text: string): RegExp {
  return new RegExp(`^\\s*${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`);
}

function matches(text: string, pattern: string | RegExp | undefined): boolean {
  if (pattern === undefined) return true;
  return typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text);
}

// ---------------------------------------------------------------------------------------------------------
// Processes and files

async function prepareWorkspace(tmp: string, options: StartOptions): Promise<string> {
  let workspace = path.join(tmp, 'workspace');
  if (options.workspace && options.openInPlace) workspace = path.resolve(options.workspace);
  else if (options.workspace) await fs.cp(path.resolve(options.workspace), workspace, { recursive: true });
  else await fs.mkdir(workspace, { recursive: true });
  for (const [relative, content] of Object.entries(options.extraFiles ?? {})) {
    const file = path.join(workspace, relative);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, content);
  }
  return workspace;
}

function serverEnv(dirs: { xdgConfig: string; xdgData: string }, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: dirs.xdgConfig, XDG_DATA_HOME: dirs.xdgData, ...extra };
  // Inside a VS Code terminal, VSCODE_IPC_HOOK_CLI would make code-server hand the folder to that VS Code
  // instead of starting; PORT would override --bind-addr; NODE_OPTIONS (e.g. tsx's loader) would leak into
  // the extension host.
  for (const key of Object.keys(env)) {
    if (key.startsWith('VSCODE_') || key === 'PORT' || key === 'NODE_OPTIONS') delete env[key];
  }
  return env;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** Polls /healthz until code-server answers; false if the process exits or time runs out. */
async function waitUntilAnswering(child: ChildProcess, port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    try {
      const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return false;
}

async function waitForLogLine(logFile: string, text: string, deadline: number): Promise<void> {
  while (!(await fs.readFile(logFile, 'utf8')).includes(text)) {
    if (Date.now() > deadline) throw new Error(`code-server never logged "${text}"`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function killGroup(child: ChildProcess | undefined, signal: NodeJS.Signals): void {
  if (!child?.pid) return;
  try {
    process.kill(-child.pid, signal); // negative pid: the whole process group
  } catch {
    // already gone
  }
}

async function stopProcessGroup(child: ChildProcess | undefined): Promise<void> {
  if (!child?.pid) return;
  killGroup(child, 'SIGTERM');
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline && groupAlive(child.pid)) await new Promise((resolve) => setTimeout(resolve, 100));
  killGroup(child, 'SIGKILL');
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  return new Promise<{ code: number; output: string }>((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

async function writeJsonFile(file: string, value: unknown): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

function lastLines(text: string, count: number): string {
  return text.split('\n').slice(-count).join('\n');
}

function withLog(error: unknown, logFile: string, prefix?: string): Error {
  const err = error instanceof Error ? error : new Error(String(error));
  err.message = `${prefix ? `${prefix}: ` : ''}${err.message}\n(code-server log: ${logFile})`;
  return err;
}
