// Sense finetuning from canonical examples on the tiny Backpack fixture: the analytic sense gradient (α fixed, no
// autograd) agrees with central finite differences through the plain TypeScript reference forward with edits;
// finetuning makes " Paris" likely after "The capital of France is" and the applied edit gives the same probability
// through the real ONNX forward; a bad example loses probability; the degradation budget picks the last epoch within
// it, and the general-text loss it reports is the one the edited model really has; cancelling leaves the edits as
// they were; malformed JSONL is refused with the line it is on.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openBackpack, type BackpackModel } from '../../server/features/backpack/backpackModel';
import { loadBackpackWeights, type BackpackWeights } from '../../server/features/backpack/backpackWeights';
import { parseCanonicalExamples, readFinetuneInputs, type CanonicalExample } from '../../server/features/backpack/canonicalExamples';
import { finetuneSenses, prepareSenseFinetune } from '../../server/features/backpack/senseFinetune';
import { ModelLensError } from '../../server/errors';
import { SeededRandom } from '../../server/kernels/seededRandom';
import { ModelRegistry } from '../../server/registry/registry';
import { backpackFixtureTensors, backpackTokenizerJson, CANONICAL_EXAMPLES, GENERAL_TEXT, TINY_BACKPACK_CONFIG, writeBackpackFolder } from '../fixtures/buildBackpack';
import { referenceBackpackForward } from '../support/backpackReference';

let root: string;
let backpack: BackpackModel;
let weights: BackpackWeights;
const { senses: S, hidden: d, vocabSize: V, positions } = TINY_BACKPACK_CONFIG;

before(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'model-lens-finetune-'));
  const folder = path.join(root, 'tiny-backpack');
  await fsp.mkdir(folder);
  await writeBackpackFolder(folder, TINY_BACKPACK_CONFIG, backpackFixtureTensors(), await backpackTokenizerJson());
  const model = await new ModelRegistry().open(folder);
  backpack = await openBackpack(model);
  weights = await loadBackpackWeights(model, backpack.config);
});

