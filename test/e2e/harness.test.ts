// Smoke test of the end-to-end harness itself, with a throwaway extension built at test time: if this fails,
// the problem is the harness or the provisioned code-server, not Model Lens.
//
//   node --import tsx --test test/e2e/harness.test.ts

import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { provisionCodeServer } from '../../scripts/provision-code-server.mjs';
import { buildVsix, startCodeServer, type Session } from './codeServer';

const SMOKE_PACKAGE = {
  name: 'harness-smoke',
  displayName: 'Harness Smoke',
  description: 'Throwaway extension for the e2e harness smoke test.',
  version: '0.0.1',
  publisher: 'model-lens-test',
  license: 'MIT',
  engines: { vscode: '^1.90.0' },
  main: './extension.js',
  activationEvents: ['onLanguage:plaintext'],
  contributes: {
    commands: [
      { command: 'harnessSmoke.sayHello', title: 'Say Hello', category: 'Harness Smoke' },
      { command: 'harnessSmoke.openPanel', title: 'Open Panel', category: 'Harness Smoke' },
    ],
    views: { explorer: [{ type: 'webview', id: 'harnessSmoke.view', name: 'Smoke View' }] },
  },
};

const SMOKE_EXTENSION = `
const vscode = require('vscode');
exports.activate = (context) => {
  context.subscriptions.push(
    vscode.commands.registerCommand('harnessSmoke.sayHello', () => vscode.window.showInformationMessage('Hello from the harness smoke test')),
    vscode.commands.registerCommand('harnessSmoke.openPanel', () => {
      const panel = vscode.window.createWebviewPanel('harnessSmoke.panel', 'Smoke Panel', vscode.ViewColumn.Active, { enableScripts: true });
      panel.webview.html = '<!DOCTYPE html><html><body><h1 id="greeting">smoke-webview</h1>'
        + '<script>document.body.dataset.ready = "yes";</script></body></html>';
    }),
    vscode.window.registerWebviewViewProvider('harnessSmoke.view', {
      resolveWebviewView: (view) => { view.webview.html = '<!DOCTYPE html><html><body><p id="where">smoke-view</p></body></html>'; },
    }),
    vscode.languages.registerHoverProvider('plaintext', {
      provideHover: () => new vscode.Hover('smoke-hover'),
    }),
  );
};
`;

describe('code-server e2e harness', { timeout: 30 * 60_000 }, () => {
  let tmp: string;
  let session: Session | undefined;

  before(async () => {
    await provisionCodeServer(); // minutes on a fresh machine, instant when cached
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'harness-smoke-'));
    const extensionDir = path.join(tmp, 'extension');
    await fs.mkdir(extensionDir);
    await fs.writeFile(path.join(extensionDir, 'package.json'), JSON.stringify(SMOKE_PACKAGE, null, 2));
    await fs.writeFile(path.join(extensionDir, 'extension.js'), SMOKE_EXTENSION);
    await fs.writeFile(path.join(extensionDir, 'README.md'), '# Harness Smoke\n\nUsed only by test/e2e/harness.test.ts.\n');
    const vsix = await buildVsix(extensionDir, path.join(tmp, 'harness-smoke.vsix'));

    session = await startCodeServer({
      vsix,
      extraFiles: {
        'notes.txt': 'alpha beta gamma\nsecond line of text\n',
        'nested/deeper/inner.txt': 'inner file\n',
        // More rows than the Explorer shows at once, so the last one must be opened another way.
        ...Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`many/file-${String(i).padStart(2, '0')}.txt`, `filler ${i}\n`])),
        'many/zz-last.txt': 'last of many\n',
      },
    });
  });

  after(async () => {
    await session?.stop();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it('shows the extension hover over text in a plaintext file', async () => {
    await session!.openFile('notes.txt');
    const hover = await session!.hoverText('beta', { contains: 'smoke-hover' });
    assert.match(hover, /smoke-hover/);
  });

  it('opens a file in nested folders through the Explorer', async () => {
    await session!.openFile('nested/deeper/inner.txt');
    const hover = await session!.hoverText('inner', { contains: 'smoke-hover' });
    assert.match(hover, /smoke-hover/);
  });

  it('opens a file that is scrolled out of the Explorer', async () => {
    await session!.openFile('many/zz-last.txt');
    const hover = await session!.hoverText('last of many', { contains: 'smoke-hover' });
    assert.match(hover, /smoke-hover/);
  });

  it('runs a command from the palette and reads its notification', async () => {
    await session!.runCommand('Harness Smoke: Say Hello');
    const message = await session!.waitForNotification('Hello from the harness smoke test');
    assert.equal(message, 'Hello from the harness smoke test');
    assert.ok((await session!.notifications()).includes(message));
  });

  it('reaches the content of a webview panel', async () => {
    await session!.runCommand('Harness Smoke: Open Panel');
    const frame = await session!.webviewFrame('Smoke Panel');
    await frame.waitForSelector('body[data-ready="yes"]');
    assert.equal(await frame.textContent('#greeting'), 'smoke-webview');
  });

  it('reaches the content of a webview view in the side bar', async () => {
    const frame = await session!.webviewFrame('Smoke View'); // expands the collapsed section first
    assert.equal(await frame.textContent('#where'), 'smoke-view');
  });

  it('selects text in the editor', async () => {
    await session!.openFile('notes.txt');
    await session!.selectText('second line');
    // The status bar shows the selection's size, e.g. "Ln 2, Col 12 (11 selected)".
    const status = session!.page.locator('.statusbar-item', { hasText: /selected/ }).first();
    await status.waitFor({ timeout: 10_000 });
    assert.match(await status.innerText(), /\(11 selected\)/);
    await session!.selectAll();
    await session!.page.locator('.statusbar-item', { hasText: /\(37 selected\)/ }).first().waitFor({ timeout: 10_000 });
  });

  it('takes a screenshot', async () => {
    const file = path.join(tmp, 'shot.png');
    await session!.screenshot(file);
    assert.ok((await fs.stat(file)).size > 10_000);
  });
});
