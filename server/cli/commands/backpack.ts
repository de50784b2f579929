/**
 * `model-lens predict`, `senses` and `sense-finetune`: language-model and Backpack features from a shell.
 */
import { existsSync } from 'node:fs';
import { exportEditedBackpack, openBackpack, wordSenses } from '../../features/backpack';
import { finetuneSenses, readFinetuneInputs } from '../../features/backpack/senseFinetune';
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

function numberOption(args: ParsedArgs, name: string, check: (value: number) => boolean, what: string): number | undefined {
  const text = stringOption(args, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || !check(value)) throw usage(`--${name} must be ${what}, not "${text}"`);
  return value;
}

export const senseFinetuneCommand: Command = {
  summary: 'finetune a Backpack\'s senses from canonical examples and write the edited model',
  usage: 'model-lens sense-finetune <path> --examples F.jsonl --general F.txt [--eval F.jsonl] [--senses 10] [--budget 1e-4] [--epochs 10] [--lr 0.01] --out DIR [--json]',
  options: { examples: {}, general: {}, eval: {}, senses: {}, budget: {}, epochs: {}, lr: {}, out: {}, json: { flag: true } },
  async run(args, out) {
    const examples = stringOption(args, 'examples');
    const general = stringOption(args, 'general');
    const outDir = stringOption(args, 'out');
    if (!examples || !general || !outDir) throw usage('give --examples, --general and --out');
    if (existsSync(outDir)) throw usage(`--out ${outDir} already exists; the edited model is written to a new folder, never over one`);
    const inputs = await readFinetuneInputs({ examples, generalText: general, evaluation: stringOption(args, 'eval') });
    const model = await new ModelRegistry().open(onePath(args, 'sense-finetune'));
    const backpack = await openBackpack(model);
    const report = await finetuneSenses(backpack, {
      ...inputs,
      sensesPerExample: countOption(args, 'senses', 10, 200),
      degradationBudget: numberOption(args, 'budget', (v) => v > 0 && v < 1, 'a relative loss increase between 0 and 1, e.g. 1e-4'),
      epochs: countOption(args, 'epochs', 10, 1000),
      learningRate: numberOption(args, 'lr', (v) => v > 0 && v < 10, 'a positive learning rate, e.g. 0.01'),
      apply: true,
    });
    const written = report.applied ? await exportEditedBackpack(backpack, outDir) : undefined;
    if (flag(args, 'json')) {
      out(json({ ...report, output: written ?? null }));
      return;
    }
    const lines = [`selected ${report.pairs.length} senses: ${report.pairs.slice(0, 10).map((p) => `${showPiece(p.token)}/${p.sense}`).join(' ')}${report.pairs.length > 10 ? ' …' : ''}`];
    for (const epoch of report.epochs) {
      lines.push(`epoch ${String(epoch.epoch).padStart(2)}  canonical loss ${epoch.canonicalLoss.toFixed(4)}  general-text loss ${epoch.generalLossChange >= 0 ? '+' : ''}${(100 * epoch.generalLossChange).toFixed(4)}%${epoch.successRate === undefined ? '' : `  success ${(100 * epoch.successRate).toFixed(1)}%`}${epoch.withinBudget ? '' : '  (over budget)'}`);
    }
    lines.push(`kept epoch ${report.chosenEpoch}: canonical loss ${report.canonicalLossBefore.toFixed(4)} → ${report.canonicalLossAfter.toFixed(4)}, general-text loss ${(100 * report.generalLossChange).toFixed(4)}%`);
    lines.push(written ? `wrote ${written.folder} (${written.files.join(', ')})` : 'no epoch stayed within the budget: nothing was applied or written');
    out(lines.join('\n'));
  },
};
