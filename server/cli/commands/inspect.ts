import { ModelRegistry } from '../../registry/registry';
import { describeModel } from '../../features/summarise';
import { flag } from '../args';
import { json, onePath, type Command } from '../command';

export const inspectCommand: Command = {
  summary: 'format, tokenizer facts, vocabulary size and embedding tensors of a model or tokenizer',
  usage: 'model-lens inspect <path> [--json]',
  options: { json: { flag: true } },
  async run(args, out) {
    const model = await new ModelRegistry().open(onePath(args, 'inspect'));
    const details = describeModel(model, true);
    const report = {
      path: details.path,
      format: details.format,
      files: details.files,
      tokenizer: details.tokenizer ?? null,
      vocabSize: details.tokenizer?.vocabSize ?? null,
      embeddings: details.embeddings,
      tensors: details.tensors,
    };
    if (flag(args, 'json')) return out(json(report));
    const lines = [`${details.name} (${details.format})`, `  path: ${details.path}`];
    if (details.tokenizer) {
      const t = details.tokenizer;
      lines.push(`  tokenizer: ${t.type}, ${t.style}, vocabulary ${t.vocabSize}, ${t.specialTokens.length} special tokens`);
    }
    const describe = (label: string, tensor?: { name: string; shape: number[]; dtype: string }) =>
      tensor && lines.push(`  ${label}: ${tensor.name} [${tensor.shape.join(', ')}] ${tensor.dtype}`);
    describe('input embedding', details.embeddings.input);
    describe('output head', details.embeddings.output);
    if (details.embeddings.tied) lines.push('  output head: tied to the input embedding');
    lines.push(`  tensors: ${details.tensors.length}`);
    out(lines.join('\n'));
  },
};
