/**
 * The probe commands: Run Permutation Probe… (theory and empirical ensembles) and Probe Model Copying… (the
 * copy/permute probe of an open language model).
 */
import * as vscode from 'vscode';
import type { ModelLensContext } from './ctx';
import type { PermutationPanel } from './permutationPanel';

async function askNumber(title: string, value: string, check: (n: number) => string | undefined): Promise<number | undefined> {
  const typed = await vscode.window.showInputBox({
    title,
    value,
    validateInput: (text) => (Number.isFinite(Number(text)) && text.trim() !== '' ? check(Number(text)) : 'A number'),
  });
  return typed === undefined ? undefined : Number(typed);
}

export function registerProbeCommands(ctx: ModelLensContext, panel: PermutationPanel): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('modelLens.runPermutationProbe', async (args?: { k?: number; width?: number; reproduce?: boolean }) => {
      if (args?.reproduce) return panel.reproduce();
      const choice = args?.k
        ? 'run'
        : (
            await vscode.window.showQuickPick(
              [
                { label: 'Run an ensemble…', description: 'theory and trained ensembles for one k', value: 'run' },
                { label: "Reproduce the paper's experiment 1", description: 'k = 5…30, target 90%, at a width this machine affords', value: 'reproduce' },
              ],
              { title: 'Permutation Probe' },
            )
          )?.value;
      if (choice === 'reproduce') return panel.reproduce();
      if (choice !== 'run') return;
      const k = args?.k ?? (await askNumber('k: the size of the permutation', '8', (n) => (Number.isInteger(n) && n >= 2 && n <= 64 ? undefined : 'A whole number from 2 to 64')));
      if (k === undefined) return;
      const width = args?.width ?? (await askNumber('Hidden width of each network', '1024', (n) => (Number.isInteger(n) && n >= 4 && n <= 65536 ? undefined : 'A whole number from 4 to 65,536')));
      if (width === undefined) return;
      await panel.run({ k, width, param: 'standard', target: 0.9, maxModels: 500 });
    }),
    vscode.commands.registerCommand('modelLens.probeModelCopying', async () => {
      const models = ctx.openModels.filter((model) => model.tokenizer);
      if (models.length === 0) {
        void vscode.window.showInformationMessage('Model Lens: open a causal language model first.');
        return;
      }
      const pick = await vscode.window.showQuickPick(
        models.map((model) => ({ label: model.name, description: model.format, detail: model.path, model })),
        { title: 'Probe copying in…' },
      );
      if (!pick) return;
      await panel.copyProbe(pick.model.id, {});
    }),
  ];
}
