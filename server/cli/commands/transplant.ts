import { runTransplant, type TransplantOptions, type TransplantReport } from '../../features/transplant';
import { isMethodName, METHOD_NAMES, type MatrixKind, type MethodName } from '../../features/transplant/methods';
import { flag, stringOption, usage, type ParsedArgs } from '../args';
import { json, type Command } from '../command';

function required(args: ParsedArgs, name: string): string {
  const value = stringOption(args, name);
  if (value === undefined) throw usage(`transplant needs --${name} DIR`);
  return value;
}

function wholeNumber(args: ParsedArgs, name: string): number | undefined {
  const value = stringOption(args, name);
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw usage(`--${name} must be a whole number, not "${value}"`);
  return Number(value);
}

function methods(value: string, option: string): MethodName[] {
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw usage(`--${option} needs at least one method`);
  for (const name of names) if (!isMethodName(name)) throw usage(`--${option}: unknown method "${name}" (use ${METHOD_NAMES.join(', ')})`);
  return names as MethodName[];
}

const UNITS: Record<string, number> = { '': 1, B: 1, KB: 1e3, MB: 1e6, GB: 1e9, KIB: 1024, MIB: 1024 ** 2, GIB: 1024 ** 3 };

/** "5GB", "500MB", "2GiB" or a byte count. */
export function parseSize(value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim());
  const unit = match ? UNITS[match[2].toUpperCase()] : undefined;
  if (!match || unit === undefined || !(Number(match[1]) > 0)) throw usage(`--shard-size must be a size like 5GB, 500MB or 2GiB, not "${value}"`);
  return Math.floor(Number(match[1]) * unit);
}

function percent(value: number): string {
  return Number.isFinite(value) ? value.toFixed(3) : 'n/a';
}

function humanReport(report: TransplantReport): string {
  const lines: string[] = [];
  const m = report.matching;
  if (report.output) lines.push(`wrote ${report.output.path}: ${report.output.rows} rows (${report.output.tied ? 'tied' : 'untied'}, ${report.output.files.length} files${report.output.sharded ? ', sharded' : ''})`);
  else lines.push(`self-check only (nothing written): ${report.base.name} with the ${report.donor.name} tokenizer`);
  lines.push(
    `  tokens: ${m.anchors} shared (exact ${m.counts.exact}, moved ${m.counts.moved}, special ${m.counts.special}, byte ${m.counts.byte}), ` +
      `${m.counts.prefix} prefix, ${m.counts.approximated} approximated, ${m.counts.unused} unused rows`,
  );
  lines.push(`  spelling unified: ${m.unified.wordStart} by the Ġ/▁ marker, ${m.unified.otherSpelling} other byte forms`);
  for (const matrix of report.matrices) lines.push(`  ${matrix.matrix}: ${matrix.baseTensor} ← ${matrix.method} (${matrix.copiedRows} copied, ${matrix.madeRows} made, ${matrix.zeroRows} zero)`);
  if (report.selfCheck) {
    lines.push(`  self-check: ${report.selfCheck.heldOut} held-out shared tokens rebuilt from ${report.selfCheck.anchorsUsed} anchors (cosine to the true rows)`);
    for (const r of report.selfCheck.results) {
      lines.push(r.error ? `    ${r.method.padEnd(8)} ${r.matrix.padEnd(6)} error: ${r.error}` : `    ${r.method.padEnd(8)} ${r.matrix.padEnd(6)} mean ${percent(r.mean)}  median ${percent(r.median)}  min ${percent(r.min)}`);
    }
  }
  lines.push(`  digits: ${report.digits.note}`);
  lines.push(`  time: ${report.timings.map((t) => `${t.stage} ${t.seconds.toFixed(1)} s`).join(', ')} (total ${report.totalSeconds.toFixed(1)} s)`);
  for (const warning of report.warnings) lines.push(`  warning: ${warning}`);
  return lines.join('\n');
}

