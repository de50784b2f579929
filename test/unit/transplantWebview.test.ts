/**
 * The Transplant Report webview in a real browser (test/support/webviewPage.ts): bundled with esbuild, served inside
 * the HTML that `buildWebviewHtml` makes (so the strict CSP applies), with `acquireVsCodeApi` stubbed, in Debian
 * Chromium through playwright-core. A hand-built `TransplantReport` (a Qwen3 → Llama 3 style transplant with a
 * three-method self-check) is posted as the extension would; what the view posts back is read from the stub.
 * Screenshots of the light, dark and high-contrast renderings go to test-results/.
 *
 * Run: node --import tsx --test test/unit/transplantWebview.test.ts
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import type { MatchExample } from '../../server/features/transplant/matchVocabularies';
import type { MethodName } from '../../server/features/transplant/methods/types';
import type { SelfCheckResult, TokenProvenance, TransplantReport } from '../../server/features/transplant/report';
import type { FromTransplant, ToTransplant } from '../../webview/transplantMessages';
import {
  CHROMIUM_SKIP,
  postedMessages,
  RESULTS_DIR,
  WebviewPageServer,
  type OpenedPage,
  type ThemeName,
} from '../support/webviewPage';

// ---- data: a Qwen3 0.6B base given the Llama 3 tokenizer -------------------------------------------------------------

/** 24 bins from −0.2 to 1.0. */
const EDGES = Array.from({ length: 25 }, (_, i) => Math.round((-0.2 + 0.05 * i) * 100) / 100);

/** A bell of `total` cosines around `centre` (deterministic), as bin counts over EDGES. */
function bell(total: number, centre: number, spread: number): number[] {
  const weights = EDGES.slice(0, -1).map((e) => Math.exp(-(((e + 0.025 - centre) / spread) ** 2)));
  const sum = weights.reduce((a, b) => a + b, 0);
  const counts = weights.map((w) => Math.floor((total * w) / sum));
  counts[counts.indexOf(Math.max(...counts))] += total - counts.reduce((a, b) => a + b, 0);
  return counts;
}

const WORST_PIECES = ['ĠÐ¿ÑĢÐ¸', 'à¸Ńà¸ĩ', 'ĠìĿ´', '_REF', 'Ġ;;', '.scalablytyped', 'Ġ\u200b', 'ĠBryce', 'ĊĉĉĠ', '<|reserved_special_token_17|>'];

function worst(method: MethodName, start: number, step: number): SelfCheckResult['worst'] {
  return Array.from({ length: 20 }, (_, i) => ({
    id: 100_000 + ((i * 7919 + method.length * 131) % 28_000),
    token: `${WORST_PIECES[i % WORST_PIECES.length]}${i >= WORST_PIECES.length ? i : ''}`,
    cosine: Math.round((start + step * i) * 1000) / 1000,
  }));
}

const HELD_OUT = 4_987;

function result(method: MethodName, mean: number, median: number, spread: number, min: number, seconds: number): SelfCheckResult {
  return {
    method,
    matrix: 'input',
    mean,
    median,
    min,
    histogram: { edges: EDGES, counts: bell(HELD_OUT, median, spread) },
    worst: worst(method, min, 0.011),
    seconds,
  };
}

const RESULTS: SelfCheckResult[] = [
  result('omp', 0.812, 0.846, 0.18, -0.041, 3.92),
  result('knn', 0.655, 0.672, 0.22, -0.118, 1.07),
  result('mean', 0.214, 0.219, 0.12, -0.163, 0.02),
];

const ex = (donorId: number, donorToken: string, baseId?: number, baseToken?: string, role?: string): MatchExample => ({
  donorId,
  donorToken,
  ...(baseId !== undefined ? { baseId, baseToken } : {}),
  ...(role ? { role } : {}),
});

const NAMES = ['Ġtransplant', 'ĠGrÃ¶ÃŁe', 'ĠBundes', 'ologie', 'Ġ0x', 'ĠKubernetes', 'ĠÑĤÐ¾', 'ĠÃ©t', 'Ġantidis', 'Ġrecomb'];

