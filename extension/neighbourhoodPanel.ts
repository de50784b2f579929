/**
 * The Neighbourhood panel: an editor webview (webview/neighbourhood) with the graph, the projection and the model
 * comparison. It keeps which model and controls the view is using, turns the webview's intents into server
 * requests, and restores itself after a reload through a WebviewPanelSerializer.
 */
import * as vscode from 'vscode';
import * as protocol from '../server/protocol';
import type { FromNeighbourhood, ToNeighbourhood } from '../webview/neighbourhoodMessages';
import type { ModelLensContext } from './ctx';
import { WebviewChannel } from './webviewChannel';

export interface NeighbourhoodTarget extends protocol.NeighbourControls {
  modelId: string;
}

export class NeighbourhoodPanel implements vscode.Disposable, vscode.WebviewViewProvider {
  static readonly viewType = 'modelLens.neighbourhood';
  static readonly sideViewId = 'modelLens.neighbourhoodView';
  private panel: vscode.WebviewPanel | undefined;
  /** The webviews that show the neighbourhood: the editor panel and the compact side view. */
  private readonly surfaces = new Set<WebviewChannel<ToNeighbourhood, FromNeighbourhood>>();
  private target: NeighbourhoodTarget | undefined;
  /** The query now shown, so a change of k, metric or space can repeat it. */
  private lastQuery: { kind: 'token' | 'id' | 'text'; value: string } | undefined;
  /** The latest state of each kind, for a surface that opens later. */
  private readonly latest = new Map<ToNeighbourhood['type'], ToNeighbourhood>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly ctx: ModelLensContext,
    private readonly extensionUri: vscode.Uri,
  ) {
    this.disposables.push(
      vscode.window.registerWebviewPanelSerializer(NeighbourhoodPanel.viewType, {
        deserializeWebviewPanel: async (panel) => this.adopt(panel),
      }),
      vscode.window.registerWebviewViewProvider(NeighbourhoodPanel.sideViewId, this),
    );
  }

  /** Sets up a webview (panel or side view) and routes its messages here; returns a disposer. */
  private attach(webview: vscode.Webview, compact: boolean): () => void {
    // A new surface first gets its layout, then whatever is already known.
    const channel = new WebviewChannel<ToNeighbourhood, FromNeighbourhood>(
      webview,
      this.extensionUri,
      { name: 'neighbourhood', title: 'Neighbourhood' },
      (message) => this.receive(message),
      [{ type: 'layout', compact }, ...this.latest.values()],
    );
    this.surfaces.add(channel);
    return () => {
      this.surfaces.delete(channel);
      channel.dispose();
    };
  }

  private adopt(panel: vscode.WebviewPanel): void {
    this.panel = panel;
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'activity.svg');
    const detach = this.attach(panel.webview, false);
    const disposed = panel.onDidDispose(() => {
      this.panel = undefined;
      detach();
      disposed.dispose();
    });
  }

  /** The compact view in the Model Lens side bar: it mirrors the panel. */
  resolveWebviewView(view: vscode.WebviewView): void {
    const detach = this.attach(view.webview, true);
    const disposed = view.onDidDispose(() => {
      detach();
      disposed.dispose();
    });
  }

  private reveal(): void {
    if (this.panel) {
      this.panel.reveal(undefined, true);
      return;
    }
    this.adopt(vscode.window.createWebviewPanel(NeighbourhoodPanel.viewType, 'Neighbourhood', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {}));
  }

  private post(message: ToNeighbourhood): void {
    if (message.type === 'neighbours' || message.type === 'projection' || message.type === 'compare') this.latest.set(message.type, message);
    for (const surface of this.surfaces) surface.post(message);
  }

  /** Runs a request with the panel showing that it is busy; user errors appear in the panel and once as a notification. */
  private async run<R>(busy: string, request: () => Promise<R | undefined>): Promise<R | undefined> {
    this.post({ type: 'busy', message: busy });
    const result = await request();
    if (result === undefined) this.post({ type: 'error', message: `${busy} failed; see the notification or "Model Lens: Show Log".` });
    return result;
  }

  async showNeighbours(target: NeighbourhoodTarget, query: { kind: 'token' | 'id' | 'text'; value: string }): Promise<protocol.NeighbourhoodResult | undefined> {
    this.target = target;
    this.lastQuery = query;
    this.reveal();
    const result = await this.run(`Finding the neighbours of "${query.value}"`, () =>
      this.ctx.request(protocol.neighbours, { ...target, query }),
    );
    if (result) this.post({ type: 'neighbours', state: result });
    return result;
  }

  async showAnalogy(target: NeighbourhoodTarget, words: { a: string; b: string; c: string }): Promise<void> {
    this.target = target;
    this.reveal();
    const result = await this.run(`${words.a} − ${words.b} + ${words.c}`, () => this.ctx.request(protocol.analogy, { ...target, ...words }));
    if (result) this.post({ type: 'neighbours', state: result });
  }

  async showProjection(modelId: string, request: { method: protocol.ProjectionMethod; source: protocol.ProjectionSource; ids?: number[]; sample?: number }): Promise<void> {
    this.reveal();
    const result = await this.run(`${request.method.toUpperCase()} projection`, () =>
      this.ctx.request(protocol.project, { modelId, method: request.method, source: request.source, ids: request.ids, sample: request.sample, space: this.target?.space }),
    );
    if (result) this.post({ type: 'projection', state: result });
  }

  async showComparison(leftId: string, rightId: string, token: string, controls: protocol.NeighbourControls): Promise<void> {
    this.reveal();
    const result = await this.run(`Comparing the neighbours of "${token}"`, () =>
      this.ctx.request(protocol.compareModels, { leftId, rightId, token, ...controls }),
    );
    if (result) this.post({ type: 'compare', state: result });
  }

  private async receive(message: FromNeighbourhood): Promise<void> {
    switch (message.type) {
      case 'recentre': {
        const target = this.target ?? this.defaultTarget();
        if (!target) return;
        const query = 'id' in message ? { kind: 'id' as const, value: String(message.id) } : { kind: 'token' as const, value: message.token };
        await this.showNeighbours(target, query);
        return;
      }
      case 'setControls': {
        const target = this.target ?? this.defaultTarget();
        if (!target || !this.lastQuery) return;
        await this.showNeighbours({ ...target, k: message.k, metric: message.metric, space: message.space }, this.lastQuery);
        return;
      }
      case 'project': {
        const target = this.target ?? this.defaultTarget();
        if (target) await this.showProjection(target.modelId, { method: message.method, source: message.source, ids: message.ids });
        return;
      }
      case 'copy':
        await vscode.env.clipboard.writeText(message.text);
        void vscode.window.setStatusBarMessage(`Model Lens: copied as ${message.format.toUpperCase()}`, 2000);
        return;
      case 'openCompare':
        await vscode.commands.executeCommand('modelLens.compareModels', { token: message.token });
        return;
    }
  }

  /** After a reload the panel knows its pictures but not its model: use the first model with an embedding. */
  private defaultTarget(): NeighbourhoodTarget | undefined {
    const model = this.ctx.openModels.find((candidate) => candidate.embeddings.input);
    return model && { modelId: model.id, k: 20, metric: 'cosine', space: 'input' };
  }

  dispose(): void {
    this.panel?.dispose();
    for (const disposable of this.disposables) disposable.dispose();
  }
}
