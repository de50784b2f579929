/**
 * The Backpack commands: Show Senses, Explain Prediction…, Search Senses…, Edit Senses…, Finetune Senses from
 * Examples… (examples JSONL, general text, optional evaluation file, degradation budget), Export Edited Model…, and Save / Discard / Toggle Sense Edits. Each picks an open Backpack
 * (ModelSummary.backpack), asks only for what it needs and shows the result in the Backpack Senses panel. Unsaved edits
 * are never lost silently: closing the model or restarting the server asks first (ctx.onWillCloseModel).
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import * as protocol from '../server/protocol';
import type { ModelLensContext } from './ctx';
import { settleUnsavedEdits, type SensesPanel } from './sensesPanel';

const LAST_BACKPACK_KEY = 'modelLens.lastBackpack';
/** A context key for menus: true while a Backpack is open. */
const BACKPACK_OPEN_KEY = 'modelLens.backpackOpen';

interface ShowSensesArgs {
  modelId?: string;
  word?: string;
  tokenId?: number;
  sense?: number;
}

interface EditSensesArgs {
  modelId?: string;
  word?: string;
  sense?: number;
  kind?: protocol.ManualSenseEdit['kind'];
  factor?: number;
  from?: string;
  to?: string;
}

/** The word under the cursor or the selection, with the leading space it has in running text (" king"). */
export function wordAtCursor(editor: vscode.TextEditor | undefined): string | undefined {
  if (!editor) return undefined;
  const document = editor.document;
  const range: vscode.Range | undefined = editor.selection.isEmpty ? document.getWordRangeAtPosition(editor.selection.active) : editor.selection;
  if (!range) return undefined;
  const text = document.getText(range);
  if (!text.trim()) return undefined;
  if (/^\s/.test(text)) return text;
  // A word after a space is the token " word" in GPT-2-style vocabularies.
  if (range.start.character > 0) {
    const before = document.getText(new vscode.Range(range.start.translate(0, -1), range.start));
    if (before === ' ') return ` ${text}`;
  }
  return text;
}

function validNumber(text: string, check: (n: number) => string | undefined): string | undefined {
  const n = Number(text);
  return text.trim() !== '' && Number.isFinite(n) ? check(n) : 'A number';
}

