/**
 * The Backpack Senses panel (webview/senses): a word's senses, a prediction's explanation, sense search results, the
 * edits strip and sense-finetuning reports for one Backpack at a time. The server does the work; this class sends the
 * requests, posts the results and keeps the edit strip current. Closing the panel with unsaved edits asks what to do
 * with them (they stay in the server's memory until saved or discarded).
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import * as protocol from '../server/protocol';
import type { ExplainRequest, FinetuneView, FromSenses, ToSenses } from '../webview/sensesMessages';
import type { ModelLensContext } from './ctx';
import { WebviewChannel } from './webviewChannel';

export type SenseEditAction = 'enable' | 'disable' | 'save' | 'discard';

/**
 * Asks what to do with unsaved sense edits of `modelId` before they could be lost. Resolves to true when it is fine to
 * go on (saved, discarded, or nothing unsaved), false when the user cancelled.
 */
export async function settleUnsavedEdits(ctx: ModelLensContext, modelId: string, reason: string, cancellable = true): Promise<boolean> {
  const model = ctx.openModels.find((candidate) => candidate.id === modelId);
  if (!model?.backpack) return true;
  const state = await ctx.requestQuietly(protocol.senseEditState, { modelId });
  if (!state?.unsaved) return true;
  const words = state.editedWords.map((word) => JSON.stringify(word.token)).slice(0, 6).join(', ');
  const choice = await vscode.window.showWarningMessage(
    `${model.name} has unsaved sense edits${words ? ` (${words}${state.editedWords.length > 6 ? ', …' : ''})` : ''}. ${reason}`,
    {
      modal: true,
      detail: cancellable
        ? 'Save writes sense-edits.safetensors and sense-edits.json beside the model; Discard goes back to the saved edits.'
        : 'Save writes sense-edits.safetensors and sense-edits.json beside the model; Discard goes back to the saved edits. Cancel keeps them unsaved in memory: "Model Lens: Save Sense Edits" saves them later.',
    },
    'Save',
    'Discard',
  );
  if (!choice) return false;
  const result = await ctx.request(protocol.changeSenseEdits, { modelId, action: choice === 'Save' ? 'save' : 'discard' });
  if (result && choice === 'Save') void vscode.window.setStatusBarMessage(`Model Lens: sense edits of ${model.name} saved`, 3000);
  return result !== undefined;
}

/** The part of a finetuning report the panel draws. */
export function finetuneView(report: protocol.SenseFinetuneReport, source?: string): FinetuneView {
  return {
    modelId: report.modelId,
    source,
    budget: report.settings.degradationBudget,
    epochs: report.epochs.map((e) => ({
      epoch: e.epoch,
      canonicalLoss: e.canonicalLoss,
      generalLoss: e.generalLoss,
      generalLossChange: e.generalLossChange,
      withinBudget: e.withinBudget,
      ...(e.successRate !== undefined ? { successRate: e.successRate } : {}),
    })),
    chosenEpoch: report.chosenEpoch,
    canonicalLossBefore: report.canonicalLossBefore,
    canonicalLossAfter: report.canonicalLossAfter,
    generalLossBefore: report.generalLossBefore,
    generalLossChange: report.generalLossChange,
    ...(report.successRateBefore !== undefined ? { successRateBefore: report.successRateBefore } : {}),
    ...(report.successRateAfter !== undefined ? { successRateAfter: report.successRateAfter } : {}),
    applied: report.applied,
    pairs: report.pairs.map((p) => ({ tokenId: p.tokenId, token: p.token, sense: p.sense, deltaNorm: p.deltaNorm })),
    examples: report.examples.map((e) => ({
      kind: e.kind,
      prefix: e.prefix,
      suffixes: e.suffixes,
      before: e.before,
      after: e.after,
      successBefore: e.successBefore,
      successAfter: e.successAfter,
    })),
  };
}

export class SensesPanel implements vscode.Disposable {
  static readonly viewType = 'modelLens.senses';
  private panel: vscode.WebviewPanel | undefined;
  private channel: WebviewChannel<ToSenses, FromSenses> | undefined;
  private job: vscode.CancellationTokenSource | undefined;
  /** The Backpack the panel shows. */
  private modelId: string | undefined;
  /** The word shown, to refresh after an edit. */
  private current: { word: string; tokenId?: number } | undefined;
  private readonly editsEmitter = new vscode.EventEmitter<protocol.SenseEditState>();
  /** Fires whenever this panel learns a new edit state (for context keys). */
  readonly onEditsChanged = this.editsEmitter.event;
  private readonly disposables: vscode.Disposable[] = [];
  /** Set while the extension shuts down: no questions then. */
  private disposing = false;