const PROVENANCE: TokenProvenance[] = Array.from({ length: 36 }, (_, i) => {
  const id = 118_000 + i * 97;
  const token = `${NAMES[i % NAMES.length]}${i >= NAMES.length ? String.fromCharCode(97 + (i % 26)) : ''}`;
  return {
    id,
    token,
    input: {
      method: 'omp',
      partsFrom: 'anchors',
      parts: [
        { id: 1000 + i, token: 'Ġtrans', weight: 0.612 - i * 0.003 },
        { id: 2000 + i, token: 'plant', weight: 0.408 },
        { id: 3000 + i, token: 'Ġgraft', weight: 0.171 },
        { id: 4000 + i, token: 'Ġmove', weight: -0.094 },
        { id: 5000 + i, token: 'Ġorgan', weight: 0.052 },
        { id: 6000 + i, token: 'ing', weight: 0.031 },
        { id: 7000 + i, token: 'Ċ', weight: -0.012 },
        { id: 8000 + i, token: 'Ġthe', weight: 0.009 },
      ],
      moreParts: 56,
      residual: 0.142 + i * 0.001,
    },
    ...(i % 3 === 0
      ? {
          output: {
            method: 'omp' as const,
            partsFrom: 'anchors' as const,
            parts: [
              { id: 1000 + i, token: 'Ġtrans', weight: 0.55 },
              { id: 2000 + i, token: 'plant', weight: 0.37 },
            ],
            moreParts: 62,
            residual: 0.188,
          },
        }
      : {}),
  };
});
// One token made by the subword fallback, to search by method.
PROVENANCE.push({
  id: 128_011,
  token: '<|eom_id|>',
  input: { method: 'subword', partsFrom: 'base-pieces', parts: [{ id: 27, token: '<', weight: 0.25 }, { id: 91, token: '|', weight: 0.25 }], note: 'special token without a role: mean of its base pieces' },
});

const REPORT: TransplantReport = {
  version: 1,
  createdAt: '2025-06-02T14:31:07.000Z',
  compareOnly: false,
  base: {
    path: '/models/Qwen3-0.6B',
    name: 'Qwen3 0.6B',
    tokenizerSize: 151_669,
    maxTokenId: 151_668,
    tokenizerStyle: 'byte-level BPE',
    embeddingRows: 151_936,
    hiddenSize: 1024,
    dtype: 'BF16',
    tied: true,
    inputTensor: 'model.embed_tokens.weight',
  },
  donor: {
    path: '/models/Llama-3.2-1B',
    name: 'Llama 3.2 1B',
    tokenizerSize: 128_256,
    maxTokenId: 128_255,
    tokenizerStyle: 'byte-level BPE',
    embeddingRows: 128_256,
    hiddenSize: 2048,
    dtype: 'BF16',
    tied: true,
    inputTensor: 'model.embed_tokens.weight',
  },
  output: {
    path: '/models/Qwen3-0.6B-llama3-tokenizer',
    rows: 128_256,
    tied: true,
    sharded: false,
    files: ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'transplant-report.json'],
    weightBytes: 1_192_247_296,
  },
  options: {
    method: 'omp',
    k: 64,
    matrices: ['input'],
    byteTokens: true,
    prefixFallback: false,
    selfCheck: 0.05,
    compare: ['omp', 'knn', 'mean'],
    normalizeAtoms: false,
    subwordCombine: 'mean',
    seed: 42,
    maxShardBytes: 5_000_000_000,
  },
  matching: {
    rows: 128_256,
    anchors: 99_741,
    approximated: 28_515,
    counts: { exact: 31_204, moved: 68_531, special: 6, byte: 0, prefix: 0, approximated: 28_515, unused: 0 },
    examples: {
      exact: [ex(13, '.', 13, '.'), ex(284, 'Ġthe', 279, 'Ġthe'), ex(11, ',', 11, ',')],
      moved: [ex(1917, 'Ġworld', 1879, 'Ġworld'), ex(15339, 'Ġhello', 23811, 'Ġhello'), ex(198, 'Ċ', 198, 'Ċ'), ex(88_746, 'ĠcafÃ©', 51_950, 'ĠcafÃ©'), ex(9906, 'Hello', 9707, 'Hello')],
      special: [ex(128_000, '<|begin_of_text|>', 151_643, '<|endoftext|>', 'bos'), ex(128_009, '<|eot_id|>', 151_645, '<|im_end|>', 'eos')],
      byte: [],
      prefix: [],
      approximated: [ex(118_000, 'Ġtransplant'), ex(118_097, 'ĠGrÃ¶ÃŁe'), ex(128_011, '<|eom_id|>')],
      unused: [],
    },
    unified: { wordStart: 0, otherSpelling: 112, examples: [ex(1174, 'Ċĉ', 1174, '\n\t')] },
    specialTokens: [
      { donorId: 128_000, donorToken: '<|begin_of_text|>', roles: ['bos'], matchedBy: 'role', baseId: 151_643, baseToken: '<|endoftext|>' },
      { donorId: 128_009, donorToken: '<|eot_id|>', roles: ['eos'], matchedBy: 'role', baseId: 151_645, baseToken: '<|im_end|>' },
      { donorId: 128_011, donorToken: '<|eom_id|>', roles: [], matchedBy: 'approximated' },
    ],
  },
  matrices: [
    {
      matrix: 'input',
      method: 'omp',
      baseTensor: 'model.embed_tokens.weight',
      donorTensor: 'model.embed_tokens.weight',
      copiedRows: 99_741,
      madeRows: 28_515,
      zeroRows: 0,
    },
  ],
  selfCheck: { fraction: 0.05, seed: 42, heldOut: HELD_OUT, anchorsUsed: 94_754, results: RESULTS },
  digits: {
    base: { style: 'single digits', examples: [{ text: '12345', pieces: ['1', '2', '3', '4', '5'] }, { text: '2025', pieces: ['2', '0', '2', '5'] }] },
    donor: { style: 'groups of up to 3', examples: [{ text: '12345', pieces: ['123', '45'] }, { text: '2025', pieces: ['202', '5'] }] },
    differs: true,
    note: 'Qwen3 splits numbers into single digits, Llama 3 into groups of up to 3: arithmetic (GSM8K) may suffer until the model adapts.',
  },
  timings: [
    { stage: 'open', seconds: 1.84 },
    { stage: 'match', seconds: 2.31 },
    { stage: 'self-check', seconds: 5.01 },
    { stage: 'approximate', seconds: 41.7 },
    { stage: 'write', seconds: 6.52 },
  ],
  totalSeconds: 57.38,
  provenance: PROVENANCE,
  warnings: ['The donor has no lm_head (tied embeddings): only the input matrix was replaced.', '3 donor special tokens have no role in the base and were approximated.'],
};

