/**
 * The end-to-end scenarios inside a desktop VS Code, run by @vscode/test-electron (`npm run test:desktop`). The
 * extension host loads this file with --extensionTestsPath; `run` resolves when every scenario passed.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ModelLensApi } from '../../extension/extension';

const SYSTEM_PROMPT = 'You are a careful assistant. Answer in one short paragraph.';

async function waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function hoverMarkdown(uri: vscode.Uri, position: vscode.Position): Promise<string> {
  const hovers = (await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', uri, position)) ?? [];
  return hovers.flatMap((hover) => hover.contents.map((content) => (typeof content === 'string' ? content : content.value))).join('\n');
}

const scenarios: [string, (api: ModelLensApi, folder: vscode.Uri) => Promise<void>][] = [
  [
    'hovering a Python string shows the count and pieces of each active tokenizer',
    async (_api, folder) => {
      const document = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder, 'prompts.py'));
      await vscode.window.showTextDocument(document);
      const position = document.positionAt(document.getText().indexOf('careful'));
      const markdown = await waitFor(async () => {
        const text = await hoverMarkdown(document.uri, position);
        return text.includes('tiny-gemma3-f16') ? text : undefined;
      }, 'the hover');
      assert.match(markdown, /\| tokens \| 12 \| 12 \|/);
      assert.match(markdown, /`·careful`/);
    },
  ],
  [
    'hovering a list of ids decodes it',
    async (_api, folder) => {
      const document = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder, 'token_ids.json'));
      const markdown = await hoverMarkdown(document.uri, document.positionAt(document.getText().indexOf('4062')));
      assert.match(markdown, /The quick brown fox jumps over the lazy dog\./);
    },
  ],
  [
    'Tokenize Selection fills the Tokens view with one chip per token',
    async (api, folder) => {
      const document = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder, 'prompts.py'));
      const editor = await vscode.window.showTextDocument(document);
      const start = document.getText().indexOf(SYSTEM_PROMPT);
      editor.selection = new vscode.Selection(document.positionAt(start), document.positionAt(start + SYSTEM_PROMPT.length));
      await vscode.commands.executeCommand('modelLens.tokenizeSelection');
      const state = await waitFor(() => api.tokenStripState(), 'the Tokens view state');
      assert.equal(state.results.length, 1);
      assert.equal(state.results[0].count, 12);
      assert.equal(state.text, SYSTEM_PROMPT);
    },
  ],
];

export async function run(): Promise<void> {
  const extension = vscode.extensions.getExtension<ModelLensApi>('model-lens.model-lens');
  assert.ok(extension, 'the extension is installed');
  const api = await extension.activate();
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  assert.ok(folder, `open the demo workspace (${path.join('demo', 'workspace')})`);
  let failed = 0;
  for (const [name, scenario] of scenarios) {
    try {
      await scenario(api, folder);
      console.log(`✔ ${name}`);
    } catch (error) {
      failed++;
      console.error(`✖ ${name}\n  ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
  }
  console.log(`${scenarios.length - failed} passed, ${failed} failed`);
  if (failed > 0) throw new Error(`${failed} desktop scenario(s) failed`);
}
