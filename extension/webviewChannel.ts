/**
 * One webview's wiring, shared by every panel and view: strict-CSP HTML for a bundle in dist/webview, and a typed
 * message channel that holds messages until the webview says it is ready (it restores its saved state first).
 */
import * as vscode from 'vscode';
import { buildWebviewHtml, makeNonce } from './webviewHtml';

export interface WebviewBundle {
  /** The bundle's name: dist/webview/<name>.js and media/<name>.css. */
  name: string;
  title: string;
}

export class WebviewChannel<To, From extends { type: string }> implements vscode.Disposable {
  private ready = false;
  private readonly pending: To[] = [];
  private readonly subscription: vscode.Disposable;

  constructor(
    readonly webview: vscode.Webview,
    extensionUri: vscode.Uri,
    bundle: WebviewBundle,
    onMessage: (message: From) => void | Promise<void>,
    /** Sent first, before anything posted later. */
    initial: To[] = [],
  ) {
    const dist = vscode.Uri.joinPath(extensionUri, 'dist', 'webview');
    const media = vscode.Uri.joinPath(extensionUri, 'media');
    webview.options = { enableScripts: true, localResourceRoots: [dist, media] };
    webview.html = buildWebviewHtml({
      cspSource: webview.cspSource,
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(dist, `${bundle.name}.js`)).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(media, `${bundle.name}.css`)).toString(),
      nonce: makeNonce(),
      title: bundle.title,
    });
    this.pending.push(...initial);
    this.subscription = webview.onDidReceiveMessage((message: From) => {
      if (message.type === 'ready') {
        this.ready = true;
        for (const queued of this.pending.splice(0)) void webview.postMessage(queued);
        return;
      }
      void onMessage(message);
    });
  }

  post(message: To): void {
    if (this.ready) void this.webview.postMessage(message);
    else this.pending.push(message);
  }

  dispose(): void {
    this.subscription.dispose();
  }
}