after(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

const ids = (text: string) => backpack.tokenizer.tokenize(text).map((t) => t.id);
const token = (piece: string) => {
  const id = backpack.tokenizer.tokenToId(piece);
  assert.ok(id !== undefined, `${piece} is in the fixture vocabulary`);
  return id;
};

function logSoftmaxRow(logits: ArrayLike<number>, row: number): Float64Array {
  let max = -Infinity;
  for (let v = 0; v < V; v++) max = Math.max(max, logits[row * V + v]);
  let sum = 0;
  for (let v = 0; v < V; v++) sum += Math.exp(logits[row * V + v] - max);
  const out = new Float64Array(V);
  const lse = max + Math.log(sum);
  for (let v = 0; v < V; v++) out[v] = logits[row * V + v] - lse;
  return out;
}

/** p(suffix | prefix) through the real ONNX forward, with the model's current edits. */
async function suffixProbability(prefix: string, suffix: string): Promise<number> {
  const prefixIds = ids(prefix);
  const all = [...prefixIds, ...ids(suffix)];
  const { logits } = await backpack.forward([all]);
  let logp = 0;
  for (let i = prefixIds.length - 1; i < all.length - 1; i++) logp += logSoftmaxRow(logits, i)[all[i + 1]];
  return Math.exp(logp);
}

/** Mean next-token NLL over the general text in chunks of the model's positions, through the real ONNX forward. */
async function generalLoss(text: string): Promise<number> {
  const all = ids(text);
  let sum = 0;
  let count = 0;
  for (let start = 0; start < all.length; start += positions) {
    const chunk = all.slice(start, start + positions);
    if (chunk.length < 2) continue;
    const { logits } = await backpack.forward([chunk]);
    for (let i = 0; i < chunk.length - 1; i++) sum -= logSoftmaxRow(logits, i)[chunk[i + 1]];
    count += chunk.length - 1;
  }
  return sum / count;
}

describe('sense finetuning: the exact gradient', () => {
  test('the analytic sense gradient equals central finite differences through the reference forward with edits', async (t) => {
    const examples: CanonicalExample[] = [
      { kind: 'good', prefix: 'The capital of France is', suffix: ' Paris' },
      { kind: 'bad', prefix: 'The capital of France is', suffix: ' London' },
      { kind: 'balance', prefix: 'In France the capital', suffixes: [' city', ' is the'] },
      { kind: 'good-vs-bad', prefix: 'the capital of France', good: ' is', bad: ' are' },
    ];
    const generalText = 'The capital city of France is in the north of the country, and the river runs through the capital.';
    const pairs = [
      { tokenId: token('ĠFrance'), sense: 3 },
      { tokenId: token('Ġcapital'), sense: 11 },
      { tokenId: token('Ġthe'), sense: 0 }, // several occurrences per sequence
      { tokenId: token('ĠFrance'), sense: 9 }, // a second sense of the same word
    ];
    const problem = await prepareSenseFinetune(backpack, { examples, generalText, senses: pairs, klWeight: 0.5, apply: false });
    assert.equal(problem.pairs.length, pairs.length);
    assert.equal(problem.generalChunks.length, 1);
    const general = problem.generalChunks[0];
    assert.ok(problem.affectedGeneralPositions > 10, 'the edited words reach the general text, so the KL term is exercised');

    // Deltas on a 2⁻⁸ grid, so that ±2⁻¹⁰ is exact in float32 and the differences see only the loss.
    const random = new SeededRandom(7);
    const deltas = new Float64Array(pairs.length * d).map(() => Math.round(random.normal() * 0.3 * 256) / 256);
    const generalIndices = [...random.sample(general.length - 1, 24)];
    const value = await problem.objective(deltas, examples.map((_, u) => u), generalIndices);
    assert.ok(value.kl > 0 && value.canonicalLoss !== 0);

    // The same objective from the reference forward (float64), with the deltas as additive sense edits.
    const sequences = examples.map((example) => {
      const prefix = ids(example.prefix);
      const suffixes = example.kind === 'balance' ? example.suffixes : example.kind === 'good-vs-bad' ? [example.good, example.bad] : [example.suffix];
      return suffixes.map((suffix) => ({ ids: [...prefix, ...ids(suffix)], prefixLength: prefix.length }));
    });
    const originalGeneral = referenceBackpackForward(weights, general).logits;
    const originalLogp = generalIndices.map((i) => logSoftmaxRow(originalGeneral, i));
    const referenceObjective = (values: Float64Array): number => {
      const delta = new Map<number, Float32Array>();
      pairs.forEach(({ tokenId, sense }, p) => {
        if (!delta.has(tokenId)) delta.set(tokenId, new Float32Array(S * d));
        for (let k = 0; k < d; k++) delta.get(tokenId)![sense * d + k] += values[p * d + k];
      });
      let canonical = 0;
      examples.forEach((example, u) => {
        const perSuffix = sequences[u].map(({ ids: all, prefixLength }) => {
          const { logits } = referenceBackpackForward(weights, all, { delta });
          let nll = 0;
          for (let i = prefixLength - 1; i < all.length - 1; i++) nll -= logSoftmaxRow(logits, i)[all[i + 1]];
          return nll / (all.length - prefixLength);
        });
        const [a, b] = perSuffix;
        canonical += example.kind === 'good' ? a : example.kind === 'bad' ? -a : example.kind === 'balance' ? Math.abs(a - b) : a - b;
      });
      const editedGeneral = referenceBackpackForward(weights, general, { delta }).logits;
      let kl = 0;
      generalIndices.forEach((i, n) => {
        const edited = logSoftmaxRow(editedGeneral, i);
        for (let v = 0; v < V; v++) kl += Math.exp(originalLogp[n][v]) * (originalLogp[n][v] - edited[v]);
      });
      return canonical / examples.length + (0.5 * kl) / generalIndices.length;
    };

    assert.ok(Math.abs(referenceObjective(deltas) - value.loss) < 1e-3 * Math.abs(value.loss), `objective ${value.loss} vs reference ${referenceObjective(deltas)}`);
    const h = 2 ** -10;
    pairs.forEach((pair, p) => {
      const coordinates = random.sample(d, 6);
      let errorSquared = 0;
      let normSquared = 0;
      for (const k of coordinates) {
        const plus = deltas.slice();
        plus[p * d + k] += h;
        const minus = deltas.slice();
        minus[p * d + k] -= h;
        const numeric = (referenceObjective(plus) - referenceObjective(minus)) / (2 * h);
        const analytic = value.gradient[p * d + k];
        errorSquared += (numeric - analytic) ** 2;
        normSquared += numeric ** 2;
      }
      const relative = Math.sqrt(errorSquared / normSquared);
      t.diagnostic(`pair ${pair.tokenId}/${pair.sense}: |g| ${Math.sqrt(normSquared).toExponential(2)} over ${coordinates.length} coordinates, relative error ${relative.toExponential(2)}`);
      assert.ok(normSquared > 1e-8, `pair ${p} has a gradient to compare`);
      assert.ok(relative < 1e-3, `pair ${pair.tokenId}/${pair.sense}: relative error ${relative}`);
    });
  });
});

describe('sense finetuning on the fixture', () => {
  test('" Paris" becomes likely after "The capital of France is", within the budget, and the applied edit gives the same numbers', async (t) => {
    const edits = backpack.edits!;
    const examples = parseCanonicalExamples(CANONICAL_EXAMPLES, 'canonical-examples.jsonl');
    const evaluation: CanonicalExample[] = [{ kind: 'good', prefix: 'The capital city of France is', suffix: ' Paris' }];
    const before = await suffixProbability('The capital of France is', ' Paris');
    const progress: string[] = [];
    try {
      const report = await finetuneSenses(
        backpack,
        { examples, generalText: GENERAL_TEXT, evaluation, learningRate: 0.1, epochs: 10 },
        { onProgress: (message) => progress.push(message) },
      );
      t.diagnostic(`p(" Paris") ${report.examples[0].before[0].toExponential(2)} → ${report.examples[0].after[0].toFixed(4)}; second example ${report.examples[1].before[0].toExponential(2)} → ${report.examples[1].after[0].toFixed(4)}; ${report.pairs.length} senses; general loss change ${report.generalLossChange}; chosen epoch ${report.chosenEpoch}`);
      assert.ok(before < 0.2);
      assert.ok(Math.abs(report.examples[0].before[0] - before) < 1e-6 + 1e-3 * before);
      assert.ok(report.examples[0].after[0] >= 0.2, `p(" Paris") after is ${report.examples[0].after[0]}`);
      assert.ok(report.examples.every((e) => e.successAfter && !e.successBefore));
      assert.ok(report.canonicalLossAfter < report.canonicalLossBefore);
      assert.ok(report.generalLossChange <= report.settings.degradationBudget);
      assert.equal(report.chosenEpoch, 10);
      assert.equal(report.epochs.length, 10);
      assert.ok(report.epochs.every((e) => e.withinBudget && e.successRate !== undefined));
      assert.equal(report.steps, 20);
      assert.ok(report.successRateBefore !== undefined && report.successRateAfter !== undefined);
      assert.equal(progress.filter((m) => m.startsWith('Epoch')).length, 10);
      // Selection: only words the general text lacks pass the background penalty; ≤ k per example.
      const generalTokens = new Set(ids(GENERAL_TEXT));
      assert.ok(report.pairs.length > 0 && report.pairs.length <= 2 * 10);
      assert.ok(report.pairs.every((p) => p.score > 0 && !generalTokens.has(p.tokenId) && p.deltaNorm > 0));
      assert.ok(report.pairs.some((p) => p.token === ' France' || p.token === ' capital'));
      // Applied: the real forward with the edits agrees with the report.
      assert.ok(report.applied);
      assert.equal(edits.history.at(-1)?.method, 'finetune');
      assert.equal(edits.history.at(-1)?.pairs.length, report.pairs.length);
      const afterForward = await suffixProbability('The capital of France is', ' Paris');
      assert.ok(Math.abs(afterForward - report.examples[0].after[0]) < 1e-3, `forward ${afterForward} vs report ${report.examples[0].after[0]}`);
      assert.ok(Math.abs(await generalLoss(GENERAL_TEXT) - report.generalLossAfter) < 1e-4 * report.generalLossAfter);
      assert.doesNotThrow(() => JSON.stringify(report));
    } finally {
      edits.clear();
      backpack.editsChanged();
    }
  });

  /** The fixture's favourite next token after `prefix`, as text. */
  async function favouriteNextToken(prefix: string): Promise<string> {
    const logits = await backpack.nextTokenLogits(ids(prefix));
    let top = 0;
    for (let v = 1; v < V; v++) if (logits[v] > logits[top]) top = v;
    return backpack.tokenizer.decode([top]);
  }

  test('a bad example loses probability, and apply: false leaves the edits alone', async (t) => {
    const prefix = 'The capital of France is';
    const suffix = await favouriteNextToken(prefix);
    const report = await finetuneSenses(backpack, { examples: [{ kind: 'bad', prefix, suffix }], generalText: GENERAL_TEXT, learningRate: 0.05, apply: false });
    const [outcome] = report.examples;
    t.diagnostic(`bad p(${JSON.stringify(suffix)}) ${outcome.before[0].toFixed(3)} → ${outcome.after[0].toExponential(2)}`);
    assert.ok(outcome.before[0] > 0.01, `the model's favourite next token starts likely (${outcome.before[0]})`);
    assert.ok(outcome.after[0] < outcome.before[0] / 100, `p(${JSON.stringify(suffix)}) ${outcome.before[0]} → ${outcome.after[0]}`);
    assert.ok(outcome.successAfter && !outcome.successBefore);
    assert.equal(report.applied, false);
    assert.equal(backpack.edits!.size, 0);
  });

  test('the degradation budget keeps the last epoch within it, and the general loss it reports is the real one', async (t) => {
    const edits = backpack.edits!;
    const prefix = 'The capital of France is';
    const suffix = await favouriteNextToken(prefix);
    try {
      // λ = 0 lets common words (" of", " is", "The") be chosen, so the general text moves.
      const report = await finetuneSenses(backpack, {
        examples: [{ kind: 'bad', prefix, suffix }],
        generalText: GENERAL_TEXT,
        backgroundPenalty: 0,
        learningRate: 0.02,
        degradationBudget: 1e-3,
      });
      const changes = report.epochs.map((e) => e.generalLossChange);
      t.diagnostic(`general loss change per epoch: ${changes.map((c) => c.toExponential(1)).join(' ')}; chosen epoch ${report.chosenEpoch}; p(${JSON.stringify(suffix)}) ${report.examples[0].before[0].toFixed(3)} → ${report.examples[0].after[0].toFixed(3)}`);
      assert.ok(changes.some((c) => c > 1e-3), `some epoch goes over the budget: ${changes.join(', ')}`);
      report.epochs.forEach((e) => assert.equal(e.withinBudget, e.generalLossChange <= 1e-3));
      const lastWithin = Math.max(0, ...report.epochs.filter((e) => e.withinBudget).map((e) => e.epoch));
      assert.equal(report.chosenEpoch, lastWithin);
      assert.ok(report.chosenEpoch > 0 && report.chosenEpoch < 10);
      assert.equal(report.generalLossChange, report.epochs[report.chosenEpoch - 1].generalLossChange);
      assert.ok(report.generalLossChange > 0);
      assert.ok(report.applied);
      const measured = await generalLoss(GENERAL_TEXT);
      const measuredChange = (measured - report.generalLossBefore) / report.generalLossBefore;
      assert.ok(Math.abs(measuredChange - report.generalLossChange) < 2e-5, `measured ${measuredChange} vs reported ${report.generalLossChange}`);
    } finally {
      edits.clear();
      backpack.editsChanged();
    }
  });
});

describe('sense finetuning: cancellation and inputs', () => {
  test('cancelling during the run rejects with "cancelled" and leaves the edits untouched', async () => {
    const edits = backpack.edits!;
    const france = token('ĠFrance');
    edits.addDelta(france, 2, new Float32Array(d).fill(0.01));
    edits.record({ method: 'test', pairs: [], settings: {} });
    backpack.editsChanged();
    try {
      const controller = new AbortController();
      const examples = parseCanonicalExamples(CANONICAL_EXAMPLES, 'canonical-examples.jsonl');
      await assert.rejects(
        finetuneSenses(backpack, { examples, generalText: GENERAL_TEXT, learningRate: 0.05 }, { signal: controller.signal, onProgress: (message) => message.startsWith('Epoch 2/') && controller.abort() }),
        (error: unknown) => error instanceof ModelLensError && error.code === 'cancelled',
      );
      assert.deepEqual(edits.editedTokens(), [france]);
      assert.equal(edits.history.length, 1);
      assert.ok(edits.delta(france, 2).every((v) => Math.abs(v - 0.01) < 1e-9));
      assert.ok(edits.delta(france, 3).every((v) => v === 0));
      const aborted = new AbortController();
      aborted.abort();
      await assert.rejects(finetuneSenses(backpack, { examples, generalText: GENERAL_TEXT }, { signal: aborted.signal }), /cancelled/);
      assert.equal(edits.history.length, 1);
    } finally {
      edits.clear();
      backpack.editsChanged();
    }
  });

  test('malformed JSONL is refused with the file and the line', () => {
    const refuses = (text: string, pattern: RegExp) =>
      assert.throws(
        () => parseCanonicalExamples(text, 'examples.jsonl'),
        (error: unknown) => error instanceof ModelLensError && error.code === 'bad-input' && error.file === 'examples.jsonl' && pattern.test(error.message),
      );
    refuses('{"prefix":"a","suffix":" b","kind":"good"}\n\n{"prefix": "c", suffix}\n', /^line 3: is not valid JSON/);
    refuses('{"prefix":"a","suffix":" b","kind":"great"}\n', /^line 1: "kind" must be one of "good", "bad", "balance", "good-vs-bad"/);
    refuses('{"prefix":"a","suffix":" b","kind":"good"}\n{"prefix":"a","kind":"bad"}\n', /^line 2: "suffix" must be a string/);
    refuses('{"kind":"balance","prefix":"a","suffixes":[" he"]}\n', /^line 1: "suffixes" must be two non-empty strings/);
    refuses('{"kind":"good-vs-bad","prefix":"a","good":" is"}\n', /^line 1: "bad" must be a string/);
    refuses('{"kind":"good","prefix":"a","suffix":" b","threshold":-1}\n', /^line 1: "threshold" must be a positive number/);
    refuses('[1, 2]\n', /^line 1: is not a JSON object/);
    refuses('\n\n', /has no examples/);
    const parsed = parseCanonicalExamples(
      ['{"kind":"balance","prefix":"The nurse said","suffixes":[" he"," she"]}', '{"kind":"good-vs-bad","prefix":"The keys","good":" are","bad":" is","threshold":4}'].join('\n'),
      'examples.jsonl',
    );
    assert.deepEqual(parsed, [
      { kind: 'balance', prefix: 'The nurse said', suffixes: [' he', ' she'], line: 1 },
      { kind: 'good-vs-bad', prefix: 'The keys', good: ' are', bad: ' is', threshold: 4, line: 2 },
    ]);
  });

  test('readFinetuneInputs reads the three files and names the one that is wrong', async () => {
    const dir = path.join(root, 'inputs');
    await fsp.mkdir(dir);
    const files = { examples: path.join(dir, 'examples.jsonl'), generalText: path.join(dir, 'general.txt'), evaluation: path.join(dir, 'eval.jsonl') };
    await fsp.writeFile(files.examples, CANONICAL_EXAMPLES);
    await fsp.writeFile(files.generalText, GENERAL_TEXT);
    await fsp.writeFile(files.evaluation, '{"kind":"good","prefix":"The capital city of France is","suffix":" Paris","threshold":0.5}\n');
    const inputs = await readFinetuneInputs(files);
    assert.equal(inputs.examples.length, 2);
    assert.equal(inputs.generalText, GENERAL_TEXT);
    assert.equal(inputs.evaluation?.[0].threshold, 0.5);
    await fsp.writeFile(files.evaluation, '{"kind":"good","prefix":"x","suffix":" y"}\n{oops\n');
    await assert.rejects(readFinetuneInputs(files), (error: unknown) => error instanceof ModelLensError && error.file === files.evaluation && /^line 2:/.test(error.message));
    await fsp.writeFile(files.generalText, '  \n');
    await assert.rejects(readFinetuneInputs({ examples: files.examples, generalText: files.generalText }), (error: unknown) => error instanceof ModelLensError && error.file === files.generalText);
  });
});
