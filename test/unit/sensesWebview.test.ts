/**
 * The Backpack Senses webview in a real browser (test/support/webviewPage.ts): bundled with esbuild, served inside
 * the HTML that `buildWebviewHtml` makes (so the strict CSP applies), with `acquireVsCodeApi` stubbed, in Debian
 * Chromium through playwright-core. The states are real: a tiny Backpack is written to a temporary folder (the
 * fixture builder's weights and tokenizer) and the server's own feature functions compute the senses of " Paris", the
 * explanation of a prompt and a sense search. The finetuning report is a small hand-made one. Screenshots of the
 * light, dark and high-contrast renderings go to test-results/.
 *
 * Run: node --import tsx --test test/unit/sensesWebview.test.ts
 */
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { openBackpack, type BackpackModel } from '../../server/features/backpack/backpackModel';
import { explainPrediction } from '../../server/features/backpack/explain';
import { applyManualEdit } from '../../server/features/backpack/manualEdits';
import { searchSenses } from '../../server/features/backpack/senseSearch';
import { resolveWord, senseTopWords } from '../../server/features/backpack/senses';
import { senseEditState } from '../../server/features/backpack';
import { ModelRegistry } from '../../server/registry/registry';
import type { FinetuneView, FromSenses, PredictionExplanation, SenseEditState, SenseSearchResult, ToSenses, WordSenses } from '../../webview/sensesMessages';
import { backpackFixtureTensors, backpackTokenizerJson, TINY_BACKPACK_CONFIG, writeBackpackFolder } from '../fixtures/buildBackpack';
import { CHROMIUM_SKIP, postedMessages, RESULTS_DIR, WebviewPageServer, type OpenedPage, type ThemeName } from '../support/webviewPage';

const MODEL = { id: '/models/tiny-backpack', name: 'tiny-backpack' };
const PROMPT = 'The capital of France is';

let root: string;
let backpack: BackpackModel;
let paris: WordSenses;
let clicked: WordSenses;
let editedParis: WordSenses;
let explanation: PredictionExplanation;
let search: SenseSearchResult;
let edits: SenseEditState;

const FINETUNE: FinetuneView = {
  modelId: MODEL.id,
  source: 'canonical-examples.jsonl',
  budget: 1e-4,
  epochs: [1, 2, 3, 4, 5].map((epoch) => ({
    epoch,
    canonicalLoss: 6 - epoch * 0.8,
    generalLoss: 4 + epoch * 1e-4,
    generalLossChange: epoch * 3e-5,
    successRate: Math.min(1, epoch * 0.25),
    withinBudget: epoch * 3e-5 <= 1e-4,
  })),
  chosenEpoch: 3,
  canonicalLossBefore: 6.2,
  canonicalLossAfter: 3.6,
  generalLossBefore: 4,
  generalLossChange: 9e-5,
  successRateBefore: 0,
  successRateAfter: 0.75,
  applied: true,
  pairs: [{ tokenId: 2031, token: ' France', sense: 3, deltaNorm: 0.42 }],
  examples: [{ kind: 'good', prefix: PROMPT, suffixes: [' Paris'], before: [0.001], after: [0.31], successBefore: false, successAfter: true }],
};

before(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'model-lens-senses-webview-'));
  const folder = path.join(root, 'tiny-backpack');
  await fsp.mkdir(folder);
  await writeBackpackFolder(folder, TINY_BACKPACK_CONFIG, backpackFixtureTensors(), await backpackTokenizerJson());
  backpack = await openBackpack(await new ModelRegistry().open(folder));
  paris = await senseTopWords(backpack, resolveWord(backpack, ' Paris'), 20);
  // The word the navigation test clicks: the top word of sense 2 of " Paris".
  clicked = await senseTopWords(backpack, paris.senses[2].top[0].id, 20);
  explanation = await explainPrediction(backpack, { text: PROMPT });
  search = await searchSenses(backpack, { query: ' Paris' });
  await applyManualEdit(backpack, { kind: 'scale-sense', word: ' Paris', sense: 3, factor: 0.5 });
  editedParis = await senseTopWords(backpack, resolveWord(backpack, ' Paris'), 20);
  edits = senseEditState(backpack);
});