export const transplantCommand: Command = {
  summary: 'give a base model the tokenizer of a donor model (OMP and baselines), with a quality report',
  usage:
    'model-lens transplant --base DIR --donor DIR --out DIR [--method omp] [--k 64] [--matrices input,output] [--self-check 0.05] ' +
    '[--compare omp,knn,subword,mean] [--prefix-fallback] [--no-byte-tokens] [--normalize-atoms] [--subword mean|length-weighted|first-last] ' +
    '[--aux-vectors FILE] [--shard-size 5GB] [--workers N] [--seed N] [--json]',
  options: {
    base: {},
    donor: {},
    out: {},
    method: {},
    k: {},
    matrices: {},
    'self-check': {},
    compare: {},
    'prefix-fallback': { flag: true },
    'no-byte-tokens': { flag: true },
    'normalize-atoms': { flag: true },
    subword: {},
    'aux-vectors': {},
    'shard-size': {},
    workers: {},
    seed: {},
    json: { flag: true },
  },
  async run(args, out) {
    if (args.positionals.length > 0) throw usage(`transplant takes no positional arguments (got "${args.positionals[0]}")`);
    const compare = stringOption(args, 'compare');
    const method = stringOption(args, 'method');
    const matrices = stringOption(args, 'matrices');
    const selfCheck = stringOption(args, 'self-check');
    const subword = stringOption(args, 'subword');
    const options: TransplantOptions = {
      base: required(args, 'base'),
      donor: required(args, 'donor'),
      out: compare === undefined ? required(args, 'out') : stringOption(args, 'out'),
      method: method === undefined ? undefined : methods(method, 'method')[0],
      k: wholeNumber(args, 'k'),
      byteTokens: !flag(args, 'no-byte-tokens'),
      prefixFallback: flag(args, 'prefix-fallback'),
      normalizeAtoms: flag(args, 'normalize-atoms'),
      workers: wholeNumber(args, 'workers'),
      seed: wholeNumber(args, 'seed'),
      auxVectors: stringOption(args, 'aux-vectors'),
    };
    if (method !== undefined && method.includes(',')) throw usage('--method takes one method; use --compare for several');
    if (compare !== undefined) {
      options.compare = methods(compare, 'compare');
      options.compareOnly = true;
      options.method ??= options.compare[0];
    }
    if (matrices !== undefined) {
      const list = matrices.split(',').map((s) => s.trim());
      for (const m of list) if (m !== 'input' && m !== 'output') throw usage(`--matrices: unknown matrix "${m}" (use input, output or input,output)`);
      options.matrices = list as MatrixKind[];
    }
    if (selfCheck !== undefined) {
      const fraction = Number(selfCheck);
      if (!(fraction >= 0 && fraction < 1)) throw usage(`--self-check must be a fraction in [0, 1), not "${selfCheck}"`);
      options.selfCheck = fraction;
    }
    if (subword !== undefined) {
      if (subword !== 'mean' && subword !== 'length-weighted' && subword !== 'first-last') throw usage(`--subword must be mean, length-weighted or first-last, not "${subword}"`);
      options.subwordCombine = subword;
    }
    const shardSize = stringOption(args, 'shard-size');
    if (shardSize !== undefined) options.maxShardBytes = parseSize(shardSize);
    const showProgress = !flag(args, 'json') && process.stderr.isTTY === true;
    const report = await runTransplant(options, {
      onProgress: showProgress
        ? (p) => process.stderr.write(`\r${(p.fraction * 100).toFixed(0).padStart(3)}%  ${p.message}${p.etaSeconds !== undefined ? ` (about ${Math.ceil(p.etaSeconds)} s left)` : ''}\x1b[K`)
        : undefined,
    });
    if (showProgress) process.stderr.write('\r\x1b[K');
    out(flag(args, 'json') ? json(report) : humanReport(report));
  },
};
