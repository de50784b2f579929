/**
 * The "Tokens" side view: a webview that draws tokenized text as chips (webview/tokenStrip). The extension keeps
 * the last state so a view that is opened later, or reloaded, shows it; the webview itself persists through
 * getState/setState rather than retainContextWhenHidden.
 */
import * as vscode from 'vscode';
import type { FromTokenStrip, TokenStripState, ToTokenStrip } from '../webview/messages';
import { WebviewChannel } from './webviewChannel';

export class TokenStripViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  static readonly viewId = 'modelLens.tokens';
  private view: vscode.WebviewView | undefined;
  private channel: WebviewChannel<ToTokenStrip, FromTokenStrip> | undefined;
  private lastState: TokenStripState | undefined;
  private lastSource: { uri: vscode.Uri; offset: number } | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly extensionUri: vscode.Uri) {}

  /** The tokenization shown now (or to be shown when the view opens). */
  get state(): TokenStripState | undefined {
    return this.lastState;
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    // A view opened (or reloaded) after a tokenization shows it once the webview is ready.
    const channel = new WebviewChannel<ToTokenStrip, FromTokenStrip>(
      view.webview,
      this.extensionUri,
      { name: 'tokenStrip', title: 'Tokens' },
      (message) => this.receive(message),
      this.lastState ? [{ type: 'show', state: this.lastState }] : [],
    );
    this.channel = channel;
    this.disposables.push(
      channel,
      view.onDidDispose(() => {
        this.view = undefined;
        this.channel = undefined;
      }),
    );
  }

  /** Shows a tokenization, revealing the view if needed. */
  async show(state: TokenStripState, source?: { uri: vscode.Uri; offset: number }): Promise<void> {
    this.lastState = state;
    this.lastSource = source;
    if (!this.view) {
      // Resolving the view sends it the state just stored.
      await vscode.commands.executeCommand(`${TokenStripViewProvider.viewId}.focus`);
      return;
    }
    this.view.show(true);
    this.post({ type: 'show', state });
  }

  private post(message: ToTokenStrip): void {
    this.channel?.post(message);
  }

  private async receive(message: FromTokenStrip): Promise<void> {
    switch (message.type) {
      case 'copy':
        await vscode.env.clipboard.writeText(message.text);
        void vscode.window.setStatusBarMessage(`Model Lens: copied ${message.format === 'ids' ? 'token ids' : 'tokens as JSON'}`, 2000);
        return;
      case 'revealSpan': {
        if (!this.lastSource) return;
        const document = await vscode.workspace.openTextDocument(this.lastSource.uri);
        const editor = await vscode.window.showTextDocument(document, { preserveFocus: false });
        const start = document.positionAt(this.lastSource.offset + message.start);
        const end = document.positionAt(this.lastSource.offset + message.end);
        editor.selection = new vscode.Selection(start, end);
        editor.revealRange(new vscode.Range(start, end), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
        return;
      }
    }
  }

  dispose(): void {
    for (const disposable of this.disposables) disposable.dispose();
  }
}
