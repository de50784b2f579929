/**
 * The "Open Models" tree: each model, its files, its tensors (shape and dtype) and its tokenizer's facts. Tensor
 * lists come from the server when a model is expanded, so the tree stays cheap for checkpoints with many tensors.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import * as protocol from '../server/protocol';
import type { ModelLensContext } from './ctx';

const MAX_TENSORS_SHOWN = 2000;

type Node =
  | { kind: 'model'; model: protocol.ModelSummary }
  | { kind: 'group'; model: protocol.ModelSummary; group: 'files' | 'tensors' | 'tokenizer' | 'special' }
  | { kind: 'leaf'; label: string; description?: string; tooltip?: string; icon?: string; resource?: string };

export class ModelTreeProvider implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subscription: vscode.Disposable;

  constructor(private readonly ctx: ModelLensContext) {
    this.subscription = ctx.onModelsChanged(() => this.changed.fire(undefined));
  }

  getTreeItem(node: Node): vscode.TreeItem {
    switch (node.kind) {
      case 'model': {
        const { model } = node;
        const item = new vscode.TreeItem(model.name, vscode.TreeItemCollapsibleState.Collapsed);
        const vocab = model.tokenizer ? `${model.tokenizer.vocabSize.toLocaleString('en-US')} tokens` : 'no tokenizer';
        item.description = `${model.format} · ${vocab}${model.active ? ' · active' : ''}`;
        item.tooltip = model.path;
        item.iconPath = new vscode.ThemeIcon(model.active ? 'symbol-key' : 'package');
        item.contextValue = 'modelLens.model';
        item.id = model.id;
        return item;
      }
      case 'group': {
        const labels = { files: 'Files', tensors: `Tensors (${node.model.tensorCount})`, tokenizer: 'Tokenizer', special: 'Special tokens' };
        const item = new vscode.TreeItem(labels[node.group], vscode.TreeItemCollapsibleState.Collapsed);
        item.iconPath = new vscode.ThemeIcon({ files: 'files', tensors: 'symbol-array', tokenizer: 'symbol-text', special: 'star' }[node.group]);
        return item;
      }
      case 'leaf': {
        const item = new vscode.TreeItem(node.label, vscode.TreeItemCollapsibleState.None);
        item.description = node.description;
        item.tooltip = node.tooltip;
        if (node.icon) item.iconPath = new vscode.ThemeIcon(node.icon);
        if (node.resource) {
          item.resourceUri = vscode.Uri.file(node.resource);
          item.command = { command: 'vscode.open', title: 'Open', arguments: [item.resourceUri] };
        }
        return item;
      }
    }
  }

  async getChildren(node?: Node): Promise<Node[]> {
    if (!node) return this.ctx.openModels.map((model) => ({ kind: 'model', model }));
    if (node.kind === 'model') {
      const groups: Node[] = [{ kind: 'group', model: node.model, group: 'files' }];
      if (node.model.tokenizer) groups.push({ kind: 'group', model: node.model, group: 'tokenizer' });
      if (node.model.tensorCount > 0) groups.push({ kind: 'group', model: node.model, group: 'tensors' });
      return groups;
    }
    if (node.kind !== 'group') return [];
    const { model } = node;
    switch (node.group) {
      case 'files':
        return model.files.map((file) => ({ kind: 'leaf', label: path.basename(file), resource: file, tooltip: file }));
      case 'tokenizer': {
        const facts = model.tokenizer!;
        const embedding = (label: string, tensor?: protocol.TensorSummary): Node[] =>
          tensor ? [{ kind: 'leaf', label, description: `${tensor.name} [${tensor.shape.join(' × ')}] ${tensor.dtype}`, icon: 'symbol-array' }] : [];
        return [
          { kind: 'leaf', label: 'type', description: `${facts.type} (${facts.style})`, icon: 'info' },
          { kind: 'leaf', label: 'vocabulary', description: facts.vocabSize.toLocaleString('en-US'), icon: 'list-ordered' },
          ...embedding('input embedding', model.embeddings.input),
          ...embedding('output head', model.embeddings.output),
          ...(model.embeddings.input && model.embeddings.tied
            ? [{ kind: 'leaf' as const, label: 'output head', description: 'tied to the input embedding', icon: 'link' }]
            : []),
          { kind: 'group', model, group: 'special' },
        ];
      }
      case 'special':
        return model.tokenizer!.specialTokens.map((token) => ({
          kind: 'leaf',
          label: token.text,
          description: `${token.id}${token.role ? ` · ${token.role}` : ''}`,
        }));
      case 'tensors': {
        const details = await this.ctx.request(protocol.inspectModel, { id: model.id });
        if (!details) return [];
        const shown = details.tensors.slice(0, MAX_TENSORS_SHOWN).map<Node>((tensor) => ({
          kind: 'leaf',
          label: tensor.name,
          description: `[${tensor.shape.join(' × ')}] ${tensor.dtype}`,
        }));
        const hidden = details.tensors.length - shown.length;
        if (hidden > 0) shown.push({ kind: 'leaf', label: `… ${hidden} more tensors`, icon: 'ellipsis' });
        return shown;
      }
    }
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}