const SAME_DIGITS: TransplantReport = {
  ...REPORT,
  digits: { ...REPORT.digits, donor: REPORT.digits.base, differs: false, note: 'Both split numbers into single digits.' },
};

// ---- helpers -------------------------------------------------------------------------------------------------------

let pages: WebviewPageServer;

async function openPage(options: { theme?: ThemeName; width?: number; height?: number } = {}): Promise<OpenedPage> {
  return pages.open({ width: 1100, height: 900, ...options });
}

async function send(page: Page, message: ToTransplant): Promise<void> {
  await page.evaluate((m) => window.postMessage(m, '*'), message);
}

async function showReport(page: Page, report: TransplantReport = REPORT): Promise<void> {
  await send(page, { type: 'report', report });
  await page.waitForSelector('.transplant[data-view="report"]');
}

async function posted(page: Page): Promise<FromTransplant[]> {
  return postedMessages<FromTransplant>(page);
}

async function provenanceCounts(page: Page): Promise<{ total: number; matches: number; shown: number; rows: number }> {
  return page.$eval('table.provenance', (t) => ({
    total: Number((t as HTMLElement).dataset.total),
    matches: Number((t as HTMLElement).dataset.matches),
    shown: Number((t as HTMLElement).dataset.shown),
    rows: t.querySelectorAll('tbody.token-group').length,
  }));
}

// ---- tests ---------------------------------------------------------------------------------------------------------

