/**
 * Activation: wire the context, commands, views and status bar. Everything heavy lives in the server process, so
 * this file (and everything it imports) must stay cheap; the server starts in the background.
 */
import * as vscode from 'vscode';
import { ModelLensContext } from './ctx';
import { registerCommands } from './commands';
import { ModelTreeProvider } from './modelTree';
import { TokenCountStatus } from './statusBar';
import { TokenStripViewProvider } from './tokenStripView';
import { NeighbourhoodPanel } from './neighbourhoodPanel';
import { registerNeighbourhoodCommands } from './neighbourhoodCommands';
import { PermutationPanel } from './permutationPanel';
import { registerProbeCommands } from './probeCommands';
import { TransplantPanel, registerTransplantCommands } from './transplantPanel';
import { SensesPanel } from './sensesPanel';
import { registerBackpackCommands } from './backpackCommands';
import type { TokenStripState } from '../webview/messages';

let context: ModelLensContext | undefined;

/** What activate() returns: a small read-only API, used by the desktop test suite and open to other extensions. */
export interface ModelLensApi {
  /** The tokenization the Tokens view shows now, if any. */
  tokenStripState(): TokenStripState | undefined;
}

export function activate(extension: vscode.ExtensionContext): ModelLensApi {
  const ctx = (context = new ModelLensContext(extension));
  const tokenStrip = new TokenStripViewProvider(extension.extensionUri);
  const tree = new ModelTreeProvider(ctx);
  const neighbourhood = new NeighbourhoodPanel(ctx, extension.extensionUri);
  const permutation = new PermutationPanel(ctx, extension.extensionUri);
  const transplant = new TransplantPanel(ctx, extension.extensionUri);
  const senses = new SensesPanel(ctx, extension.extensionUri);

  extension.subscriptions.push(
    ctx,
    tokenStrip,
    tree,
    vscode.window.registerTreeDataProvider('modelLens.models', tree),
    vscode.window.registerWebviewViewProvider(TokenStripViewProvider.viewId, tokenStrip),
    new TokenCountStatus(ctx),
    neighbourhood,
    ...registerCommands(ctx, tokenStrip),
    ...registerNeighbourhoodCommands(ctx, neighbourhood, extension.workspaceState),
    permutation,
    ...registerProbeCommands(ctx, permutation),
    transplant,
    ...registerTransplantCommands(ctx, transplant),
    senses,
    ...registerBackpackCommands(ctx, senses, extension.workspaceState),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration('modelLens')) void ctx.pushSettings();
    }),
  );

  void ctx.ensureClient().catch((error) => ctx.showError(error));
  return { tokenStripState: () => tokenStrip.state };
}

export function deactivate(): Promise<void> | undefined {
  return context ? Promise.resolve(context.dispose()) : undefined;
}
