/**
 * The Permutation Probe webview in a real browser (test/support/webviewPage.ts): bundled with esbuild, served inside
 * the HTML that `buildWebviewHtml` makes (so the strict CSP applies), with `acquireVsCodeApi` stubbed, in Debian
 * Chromium through playwright-core. The theory states come from the real `permutationTheory`; the ensemble,
 * reproduction and copy-probe results are small hand-made ones of the server's types. Screenshots of the light, dark
 * and high-contrast renderings go to test-results/.
 *
 * Run: node --import tsx --test test/unit/permutationWebview.test.ts
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { resolvePermutationProbeOptions } from '../../server/features/probes/permutationOptions';
import { PAPER_EXPERIMENT_1, permutationTheory } from '../../server/features/probes/permutationProbe';
import type {
  CopyProbeResult,
  FromPermutation,
  PermutationProbeResult,
  ReproductionResult,
  ToPermutation,
} from '../../webview/permutationMessages';
import { PAPER_MODELS } from '../../webview/permutationProbe/main';
import { CHROMIUM_SKIP, postedMessages, RESULTS_DIR, WebviewPageServer, type OpenedPage, type ThemeName } from '../support/webviewPage';

// ---- data ---------------------------------------------------------------------------------------------------------

const THEORY_10 = permutationTheory(10, { param: 'standard', width: 1024 });

/** An ensemble at k = 6 over all 63 inputs: 12 members, the target (90%) first reached at M = 9. */
function ensembleResult(): PermutationProbeResult {
  const options = resolvePermutationProbeOptions({ k: 6, width: 256, param: 'ntk', target: 0.9, maxModels: 12, seed: 3 });
  const theory = permutationTheory(6, { param: 'ntk', width: 256, skipGrowth: true });
  const empirical = [0.54, 0.63, 0.71, 0.76, 0.81, 0.84, 0.87, 0.89, 0.905, 0.92, 0.94, 0.952];
  const models = empirical.map((_, i) => i + 1);
  const edges = Array.from({ length: 11 }, (_, i) => -0.04 + i * 0.02);
  const counts = [1, 2, 0, 12, 15, 11, 9, 7, 4, 2];
  const inputs: number[][] = [];
  for (let mask = 1; mask < 64; mask++) inputs.push([0, 1, 2, 3, 4, 5].filter((b) => mask & (1 << b)));
  return {
    options,
    evaluationSet: { kind: 'all', distinctInputs: 63, totalInputs: 63 },
    stoppedAt: 9,
    reachedTarget: true,
    models: 12,
    curve: { models, accuracy: empirical },
    theoryCurve: { models, accuracy: models.map((m) => theory.curves.allInputsAverage[m - 1] ?? 1) },
    bySupportSize: [],
    margins: {
      inputs,
      weights: inputs.map(() => 1),
      supportSizes: inputs.map((x) => x.length),
      margins: inputs.map((_, i) => -0.03 + (i / 63) * 0.2),
      zScores: inputs.map(() => 2),
      histogram: { edges, counts },
    },
    trainingInputs: null,
    trainLoss: { median: 1e-13, max: 1e-12 },
    trainSteps: { median: 900, max: 1400 },
    theory,
    timing: { trainMs: 1200, evaluateMs: 40, totalMs: 1240, membersPerSecond: 10 },
  };
}

const REPRODUCTION: ReproductionResult = {
  width: 1024,
  target: 0.9,
  rows: PAPER_EXPERIMENT_1.ks.map((k, i) => ({
    k,
    paper: PAPER_EXPERIMENT_1.models[i],
    ours: k === 30 ? null : [31, 58, 91, 120, 150][i],
    oursAccuracy: k === 30 ? 0.87 : 0.9,
    theoryInfiniteWidth: [30, 55, 88, 118, 149, 183][i],
    theoryOurWidth: [33, 60, 94, 125, 158, 192][i],
    theoryPaperWidth: [30, 55, 88, 118, 149, 183][i],
    theoryBand: { low: null, high: null },
    paperResidual: 1e-6,
    lr: 0.05,
    steps: 800,
    maxSteps: 1000,
    seconds: 3,
  })),
  explanation: [],
  setup: [],
  totalSeconds: 18,
};