describe('transplant report webview in Chromium', { skip: CHROMIUM_SKIP }, () => {
  before(async () => {
    pages = await WebviewPageServer.start({ name: 'transplantReport', css: 'media/transplantReport.css', title: 'Transplant Report' });
  });

  after(async () => {
    await pages?.close();
  });

  test('the bundle stays small (d3 submodules only)', async () => {
    const size = await pages.bundleSize();
    assert.ok(size < 80_000, `bundle is ${size} bytes`);
  });

  test('an empty view shows a hint and says it is ready, once', async () => {
    const { page, cspViolations, pageErrors } = await openPage();
    try {
      assert.equal(await page.getAttribute('.transplant', 'data-view'), 'empty');
      assert.match((await page.textContent('.empty')) ?? '', /No transplant yet/);
      assert.deepEqual(await posted(page), [{ type: 'ready' }]);
      assert.deepEqual(cspViolations, []);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('the header names both models, the method, k, the output and the total time', async () => {
    const { page, cspViolations, pageErrors } = await openPage();
    try {
      await showReport(page);
      assert.equal(await page.textContent('.model.base'), 'Qwen3 0.6B');
      assert.equal(await page.textContent('.model.donor'), 'Llama 3.2 1B');
      const meta = (await page.textContent('.report-header .meta')) ?? '';
      assert.match(meta, /method omp/);
      assert.match(meta, /k 64/);
      assert.match(meta, /total 57\.4 s/);
      assert.equal(await page.textContent('.output-path'), REPORT.output!.path);
      assert.equal(await page.isVisible('.compare-only'), false);
      assert.deepEqual(cspViolations, []);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('token categories show the counts and a few examples each', async () => {
    const { page } = await openPage();
    try {
      await showReport(page);
      const rows = await page.$$eval('.categories-table tbody tr', (trs) =>
        trs.map((tr) => [(tr as HTMLElement).dataset.category, Number((tr as HTMLElement).dataset.count), tr.querySelectorAll('code.chip').length]),
      );
      assert.deepEqual(rows, [
        ['exact', 31_204, 3],
        ['moved', 68_531, 4],
        ['special', 6, 2],
        ['approximated', 28_515, 3],
        ['unified', 112, 1],
      ]);
      // Shown as people read them: the Ġ marker as a visible space.
      assert.match((await page.textContent('.categories-table tr[data-category="moved"] td.examples')) ?? '', /·world/);
      assert.equal(await page.locator('.specials-table tbody tr').count(), 3);
      assert.equal(await page.getAttribute('.specials-table tr[data-id="128011"]', 'data-matched-by'), 'approximated');
    } finally {
      await page.close();
    }
  });

  test('the self-check draws one histogram per method with every bin, a mean and a median marker', async () => {
    const { page } = await openPage();
    try {
      await showReport(page);
      const figures = await page.$$eval('figure.histogram', (fs) =>
        fs.map((f) => {
          const svg = f.querySelector('svg')!;
          const bars = Array.from(svg.querySelectorAll('rect.bar'));
          return {
            method: (f as HTMLElement).dataset.method,
            bars: bars.length,
            dataBars: Number(svg.dataset.bars),
            counts: bars.map((b) => Number(b.getAttribute('data-count'))),
            heights: bars.map((b) => Number(b.getAttribute('height'))),
            markers: Array.from(svg.querySelectorAll('g.marker')).map((m) => [m.classList[1], Number(m.getAttribute('data-value'))]),
          };
        }),
      );
      assert.deepEqual(figures.map((f) => f.method), ['omp', 'knn', 'mean']);
      for (const [i, f] of figures.entries()) {
        const r = RESULTS[i];
        assert.equal(f.bars, r.histogram.counts.length);
        assert.equal(f.dataBars, 24);
        assert.deepEqual(f.counts, r.histogram.counts);
        assert.equal(f.counts.reduce((a, b) => a + b, 0), HELD_OUT);
        // Heights follow the counts on a shared scale: the tallest bar of all is the largest count of all.
        const peak = f.counts.indexOf(Math.max(...f.counts));
        assert.equal(f.heights[peak], Math.max(...f.heights));
        for (const [j, c] of f.counts.entries()) if (c === 0) assert.equal(f.heights[j], 0);
        assert.deepEqual(f.markers, [
          ['mean', r.mean],
          ['median', r.median],
        ]);
      }
      // Shared y scale: mean (the narrowest bell) has the tallest bar.
      const tallest = figures.map((f) => Math.max(...f.heights));
      assert.ok(tallest[2] > tallest[0] && tallest[0] > tallest[1], `tallest bars ${tallest}`);
      assert.match((await page.textContent('figure.histogram[data-method="omp"] .stats')) ?? '', /mean 0\.812 · median 0\.846/);
    } finally {
      await page.close();
    }
  });

  test('each method has a table of its 20 worst tokens, worst first', async () => {
    const { page } = await openPage();
    try {
      await showReport(page);
      assert.equal(await page.locator('div.worst').count(), 3);
      for (const method of ['omp', 'knn', 'mean']) {
        const rows = page.locator(`div.worst[data-method="${method}"] tbody tr`);
        assert.equal(await rows.count(), 20);
        assert.equal(await page.getAttribute(`div.worst[data-method="${method}"] table`, 'data-rows'), '20');
        const cosines = await page.$$eval(`div.worst[data-method="${method}"] td.cosine`, (tds) => tds.map((t) => Number(t.textContent)));
        assert.deepEqual(cosines, [...cosines].sort((a, b) => a - b));
      }
      assert.equal(await page.textContent('div.worst[data-method="omp"] tbody tr:first-child td.cosine'), '-0.041');
    } finally {
      await page.close();
    }
  });

  test('the digit warning shows when the tokenizers split numbers differently, and not otherwise', async () => {
    const { page } = await openPage();
    try {
      await showReport(page);
      assert.equal(await page.isVisible('.digit-warning'), true);
      const text = (await page.textContent('.digit-warning')) ?? '';
      assert.match(text, /split numbers differently/);
      assert.match(text, /groups of up to 3/);
      assert.equal(await page.locator('.digit-warning .split[data-x], .digit-warning .split').count(), 2);
      assert.deepEqual(
        await page.$$eval('.digit-warning .split:last-child .example:first-child code.piece', (cs) => cs.map((c) => c.textContent)),
        ['123', '45'],
      );
      await showReport(page, SAME_DIGITS);
      assert.equal(await page.isVisible('.digit-warning'), false);
      assert.match((await page.textContent('.digit-ok')) ?? '', /single digits/);
    } finally {
      await page.close();
    }
  });

  test('stage timings are a bar chart, the slowest stage the longest bar; warnings are listed', async () => {
    const { page } = await openPage();
    try {
      await showReport(page);
      const widths = await page.$$eval('svg.timings g.stage', (gs) =>
        gs.map((g) => [(g as SVGGElement).dataset.stage, Number(g.querySelector('rect.bar')!.getAttribute('width'))] as const),
      );
      assert.deepEqual(widths.map(([s]) => s), ['open', 'match', 'self-check', 'approximate', 'write']);
      const longest = widths.reduce((a, b) => (b[1] > a[1] ? b : a));
      assert.equal(longest[0], 'approximate');
      assert.equal(await page.locator('.warnings li').count(), 2);
    } finally {
      await page.close();
    }
  });

  test('Open Model posts openModel with the output path; Reveal and Copy JSON post theirs', async () => {
    const { page } = await openPage();
    try {
      await showReport(page);
      await page.click('button.open-model');
      await page.click('button.reveal');
      // Keyboard: Tab to Copy JSON and press Enter.
      await page.focus('button.copy-json');
      await page.keyboard.press('Enter');
      const [, open, reveal, copy] = await posted(page);
      assert.deepEqual(open, { type: 'openModel', path: '/models/Qwen3-0.6B-llama3-tokenizer' });
      assert.deepEqual(reveal, { type: 'revealFile', path: '/models/Qwen3-0.6B-llama3-tokenizer' });
      assert.equal(copy.type, 'copy');
      assert.deepEqual(JSON.parse((copy as { text: string }).text), REPORT);
    } finally {
      await page.close();
    }
  });

  test('a compare-only report has no output buttons', async () => {
    const { page } = await openPage();
    try {
      await showReport(page, { ...REPORT, compareOnly: true, output: null });
      assert.equal(await page.isVisible('button.open-model'), false);
      assert.equal(await page.isVisible('.compare-only'), true);
    } finally {
      await page.close();
    }
  });

  test('the progress view shows the stage, percentage and ETA; Cancel posts cancel once', async () => {
    const { page } = await openPage({ width: 800, height: 300 });
    try {
      await send(page, { type: 'progress', stage: 'approximate', fraction: 0.437, etaSeconds: 83, message: 'approximating 28,515 input rows with omp' });
      await page.waitForSelector('.transplant[data-view="progress"]');
      assert.equal(await page.textContent('.percent'), '44%');
      assert.equal(await page.getAttribute('.progress-track', 'aria-valuenow'), '44');
      assert.match((await page.textContent('.eta')) ?? '', /1 min 23 s left/);
      assert.equal(await page.getAttribute('.stages li[aria-current="step"]', 'data-stage'), 'approximate');
      assert.equal(await page.locator('.stages li.done').count(), 3);
      assert.equal(await page.isVisible('.report'), false);
      await page.screenshot({ path: path.join(RESULTS_DIR, 'transplant-progress-light.png') });
      await page.click('button.cancel');
      await page.click('button.cancel', { force: true }).catch(() => undefined);
      assert.deepEqual(await posted(page), [{ type: 'ready' }, { type: 'cancel' }]);
      assert.equal(await page.isDisabled('button.cancel'), true);
      // The run ends with an error (cancelled); the message replaces the progress.
      await send(page, { type: 'error', message: 'Transplant cancelled: nothing was written.' });
      await page.waitForSelector('.transplant[data-view="error"]');
      assert.match((await page.textContent('.error')) ?? '', /cancelled/);
    } finally {
      await page.close();
    }
  });

  test('the provenance search filters rows by token, id and method', async () => {
    const { page } = await openPage();
    try {
      await showReport(page);
      assert.deepEqual(await provenanceCounts(page), { total: 37, matches: 37, shown: 37, rows: 37 });
      // Atoms with weights, the largest first, and a count of the rest.
      const first = page.locator('tbody.token-group[data-id="118000"]');
      assert.equal(await first.locator('tr').count(), 2, 'input and output recipes');
      assert.match((await first.locator('td.atoms').first().textContent()) ?? '', /·trans\+0\.612.*plant\+0\.408.*\+59 more/);
      await page.fill('input[name="search"]', 'kubernetes');
      await page.waitForFunction(() => document.querySelector('table.provenance')?.getAttribute('data-matches') === '4');
      const counts = await provenanceCounts(page);
      assert.equal(counts.rows, 4);
      assert.match((await page.textContent('.search-count')) ?? '', /4 of 37/);
      await page.fill('input[name="search"]', '#118097');
      await page.waitForFunction(() => document.querySelector('table.provenance')?.getAttribute('data-matches') === '1');
      assert.equal(await page.getAttribute('tbody.token-group', 'data-id'), '118097');
      await page.fill('input[name="search"]', 'subword');
      await page.waitForFunction(() => document.querySelector('table.provenance')?.getAttribute('data-matches') === '1');
      assert.equal(await page.getAttribute('tbody.token-group', 'data-id'), '128011');
      await page.fill('input[name="search"]', 'no such token');
      await page.waitForFunction(() => document.querySelector('table.provenance')?.getAttribute('data-matches') === '0');
      assert.equal((await provenanceCounts(page)).rows, 0);
      await page.press('input[name="search"]', 'Escape');
      assert.equal((await provenanceCounts(page)).rows, 37);
    } finally {
      await page.close();
    }
  });

  test('the report and the search survive a reload, and the view says ready again', async () => {
    const { page, pageErrors } = await openPage();
    try {
      await showReport(page);
      await page.fill('input[name="search"]', 'Grö');
      await page.waitForFunction(() => document.querySelector('table.provenance')?.getAttribute('data-matches') === '4');
      await page.reload();
      await page.waitForFunction(() => (window as unknown as { __posted: unknown[] }).__posted.length > 0);
      assert.equal(await page.getAttribute('.transplant', 'data-view'), 'report');
      assert.equal(await page.inputValue('input[name="search"]'), 'Grö');
      assert.equal((await provenanceCounts(page)).matches, 4);
      assert.equal(await page.locator('figure.histogram').count(), 3);
      assert.equal(await page.isVisible('.digit-warning'), true);
      assert.deepEqual(await posted(page), [{ type: 'ready' }]);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  for (const theme of ['light', 'dark', 'hc'] as ThemeName[]) {
    test(`a ${theme} screenshot of the report`, async () => {
      const { page, cspViolations, pageErrors } = await openPage({ theme, width: 1100, height: 900 });
      try {
        await showReport(page);
        await page.screenshot({ path: path.join(RESULTS_DIR, `transplant-report-${theme}.png`), fullPage: true });
        await page.locator('section.self-check').screenshot({ path: path.join(RESULTS_DIR, `transplant-selfcheck-${theme}.png`) });
        assert.deepEqual(cspViolations, []);
        assert.deepEqual(pageErrors, []);
      } finally {
        await page.close();
      }
    });
  }
});
