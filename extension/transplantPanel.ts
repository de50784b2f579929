/**
 * Tokenizer transplantation in the editor: the Transplant Tokenizer… wizard (base, donor, method, k, output folder)
 * and the Transplant Report panel (webview/transplantReport) that shows progress, then the quality report, and
 * offers to open the new model.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import * as protocol from '../server/protocol';
import type { FromTransplant, ToTransplant } from '../webview/transplantMessages';
import type { ModelLensContext } from './ctx';
import { WebviewChannel } from './webviewChannel';

const METHODS = [
  { label: 'omp', description: 'Orthogonal Matching Pursuit over shared tokens (default; best quality)' },
  { label: 'knn', description: 'inverse-distance mix of the nearest shared tokens in donor space' },
  { label: 'subword', description: "mean of the base tokenizer's pieces of the new token" },
  { label: 'aux', description: 'similarity-weighted mix in GloVe word-vector space (FOCUS/OFA style)' },
  { label: 'mean', description: 'the mean of all base rows' },
  { label: 'zero', description: 'zero rows' },
] as const;

export class TransplantPanel implements vscode.Disposable {
  static readonly viewType = 'modelLens.transplantReport';
  private panel: vscode.WebviewPanel | undefined;
  private channel: WebviewChannel<ToTransplant, FromTransplant> | undefined;
  private job: vscode.CancellationTokenSource | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly ctx: ModelLensContext,
    private readonly extensionUri: vscode.Uri,
  ) {
    this.disposables.push(
      vscode.window.registerWebviewPanelSerializer(TransplantPanel.viewType, { deserializeWebviewPanel: async (panel) => this.adopt(panel) }),
      ctx.onTransplantProgress((progress) => this.post({ type: 'progress', stage: progress.stage, fraction: progress.fraction, etaSeconds: progress.etaSeconds, message: progress.message })),
    );
  }

  private adopt(panel: vscode.WebviewPanel): void {
    this.panel = panel;
    const channel = (this.channel = new WebviewChannel(panel.webview, this.extensionUri, { name: 'transplantReport', title: 'Transplant Report' }, (message: FromTransplant) => this.receive(message)));
    const disposed = panel.onDidDispose(() => {
      this.panel = undefined;
      this.channel = undefined;
      channel.dispose();
      disposed.dispose();
    });
  }

  private post(message: ToTransplant): void {
    this.channel?.post(message);
  }

  async run(options: protocol.TransplantOptions): Promise<void> {
    if (this.panel) this.panel.reveal();
    else this.adopt(vscode.window.createWebviewPanel(TransplantPanel.viewType, 'Transplant Report', vscode.ViewColumn.Active, {}));
    this.job?.cancel();
    const job = (this.job = new vscode.CancellationTokenSource());
    this.post({ type: 'progress', stage: 'open', fraction: 0, message: 'starting' });
    const report = await this.ctx.requestCancellable(protocol.transplant, options, job.token);
    if (this.job === job) this.job = undefined;
    if (!report) {
      this.post({ type: 'error', message: job.token.isCancellationRequested ? 'The transplant was cancelled; nothing was written.' : 'The transplant failed; see the notification. Nothing was written.' });
      return;
    }
    this.post({ type: 'report', report });
    if (report.output) {
      const choice = await vscode.window.showInformationMessage(`Model Lens: the transplanted model is in ${report.output.path}.`, 'Open Model');
      if (choice) await this.ctx.request(protocol.openModel, { path: report.output.path });
    }
  }

  private async receive(message: FromTransplant): Promise<void> {
    switch (message.type) {
      case 'openModel':
        await this.ctx.request(protocol.openModel, { path: message.path });
        return;
      case 'revealFile':
        await vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(message.path));
        return;
      case 'copy':
        await vscode.env.clipboard.writeText(message.text);
        void vscode.window.setStatusBarMessage('Model Lens: copied the report as JSON', 2000);
        return;
      case 'cancel':
        this.job?.cancel();
        return;
    }
  }

  dispose(): void {
    this.job?.cancel();
    this.panel?.dispose();
    for (const disposable of this.disposables) disposable.dispose();
  }
}

/** A Hugging Face folder: an open one, or one picked in a folder dialog. */
async function pickFolder(ctx: ModelLensContext, title: string, exclude?: string): Promise<string | undefined> {
  const open = (await ctx.settledModels()).filter((model) => model.format === 'huggingface' && model.embeddings.input && model.id !== exclude);
  const browse = { label: '$(folder-opened) Choose a folder…', path: undefined as string | undefined };
  const pick = await vscode.window.showQuickPick(
    [...open.map((model) => ({ label: model.name, description: `${model.tokenizer?.vocabSize ?? '?'} tokens · ${model.embeddings.input!.shape.join(' × ')}`, detail: model.path, path: model.path as string | undefined })), browse],
    { title },
  );
  if (!pick) return undefined;
  if (pick.path) return pick.path;
  const chosen = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, title, openLabel: 'Use this folder' });
  return chosen?.[0]?.fsPath;
}

export function registerTransplantCommands(ctx: ModelLensContext, panel: TransplantPanel): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('modelLens.transplantTokenizer', async (args?: Partial<protocol.TransplantOptions>) => {
      const base = args?.base ?? (await pickFolder(ctx, 'Transplant 1/5: the base model (its weights are kept)'));
      if (!base) return;
      const donor = args?.donor ?? (await pickFolder(ctx, 'Transplant 2/5: the donor model (its tokenizer is adopted)', base));
      if (!donor) return;
      const method = args?.method ?? (await vscode.window.showQuickPick([...METHODS], { title: 'Transplant 3/5: how new tokens are made' }))?.label;
      if (!method) return;
      let k = args?.k;
      if (k === undefined && ['omp', 'knn', 'aux'].includes(method)) {
        const typed = await vscode.window.showInputBox({
          title: 'Transplant 4/5: k (atoms per new token)',
          value: method === 'omp' ? '64' : method === 'knn' ? '8' : '10',
          validateInput: (value) => (/^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= 1024 ? undefined : 'A whole number from 1 to 1024'),
        });
        if (typed === undefined) return;
        k = Number(typed);
      }
      const suggested = path.join(path.dirname(base), `${path.basename(base)}-with-${path.basename(donor)}-tokenizer`);
      const out =
        args?.out ??
        (await vscode.window.showInputBox({
          title: 'Transplant 5/5: the output folder (it must not exist yet)',
          value: suggested,
          validateInput: (value) => (path.isAbsolute(value) ? undefined : 'An absolute path'),
        }));
      if (!out) return;
      await panel.run({ base, donor, out, method: method as protocol.TransplantOptions['method'], k });
    }),
  ];
}
