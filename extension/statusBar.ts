/**
 * The status bar item: the token count of the selection (or the whole document) under the first active tokenizer.
 * A click switches the tokenizer. Counting is debounced and skipped for very large documents.
 */
import * as vscode from 'vscode';
import * as protocol from '../server/protocol';
import type { ModelLensContext } from './ctx';

const DEBOUNCE_MS = 150;
const MAX_COUNT_CHARS = 1_000_000;

export class TokenCountStatus implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('modelLens.tokenCount', vscode.StatusBarAlignment.Right, 100);
  private timer: NodeJS.Timeout | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private generation = 0;

  constructor(private readonly ctx: ModelLensContext) {
    this.item.name = 'Model Lens token count';
    this.item.command = 'modelLens.switchTokenizer';
    this.disposables.push(
      vscode.window.onDidChangeTextEditorSelection(() => this.schedule()),
      vscode.window.onDidChangeActiveTextEditor(() => this.schedule()),
      vscode.workspace.onDidChangeTextDocument((event) => {
        if (event.document === vscode.window.activeTextEditor?.document) this.schedule();
      }),
      ctx.onModelsChanged(() => this.schedule()),
      ctx.onServerState((state) => {
        if (state !== 'running') {
          this.item.text = state === 'starting' ? '$(sync~spin) Model Lens' : '$(warning) Model Lens';
          this.item.tooltip = state === 'starting' ? 'Model Lens server is starting' : 'Model Lens server is not running';
          this.item.show();
        } else this.schedule();
      }),
    );
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.update(), DEBOUNCE_MS);
  }

  private async update(): Promise<void> {
    const generation = ++this.generation;
    const editor = vscode.window.activeTextEditor;
    const hasTokenizer = this.ctx.openModels.some((model) => model.active && model.tokenizer);
    if (!editor || !hasTokenizer) {
      this.item.hide();
      return;
    }
    const selections = editor.selections.filter((selection) => !selection.isEmpty);
    const text = selections.length > 0 ? selections.map((s) => editor.document.getText(s)).join('') : editor.document.getText();
    const scope = selections.length > 0 ? 'selection' : 'document';
    if (text.length > MAX_COUNT_CHARS) {
      this.item.text = '$(symbol-key) — tokens';
      this.item.tooltip = `The ${scope} is too large to count as you type (${text.length} characters).`;
      this.item.show();
      return;
    }
    const result = await this.ctx.requestQuietly(protocol.countTokens, { text });
    if (generation !== this.generation) return; // a newer update is on its way
    if (!result) {
      this.item.hide();
      return;
    }
    this.item.text = `$(symbol-key) ${result.count.toLocaleString('en-US')} tokens`;
    this.item.tooltip = `${result.count} tokens in the ${scope} (${result.modelName}). Click to switch tokenizer.`;
    this.item.show();
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.item.dispose();
    for (const disposable of this.disposables) disposable.dispose();
  }
}
