/**
 * `model-lens predict` and `senses` (and `sense-finetune`, in senseFinetune.ts): language-model and Backpack features
 * from a shell.
 */
import { wordSenses } from '../../features/backpack';
import { predictNextToken } from '../../features/predict';
import { ModelRegistry } from '../../registry/registry';
import { showPiece } from '../../tokenization/display';
import { flag, stringOption, usage, type ParsedArgs } from '../args';
import { json, onePath, type Command } from '../command';

export function countOption(args: ParsedArgs, name: string, fallback: number, max = 1000): number {
  const text = stringOption(args, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value < 1 || value > max) throw usage(`--${name} must be an integer from 1 to ${max}, not "${text}"`);
  return value;
}

export const predictCommand: Command = {
  summary: 'the next-token distribution after a text (Backpacks, and causal LMs Model Lens can run)',
  usage: 'model-lens predict <path> --text T [--top 10] [--json]',
  options: { text: {}, top: {}, json: { flag: true } },
  async run(args, out) {
    const text = stringOption(args, 'text');
    if (text === undefined) throw usage('give --text');
    const model = await new ModelRegistry().open(onePath(args, 'predict'));
    const result = await predictNextToken(model, text, countOption(args, 'top', 10));
    if (flag(args, 'json')) {
      out(json(result));
      return;
    }
    const lines = [`next token after ${JSON.stringify(text)} (${result.tokens.length} tokens):`];
    for (const [rank, next] of result.next.entries()) {
      lines.push(`${String(rank + 1).padStart(4)}  ${showPiece(next.token).padEnd(24)} ${(100 * next.probability).toFixed(2).padStart(6)}%  logit ${next.logit.toFixed(3)}  (id ${next.id})`);
    }
    out(lines.join('\n'));
  },
};

export const sensesCommand: Command = {
  summary: "a Backpack word's sense vectors, each with its top and bottom vocabulary words",
  usage: 'model-lens senses <path> --token T [--top 20] [--json]',
  options: { token: {}, top: {}, json: { flag: true } },
  async run(args, out) {
    const token = stringOption(args, 'token');
    if (token === undefined) throw usage('give --token (a vocabulary entry like "Ġking", or text that is one token, like " king")');
    const model = await new ModelRegistry().open(onePath(args, 'senses'));
    const result = await wordSenses(model, token, countOption(args, 'top', 20, 200));
    if (flag(args, 'json')) {
      out(json(result));
      return;
    }
    const words = (list: { token: string }[]) => list.slice(0, 8).map((w) => showPiece(w.token)).join(' ');
    const lines = [`senses of ${showPiece(result.token)} (id ${result.tokenId}):`];
    for (const sense of result.senses) {
      lines.push(`${String(sense.sense).padStart(3)}${sense.edited ? '*' : ' '} + ${words(sense.top)}`);
      lines.push(`     − ${words(sense.bottom)}`);
    }
    out(lines.join('\n'));
  },
};
