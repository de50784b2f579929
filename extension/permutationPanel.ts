/**
 * The Permutation Probe panel (webview/permutationProbe): theory at once, then an ensemble run or the paper's
 * preset with progress and Cancel, and the copy probe of a language model. One job runs at a time.
 */
import * as vscode from 'vscode';
import * as protocol from '../server/protocol';
import type { FromPermutation, ToPermutation } from '../webview/permutationMessages';
import type { ModelLensContext } from './ctx';
import { WebviewChannel } from './webviewChannel';

export interface PermutationRun {
  k: number;
  width: number;
  param: 'ntk' | 'standard';
  target: number;
  maxModels: number;
}

export class PermutationPanel implements vscode.Disposable {
  static readonly viewType = 'modelLens.permutationProbe';
  private panel: vscode.WebviewPanel | undefined;
  private channel: WebviewChannel<ToPermutation, FromPermutation> | undefined;
  private job: vscode.CancellationTokenSource | undefined;
  private lastCopyProbe: protocol.CopyProbeResult | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly ctx: ModelLensContext,
    private readonly extensionUri: vscode.Uri,
  ) {
    this.disposables.push(
      vscode.window.registerWebviewPanelSerializer(PermutationPanel.viewType, { deserializeWebviewPanel: async (panel) => this.adopt(panel) }),
    );
  }

  private adopt(panel: vscode.WebviewPanel): void {
    this.panel = panel;
    const channel = (this.channel = new WebviewChannel(panel.webview, this.extensionUri, { name: 'permutationProbe', title: 'Permutation Probe' }, (message: FromPermutation) => this.receive(message)));
    const disposed = panel.onDidDispose(() => {
      this.panel = undefined;
      this.channel = undefined;
      this.job?.cancel();
      channel.dispose();
      disposed.dispose();
    });
  }

  private reveal(): void {
    if (this.panel) this.panel.reveal(undefined, true);
    else this.adopt(vscode.window.createWebviewPanel(PermutationPanel.viewType, 'Permutation Probe', vscode.ViewColumn.Active, {}));
  }

  private post(message: ToPermutation): void {
    this.channel?.post(message);
  }

  /** Runs one cancellable job; a new job cancels the one before. */
  private async runJob<R>(busy: string, send: (token: vscode.CancellationToken) => Promise<R | undefined>): Promise<R | undefined> {
    this.job?.cancel();
    const job = (this.job = new vscode.CancellationTokenSource());
    this.post({ type: 'busy', message: busy });
    try {
      const result = await send(job.token);
      if (result === undefined && !job.token.isCancellationRequested) this.post({ type: 'error', message: `${busy} failed; see the notification.` });
      if (job.token.isCancellationRequested) this.post({ type: 'error', message: `${busy}: cancelled.` });
      return job.token.isCancellationRequested ? undefined : result;
    } finally {
      if (this.job === job) this.job = undefined;
      job.dispose();
    }
  }

  async run(run: PermutationRun): Promise<void> {
    this.reveal();
    const theory = await this.ctx.request(protocol.permutationTheory, { k: run.k, options: { param: run.param, width: run.width, delta: 1 - run.target } });
    if (theory) this.post({ type: 'theory', state: theory });
    const result = await this.runJob(`Training ensembles at k = ${run.k}, width ${run.width}`, (token) =>
      this.ctx.requestCancellable(protocol.permutationProbe, { k: run.k, width: run.width, param: run.param, target: run.target, maxModels: run.maxModels }, token),
    );
    if (result) this.post({ type: 'ensemble', state: result });
  }

  async reproduce(): Promise<void> {
    this.reveal();
    const result = await this.runJob('Reproducing experiment 1 of the paper', (token) => this.ctx.requestCancellable(protocol.permutationReproduction, {}, token));
    if (result) this.post({ type: 'reproduction', state: result });
  }

  async copyProbe(modelId: string, options: { ks?: number[]; shots?: number[] }): Promise<void> {
    this.reveal();
    const result = await this.runJob('Probing copying', (token) => this.ctx.requestCancellable(protocol.copyProbe, { modelId, options }, token));
    if (result) {
      this.lastCopyProbe = result;
      this.post({ type: 'copyProbe', state: result });
    }
  }

  private async receive(message: FromPermutation): Promise<void> {
    switch (message.type) {
      case 'run':
        await this.run(message);
        return;
      case 'reproduce':
        await this.reproduce();
        return;
      case 'cancel':
        this.job?.cancel();
        return;
      case 'copy':
        await vscode.env.clipboard.writeText(message.text);
        void vscode.window.setStatusBarMessage(`Model Lens: copied as ${message.format.toUpperCase()}`, 2000);
        return;
      case 'showPrompt': {
        const cell = this.lastCopyProbe?.cells.find((candidate) => candidate.k === message.k && candidate.shots === message.shots);
        const prompts = cell?.prompts
          .map((prompt) => `${prompt.prompt}\n\n→ expected: ${prompt.expected.join(' ')}\n→ generated: ${prompt.generated.join(' ')}`)
          .join('\n\n———\n\n');
        const document = await vscode.workspace.openTextDocument({ content: prompts ?? 'No prompts were kept for this cell.', language: 'plaintext' });
        await vscode.window.showTextDocument(document, { preview: true, viewColumn: vscode.ViewColumn.Beside });
        return;
      }
    }
  }

  dispose(): void {
    this.job?.cancel();
    this.panel?.dispose();
    for (const disposable of this.disposables) disposable.dispose();
  }
}
