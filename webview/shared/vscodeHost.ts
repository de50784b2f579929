/**
 * The one way a Model Lens webview talks to VS Code: restore the saved state, route messages that pass the view's
 * type guard, and post `ready` last, so the extension sends its queued messages after the restore. Outside VS Code
 * (a plain test page without acquireVsCodeApi) it does nothing.
 */

interface VsCodeApi<From> {
  postMessage(message: From): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi<From>(): VsCodeApi<From>;

export function connectToVsCode<To, From extends { type: string }>(
  isMessage: (value: unknown) => value is To,
  startView: (root: HTMLElement, post: (message: From) => void, saved: unknown, save: (state: unknown) => void) => { receive(message: To): void },
): void {
  if (typeof acquireVsCodeApi !== 'function') return;
  const vscode = acquireVsCodeApi<From>();
  const root = document.getElementById('root') ?? document.body.appendChild(document.createElement('main'));
  const post = (message: From) => vscode.postMessage(message);
  const view = startView(root, post, vscode.getState(), (state) => vscode.setState(state));
  window.addEventListener('message', (event: MessageEvent<unknown>) => {
    if (isMessage(event.data)) view.receive(event.data);
  });
  post({ type: 'ready' } as From);
}

/** For the message guards: a non-null object whose fields can be checked one by one. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
