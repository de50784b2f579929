/**
 * The open models of one server (or one CLI run). It picks the loader for a path, keeps one copy of each model,
 * and knows which tokenizers are active for hovers and counts.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ModelLensError } from '../errors';
import type { ModelLoader, OpenedModel } from './types';
import type { NamedTokenizer } from '../features/hover/hoverMarkdown';
import { MODEL_LOADERS } from '../loaders';

export class ModelRegistry {
  private readonly models = new Map<string, OpenedModel>();
  private readonly opening = new Map<string, Promise<OpenedModel>>();
  /** Ids chosen by the user; empty means every open model with a tokenizer. */
  private activeIds: string[] = [];

  constructor(private readonly loaders: readonly ModelLoader[] = MODEL_LOADERS) {}

  async open(requestedPath: string): Promise<OpenedModel> {
    const absolute = path.resolve(requestedPath);
    const existing = this.models.get(absolute);
    if (existing) return existing;
    const pending = this.opening.get(absolute);
    if (pending) return pending;

    const promise = this.load(absolute).finally(() => this.opening.delete(absolute));
    this.opening.set(absolute, promise);
    const model = await promise;
    this.models.set(absolute, model);
    return model;
  }

  private async load(absolute: string): Promise<OpenedModel> {
    try {
      await fs.access(absolute);
    } catch {
      throw new ModelLensError('not-found', 'no such file or folder.', absolute, 'Check the path and try again.');
    }
    for (const loader of this.loaders) {
      if (await loader.canOpen(absolute)) return loader.open(absolute);
    }
    const formats = this.loaders.map((loader) => loader.description).join(', ');
    throw new ModelLensError(
      'unsupported',
      'is not a model or tokenizer that Model Lens can open.',
      absolute,
      `Open one of: ${formats}.`,
    );
  }

  close(id: string): boolean {
    this.activeIds = this.activeIds.filter((active) => active !== id);
    return this.models.delete(id);
  }

  get(id: string): OpenedModel {
    const model = this.models.get(id) ?? this.models.get(path.resolve(id));
    if (!model) throw new ModelLensError('not-found', `no open model "${id}".`, undefined, 'Open it first.');
    return model;
  }

  list(): OpenedModel[] {
    return [...this.models.values()];
  }

  setActive(ids: string[]): void {
    this.activeIds = ids.map((id) => path.resolve(id));
  }

  isActive(model: OpenedModel): boolean {
    return this.activeTokenizers().some((named) => named.modelId === model.id);
  }

  /** The active tokenizers in the user's order (or opening order when none were chosen). */
  activeTokenizers(): NamedTokenizer[] {
    const chosenAndOpen = this.activeIds.flatMap((id) => this.models.get(id) ?? []);
    // When none of the chosen tokenizers is open, fall back to every open one rather than to nothing.
    const chosen = chosenAndOpen.some((model) => model.tokenizer) ? chosenAndOpen : this.list();
    return chosen
      .filter((model) => model.tokenizer)
      .map((model) => ({ modelId: model.id, name: model.name, tokenizer: model.tokenizer! }));
  }
}