/** k = 2…6 × shots 0…3: 20 cells; long sequences at zero shots fail. */
function copyProbeResult(): CopyProbeResult {
  const ks = [2, 3, 4, 5, 6];
  const shots = [0, 1, 2, 3];
  const exact = ks.map((k) => shots.map((s) => Math.min(1, Math.max(0, 1.15 - k * 0.12 + s * 0.15 - (s === 0 ? 0.3 : 0)))));
  const cells = ks.flatMap((k, i) =>
    shots.map((s, j) => ({ k, shots: s, permutation: [...Array(k).keys()], queries: 8, exactMatch: exact[i][j], perPosition: Array(k).fill(exact[i][j]), prompts: [] })),
  );
  return {
    ks,
    shots,
    permutationKind: 'identity',
    template: { instruction: 'Repeat the words.', inputLabel: 'Input:', outputLabel: 'Output:', separator: ' ' } as unknown as CopyProbeResult['template'],
    seed: 0,
    queries: 8,
    cells,
    heatmap: { exactMatch: exact, meanPositionAccuracy: exact.map((row) => row.map((v) => Math.min(1, v + 0.1))) },
    failingPositions: [
      { k: 6, shots: 0, position: 5, accuracy: 0.125 },
      { k: 6, shots: 0, position: 4, accuracy: 0.25 },
      { k: 5, shots: 0, position: 4, accuracy: 0.375 },
      { k: 6, shots: 1, position: 5, accuracy: 0.5 },
    ],
    wordPool: { size: 120, rejected: 3, examples: [' house', ' river'] },
    timing: { ms: 900, logitsCalls: 160 },
  };
}

// ---- helpers ----------------------------------------------------------------------------------------------------------

async function send(page: Page, message: ToPermutation): Promise<void> {
  await page.evaluate((m) => window.postMessage(m, '*'), message);
}

const attr = (page: Page, selector: string, name: string) => page.getAttribute(selector, name);

/** The y (in plot coordinates) of a y-axis tick by its label. */
async function tickY(page: Page, plot: string, label: string): Promise<number> {
  const transform = await page.evaluate(
    ([p, l]) => Array.from(document.querySelectorAll(`svg[data-plot="${p}"] g.y-axis g.tick`)).find((t) => t.textContent === l)?.getAttribute('transform') ?? '',
    [plot, label],
  );
  const match = /translate\([^,]+,\s*([-\d.]+)\)/.exec(transform);
  assert.ok(match, `no tick ${label} in ${plot}: ${transform}`);
  return Number(match[1]);
}

