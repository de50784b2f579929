/**
 * `model-lens probe`: permutation-learning probes.
 *   probe permutation --k K [...]   theory numbers and an empirical ensemble curve (or --theory-only)
 *   probe permutation --reproduce   the paper's experiment 1 at a width this machine affords
 *   probe copy <path> [...]         the copy/permute probe on a causal language model Model Lens can run
 */
import { openCausalLanguageModel } from '../../features/probes/causalLanguageModel';
import { runCopyProbe, type CopyPermutation } from '../../features/probes/copyProbe';
import {
  permutationTheory,
  runPermutationProbe,
  runPermutationReproduction,
  type PermutationProbeResult,
  type PermutationTheoryResult,
  type ReproductionResult,
} from '../../features/probes/permutationProbe';
import { ModelRegistry } from '../../registry/registry';
import { flag, stringOption, usage, type ParsedArgs } from '../args';
import { json, type Command } from '../command';

const PERMUTATION_OPTIONS = ['k', 'width', 'param', 'target', 'max-models', 'theory-only', 'reproduce', 'seed', 'lr', 'steps', 'evaluation', 'json'];
const COPY_OPTIONS = ['k', 'shots', 'seed', 'queries', 'permutation', 'json'];

function integer(args: ParsedArgs, name: string, min: number, max: number): number | undefined {
  const text = stringOption(args, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value < min || value > max) throw usage(`--${name} must be an integer from ${min} to ${max}, not "${text}"`);
  return value;
}