export function registerBackpackCommands(ctx: ModelLensContext, panel: SensesPanel, state: vscode.Memento): vscode.Disposable[] {
  const backpacks = async () => (await ctx.settledModels()).filter((model) => model.backpack);

  /** The given Backpack, the only one, the panel's, the last used, or the user's pick; a clear message when none is open. */
  async function pickBackpack(title: string, given?: string): Promise<protocol.ModelSummary | undefined> {
    const candidates = await backpacks();
    if (given) {
      const model = candidates.find((candidate) => candidate.id === given);
      if (!model) void vscode.window.showWarningMessage(`Model Lens: ${given} is not an open Backpack language model.`);
      return model;
    }
    if (candidates.length === 0) {
      void vscode.window
        .showInformationMessage(
          'Model Lens: no Backpack language model is open. Open a backpack-gpt2 folder (config.json with model_type "backpack-gpt2", model.safetensors, tokenizer.json) first.',
          'Open Model…',
        )
        .then((choice) => {
          if (choice) void vscode.commands.executeCommand('modelLens.openModel');
        });
      return undefined;
    }
    if (candidates.length === 1) return candidates[0];
    const preferred = panel.shownModelId ?? state.get<string>(LAST_BACKPACK_KEY);
    const ordered = [...candidates].sort((a, b) => Number(b.id === preferred) - Number(a.id === preferred));
    const pick = await vscode.window.showQuickPick(
      ordered.map((model) => ({ label: model.name, description: model.id === preferred ? 'last used' : undefined, detail: model.path, model })),
      { title },
    );
    if (pick) await state.update(LAST_BACKPACK_KEY, pick.model.id);
    return pick?.model;
  }

  async function askWord(title: string, value?: string): Promise<string | undefined> {
    const typed = await vscode.window.showInputBox({
      title,
      value,
      prompt: 'One token. A leading space matters in GPT-2-style vocabularies: " king" is the word, "king" a piece.',
      validateInput: (text) => (text.length === 0 ? 'A word' : undefined),
    });
    return typed === undefined || typed.length === 0 ? undefined : typed;
  }

  async function askSense(model: protocol.ModelSummary, word: string, title: string): Promise<number | undefined> {
    const senses = await ctx.request(protocol.senses, { modelId: model.id, word, top: 6 });
    if (!senses) return undefined;
    const pick = await vscode.window.showQuickPick(
      senses.senses.map((sense) => ({
        label: `sense ${sense.sense}`,
        description: `${sense.edited ? '✎ edited · ' : ''}+ ${sense.top.map((w) => JSON.stringify(w.token)).join(' ')}`,
        detail: `− ${sense.bottom.map((w) => JSON.stringify(w.token)).join(' ')}`,
        sense: sense.sense,
      })),
      { title, matchOnDescription: true },
    );
    return pick?.sense;
  }

  async function askFactor(title: string, value: string): Promise<number | undefined> {
    const typed = await vscode.window.showInputBox({
      title,
      value,
      prompt: '1 leaves it as it is, 0 removes it, 2 doubles it, −1 flips it.',
      validateInput: (text) => validNumber(text, (n) => (Math.abs(n) <= 1000 ? undefined : 'Between −1000 and 1000')),
    });
    return typed === undefined ? undefined : Number(typed);
  }

  async function applyEdit(model: protocol.ModelSummary, edit: protocol.ManualSenseEdit): Promise<void> {
    const result = await ctx.request(protocol.editSenses, { modelId: model.id, edit });
    if (!result) return;
    await panel.edited(model.id, result, edit.word);
    void vscode.window.setStatusBarMessage(`Model Lens: edited ${JSON.stringify(edit.word)} in ${model.name} (unsaved)`, 4000);
  }

  async function changeEdits(action: protocol.SenseEditAction | 'toggle', modelId = panel.shownModelId): Promise<void> {
    const model = await pickBackpack('Sense edits of…', modelId);
    if (!model) return;
    const current = await ctx.request(protocol.senseEditState, { modelId: model.id });
    if (!current) return;
    if (!current.editable) {
      void vscode.window.showInformationMessage(`Model Lens: ${model.name} is a view-only Backpack; its senses cannot be edited.`);
      return;
    }
    if (action === 'discard') {
      if (!current.unsaved) {
        void vscode.window.showInformationMessage(`Model Lens: ${model.name} has no unsaved sense edits.`);
        return;
      }
      const sure = await vscode.window.showWarningMessage(`Discard the unsaved sense edits of ${model.name}? It goes back to its saved edits (or none).`, { modal: true }, 'Discard');
      if (!sure) return;
    }
    const resolved: protocol.SenseEditAction = action === 'toggle' ? (current.enabled ? 'disable' : 'enable') : action;
    const result = await ctx.request(protocol.changeSenseEdits, { modelId: model.id, action: resolved });
    if (!result) return;
    await panel.edited(model.id, result);
    const said: Record<protocol.SenseEditAction, string> = {
      save: `saved beside the model (${result.editedWords.length} edited word${result.editedWords.length === 1 ? '' : 's'})`,
      discard: 'discarded',
      enable: 'on',
      disable: 'off (the original senses are used)',
    };
    void vscode.window.setStatusBarMessage(`Model Lens: sense edits of ${model.name} ${said[resolved]}`, 4000);
  }

  async function chooseFile(model: protocol.ModelSummary, title: string, filters: Record<string, string[]>): Promise<vscode.Uri | undefined> {
    const picked = await vscode.window.showOpenDialog({ canSelectFiles: true, canSelectFolders: false, canSelectMany: false, title, filters, defaultUri: vscode.Uri.file(model.path) });
    return picked?.[0];
  }

  /** A file for the finetuning: the demo's file beside the model when there is one, or one the user picks. */
  async function pickFile(model: protocol.ModelSummary, besideName: string, title: string, filters: Record<string, string[]>): Promise<string | undefined> {
    const beside = vscode.Uri.joinPath(vscode.Uri.file(model.path), besideName);
    const exists = await vscode.workspace.fs.stat(beside).then(
      () => true,
      () => false,
    );
    if (!exists) return (await chooseFile(model, title, filters))?.fsPath;
    const choice = await vscode.window.showQuickPick(
      [
        { label: besideName, description: `beside ${model.name}`, detail: beside.fsPath, value: 'beside' as const },
        { label: 'Choose a file…', value: 'choose' as const },
      ],
      { title },
    );
    if (!choice) return undefined;
    return choice.value === 'beside' ? beside.fsPath : (await chooseFile(model, title, filters))?.fsPath;
  }

  const updateContextKey = (models: readonly protocol.ModelSummary[]) => void vscode.commands.executeCommand('setContext', BACKPACK_OPEN_KEY, models.some((model) => model.backpack));

  return [
    ctx.onModelsChanged(updateContextKey),
    // Closing a Backpack (or restarting the server) with unsaved edits asks first.
    ctx.onWillCloseModel((modelId) => settleUnsavedEdits(ctx, modelId, 'Closing the model loses them: save them first?')),

    vscode.commands.registerCommand('modelLens.showSenses', async (args?: ShowSensesArgs) => {
      const word = args?.word ?? wordAtCursor(vscode.window.activeTextEditor) ?? (await askWord('Show the senses of…'));
      if (word === undefined) return;
      const model = await pickBackpack(`Senses of ${JSON.stringify(word)} in…`, args?.modelId);
      if (!model) return;
      await state.update(LAST_BACKPACK_KEY, model.id);
      await panel.showSenses(model.id, word, { tokenId: args?.tokenId, sense: args?.sense });
    }),

    vscode.commands.registerCommand('modelLens.explainPrediction', async (args?: { modelId?: string; text?: string; position?: number; target?: string }) => {
      const editor = vscode.window.activeTextEditor;
      const selection = editor && !editor.selection.isEmpty ? editor.document.getText(editor.selection) : undefined;
      const text =
        args?.text ??
        selection ??
        (await vscode.window.showInputBox({
          title: 'Explain Prediction',
          prompt: 'A prompt: the Backpack predicts the token after it and shows which words and senses made it.',
          value: 'The capital of France is',
          validateInput: (typed) => (typed.trim() ? undefined : 'A prompt'),
        }));
      if (!text) return;
      const model = await pickBackpack('Explain the prediction of…', args?.modelId);
      if (!model) return;
      await panel.explain(model.id, { text, ...(args?.position !== undefined ? { position: args.position } : {}), ...(args?.target ? { target: args.target } : {}) });
    }),

    vscode.commands.registerCommand('modelLens.searchSenses', async (args?: { modelId?: string; query?: string }) => {
      const query = args?.query ?? (await askWord('Search senses: which senses have this word among their top words?', wordAtCursor(vscode.window.activeTextEditor)));
      if (query === undefined) return;
      const model = await pickBackpack(`Search the senses of… for ${JSON.stringify(query)}`, args?.modelId);
      if (!model) return;
      await panel.search(model.id, query);
    }),

    vscode.commands.registerCommand('modelLens.editSenses', async (args?: EditSensesArgs) => {
      const model = await pickBackpack('Edit the senses of…', args?.modelId);
      if (!model) return;
      const kind =
        args?.kind ??
        (
          await vscode.window.showQuickPick(
            [
              { label: 'Scale a sense…', description: 'multiply one sense vector of a word', edit: 'scale-sense' as const },
              { label: 'Scale α of a sense…', description: "multiply the sense's weight wherever the word appears (the gender demo)", edit: 'scale-alpha' as const },
              { label: 'Replace a word in all senses…', description: 'MacBook-style projection: what the senses say about one word moves to another', edit: 'project' as const },
            ],
            { title: `Edit Senses of ${model.name}` },
          )
        )?.edit;
      if (!kind) return;
      const word = args?.word ?? (await askWord(kind === 'project' ? 'The word whose senses to rewrite (e.g. " MacBook")' : 'The word to edit', wordAtCursor(vscode.window.activeTextEditor) ?? (kind === 'project' ? ' MacBook' : undefined)));
      if (word === undefined) return;
      if (kind === 'project') {
        const from = args?.from ?? (await askWord(`In the senses of ${JSON.stringify(word)}, replace…`, ' Apple'));
        if (from === undefined) return;
        const to = args?.to ?? (await askWord(`…replace ${JSON.stringify(from)} with`, ' HP'));
        if (to === undefined) return;
        await applyEdit(model, { kind, word, from, to });
        return;
      }
      const sense = args?.sense ?? (await askSense(model, word, kind === 'scale-sense' ? `Which sense of ${JSON.stringify(word)} to scale?` : `Scale α of which sense of ${JSON.stringify(word)}?`));
      if (sense === undefined) return;
      const factor = args?.factor ?? (await askFactor(kind === 'scale-sense' ? `Multiply sense ${sense} of ${JSON.stringify(word)} by` : `Multiply α of sense ${sense} of ${JSON.stringify(word)} by`, '0'));
      if (factor === undefined) return;
      await applyEdit(model, { kind, word, sense, factor });
    }),

    vscode.commands.registerCommand('modelLens.finetuneSenses', async (args?: { modelId?: string; examples?: string; generalText?: string; evaluation?: string; budget?: number }) => {
      const model = await pickBackpack('Finetune the senses of…', args?.modelId);
      if (!model) return;
      const examples = args?.examples ?? (await pickFile(model, 'canonical-examples.jsonl', 'Canonical examples (JSONL: {"prefix", "suffix", "kind"} per line)', { 'JSON Lines': ['jsonl', 'json'] }));
      if (!examples) return;
      const generalText = args?.generalText ?? (await pickFile(model, 'general-text.txt', 'General text the edit should leave alone', { Text: ['txt', 'md'] }));
      if (!generalText) return;
      let evaluation = args?.evaluation;
      if (!args) {
        const choice = await vscode.window.showQuickPick(
          [
            { label: 'No evaluation file', description: 'report the training examples only', value: 'none' as const },
            { label: 'Choose an evaluation file…', description: 'held-out examples (JSONL) for the success rate per epoch', value: 'choose' as const },
          ],
          { title: 'Evaluation examples (optional)' },
        );
        if (!choice) return;
        if (choice.value === 'choose') {
          evaluation = (await chooseFile(model, 'Held-out examples (JSONL)', { 'JSON Lines': ['jsonl', 'json'] }))?.fsPath;
          if (!evaluation) return;
        }
      }
      const budget =
        args?.budget ??
        (
          await vscode.window.showQuickPick(
            [
              { label: '1e-4', description: 'the general-text loss may rise by 0.01% (default)', value: 1e-4 },
              { label: '1e-3', description: 'looser: 0.1%', value: 1e-3 },
              { label: '1e-5', description: 'stricter: 0.001%', value: 1e-5 },
            ],
            { title: 'Degradation budget: the largest relative rise of the general-text loss an epoch may cause' },
          )
        )?.value;
      if (budget === undefined) return;
      const report = await panel.finetune(model.id, { examples, generalText, ...(evaluation ? { evaluation } : {}) }, { degradationBudget: budget });
      if (!report) return;
      const kept = report.chosenEpoch > 0 ? `kept epoch ${report.chosenEpoch} of ${report.epochs.length}` : 'no epoch stayed within the budget, so nothing was applied';
      const choice = await vscode.window.showInformationMessage(
        `Model Lens: finetuned ${report.pairs.length} senses of ${model.name}; ${kept}.${report.applied ? ' The edits are unsaved.' : ''}`,
        ...(report.applied ? ['Save Edits'] : []),
      );
      if (choice === 'Save Edits') await changeEdits('save', model.id);
    }),

    vscode.commands.registerCommand('modelLens.saveSenseEdits', (args?: { modelId?: string }) => changeEdits('save', args?.modelId ?? panel.shownModelId)),
    vscode.commands.registerCommand('modelLens.discardSenseEdits', (args?: { modelId?: string }) => changeEdits('discard', args?.modelId ?? panel.shownModelId)),
    vscode.commands.registerCommand('modelLens.toggleSenseEdits', (args?: { modelId?: string }) => changeEdits('toggle', args?.modelId ?? panel.shownModelId)),

    vscode.commands.registerCommand('modelLens.exportBackpack', async (args?: { modelId?: string; outDir?: string }) => {
      const model = await pickBackpack('Export which Backpack?', args?.modelId);
      if (!model) return;
      let outDir = args?.outDir;
      if (!outDir) {
        const parent = await vscode.window.showOpenDialog({
          canSelectFiles: false,
          canSelectFolders: true,
          canSelectMany: false,
          openLabel: 'Export Here',
          title: `Export ${model.name} with its edits: choose the folder to put it in`,
          defaultUri: vscode.Uri.file(path.dirname(model.path)),
        });
        if (!parent?.[0]) return;
        const name = await vscode.window.showInputBox({
          title: 'Name of the new model folder',
          value: `${model.name}-edited`,
          prompt: `Created in ${parent[0].fsPath}; an existing folder is never overwritten.`,
          validateInput: async (typed) => {
            if (!typed.trim() || /[\\/]/.test(typed)) return 'A folder name';
            try {
              await vscode.workspace.fs.stat(vscode.Uri.joinPath(parent[0], typed));
              return 'That folder exists; the export never overwrites. Choose a new name.';
            } catch {
              return undefined;
            }
          },
        });
        if (!name) return;
        outDir = vscode.Uri.joinPath(parent[0], name).fsPath;
      }
      const target = outDir;
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Model Lens: exporting ${model.name}`, cancellable: true },
        (_progress, token) => ctx.requestCancellable(protocol.exportBackpack, { modelId: model.id, outDir: target }, token),
      );
      if (!result) return;
      const choice = await vscode.window.showInformationMessage(
        `Model Lens: exported ${model.name} to ${result.folder} (${result.files.length} files, ${result.editedWords} edited word${result.editedWords === 1 ? '' : 's'}).`,
        'Open Model',
        'Reveal',
      );
      if (choice === 'Open Model') await ctx.request(protocol.openModel, { path: result.folder });
      else if (choice === 'Reveal') await vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(result.folder));
    }),
  ];
}
