// The copy probe on the fixture Backpack (a real model Model Lens runs): the prompts are well formed, every greedy
// token is the one the TypeScript reference forward pass picks for the same ids, and the accuracies in the report are
// exactly those of the generated words against the expected ones.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { parseBackpackConfig } from '../../server/features/backpack/backpackConfig';
import { loadBackpackWeights, type BackpackWeights } from '../../server/features/backpack/backpackWeights';
import { openCausalLanguageModel, type CausalLanguageModel } from '../../server/features/probes/causalLanguageModel';
import { runCopyProbe } from '../../server/features/probes/copyProbe';
import { ModelRegistry } from '../../server/registry/registry';
import { buildDemoBackpack } from '../fixtures/buildBackpack';
import { DEFAULT_DEMO_DIR } from '../fixtures/buildCheckpoints';
import { referenceBackpackForward } from '../support/backpackReference';

let lm: CausalLanguageModel;
let weights: BackpackWeights;
const calls: { ids: number[]; next: number }[] = [];

before(async () => {
  const model = await new ModelRegistry().open((await buildDemoBackpack(DEFAULT_DEMO_DIR)).folder);
  const backpack = await openCausalLanguageModel(model);
  weights = await loadBackpackWeights(model, parseBackpackConfig(model.config!, path.join(model.path, 'config.json')));
  // Record what the probe asks and what the model answers.
  lm = {
    tokenizer: backpack.tokenizer,
    async nextTokenLogits(ids) {
      const logits = await backpack.nextTokenLogits(ids);
      let best = 0;
      for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
      calls.push({ ids: [...ids], next: best });
      return logits;
    },
  };
});

test('copy probe on the fixture Backpack: well-formed prompts, greedy tokens equal the reference, accuracies add up', async () => {
  const result = await runCopyProbe(lm, { ks: [2, 3], shots: [0, 2], queries: 3, seed: 5 });
  assert.equal(result.cells.length, 4);
  assert.equal(calls.length, result.timing.logitsCalls);
  assert.equal(calls.length, 3 * (2 + 2 + 3 + 3));

  for (const cell of result.cells) {
    let exact = 0;
    const rightAt = new Array<number>(cell.k).fill(0);
    for (const prompt of cell.prompts) {
      // Shots: "Input: w1 w2\nOutput: w1 w2\n\n" repeated, then the query, as the template says.
      const lines = prompt.prompt.split('\n').filter((line) => line !== '');
      assert.equal(lines.length, 2 * cell.shots + 2);
      assert.equal(lines.at(-2), `Input: ${prompt.input.join(' ')}`);
      assert.equal(lines.at(-1), 'Output:');
      for (let s = 0; s < cell.shots; s++) {
        assert.equal(lines[2 * s].replace('Input:', ''), lines[2 * s + 1].replace('Output:', ''), 'identity shots repeat their input');
        assert.equal(lines[2 * s].split(' ').length - 1, cell.k);
      }
      assert.deepEqual(prompt.expected, prompt.input, 'the copy task expects the input back');
      for (const word of prompt.input) assert.equal(lm.tokenizer.tokenize(` ${word}`).length, 1, `"${word}" is one token`);
      const right = prompt.generated.map((word, p) => word.trim() === prompt.expected[p]);
      assert.deepEqual(prompt.correct, right);
      right.forEach((ok, p) => ok && rightAt[p]++);
      if (right.every(Boolean)) exact++;
    }
    assert.equal(cell.exactMatch, exact / cell.prompts.length);
    assert.deepEqual(cell.perPosition, rightAt.map((n) => n / cell.prompts.length));
  }

  // Every answer the model gave is the reference forward pass's argmax for the same ids (a sample, to keep it quick).
  const V = weights.config.vocabSize;
  for (const call of calls.filter((_, i) => i % 4 === 0)) {
    const ids = call.ids.slice(-weights.config.positions);
    const { logits } = referenceBackpackForward(weights, ids);
    const last = logits.subarray((ids.length - 1) * V, ids.length * V);
    let best = 0;
    for (let v = 1; v < V; v++) if (last[v] > last[best]) best = v;
    assert.equal(call.next, best);
  }
});