function positiveNumber(args: ParsedArgs, name: string): number | undefined {
  const text = stringOption(args, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw usage(`--${name} must be a positive number, not "${text}"`);
  return value;
}

/** "6", "2..12" or "2,4,8" → a sorted list within [min, max]. */
export function integerRange(text: string, name: string, min: number, max: number): number[] {
  const range = /^\s*(\d+)\s*\.\.\s*(\d+)\s*$/.exec(text);
  const values = range
    ? Array.from({ length: Math.max(0, Number(range[2]) - Number(range[1]) + 1) }, (_, i) => Number(range[1]) + i)
    : text.split(',').map((part) => (/^\s*\d+\s*$/.test(part) ? Number(part) : NaN));
  if (values.length === 0 || values.some((value) => !Number.isInteger(value) || value < min || value > max)) {
    throw usage(`--${name} must be an integer, a range like ${min}..${max} or a list like ${min},${max} within ${min}..${max}, not "${text}"`);
  }
  return [...new Set(values)].sort((a, b) => a - b);
}

function onlyOptions(args: ParsedArgs, allowed: readonly string[], subcommand: string): void {
  for (const name of args.options.keys()) if (!allowed.includes(name)) throw usage(`--${name} does not apply to "probe ${subcommand}"`);
}

const percent = (value: number) => `${(100 * value).toFixed(1)}%`;
const orDash = (value: number | null) => (value === null ? '–' : String(value));

function theoryLines(theory: PermutationTheoryResult): string[] {
  const lines = [
    `Theory: k = ${theory.k}, ${theory.param} parameterisation${theory.width ? `, width ${theory.width}` : ', infinite width'}, δ = ${theory.delta}`,
    `  ensemble size for 1 − δ: one input ${orDash(theory.models.oneInput.models)}, two-one inputs ${orDash(theory.models.twoOnes.models)}, ` +
      `all inputs at once ${orDash(theory.models.allInputs.models)}, all inputs on average ${orDash(theory.models.allInputsAverage.models)}`,
    '  n   mean on   mean off    sd      margin on  margin off  M(one input)',
  ];
  for (const size of theory.supportSizes) {
    lines.push(
      `  ${String(size.n).padEnd(3)} ${size.meanOn.toFixed(4).padStart(8)}  ${size.meanOff.toExponential(2).padStart(9)}  ${size.sd.toFixed(4)}  ` +
        `${(size.marginOn === null ? '–' : size.marginOn.toFixed(3)).padStart(9)}  ${(size.marginOff === null ? '–' : size.marginOff.toFixed(3)).padStart(10)}  ${orDash(size.modelsForOneInput)}`,
    );
  }
  if (theory.growth.length > 0) {
    lines.push('  growth:  k   one input  /k ln k   all inputs  /k²');
    for (const row of theory.growth) {
      lines.push(
        `          ${String(row.k).padEnd(4)}${orDash(row.oneInput).padStart(9)}  ${(row.oneInputOverKLogK?.toFixed(2) ?? '–').padStart(7)}  ${orDash(row.allInputs).padStart(10)}  ${(row.allInputsOverKSquared?.toFixed(3) ?? '–').padStart(6)}`,
      );
    }
  }
  return lines;
}

function empiricalLines(run: PermutationProbeResult): string[] {
  const o = run.options;
  const lines = [
    `Ensemble: width ${o.width}, ${o.param}, lr ${o.lr.toPrecision(3)}${o.lrAuto ? ' (auto)' : ''}, ${o.steps} steps${o.stepsAuto ? ' (auto)' : ''}, ` +
      `${run.evaluationSet.kind === 'all' ? `all ${run.evaluationSet.distinctInputs} inputs` : `${run.evaluationSet.totalInputs} sampled two-one inputs`}`,
    run.reachedTarget ? `  reached ${percent(o.target)} with M = ${run.stoppedAt} members` : `  did not reach ${percent(o.target)} within ${run.models} members`,
    `  accuracy vs M (theory in brackets): ${run.curve.models
      .filter((m) => m <= 5 || m === run.models || m % Math.max(1, Math.ceil(run.models / 10)) === 0)
      .map((m) => `${m}: ${percent(run.curve.accuracy[m - 1])} [${percent(run.theoryCurve.accuracy[m - 1])}]`)
      .join(', ')}`,
    `  by support size: ${run.bySupportSize.map((size) => `n=${size.n} ${percent(size.accuracy)} (one member ${percent(size.singleModelAccuracy)})`).join(', ')}`,
  ];
  if (run.trainingInputs) lines.push(`  training inputs under the strict rule (mean > 0): ${percent(run.trainingInputs.strictAccuracy)}; largest off-support mean ${run.trainingInputs.largestOffSupportMean.toExponential(1)}`);
  lines.push(`  ${(run.timing.totalMs / 1000).toFixed(1)} s, ${run.timing.membersPerSecond.toFixed(1)} members/s`);
  return lines;
}

function reproductionLines(result: ReproductionResult): string[] {
  const lines = ['k    ours   paper  theory(∞)  theory(our width)  band', ...result.rows.map((row) => `${String(row.k).padEnd(4)} ${orDash(row.ours).padStart(5)}  ${orDash(row.paper).padStart(5)}  ${orDash(row.theoryInfiniteWidth).padStart(9)}  ${orDash(row.theoryOurWidth).padStart(17)}  ${orDash(row.theoryBand.low)}–${orDash(row.theoryBand.high)}`)];
  return [...result.setup, '', ...lines, '', ...result.explanation];
}

async function permutation(args: ParsedArgs, out: (text: string) => void): Promise<void> {
  onlyOptions(args, PERMUTATION_OPTIONS, 'permutation');
  if (args.positionals.length !== 1) throw usage('probe permutation takes no <path>');
  const param = stringOption(args, 'param') ?? 'standard';
  if (param !== 'standard' && param !== 'ntk') throw usage(`--param must be ntk or standard, not "${param}"`);
  const target = positiveNumber(args, 'target');
  if (target !== undefined && target > 1) throw usage(`--target must be at most 1, not ${target}`);
  const width = integer(args, 'width', 1, 1 << 20);
  const maxModels = integer(args, 'max-models', 1, 100_000);
  const seed = integer(args, 'seed', 0, Number.MAX_SAFE_INTEGER);
  const lr = positiveNumber(args, 'lr');
  const steps = integer(args, 'steps', 1, 10_000_000);
  const progress = (fraction: number) => !flag(args, 'json') && process.stderr.isTTY && process.stderr.write(`\r${(100 * fraction).toFixed(0)}%`);
  if (flag(args, 'reproduce')) {
    if (args.options.has('k') || flag(args, 'theory-only')) throw usage('--reproduce runs k = 5…30 itself; drop --k and --theory-only');
    const result = await runPermutationReproduction({ width, target, maxModels, seed, param, lr, steps }, { onProgress: (p) => progress(p.fraction) });
    if (process.stderr.isTTY && !flag(args, 'json')) process.stderr.write('\r');
    return out(flag(args, 'json') ? json(result) : reproductionLines(result).join('\n'));
  }
  const k = integer(args, 'k', 2, 512);
  if (k === undefined) throw usage('probe permutation needs --k K (or --reproduce)');
  const evaluation = stringOption(args, 'evaluation');
  if (evaluation !== undefined && !['auto', 'all', 'two-ones'].includes(evaluation)) throw usage(`--evaluation must be auto, all or two-ones, not "${evaluation}"`);
  const theory = permutationTheory(k, { param, width, delta: target === undefined ? undefined : Math.max(1e-12, 1 - target) });
  if (flag(args, 'theory-only')) return out(flag(args, 'json') ? json({ theory }) : theoryLines(theory).join('\n'));
  const empirical = await runPermutationProbe(
    { k, width, param, target, maxModels, seed, lr, steps, evaluation: evaluation as 'auto' | 'all' | 'two-ones' | undefined },
    { onProgress: (p) => progress(p.fraction) },
  );
  if (process.stderr.isTTY && !flag(args, 'json')) process.stderr.write('\r');
  out(flag(args, 'json') ? json({ theory, empirical }) : [...theoryLines(theory), '', ...empiricalLines(empirical)].join('\n'));
}

async function copy(args: ParsedArgs, out: (text: string) => void): Promise<void> {
  onlyOptions(args, COPY_OPTIONS, 'copy');
  if (args.positionals.length !== 2) throw usage('probe copy needs exactly one <path>');
  const ks = integerRange(stringOption(args, 'k') ?? '2..12', 'k', 1, 64);
  const shots = integerRange(stringOption(args, 'shots') ?? '0..4', 'shots', 0, 64);
  const kind = stringOption(args, 'permutation') ?? 'identity';
  if (!['identity', 'reverse', 'random'].includes(kind)) throw usage(`--permutation must be identity, reverse or random, not "${kind}"`);
  const model = await new ModelRegistry().open(args.positionals[1]);
  const lm = await openCausalLanguageModel(model);
  const result = await runCopyProbe(lm, { ks, shots, seed: integer(args, 'seed', 0, Number.MAX_SAFE_INTEGER), queries: integer(args, 'queries', 1, 10_000), permutation: kind as CopyPermutation });
  if (flag(args, 'json')) return out(json(result));
  const header = `k \\ shots  ${result.shots.map((s) => String(s).padStart(6)).join('')}`;
  const rows = result.ks.map((k, i) => `${String(k).padEnd(10)} ${result.heatmap.exactMatch[i].map((value) => percent(value).padStart(6)).join('')}`);
  out([`exact match (${result.permutationKind}, ${result.queries} prompts per cell)`, header, ...rows].join('\n'));
}

export const probeCommand: Command = {
  summary: 'permutation-learning probes: theory, ensembles, the paper reproduction, and a copy/permute probe for language models',
  usage:
    'model-lens probe permutation --k K [--width M] [--param ntk|standard] [--target 0.9] [--max-models N] [--theory-only] [--seed S] [--lr LR] [--steps T] [--evaluation auto|all|two-ones] [--json]\n' +
    '  model-lens probe permutation --reproduce [--width M] [--max-models N] [--json]\n' +
    '  model-lens probe copy <path> [--k 2..12] [--shots 0..8] [--permutation identity|reverse|random] [--queries N] [--seed S] [--json]',
  options: {
    k: {},
    width: {},
    param: {},
    target: {},
    'max-models': {},
    'theory-only': { flag: true },
    reproduce: { flag: true },
    seed: {},
    lr: {},
    steps: {},
    evaluation: {},
    shots: {},
    queries: {},
    permutation: {},
    json: { flag: true },
  },
  async run(args, out) {
    const [subcommand] = args.positionals;
    if (subcommand === 'permutation') return permutation(args, out);
    if (subcommand === 'copy') return copy(args, out);
    throw usage(subcommand ? `unknown probe "${subcommand}": use "permutation" or "copy"` : 'probe needs "permutation" or "copy"');
  },
};
