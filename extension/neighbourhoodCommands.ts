/**
 * The neighbourhood commands: Show Neighbourhood (of the word or token under the cursor or selection), Project
 * Vocabulary…, Compare Models…, Analogy…. Each picks a model with an embedding (remembering the last choice), asks
 * only for what it needs, and shows the result in the Neighbourhood panel.
 */
import * as vscode from 'vscode';
import * as protocol from '../server/protocol';
import type { ModelLensContext } from './ctx';
import type { NeighbourhoodPanel } from './neighbourhoodPanel';

const LAST_MODEL_KEY = 'modelLens.neighbourhoodModel';
const DEFAULT_CONTROLS: protocol.NeighbourControls = { k: 20, metric: 'cosine', space: 'input' };

export function registerNeighbourhoodCommands(ctx: ModelLensContext, panel: NeighbourhoodPanel, state: vscode.Memento): vscode.Disposable[] {
  const withEmbeddings = async () => (await ctx.settledModels()).filter((model) => model.embeddings.input && model.tokenizer);

  /** A model with an embedding: the given one, the only one, the last one used, or the user's pick. */
  async function pickModel(title: string, given?: string, exclude?: string): Promise<protocol.ModelSummary | undefined> {
    const candidates = (await withEmbeddings()).filter((model) => model.id !== exclude);
    if (given) return candidates.find((model) => model.id === given);
    if (candidates.length === 0) {
      void vscode.window.showInformationMessage('Model Lens: no open model has an embedding. Open a checkpoint or word vectors first.', 'Open Model…').then((choice) => {
        if (choice) void vscode.commands.executeCommand('modelLens.openModel');
      });
      return undefined;
    }
    if (candidates.length === 1) return candidates[0];
    const last = state.get<string>(LAST_MODEL_KEY);
    // Word vectors first: their neighbourhoods are what most people open this for.
    const ordered = [...candidates].sort((a, b) => Number(b.id === last) - Number(a.id === last) || Number(b.format === 'word-vectors') - Number(a.format === 'word-vectors'));
    const pick = await vscode.window.showQuickPick(
      ordered.map((model) => ({
        label: model.name,
        description: `${model.format} · ${model.embeddings.input!.shape.join(' × ')}${model.id === last ? ' · last used' : ''}`,
        detail: model.path,
        model,
      })),
      { title },
    );
    if (pick) await state.update(LAST_MODEL_KEY, pick.model.id);
    return pick?.model;
  }

  /** The selection, or the word under the cursor. */
  function queryAtCursor(): { kind: 'token' | 'text'; value: string } | undefined {
    const editor = vscode.window.activeTextEditor;
    if (!editor) return undefined;
    if (!editor.selection.isEmpty) {
      const text = editor.document.getText(editor.selection).trim();
      return text ? { kind: /\s/.test(text) ? 'text' : 'token', value: text } : undefined;
    }
    const range = editor.document.getWordRangeAtPosition(editor.selection.active);
    return range ? { kind: 'token', value: editor.document.getText(range) } : undefined;
  }

  return [
    vscode.commands.registerCommand('modelLens.showNeighbourhood', async (args?: { modelId?: string; token?: string; id?: number }) => {
      let query = args?.id !== undefined ? { kind: 'id' as const, value: String(args.id) } : args?.token ? { kind: 'token' as const, value: args.token } : queryAtCursor();
      if (!query) {
        const typed = await vscode.window.showInputBox({ title: 'Show Neighbourhood', prompt: 'A token, a word or a text (the mean of its tokens)' });
        if (!typed) return;
        query = { kind: /\s/.test(typed.trim()) ? 'text' : 'token', value: typed.trim() };
      }
      const model = await pickModel(`Neighbours of "${query.value}" in…`, args?.modelId);
      if (!model) return;
      const result = await panel.showNeighbours({ modelId: model.id, ...DEFAULT_CONTROLS }, query);
      // A word that is several tokens is shown as the mean of its tokens.
      if (!result && query.kind === 'token') await panel.showNeighbours({ modelId: model.id, ...DEFAULT_CONTROLS }, { kind: 'text', value: query.value });
    }),
    vscode.commands.registerCommand('modelLens.projectVocabulary', async () => {
      const model = await pickModel('Project the vocabulary of…');
      if (!model) return;
      const method = await vscode.window.showQuickPick(
        [
          { label: 'PCA', description: 'exact, fast; up to 50,000 points', value: 'pca' as const },
          { label: 'UMAP', description: 'non-linear; up to 10,000 points', value: 'umap' as const },
        ],
        { title: 'Projection' },
      );
      if (!method) return;
      const sample = await vscode.window.showInputBox({
        title: 'How many vocabulary entries (an even sample)?',
        value: method.value === 'pca' ? '10000' : '2000',
        validateInput: (value) => (/^\d+$/.test(value) && Number(value) >= 3 && Number(value) <= (method.value === 'pca' ? 50_000 : 10_000) ? undefined : `A number from 3 to ${method.value === 'pca' ? '50,000' : '10,000'}`),
      });
      if (!sample) return;
      await panel.showProjection(model.id, { method: method.value, source: 'sample', sample: Number(sample) });
    }),
    vscode.commands.registerCommand('modelLens.compareModels', async (args?: { token?: string }) => {
      const left = await pickModel('Compare models: the first model');
      if (!left) return;
      const right = await pickModel('Compare models: the second model', undefined, left.id);
      if (!right) return;
      const token = args?.token ?? queryAtCursor()?.value ?? (await vscode.window.showInputBox({ title: 'Compare the neighbours of which token?', value: 'the' }));
      if (!token) return;
      await panel.showComparison(left.id, right.id, token, { k: 10, metric: 'cosine', space: 'input' });
    }),
    vscode.commands.registerCommand('modelLens.analogy', async () => {
      const model = await pickModel('Analogy in…');
      if (!model) return;
      const typed = await vscode.window.showInputBox({
        title: 'Analogy: a − b + c',
        value: 'king - man + woman',
        validateInput: (value) => (/^\s*\S+\s*[-−]\s*\S+\s*\+\s*\S+\s*$/.test(value) ? undefined : 'Write it as "a - b + c"'),
      });
      const match = typed?.match(/^\s*(\S+)\s*[-−]\s*(\S+)\s*\+\s*(\S+)\s*$/);
      if (!match) return;
      await panel.showAnalogy({ modelId: model.id, ...DEFAULT_CONTROLS }, { a: match[1], b: match[2], c: match[3] });
    }),
  ];
}