  constructor(
    private readonly ctx: ModelLensContext,
    private readonly extensionUri: vscode.Uri,
  ) {
    this.disposables.push(
      vscode.window.registerWebviewPanelSerializer(SensesPanel.viewType, { deserializeWebviewPanel: async (panel) => this.adopt(panel) }),
      ctx.onModelsChanged((models) => {
        // The model was closed: nothing more to ask the server about.
        if (this.modelId && !models.some((model) => model.id === this.modelId)) this.post({ type: 'error', message: 'This Backpack was closed. Open it again to go on.' });
      }),
      this.editsEmitter,
    );
  }

  /** The Backpack the panel shows, if it is open. */
  get shownModelId(): string | undefined {
    return this.panel ? this.modelId : undefined;
  }

  private adopt(panel: vscode.WebviewPanel): void {
    this.panel = panel;
    const channel = (this.channel = new WebviewChannel(panel.webview, this.extensionUri, { name: 'senses', title: 'Backpack Senses' }, (message: FromSenses) => this.receive(message)));
    const disposed = panel.onDidDispose(() => {
      const modelId = this.modelId;
      this.panel = undefined;
      this.channel = undefined;
      this.job?.cancel();
      channel.dispose();
      disposed.dispose();
      // The edits live in the server; closing the panel loses nothing, but say so once when they are unsaved.
      if (modelId && !this.disposing) void settleUnsavedEdits(this.ctx, modelId, 'The Senses panel was closed: save them now?', false);
    });
  }

  private reveal(): void {
    if (this.panel) this.panel.reveal(undefined, true);
    else this.adopt(vscode.window.createWebviewPanel(SensesPanel.viewType, 'Backpack Senses', vscode.ViewColumn.Active, {}));
  }

  private post(message: ToSenses): void {
    this.channel?.post(message);
  }

  /** Points the panel at a Backpack (a new one clears the view's history) and shows its edit state. */
  private async attach(modelId: string): Promise<void> {
    const model = this.ctx.openModels.find((candidate) => candidate.id === modelId);
    if (!model) return;
    this.modelId = modelId;
    this.post({ type: 'model', model: { id: model.id, name: model.name } });
    await this.refreshEdits();
  }

  async refreshEdits(state?: protocol.SenseEditState): Promise<void> {
    if (!this.modelId) return;
    const edits = state ?? (await this.ctx.requestQuietly(protocol.senseEditState, { modelId: this.modelId }));
    if (!edits || edits.modelId !== this.modelId) return;
    this.post({ type: 'edits', state: edits });
    this.editsEmitter.fire(edits);
  }

  /** Runs one cancellable job; a new job cancels the one before. */
  private async runJob<R>(busy: string, cancellable: boolean, send: (token: vscode.CancellationToken) => Promise<R | undefined>): Promise<R | undefined> {
    this.job?.cancel();
    const job = (this.job = new vscode.CancellationTokenSource());
    this.post({ type: 'busy', message: busy, cancellable });
    try {
      const result = await send(job.token);
      if (job.token.isCancellationRequested) this.post({ type: 'error', message: `${busy.replace(/…$/, '')}: cancelled.` });
      else if (result === undefined) this.post({ type: 'error', message: `${busy.replace(/…$/, '')} failed; see the notification.` });
      return job.token.isCancellationRequested ? undefined : result;
    } finally {
      if (this.job === job) this.job = undefined;
      job.dispose();
    }
  }

  async showSenses(modelId: string, word: string, options: { tokenId?: number; sense?: number } = {}): Promise<protocol.WordSenses | undefined> {
    this.reveal();
    if (this.modelId !== modelId) await this.attach(modelId);
    const result = await this.runJob(`Senses of ${JSON.stringify(word)}…`, false, () =>
      this.ctx.request(protocol.senses, { modelId, word, ...(options.tokenId !== undefined ? { tokenId: options.tokenId } : {}) }),
    );
    if (result) {
      this.current = { word: result.token, tokenId: result.tokenId };
      this.post({ type: 'senses', state: result, ...(options.sense !== undefined ? { sense: options.sense } : {}) });
    }
    return result;
  }

