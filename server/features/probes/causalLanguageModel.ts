/**
 * What the copy probe needs from a language model, and how it gets one for an opened model.
 *
 * A `CausalLanguageModel` is a tokenizer and a function from a token sequence to the logits of the next token. Model
 * runners register here (Backpacks and transformers.js ONNX LMs are built in; tests can add their own); `openCausalLanguageModel` asks each in
 * turn, and when none can run the model it throws an 'unsupported' error that says what is supported, which the CLI
 * prints as one line (exit 2).
 */
import { unsupported } from '../../errors';
import { backpackRunner } from '../backpack';
import { transformersJsRunner } from '../languageModels/transformersJs';
import type { OpenedModel } from '../../registry/types';
import type { TokenizerHandle } from '../../tokenization/tokenizer';

export interface CausalLanguageModel {
  tokenizer: TokenizerHandle;
  /** Logits over the vocabulary for the token after `ids` (length ≥ the tokenizer's largest id + 1). */
  nextTokenLogits(ids: number[]): Promise<Float32Array>;
}

export interface CausalLanguageModelRunner {
  /** For messages, e.g. "Backpack (backpack-gpt2 safetensors)". */
  description: string;
  /** Cheap check on the opened model (format, config, tensor names); never runs it. */
  canRun(model: OpenedModel): boolean;
  open(model: OpenedModel): Promise<CausalLanguageModel>;
}

const runners: CausalLanguageModelRunner[] = [backpackRunner, transformersJsRunner];

/**
 * Adds a runner (a later registration of the same runner object is ignored); `first` puts it before the built-in ones
 * (the server runs Backpacks in its worker thread that way). Returns a function that removes it.
 */
export function registerCausalLanguageModelRunner(runner: CausalLanguageModelRunner, options: { first?: boolean } = {}): () => void {
  if (!runners.includes(runner)) {
    if (options.first) runners.unshift(runner);
    else runners.push(runner);
  }
  return () => {
    const index = runners.indexOf(runner);
    if (index >= 0) runners.splice(index, 1);
  };
}

/** The descriptions of the registered runners. */
export function causalLanguageModelRunners(): string[] {
  return runners.map((runner) => runner.description);
}

/** A runnable language model for `model`, or an 'unsupported' error naming what can run. */
export async function openCausalLanguageModel(model: OpenedModel): Promise<CausalLanguageModel> {
  const runner = runners.find((candidate) => candidate.canRun(model));
  if (runner) return runner.open(model);
  throw unsupported(
    model.path,
    `cannot run next-token logits for this ${model.format} model: Model Lens runs only causal language models it has a runner for.`,
    `Supported: ${runners.map((r) => r.description).join('; ')}.`,
  );
}