after(async () => {
  await backpack?.release();
  if (root) await fsp.rm(root, { recursive: true, force: true });
});

async function send(page: Page, message: ToSenses): Promise<void> {
  await page.evaluate((m) => window.postMessage(m, '*'), message);
}

const attr = (page: Page, selector: string, name: string) => page.getAttribute(selector, name);

async function wordsOf(page: Page, sense: number, side: 'top' | 'bottom'): Promise<string[]> {
  return page.$$eval(`g.sense[data-sense="${sense}"] g.word[data-side="${side}"]`, (nodes) =>
    nodes.sort((a, b) => Number(a.getAttribute('data-rank')) - Number(b.getAttribute('data-rank'))).map((n) => n.getAttribute('data-token') ?? ''),
  );
}

describe('Backpack Senses webview', { skip: CHROMIUM_SKIP }, () => {
  let server: WebviewPageServer;
  const open = async (theme: ThemeName = 'light', width = 1200, height = 900): Promise<OpenedPage> => server.open({ theme, width, height });

  before(async () => {
    server = await WebviewPageServer.start({ name: 'senses', css: 'media/senses.css', title: 'Backpack Senses' });
  });
  after(async () => server?.close());

  test('posts ready; the empty Senses tab says what to do', async () => {
    const { page, cspViolations, pageErrors } = await open();
    try {
      assert.deepEqual(await postedMessages(page), [{ type: 'ready' }]);
      assert.ok(await page.isVisible('section[data-panel="senses"] .empty'));
      assert.equal(await attr(page, 'button[data-tab="senses"]', 'aria-selected'), 'true');
      assert.deepEqual(cspViolations, []);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test("the senses of ' Paris': 16 rows of diverging bars with the server's top and bottom 20 words", async () => {
    const { page, pageErrors } = await open();
    try {
      await send(page, { type: 'model', model: MODEL });
      await send(page, { type: 'senses', state: paris });
      await page.waitForSelector('svg[data-plot="senses"][data-senses="16"]');
      assert.equal(await page.locator('g.sense').count(), 16);
      assert.equal(await page.locator('g.word').count(), 16 * 40);
      for (const sense of [0, 7, 15]) {
        assert.deepEqual(await wordsOf(page, sense, 'top'), paris.senses[sense].top.map((w) => w.token));
        assert.deepEqual(await wordsOf(page, sense, 'bottom'), paris.senses[sense].bottom.map((w) => w.token));
      }
      // Top words are right of the centre line, bottom words left of it; the bars grow with |score|.
      const centre = Number(await attr(page, 'svg.senses line.centre', 'x1'));
      const box = async (selector: string) => (await page.locator(selector).boundingBox())!;
      const svgBox = await box('svg.senses');
      const topFirst = await box('g.sense[data-sense="0"] g.word[data-side="top"][data-rank="1"]');
      const bottomFirst = await box('g.sense[data-sense="0"] g.word[data-side="bottom"][data-rank="1"]');
      assert.ok(topFirst.x >= svgBox.x + centre - 1, 'top words start at the centre');
      assert.ok(bottomFirst.x + bottomFirst.width <= svgBox.x + centre + 1, 'bottom words end at the centre');
      const barWidth = (rank: number) => attr(page, `g.sense[data-sense="0"] g.word[data-side="top"][data-rank="${rank}"] rect.bar`, 'width').then(Number);
      assert.ok((await barWidth(1)) >= (await barWidth(20)), 'the strongest word has the longest bar');
      assert.match((await page.textContent('section[data-panel="senses"] h2')) ?? '', /Senses of ·Paris/);
      // Words per side.
      await page.click('button[data-per-side="5"]');
      assert.equal(await page.locator('g.word').count(), 16 * 10);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('a click or Enter on a word posts openWord; the new senses re-centre the view; back and forward walk the history', async () => {
    const { page, pageErrors } = await open();
    try {
      await send(page, { type: 'model', model: MODEL });
      await send(page, { type: 'senses', state: paris });
      await page.waitForSelector('svg[data-plot="senses"][data-senses="16"]');
      const target = paris.senses[2].top[0];
      await page.click(`g.sense[data-sense="2"] g.word[data-side="top"][data-rank="1"]`);
      let posted = await postedMessages<FromSenses>(page);
      assert.deepEqual(posted[posted.length - 1], { type: 'openWord', modelId: MODEL.id, word: target.token, tokenId: target.id });
      // The extension answers with that word's senses: the view re-centres on it.
      await send(page, { type: 'senses', state: clicked });
      await page.waitForSelector(`svg[data-plot="senses"][data-token-id="${clicked.tokenId}"]`);
      assert.deepEqual(await wordsOf(page, 4, 'top'), clicked.senses[4].top.map((w) => w.token));
      assert.ok(!(await page.isDisabled('button[name="back"]')));
      await page.click('button[name="back"]');
      posted = await postedMessages<FromSenses>(page);
      assert.deepEqual(posted[posted.length - 1], { type: 'openWord', modelId: MODEL.id, word: paris.token, tokenId: paris.tokenId });
      await send(page, { type: 'senses', state: paris });
      assert.ok(!(await page.isDisabled('button[name="forward"]')), 'forward is possible after going back');
      // Keyboard: the words are one tab stop; arrows move, Enter opens.
      await page.focus('g.word[tabindex="0"]');
      await page.keyboard.press('ArrowDown');
      await page.keyboard.press('ArrowRight');
      await page.keyboard.press('Enter');
      posted = await postedMessages<FromSenses>(page);
      const last = posted[posted.length - 1];
      assert.equal(last.type, 'openWord');
      assert.equal(last.type === 'openWord' && last.tokenId, paris.senses[1].top[1].id);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('edited senses are marked; the Edits strip shows the words, the toggle, Save and Discard', async () => {
    const { page, pageErrors } = await open();
    try {
      await send(page, { type: 'model', model: MODEL });
      await send(page, { type: 'edits', state: { ...edits, modelId: MODEL.id } });
      await send(page, { type: 'senses', state: editedParis });
      await page.waitForSelector('g.sense[data-sense="3"][data-edited="true"]');
      assert.equal(await page.locator('g.sense[data-edited="true"]').count(), 1);
      assert.match((await page.textContent('g.sense[data-sense="3"] .sense-note')) ?? '', /edited/);
      assert.ok(await page.isVisible('.edits-strip .badge.unsaved'));
      assert.deepEqual(await page.locator('.edited-word').allInnerTexts(), ['·Paris']);
      assert.ok(await page.isChecked('input[name="edits-enabled"]'));
      await page.click('.edits-strip button[name="save"]');
      await page.click('input[name="edits-enabled"]');
      await page.click('.edits-strip button[name="discard"]');
      const changes = (await postedMessages<FromSenses>(page)).filter((m) => m.type === 'changeEdits').map((m) => m.type === 'changeEdits' && m.action);
      assert.deepEqual(changes, ['save', 'disable', 'discard']);
      await send(page, { type: 'edits', state: { ...edits, modelId: MODEL.id, unsaved: false } });
      assert.ok(await page.isDisabled('.edits-strip button[name="save"]'));
      assert.ok(!(await page.isVisible('.edits-strip .badge.unsaved')));
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('Explain: a heat map of α over positions × senses, the contributions table; a cell opens its word at that sense', async () => {
    const { page, pageErrors } = await open();
    try {
      await send(page, { type: 'model', model: MODEL });
      await send(page, { type: 'explain', state: explanation, request: { text: PROMPT } });
      const positions = explanation.position + 1;
      await page.waitForSelector(`svg[data-plot="alpha"][data-cells="${16 * positions}"]`);
      assert.equal(await page.locator('svg[data-plot="alpha"] g.cell').count(), 16 * positions);
      assert.equal(await attr(page, 'button[data-tab="explain"]', 'aria-selected'), 'true');
      assert.equal(await page.locator('table.contributions tbody tr').count(), explanation.contributions.length);
      assert.equal(await attr(page, `button.token[data-position="${explanation.position}"]`, 'aria-pressed'), 'true');
      await page.click('g.cell[data-sense="5"][data-position="3"]');
      let posted = await postedMessages<FromSenses>(page);
      const france = explanation.tokens[3];
      assert.deepEqual(posted[posted.length - 1], { type: 'openWord', modelId: MODEL.id, word: france.text, tokenId: france.id, sense: 5 });
      // Another position and another target ask again.
      await page.click('button[data-tab="explain"]');
      await page.click('button.token[data-position="2"]');
      await page.click(`button.prediction[data-id="${explanation.predictions[1].id}"]`);
      posted = await postedMessages<FromSenses>(page);
      assert.deepEqual(posted.slice(-2), [
        { type: 'explain', modelId: MODEL.id, request: { text: PROMPT, position: 2 } },
        { type: 'explain', modelId: MODEL.id, request: { text: PROMPT, position: explanation.position, target: explanation.predictions[1].token } },
      ]);
      // The largest contribution's row opens its word.
      await page.click('table.contributions tbody tr:first-child button');
      posted = await postedMessages<FromSenses>(page);
      const top = explanation.contributions[0];
      assert.deepEqual(posted[posted.length - 1], { type: 'openWord', modelId: MODEL.id, word: top.token, tokenId: top.tokenId, sense: top.sense });
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('Search: one button per hit; a click opens the word at its sense', async () => {
    const { page, pageErrors } = await open();
    try {
      await send(page, { type: 'model', model: MODEL });
      await send(page, { type: 'search', state: search });
      await page.waitForSelector(`ol.hits[data-hits="${search.hits.length}"]`);
      assert.ok(search.hits.length > 0);
      assert.equal(await page.locator('ol.hits li').count(), search.hits.length);
      await page.click('ol.hits li:first-child button');
      const posted = await postedMessages<FromSenses>(page);
      const hit = search.hits[0];
      assert.deepEqual(posted[posted.length - 1], { type: 'openWord', modelId: MODEL.id, word: hit.token, tokenId: hit.tokenId, sense: hit.sense });
      await page.click('button[data-tab="search"]');
      await page.fill('input[name="query"]', ' king');
      await page.press('input[name="query"]', 'Enter');
      const again = await postedMessages<FromSenses>(page);
      assert.deepEqual(again[again.length - 1], { type: 'search', modelId: MODEL.id, query: ' king' });
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('Finetune: canonical loss, general-text change against the budget, success rate, the kept epoch', async () => {
    const { page, pageErrors } = await open();
    try {
      await send(page, { type: 'model', model: MODEL });
      await send(page, { type: 'finetune', state: FINETUNE });
      await page.waitForSelector('svg[data-plot="canonical-loss"][data-points="6"]');
      assert.equal(await attr(page, 'svg[data-plot="general-change"]', 'data-points'), '6');
      assert.equal(await attr(page, 'svg[data-plot="success-rate"]', 'data-points'), '6');
      assert.equal(await attr(page, 'svg[data-plot="general-change"] g.budget', 'data-budget'), '0.0001');
      // Epochs 4 and 5 rise by 1.2e-4 and 1.5e-4: over the 1e-4 budget.
      assert.equal(await page.locator('svg[data-plot="general-change"] circle.point.over').count(), 2);
      assert.equal(await attr(page, 'svg[data-plot="canonical-loss"] g.chosen', 'data-epoch'), '3');
      assert.match((await page.textContent('.finetune-summary')) ?? '', /kept epoch 3/);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('after finetuning, the word shown is refreshed in place: its edited marks change and the report stays in front', async () => {
    const { page, pageErrors } = await open();
    try {
      await send(page, { type: 'model', model: MODEL });
      await send(page, { type: 'senses', state: paris });
      await page.waitForSelector('g.sense[data-sense="3"][data-edited="false"]');
      await send(page, { type: 'finetune', state: FINETUNE });
      await send(page, { type: 'senses', state: editedParis, refresh: true });
      // A refresh for a word no longer shown is dropped.
      await send(page, { type: 'senses', state: { ...editedParis, tokenId: editedParis.tokenId + 1, token: 'other' }, refresh: true });
      assert.equal(await attr(page, 'button[data-tab="finetune"]', 'aria-selected'), 'true', 'the report stays in front');
      await page.click('button[data-tab="senses"]');
      await page.waitForSelector('g.sense[data-sense="3"][data-edited="true"]');
      assert.equal(await page.locator('g.sense[data-edited="true"]').count(), 1);
      assert.equal(await attr(page, 'button[data-tab="senses"]', 'aria-selected'), 'true');
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('busy shows progress and Cancel; state survives a reload and the view re-attaches to its model', async () => {
    const { page, pageErrors } = await open();
    try {
      await send(page, { type: 'model', model: MODEL });
      await send(page, { type: 'senses', state: paris });
      await send(page, { type: 'explain', state: explanation, request: { text: PROMPT } });
      await send(page, { type: 'busy', message: 'Searching senses…', fraction: 0.4, cancellable: true });
      assert.ok(await page.isVisible('button[name="cancel"]'));
      assert.equal(await attr(page, '.progress', 'aria-valuenow'), '40');
      await page.click('button[name="cancel"]');
      const posted = await postedMessages<FromSenses>(page);
      assert.deepEqual(posted[posted.length - 1], { type: 'cancel' });
      await send(page, { type: 'error', message: 'Searching senses was cancelled.' });
      assert.match((await page.textContent('.error')) ?? '', /cancelled/);
      await page.reload();
      await page.waitForFunction(() => (window as unknown as { __posted: unknown[] }).__posted.length > 1);
      assert.deepEqual(await postedMessages(page), [{ type: 'ready' }, { type: 'attach', modelId: MODEL.id }]);
      assert.equal(await attr(page, 'button[data-tab="explain"]', 'aria-selected'), 'true');
      assert.equal(await page.locator('svg[data-plot="alpha"] g.cell').count(), 16 * (explanation.position + 1));
      await page.click('button[data-tab="senses"]');
      assert.equal(await attr(page, 'svg[data-plot="senses"]', 'data-senses'), '16');
      assert.equal(await page.locator('g.word').count(), 16 * 40);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('screenshots: light, dark and high contrast; bundle size', async () => {
    for (const theme of ['light', 'dark', 'hc'] as const) {
      const { page, cspViolations, pageErrors } = await open(theme, 1200, 1000);
      try {
        await send(page, { type: 'model', model: MODEL });
        await send(page, { type: 'edits', state: { ...edits, modelId: MODEL.id } });
        await send(page, { type: 'senses', state: editedParis, sense: 3 });
        await page.hover('g.sense[data-sense="1"] g.word[data-side="top"][data-rank="1"]');
        await page.screenshot({ path: path.join(RESULTS_DIR, `senses-${theme}.png`), fullPage: true });
        await send(page, { type: 'explain', state: explanation, request: { text: PROMPT } });
        await page.screenshot({ path: path.join(RESULTS_DIR, `senses-explain-${theme}.png`), fullPage: true });
        await send(page, { type: 'finetune', state: FINETUNE });
        await page.screenshot({ path: path.join(RESULTS_DIR, `senses-finetune-${theme}.png`), fullPage: true });
        assert.deepEqual(cspViolations, []);
        assert.deepEqual(pageErrors, []);
      } finally {
        await page.close();
      }
    }
    const size = await server.bundleSize();
    console.log(`senses.js: ${size} bytes`);
    assert.ok(size < 150_000, `bundle is ${size} bytes`);
  });
});