  async explain(modelId: string, request: ExplainRequest): Promise<protocol.PredictionExplanation | undefined> {
    this.reveal();
    if (this.modelId !== modelId) await this.attach(modelId);
    const result = await this.runJob('Explaining the prediction…', false, () => this.ctx.request(protocol.explainPrediction, { modelId, ...request }));
    if (result) this.post({ type: 'explain', state: result, request });
    return result;
  }

  async search(modelId: string, query: string): Promise<protocol.SenseSearchResult | undefined> {
    this.reveal();
    if (this.modelId !== modelId) await this.attach(modelId);
    const result = await this.runJob(`Searching senses for ${JSON.stringify(query)}…`, true, (token) => this.ctx.requestCancellable(protocol.searchSenses, { modelId, query }, token));
    if (result) this.post({ type: 'search', state: result });
    return result;
  }

  /** After an edit elsewhere (a command): refresh the strip, and the word shown when it is the edited one. */
  async edited(modelId: string, state: protocol.SenseEditState, word?: string): Promise<void> {
    if (this.panel && this.modelId === modelId) {
      await this.refreshEdits(state);
      if (word !== undefined) await this.showSenses(modelId, word);
      else if (this.current) await this.showSenses(modelId, this.current.word, { tokenId: this.current.tokenId });
    } else if (word !== undefined) await this.showSenses(modelId, word);
  }

  /** Runs sense finetuning (progress in a notification, Cancel in the panel), then shows the report per epoch. */
  async finetune(modelId: string, files: protocol.FinetuneInputFiles, options: protocol.SenseFinetuneSettingsParams): Promise<protocol.SenseFinetuneReport | undefined> {
    this.reveal();
    if (this.modelId !== modelId) await this.attach(modelId);
    const result = await this.runJob(`Finetuning senses from ${path.basename(files.examples)}…`, true, (token) =>
      this.ctx.requestCancellable(protocol.finetuneSenses, { modelId, files, options }, token),
    );
    if (result) {
      this.post({ type: 'finetune', state: finetuneView(result, path.basename(files.examples)) });
      await this.refreshEdits();
      // The word on the Senses tab may be one the run edited: its senses and "edited" marks change under the report.
      const shown = this.current;
      if (shown) {
        const senses = await this.ctx.requestQuietly(protocol.senses, { modelId, word: shown.word, ...(shown.tokenId !== undefined ? { tokenId: shown.tokenId } : {}) });
        if (senses && this.modelId === modelId) this.post({ type: 'senses', state: senses, refresh: true });
      }
    }
    return result;
  }

  private async changeEdits(modelId: string, action: SenseEditAction): Promise<void> {
    if (action === 'discard') {
      const sure = await vscode.window.showWarningMessage('Discard the unsaved sense edits? The model goes back to its saved edits (or none).', { modal: true }, 'Discard');
      if (!sure) return;
    }
    const state = await this.ctx.request(protocol.changeSenseEdits, { modelId, action });
    if (!state) return;
    await this.edited(modelId, state);
  }

  private async receive(message: FromSenses): Promise<void> {
    switch (message.type) {
      case 'attach':
        if (this.ctx.openModels.length === 0) await this.ctx.settledModels();
        await this.attach(message.modelId);
        return;
      case 'openWord':
        await this.showSenses(message.modelId, message.word, { tokenId: message.tokenId, sense: message.sense });
        return;
      case 'explain':
        await this.explain(message.modelId, message.request);
        return;
      case 'search':
        await this.search(message.modelId, message.query);
        return;
      case 'changeEdits':
        await this.changeEdits(message.modelId, message.action);
        return;
      case 'editWord':
        await vscode.commands.executeCommand('modelLens.editSenses', { modelId: message.modelId, word: message.word, sense: message.sense });
        return;
      case 'cancel':
        this.job?.cancel();
        return;
    }
  }

  dispose(): void {
    this.disposing = true;
    this.job?.cancel();
    this.panel?.dispose();
    for (const disposable of this.disposables) disposable.dispose();
  }
}