describe('Permutation Probe webview', { skip: CHROMIUM_SKIP }, () => {
  let server: WebviewPageServer;
  const open = async (theme: ThemeName = 'light', width = 1100, height = 900): Promise<OpenedPage> => server.open({ theme, width, height });

  before(async () => {
    server = await WebviewPageServer.start({ name: 'permutationProbe', css: 'media/permutationProbe.css', title: 'Permutation Probe' });
  });
  after(async () => server?.close());

  test('posts ready; empty states say what to do; the paper series is drawn from the start', async () => {
    const { page, cspViolations, pageErrors } = await open();
    try {
      assert.deepEqual(await postedMessages(page), [{ type: 'ready' }]);
      assert.ok(await page.isVisible('section[data-card="accuracy"] .empty'));
      assert.match((await page.textContent('section[data-card="copy-probe"] .empty')) ?? '', /No copy probe yet/);
      assert.equal(await attr(page, 'svg[data-plot="ensemble-size"] g[data-series="paper"]', 'data-points'), '6');
      assert.deepEqual(PAPER_MODELS.map((p) => p.models), [...PAPER_EXPERIMENT_1.models]);
      assert.equal(await page.locator('svg[data-plot="heatmap"]').count(), 0);
      assert.deepEqual(cspViolations, []);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('theory at k = 10: the theory curve, its target line at 90% and the theory M', async () => {
    const { page, pageErrors } = await open();
    try {
      await send(page, { type: 'theory', state: THEORY_10 });
      const plot = 'svg[data-plot="accuracy"]';
      await page.waitForSelector(plot);
      assert.equal(Number(await attr(page, `${plot} g[data-series="theory"]`, 'data-points')), THEORY_10.curves.models.length);
      assert.equal(await attr(page, `${plot} g[data-series="empirical"]`, 'data-points'), '0');
      const m = THEORY_10.models.allInputsAverage.models;
      assert.ok(m !== null);
      assert.equal(await attr(page, `${plot} g.stop`, 'data-models'), String(m));
      assert.equal(await attr(page, `${plot} g.stop`, 'data-source'), 'theory');
      const y0 = await tickY(page, 'accuracy', '0%');
      const y1 = await tickY(page, 'accuracy', '100%');
      const yTarget = Number(await attr(page, `${plot} g.target line`, 'y1'));
      assert.ok(Math.abs(yTarget - (y0 + (y1 - y0) * 0.9)) < 0.01, `target at ${yTarget}, between ${y0} and ${y1}`);
      // The theory's growth table fills the ensemble-size plot for k ≤ 30.
      const theoryPoints = THEORY_10.growth.filter((g) => g.k <= 30 && g.twoOnes !== null).length;
      assert.equal(Number(await attr(page, 'svg[data-plot="ensemble-size"] g[data-series="theory"]', 'data-points')), theoryPoints);
      assert.match((await page.textContent('.summary')) ?? '', /theory at k = 10/);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('an ensemble: 12 empirical points, the theory on the same M, the stop at M = 9, 10 margin bars', async () => {
    const { page, pageErrors } = await open();
    try {
      const ensemble = ensembleResult();
      await send(page, { type: 'ensemble', state: ensemble });
      const plot = 'svg[data-plot="accuracy"]';
      await page.waitForSelector(`${plot} g[data-series="empirical"][data-points="12"]`);
      assert.equal(await page.locator(`${plot} g[data-series="empirical"] circle.point`).count(), 12);
      assert.equal(await attr(page, `${plot} g[data-series="theory"]`, 'data-points'), '12');
      assert.equal(await attr(page, `${plot} g.stop`, 'data-models'), '9');
      assert.equal(await attr(page, `${plot} g.stop`, 'data-source'), 'empirical');
      const y0 = await tickY(page, 'accuracy', '0%');
      const y1 = await tickY(page, 'accuracy', '100%');
      assert.ok(Math.abs(Number(await attr(page, `${plot} g.target line`, 'y1')) - (y0 + (y1 - y0) * 0.9)) < 0.01);
      // Margins: 10 bins, the three below zero drawn as wrong.
      assert.equal(await attr(page, 'svg[data-plot="margins"] g.bars', 'data-bars'), '10');
      assert.equal(await page.locator('svg[data-plot="margins"] rect.bar').count(), 10);
      assert.equal(await page.locator('svg[data-plot="margins"] rect.bar.wrong').count(), 2);
      // The form shows the run's values.
      assert.equal(await page.inputValue('input[name="k"]'), '6');
      assert.equal(await page.inputValue('select[name="param"]'), 'ntk');
      // Arrow keys read the curves at one M.
      await page.focus(plot);
      await page.keyboard.press('End');
      assert.match((await page.textContent('.tooltip')) ?? '', /M = 12\nempirical 95\.2%/);
      // Tooltip on a histogram bar.
      await page.hover('svg[data-plot="margins"] rect.bar:nth-of-type(4)');
      assert.match((await page.textContent('.tooltip')) ?? '', /12 inputs/);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('reproduction: ours, the paper and the theory by k, on a log or linear axis', async () => {
    const { page, pageErrors } = await open();
    try {
      await send(page, { type: 'reproduction', state: REPRODUCTION });
      const plot = 'svg[data-plot="ensemble-size"]';
      await page.waitForSelector(`${plot} g[data-series="ours"][data-points="5"]`);
      assert.equal(await attr(page, `${plot} g[data-series="paper"]`, 'data-points'), '6');
      assert.equal(await attr(page, `${plot} g[data-series="theory"]`, 'data-points'), '6');
      assert.equal(await page.locator(`${plot} path.point`).count(), 17);
      assert.match((await page.textContent(`${plot} .y-label`)) ?? '', /log/);
      await page.click('.segmented button[data-scale="linear"]');
      assert.match((await page.textContent(`${plot} .y-label`)) ?? '', /linear/);
      assert.equal(await attr(page, '.segmented button[data-scale="linear"]', 'aria-pressed'), 'true');
      await page.hover(`${plot} g[data-series="paper"] path.point[aria-label*="k = 10,"]`);
      assert.match((await page.textContent('.tooltip')) ?? '', /paper.*\nk = 10\nM = 69/);
      await page.click('button[name="copy-csv"]');
      const copy = (await postedMessages<FromPermutation>(page)).find((m) => m.type === 'copy');
      assert.ok(copy && copy.type === 'copy');
      assert.equal(copy.format, 'csv');
      assert.match(copy.text, /^k,ours,paper,/);
      assert.match(copy.text, /\r\n10,58,69,60,55,0\.9\r\n/);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('copy-probe heat map: 20 cells; a click or Enter on a cell posts showPrompt with its k and shots', async () => {
    const { page, pageErrors } = await open();
    try {
      await send(page, { type: 'copyProbe', state: copyProbeResult() });
      await page.waitForSelector('svg[data-plot="heatmap"][data-cells="20"]');
      assert.equal(await page.locator('svg[data-plot="heatmap"] g.cell').count(), 20);
      assert.ok(!(await page.isVisible('section[data-card="copy-probe"] .empty')));
      await page.click('g.cell[data-k="4"][data-shots="2"]');
      await page.focus('g.cell[data-k="6"][data-shots="0"]');
      await page.keyboard.press('Enter');
      await page.click('.failing li:first-child button');
      const prompts = (await postedMessages<FromPermutation>(page)).filter((m) => m.type === 'showPrompt');
      assert.deepEqual(prompts, [
        { type: 'showPrompt', k: 4, shots: 2 },
        { type: 'showPrompt', k: 6, shots: 0 },
        { type: 'showPrompt', k: 6, shots: 0 },
      ]);
      assert.equal(await attr(page, '.failing ol', 'data-items'), '4');
      await page.hover('g.cell[data-k="3"][data-shots="1"]');
      assert.match((await page.textContent('.tooltip')) ?? '', /k = 3, 1 shot\nexact match/);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('the run form posts run with the typed values; busy shows progress and Cancel posts cancel', async () => {
    const { page, pageErrors } = await open();
    try {
      await page.fill('input[name="k"]', '12');
      await page.fill('input[name="width"]', '2048');
      await page.selectOption('select[name="param"]', 'ntk');
      await page.fill('input[name="target"]', '0.95');
      await page.fill('input[name="maxModels"]', '300');
      await page.click('button[name="run"]');
      await page.click('button[name="reproduce"]');
      let posted = await postedMessages<FromPermutation>(page);
      assert.deepEqual(posted.slice(1), [{ type: 'run', k: 12, width: 2048, param: 'ntk', target: 0.95, maxModels: 300 }, { type: 'reproduce' }]);
      assert.ok(!(await page.isVisible('button[name="cancel"]')));
      await send(page, { type: 'busy', message: 'Training members 40–48 of 300…', fraction: 0.37 });
      assert.ok(await page.isVisible('button[name="cancel"]'));
      assert.ok(await page.isDisabled('button[name="run"]'));
      assert.equal(await attr(page, '.progress', 'aria-valuenow'), '37');
      await page.click('button[name="cancel"]');
      posted = await postedMessages<FromPermutation>(page);
      assert.deepEqual(posted[posted.length - 1], { type: 'cancel' });
      await send(page, { type: 'error', message: 'The permutation probe was cancelled.' });
      assert.ok(!(await page.isVisible('button[name="cancel"]')));
      assert.match((await page.textContent('.error')) ?? '', /cancelled/);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('state survives a reload: plots, form and scale come back before ready', async () => {
    const { page, pageErrors } = await open();
    try {
      await send(page, { type: 'ensemble', state: ensembleResult() });
      await send(page, { type: 'reproduction', state: REPRODUCTION });
      await send(page, { type: 'copyProbe', state: copyProbeResult() });
      await page.click('.segmented button[data-scale="linear"]');
      await page.fill('input[name="width"]', '512');
      await page.dispatchEvent('input[name="width"]', 'change');
      await page.reload();
      await page.waitForFunction(() => (window as unknown as { __posted: unknown[] }).__posted.length > 0);
      assert.equal(await attr(page, 'svg[data-plot="accuracy"] g[data-series="empirical"]', 'data-points'), '12');
      assert.equal(await attr(page, 'svg[data-plot="margins"] g.bars', 'data-bars'), '10');
      assert.equal(await attr(page, 'svg[data-plot="heatmap"]', 'data-cells'), '20');
      assert.equal(await attr(page, 'svg[data-plot="ensemble-size"] g[data-series="ours"]', 'data-points'), '5');
      assert.equal(await attr(page, '.segmented button[data-scale="linear"]', 'aria-pressed'), 'true');
      assert.equal(await page.inputValue('input[name="width"]'), '512');
      assert.deepEqual(await postedMessages(page), [{ type: 'ready' }]);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('screenshots: light, dark and high contrast; bundle size', async () => {
    for (const theme of ['light', 'dark', 'hc'] as const) {
      const { page, cspViolations, pageErrors } = await open(theme, 1100, 1250);
      try {
        await send(page, { type: 'ensemble', state: ensembleResult() });
        await send(page, { type: 'reproduction', state: REPRODUCTION });
        await send(page, { type: 'copyProbe', state: copyProbeResult() });
        await send(page, { type: 'busy', message: 'Training members 40–48 of 300…', fraction: 0.37 });
        await page.hover('svg[data-plot="ensemble-size"] g[data-series="ours"] path.point[aria-label*="k = 15,"]');
        await page.screenshot({ path: path.join(RESULTS_DIR, `permutation-${theme}.png`), fullPage: true });
        assert.deepEqual(cspViolations, []);
        assert.deepEqual(pageErrors, []);
      } finally {
        await page.close();
      }
    }
    const size = await server.bundleSize();
    console.log(`permutationProbe.js: ${size} bytes`);
    assert.ok(size < 150_000, `bundle is ${size} bytes`);
  });
});
