/**
 * Tokenize text with one model's tokenizer: the result the CLI prints, the webview draws, and the status bar counts.
 */
import { ModelLensError } from '../errors';
import type { TokenizationResult } from '../protocol';
import type { OpenedModel } from '../registry/types';

export function tokenizeWithModel(model: OpenedModel, text: string, addSpecialTokens = false): TokenizationResult {
  if (!model.tokenizer) {
    throw new ModelLensError(
      'usage',
      'has no tokenizer.',
      model.path,
      'Open a folder with tokenizer.json, or choose another model.',
    );
  }
  const tokens = model.tokenizer.tokenize(text, { addSpecialTokens });
  return { modelId: model.id, modelName: model.name, count: tokens.length, tokens };
}
