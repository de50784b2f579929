/**
 * The command-palette actions. Each one is a thin wrapper: gather input, send one typed request, show the result.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import * as protocol from '../server/protocol';
import type { ModelLensContext } from './ctx';
import { activeTokenizerSetting, setActiveTokenizerSetting } from './config';
import type { TokenStripViewProvider } from './tokenStripView';

interface ModelPick extends vscode.QuickPickItem {
  model: protocol.ModelSummary;
}

function modelPicks(models: readonly protocol.ModelSummary[], withTokenizer = false): ModelPick[] {
  return models
    .filter((model) => !withTokenizer || model.tokenizer)
    .map((model) => ({
      label: model.name,
      description: model.tokenizer ? `${model.tokenizer.type} · ${model.tokenizer.vocabSize.toLocaleString('en-US')} tokens` : model.format,
      detail: model.path,
      picked: model.active,
      model,
    }));
}

/** The selection, or the whole document when nothing is selected, with the offset it starts at. */
function selectedText(editor: vscode.TextEditor): { text: string; offset: number; source: string } {
  const selection = editor.selection;
  const range = selection.isEmpty ? undefined : selection;
  const text = editor.document.getText(range);
  const offset = range ? editor.document.offsetAt(range.start) : 0;
  const where = range ? `line ${range.start.line + 1}` : 'whole document';
  return { text, offset, source: `${path.basename(editor.document.fileName)}, ${where}` };
}

export function registerCommands(ctx: ModelLensContext, tokenStrip: TokenStripViewProvider): vscode.Disposable[] {
  const register = (id: string, run: (...args: any[]) => unknown) => vscode.commands.registerCommand(id, run);

  async function openModel(target?: vscode.Uri, selected?: vscode.Uri[]) {
    let uris = selected && selected.length > 0 ? selected : target ? [target] : undefined;
    if (!uris) {
      uris = await vscode.window.showOpenDialog({
        canSelectFiles: true,
        canSelectFolders: true,
        canSelectMany: true,
        openLabel: 'Open Model',
        title: 'Open a model folder, tokenizer.json or checkpoint',
        defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
      });
    }
    if (!uris) return;
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'Model Lens: opening', cancellable: false },
      async (progress) => {
        for (const uri of uris!) {
          progress.report({ message: path.basename(uri.fsPath) });
          const model = await ctx.request(protocol.openModel, { path: uri.fsPath });
          if (model) void vscode.window.setStatusBarMessage(`Model Lens: opened ${model.name}`, 3000);
        }
      },
    );
  }

  async function tokenizeInto(compare: boolean) {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showInformationMessage('Model Lens: open a file and select some text to tokenize.');
      return;
    }
    const { text, offset, source } = selectedText(editor);
    if (text.length === 0) {
      void vscode.window.showInformationMessage('Model Lens: the selection is empty.');
      return;
    }
    const results = compare
      ? await ctx.request(protocol.compareTokenizers, { text })
      : await ctx.request(protocol.tokenize, { text }).then((result) => (result ? [result] : undefined));
    if (!results) return;
    await tokenStrip.show({ text, results, source }, { uri: editor.document.uri, offset });
  }

  return [
    register('modelLens.openModel', openModel),
    register('modelLens.closeModel', async (node?: { model?: protocol.ModelSummary }) => {
      let id = node?.model?.id;
      if (!id) {
        const pick = await vscode.window.showQuickPick(modelPicks(ctx.openModels), { title: 'Close Model' });
        id = pick?.model.id;
      }
      if (id && (await ctx.mayCloseModel(id))) await ctx.request(protocol.closeModel, { id });
    }),
    register('modelLens.setActiveTokenizers', async () => {
      const picks = modelPicks(ctx.openModels, true);
      if (picks.length === 0) {
        void vscode.window.showInformationMessage('Model Lens: no tokenizer is open. Run "Model Lens: Open Model…" first.');
        return;
      }
      const chosen = await vscode.window.showQuickPick(picks, {
        title: 'Active tokenizers (used by hovers, counts and comparisons)',
        canPickMany: true,
      });
      if (!chosen) return;
      await setActiveTokenizerSetting(chosen.map((pick) => pick.model.id));
    }),
    register('modelLens.switchTokenizer', async () => {
      const pick = await vscode.window.showQuickPick(modelPicks(ctx.openModels, true), {
        title: 'Count tokens with…',
      });
      if (!pick) return;
      // Put the chosen tokenizer first and keep the other active ones after it.
      const rest = activeTokenizerSetting().filter((id) => id !== pick.model.id);
      await setActiveTokenizerSetting([pick.model.id, ...rest]);
    }),
    register('modelLens.tokenizeSelection', () => tokenizeInto(false)),
    register('modelLens.compareTokenizers', () => tokenizeInto(true)),
    register('modelLens.restartServer', async () => {
      // A restart reopens the models but not what only lived in the server's memory (unsaved sense edits).
      for (const model of ctx.openModels) if (!(await ctx.mayCloseModel(model.id))) return;
      await ctx.restart();
      void vscode.window.setStatusBarMessage('Model Lens: server restarted', 3000);
    }),
    register('modelLens.showLog', () => ctx.output.show()),
  ];
}
