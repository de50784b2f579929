/**
 * The Neighbourhood webview (graph, projection, compare) in a real browser (test/support/webviewPage.ts): bundled
 * with esbuild, served inside the HTML that `buildWebviewHtml` makes (so the strict CSP applies), with
 * `acquireVsCodeApi` stubbed, in Debian Chromium through playwright-core. The extension's messages are posted to the
 * page as VS Code would; what the view posts back is read from the stub. Screenshots of the light, dark and
 * high-contrast renderings go to test-results/.
 *
 * Run: node --import tsx --test test/unit/neighbourhoodWebview.test.ts
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import type {
  CompareState,
  FromNeighbourhood,
  NeighboursState,
  ProjectedPoint,
  ProjectionState,
  ToNeighbourhood,
} from '../../webview/neighbourhoodMessages';
import {
  CHROMIUM_SKIP,
  postedMessages,
  RESULTS_DIR,
  WebviewPageServer,
  type OpenedPage,
  type ThemeName,
} from '../support/webviewPage';

// ---- data: what the server sends for a byte-level BPE vocabulary (Llama 3 style pieces) ------------------------------

const LLAMA = { id: '/models/llama3-8b', name: 'Llama 3 8B' };
const GEMMA = { id: '/models/gemma3-1b', name: 'Gemma 3 1B' };

const KING: NeighboursState = {
  model: LLAMA,
  query: { label: 'Ġking', id: 11734, kind: 'token' },
  k: 10,
  metric: 'cosine',
  space: 'input',
  neighbours: [
    { id: 45219, token: 'Ġkings', score: 0.712 },
    { id: 6342, token: 'ĠKing', score: 0.694 },
    { id: 29006, token: 'Ġqueen', score: 0.623 },
    { id: 87059, token: 'Ġmonarch', score: 0.581 },
    { id: 37965, token: 'Ġprince', score: 0.552 },
    { id: 11346, token: 'King', score: 0.521 },
    { id: 57883, token: 'Ġemperor', score: 0.503 },
    { id: 44750, token: 'Ġthrone', score: 0.474 },
    { id: 26135, token: 'Ġkingdom', score: 0.461 },
    { id: 49080, token: 'Ġruler', score: 0.438 },
  ],
  edges: [
    { source: 45219, target: 6342, score: 0.612 },
    { source: 29006, target: 37965, score: 0.574 },
    { source: 87059, target: 57883, score: 0.553 },
    { source: 87059, target: 49080, score: 0.602 },
    { source: 44750, target: 26135, score: 0.521 },
    { source: 6342, target: 11346, score: 0.486 },
    // Not drawn: below the threshold, a duplicate pair, and one end that is the centre (not a neighbour).
    { source: 37965, target: 44750, score: 0.41 },
    { source: 6342, target: 45219, score: 0.612 },
    { source: 11734, target: 29006, score: 0.623 },
  ],
  threshold: 0.45,
};

/** The pairs of KING.edges that are drawn, as "low-high" id pairs. */
const KING_DRAWN_EDGES = ['6342-45219', '29006-37965', '57883-87059', '49080-87059', '26135-44750', '6342-11346'].sort();

const QUEEN: NeighboursState = {
  ...KING,
  query: { label: 'Ġqueen', id: 29006, kind: 'token' },
  neighbours: [
    { id: 82495, token: 'Ġqueens', score: 0.701 },
    { id: 51384, token: 'ĠQueen', score: 0.672 },
    { id: 40367, token: 'Ġprincess', score: 0.655 },
    { id: 11734, token: 'Ġking', score: 0.623 },
    { id: 99361, token: 'Ġempress', score: 0.598 },
    { id: 34202, token: 'Ġlady', score: 0.541 },
    { id: 37965, token: 'Ġprince', score: 0.533 },
    { id: 85538, token: 'Ġduchess', score: 0.512 },
    { id: 87059, token: 'Ġmonarch', score: 0.499 },
    { id: 70808, token: 'Ġroyal', score: 0.476 },
  ],
  edges: [
    { source: 82495, target: 51384, score: 0.58 },
    { source: 40367, target: 37965, score: 0.61 },
    { source: 99361, target: 85538, score: 0.49 },
  ],
};

/** Pieces with markers and whitespace, to check how labels are shown. */
const WHITESPACE: NeighboursState = {
  ...KING,
  query: { label: 'Ċ', id: 198, kind: 'token' },
  k: 6,
  neighbours: [
    { id: 271, token: 'ĊĊ', score: 0.81 },
    { id: 256, token: 'ĠĠ', score: 0.62 },
    { id: 197, token: 'ĉ', score: 0.6 },
    { id: 2, token: '▁new', score: 0.5 },
    { id: 13, token: '.Ċ', score: 0.48 },
    { id: 21271, token: 'ĠcafÃ©', score: 0.41 },
  ],
  edges: [],
};

/** A deterministic cloud: tokens Ġtok0 … in a few Gaussian-ish clusters. */
function sampleProjection(n: number): ProjectionState {
  let seed = 12345;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const points: ProjectedPoint[] = Array.from({ length: n }, (_, i) => {
    const cluster = i % 5;
    const angle = (cluster / 5) * 2 * Math.PI;
    const r = (random() + random() + random() - 1.5) * 1.4;
    const s = (random() + random() + random() - 1.5) * 1.4;
    return { id: 1000 + i, token: `Ġtok${i}`, x: 4 * Math.cos(angle) + r, y: 4 * Math.sin(angle) + s };
  });
  return { model: LLAMA, method: 'pca', points, source: 'sample', explainedVariance: [0.124, 0.087] };
}

const KING_PROJECTION: ProjectionState = {
  model: LLAMA,
  method: 'umap',
  source: 'neighbourhood',
  points: [
    { id: 11734, token: 'Ġking', x: 0, y: 0 },
    { id: 45219, token: 'Ġkings', x: 0.4, y: 0.3 },
    { id: 6342, token: 'ĠKing', x: -0.3, y: 0.5 },
    { id: 29006, token: 'Ġqueen', x: 1.2, y: -0.4 },
    { id: 87059, token: 'Ġmonarch', x: 0.9, y: 1.1 },
    { id: 37965, token: 'Ġprince', x: 1.5, y: -0.9 },
    { id: 11346, token: 'King', x: -0.8, y: 0.9 },
    { id: 57883, token: 'Ġemperor', x: 1.4, y: 1.5 },
    { id: 44750, token: 'Ġthrone', x: -1.1, y: -1.2 },
    { id: 26135, token: 'Ġkingdom', x: -0.6, y: -1.6 },
    { id: 49080, token: 'Ġruler', x: 0.6, y: 1.8 },
  ],
};

const COMPARE: CompareState = {
  token: 'Ġking',
  k: 8,
  left: {
    model: LLAMA,
    neighbours: [
      { id: 45219, token: 'Ġkings', score: 0.712 },
      { id: 6342, token: 'ĠKing', score: 0.694 },
      { id: 29006, token: 'Ġqueen', score: 0.623 },
      { id: 87059, token: 'Ġmonarch', score: 0.581 },
      { id: 37965, token: 'Ġprince', score: 0.552 },
      { id: 11346, token: 'King', score: 0.521 },
      { id: 57883, token: 'Ġemperor', score: 0.503 },
      { id: 44750, token: 'Ġthrone', score: 0.474 },
    ],
  },
  right: {
    model: GEMMA,
    neighbours: [
      { id: 22576, token: '▁queen', score: 0.684 },
      { id: 19140, token: '▁kings', score: 0.671 },
      { id: 36024, token: '▁prince', score: 0.645 },
      { id: 35812, token: '▁royal', score: 0.602 },
      { id: 80531, token: '▁monarch', score: 0.597 },
      { id: 11995, token: '▁King', score: 0.563 },
      { id: 66711, token: '▁lord', score: 0.541 },
      { id: 121044, token: '▁knight', score: 0.522 },
    ],
  },
  // Shared: kings, King, queen, monarch, prince → 5 of 11 distinct.
  jaccard: 5 / 11,
  mostDifferent: [
    { token: 'Ġmonarch', jaccard: 0.18 },
    { token: 'ĠKing', jaccard: 0.27 },
    { token: 'Ġprince', jaccard: 0.41 },
  ],
};

// ---- helpers -------------------------------------------------------------------------------------------------------

let pages: WebviewPageServer;

async function openPage(options: { theme?: ThemeName; width?: number; height?: number } = {}): Promise<OpenedPage> {
  return pages.open({ width: 960, height: 640, ...options });
}

async function send(page: Page, message: ToNeighbourhood): Promise<void> {
  await page.evaluate((m) => window.postMessage(m, '*'), message);
}

/** Posts a neighbourhood and waits until the graph shows it. */
async function showNeighbours(page: Page, state: NeighboursState): Promise<void> {
  await send(page, { type: 'neighbours', state });
  await page.waitForFunction(
    (id) => document.querySelector('svg.graph g.node.centre')?.getAttribute('data-id') === String(id),
    state.query.id,
  );
}

async function posted(page: Page): Promise<FromNeighbourhood[]> {
  return postedMessages<FromNeighbourhood>(page);
}

async function lastPosted(page: Page): Promise<FromNeighbourhood | undefined> {
  return (await posted(page)).at(-1);
}

async function centreId(page: Page): Promise<string | null> {
  return page.getAttribute('svg.graph g.node.centre', 'data-id');
}

async function nodeLabels(page: Page): Promise<string[]> {
  return page.$$eval('svg.graph g.node text.label', (ts) => ts.map((t) => t.textContent ?? ''));
}

function nodeSelector(id: number): string {
  return `svg.graph g.node[data-id="${id}"]`;
}

/** Shift-clicks a node without moving the pointer between press and release. */
async function shiftClick(page: Page, selector: string): Promise<void> {
  await page.click(selector, { modifiers: ['Shift'] });
}

async function canvasData(page: Page): Promise<{ points: number; matches: number; labels: number }> {
  return page.$eval('canvas.scatter', (c) => ({
    points: Number((c as HTMLElement).dataset.points),
    matches: Number((c as HTMLElement).dataset.matches),
    labels: Number((c as HTMLElement).dataset.labels),
  }));
}

async function selectTab(page: Page, tab: 'graph' | 'projection' | 'compare'): Promise<void> {
  await page.click(`#tab-${tab}`);
  await page.waitForSelector(`#panel-${tab}:not([hidden])`);
}

// ---- tests ---------------------------------------------------------------------------------------------------------

describe('neighbourhood webview in Chromium', { skip: CHROMIUM_SKIP }, () => {
  before(async () => {
    pages = await WebviewPageServer.start({
      name: 'neighbourhood',
      css: 'media/neighbourhood.css',
      title: 'Neighbourhood',
    });
  });

  after(async () => {
    await pages?.close();
  });

  test('the bundle stays small (d3 submodules only)', async () => {
    const size = await pages.bundleSize();
    assert.ok(size < 120_000, `bundle is ${size} bytes`);
  });

  test('an empty view shows hints on every tab and says it is ready, once', async () => {
    const { page, cspViolations, pageErrors } = await openPage();
    try {
      assert.match((await page.textContent('#panel-graph .empty')) ?? '', /No neighbourhood yet/);
      assert.equal(await page.locator('svg.graph g.node').count(), 0);
      assert.deepEqual(await posted(page), [{ type: 'ready' }]);
      assert.equal(await page.getAttribute('#tab-graph', 'aria-selected'), 'true');
      assert.equal(await page.isDisabled('button.copy-json'), true);
      await selectTab(page, 'projection');
      assert.match((await page.textContent('#panel-projection .empty')) ?? '', /No projection yet/);
      await selectTab(page, 'compare');
      assert.match((await page.textContent('#panel-compare .empty')) ?? '', /No comparison yet/);
      assert.deepEqual(cspViolations, []);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('the graph draws the centre, exactly k neighbours and the edges above the threshold', async () => {
    const { page, cspViolations, pageErrors } = await openPage();
    try {
      await showNeighbours(page, KING);
      assert.equal(await page.locator('svg.graph g.node').count(), KING.k + 1);
      assert.equal(await page.locator('svg.graph g.node.centre').count(), 1);
      assert.equal(await centreId(page), '11734');
      // The centre is pinned at the origin.
      assert.equal(await page.getAttribute('svg.graph g.node.centre', 'transform'), 'translate(0.00,0.00)');
      // One spoke per neighbour, and only the edges that pass the threshold between two neighbours, once each.
      assert.equal(await page.locator('svg.graph line.spoke').count(), KING.k);
      const edges = await page.$$eval('svg.graph line.edge', (ls) =>
        ls.map((l) => {
          const a = Number(l.getAttribute('data-source'));
          const b = Number(l.getAttribute('data-target'));
          return `${Math.min(a, b)}-${Math.max(a, b)}`;
        }),
      );
      assert.deepEqual(edges.sort(), KING_DRAWN_EDGES);
      assert.equal(await page.getAttribute('svg.graph', 'data-edges'), String(KING_DRAWN_EDGES.length));

      // Labels make the byte-level space visible; the centre's label is the query.
      const labels = await nodeLabels(page);
      assert.equal(labels[0], '·king');
      assert.deepEqual(labels.slice(1, 4), ['·kings', '·King', '·queen']);

      // Closer neighbours sit nearer the centre: the three closest average nearer than the three farthest.
      const distances = await page.$$eval('svg.graph g.node:not(.centre)', (gs) =>
        gs.map((g) => {
          const m = /translate\(([-\d.]+),([-\d.]+)\)/.exec(g.getAttribute('transform') ?? '')!;
          return Math.hypot(Number(m[1]), Number(m[2]));
        }),
      );
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      assert.ok(mean(distances.slice(0, 3)) < mean(distances.slice(-3)), `distances ${distances.join(', ')}`);
      // … and stronger edges are drawn thicker.
      const widths = await page.$$eval('svg.graph line.edge', (ls) =>
        ls.map((l) => [Number(l.getAttribute('data-score')), Number(l.getAttribute('stroke-width'))]),
      );
      const strongest = widths.reduce((a, b) => (b[0]! > a[0]! ? b : a));
      const weakest = widths.reduce((a, b) => (b[0]! < a[0]! ? b : a));
      assert.ok(strongest[1]! > weakest[1]!);

      // The side list mirrors the graph: rank, token, id, score.
      const rows = await page.$$eval('ol.neighbours li', (lis) =>
        lis.map((li) => ['.rank', '.token', '.id', '.value'].map((s) => li.querySelector(s)?.textContent ?? '')),
      );
      assert.equal(rows.length, KING.k);
      assert.deepEqual(rows[0], ['1', '·kings', '45219', '0.712']);
      assert.deepEqual(rows[9], ['10', '·ruler', '49080', '0.438']);
      assert.match((await page.textContent('.query .meta')) ?? '', /Llama 3 8B · id 11734 · 10 neighbours · input space · 6 links at cosine ≥ 0\.450/);
      assert.deepEqual(cspViolations, []);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('markers and whitespace in pieces are shown visibly', async () => {
    const { page } = await openPage();
    try {
      await showNeighbours(page, WHITESPACE);
      // Byte-level pieces decode as UTF-8: "ĠcafÃ©" is " café".
      assert.deepEqual(await nodeLabels(page), ['↵', '↵↵', '··', '⇥', '·new', '.↵', '·café']);
      assert.equal(await page.textContent('.centre-token'), '↵');
    } finally {
      await page.close();
    }
  });

  test('clicking a node posts recentre with its id; back and forward walk the history', async () => {
    const { page, pageErrors } = await openPage();
    try {
      await showNeighbours(page, KING);
      assert.equal(await page.isDisabled('button.back'), true);
      await page.click(nodeSelector(29006));
      assert.deepEqual(await lastPosted(page), { type: 'recentre', id: 29006 });
      // Nothing changes until the new neighbourhood arrives.
      assert.equal(await centreId(page), '11734');
      await showNeighbours(page, QUEEN);
      assert.equal(await page.locator('svg.graph g.node').count(), QUEEN.k + 1);
      assert.equal(await page.isDisabled('button.back'), false);
      assert.equal(await page.isDisabled('button.forward'), true);

      // Back shows the cached neighbourhood at once and asks the extension to recentre there.
      await page.click('button.back');
      assert.equal(await centreId(page), '11734');
      assert.deepEqual(await lastPosted(page), { type: 'recentre', id: 11734 });
      assert.equal(await page.isDisabled('button.forward'), false);
      // Its reply refreshes that entry rather than adding a step: forward is still there.
      await showNeighbours(page, KING);
      assert.equal(await page.isDisabled('button.forward'), false);

      await page.click('button.forward');
      assert.equal(await centreId(page), '29006');
      assert.deepEqual(await lastPosted(page), { type: 'recentre', id: 29006 });

      // Alt+Left / Alt+Right do the same from the keyboard.
      await page.keyboard.press('Alt+ArrowLeft');
      assert.equal(await centreId(page), '11734');
      await page.keyboard.press('Alt+ArrowRight');
      assert.equal(await centreId(page), '29006');

      // A late reply to a step the user has moved on from is dropped.
      await page.keyboard.press('Alt+ArrowLeft');
      await page.keyboard.press('Alt+ArrowRight');
      await send(page, { type: 'neighbours', state: KING });
      await page.waitForTimeout(50);
      assert.equal(await centreId(page), '29006');
      assert.equal(await page.isDisabled('button.back'), false);
      assert.equal(await page.isDisabled('button.forward'), true);

      // A new step from the middle of the history drops the forward entries.
      await page.click('button.back');
      await page.click(nodeSelector(87059));
      assert.deepEqual(await lastPosted(page), { type: 'recentre', id: 87059 });
      // (The server sent the old list: the new centre is among its own neighbours. It is not drawn twice.)
      await showNeighbours(page, { ...KING, query: { label: 'Ġmonarch', id: 87059, kind: 'token' } });
      assert.equal(await page.locator('svg.graph g.node').count(), KING.k);
      assert.equal(await page.locator('svg.graph line.edge').count(), KING_DRAWN_EDGES.length - 2);
      assert.equal(await page.isDisabled('button.forward'), true);
      await page.click('button.back');
      assert.equal(await centreId(page), '11734');
      assert.equal(await page.isDisabled('button.back'), true);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('shift-click selects nodes, highlighted in graph and list; Project selection posts their ids', async () => {
    const { page } = await openPage();
    try {
      await showNeighbours(page, KING);
      assert.equal(await page.isDisabled('button.project-selection'), true);
      await shiftClick(page, nodeSelector(29006));
      await shiftClick(page, nodeSelector(37965));
      // Shift-click selects; it does not recentre.
      assert.deepEqual(await posted(page), [{ type: 'ready' }]);
      const selected = () =>
        page.$$eval('svg.graph g.node.selected', (gs) => gs.map((g) => Number(g.getAttribute('data-id'))));
      assert.deepEqual(await selected(), [29006, 37965]);
      assert.deepEqual(
        await page.$$eval('ol.neighbours li.selected', (lis) => lis.map((li) => Number(li.getAttribute('data-id')))),
        [29006, 37965],
      );
      assert.equal(await page.textContent('.selection-count'), '2 selected');
      // The centre can be selected too.
      await shiftClick(page, 'svg.graph g.node.centre');
      assert.deepEqual(await selected(), [11734, 29006, 37965]);
      // Shift-click again deselects.
      await shiftClick(page, nodeSelector(37965));
      assert.deepEqual(await selected(), [11734, 29006]);

      await page.click('button.project-selection');
      assert.deepEqual(await lastPosted(page), { type: 'project', method: 'pca', source: 'selection', ids: [29006, 11734] });

      // The selection outlives a recentre; Clear empties it.
      await page.click(nodeSelector(29006));
      await showNeighbours(page, QUEEN);
      assert.deepEqual(await selected(), [29006, 11734]);
      await page.click('button.clear-selection');
      assert.deepEqual(await selected(), []);
      assert.equal(await page.isDisabled('button.project-selection'), true);
    } finally {
      await page.close();
    }
  });

  test('the graph and the list work from the keyboard', async () => {
    const { page } = await openPage();
    try {
      await showNeighbours(page, KING);
      // One tab stop in the graph (the centre), one in the list (rank 1).
      assert.deepEqual(
        await page.$$eval('svg.graph g.node', (gs) => gs.map((g) => g.getAttribute('tabindex'))),
        ['0', ...Array<string>(KING.k).fill('-1')],
      );
      await page.focus('svg.graph g.node.centre');
      await page.keyboard.press('ArrowRight');
      const focusedId = () => page.evaluate(() => document.activeElement?.getAttribute('data-id') ?? null);
      assert.equal(await focusedId(), '45219');
      // Focus mirrors into the list.
      assert.deepEqual(await page.$$eval('ol.neighbours li.hovered', (lis) => lis.map((li) => li.getAttribute('data-id'))), [
        '45219',
      ]);
      await page.keyboard.press('ArrowRight');
      await page.keyboard.press('Shift+Enter');
      assert.deepEqual(await page.$$eval('g.node.selected', (gs) => gs.map((g) => g.getAttribute('data-id'))), ['6342']);
      await page.keyboard.press('Enter');
      assert.deepEqual(await lastPosted(page), { type: 'recentre', id: 6342 });
      await page.keyboard.press('End');
      assert.equal(await focusedId(), '49080');

      // The list: arrows move, Enter recentres, Shift+Enter selects.
      await page.focus('ol.neighbours button.row[tabindex="0"]');
      await page.keyboard.press('ArrowDown');
      await page.keyboard.press('ArrowDown');
      await page.keyboard.press('Enter');
      assert.deepEqual(await lastPosted(page), { type: 'recentre', id: 29006 });
      await page.keyboard.press('Shift+Enter');
      assert.deepEqual(await page.$$eval('g.node.selected', (gs) => gs.map((g) => g.getAttribute('data-id'))), [
        '6342',
        '29006',
      ]);
      // Clicking a row recentres too.
      await page.click('ol.neighbours li[data-id="49080"] button');
      assert.deepEqual(await lastPosted(page), { type: 'recentre', id: 49080 });
    } finally {
      await page.close();
    }
  });

  test('the scatter draws N points; regex search highlights the matches; a bad pattern is an inline error', async () => {
    const { page, pageErrors } = await openPage();
    try {
      await send(page, { type: 'projection', state: sampleProjection(3000) });
      await selectTab(page, 'projection');
      await page.waitForFunction(() => document.querySelector('canvas.scatter')?.getAttribute('data-points') === '3000');
      assert.deepEqual(await canvasData(page), { points: 3000, matches: 0, labels: 0 });
      assert.equal(
        await page.textContent('.projection-caption'),
        'PCA of a vocabulary sample · Llama 3 8B · 3,000 points · explained variance PC1 12.4%, PC2 8.7% (21.1% total)',
      );

      // The shown label (·tok1xx) matches; so does the raw piece (Ġtok…).
      await page.fill('input[name="search"]', '^·tok1\\d\\d$');
      assert.equal((await canvasData(page)).matches, 100);
      assert.equal(await page.textContent('.search-count'), '100 of 3,000');
      // Few enough matches: their labels are drawn, except where one would overlap another.
      const { labels } = await canvasData(page);
      assert.ok(labels > 30 && labels <= 100, `${labels} labels`);
      await page.fill('input[name="search"]', '^Ġtok\\d$');
      assert.equal((await canvasData(page)).matches, 10);
      await page.fill('input[name="search"]', 'TOK299');
      assert.equal((await canvasData(page)).matches, 11, 'case-insensitive: tok299 and tok2990…tok2999');

      await page.fill('input[name="search"]', '(tok');
      assert.equal(await page.isVisible('.search-error'), true);
      assert.match((await page.textContent('.search-error')) ?? '', /^Not a valid regular expression: Unterminated group/);
      assert.equal(await page.getAttribute('input[name="search"]', 'aria-invalid'), 'true');
      assert.equal((await canvasData(page)).matches, 0);
      assert.deepEqual(pageErrors, []);

      await page.fill('input[name="search"]', '');
      assert.equal(await page.isVisible('.search-error'), false);
      assert.equal(await page.getAttribute('input[name="search"]', 'aria-invalid'), null);

      // Hover shows a tooltip with the token; wheel zooms (the point moves away from the pointer's spot).
      const box = (await page.locator('canvas.scatter').boundingBox())!;
      const target = await page.evaluate(() => {
        const c = document.querySelector('canvas.scatter') as HTMLCanvasElement;
        const r = c.getBoundingClientRect();
        return { w: r.width, h: r.height };
      });
      assert.ok(target.w > 300 && target.h > 200);
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      await page.mouse.wheel(0, -400);
      await page.waitForTimeout(100);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('the scatter draws 10,000 points quickly; more are capped with a note', async () => {
    const { page } = await openPage();
    try {
      await send(page, { type: 'projection', state: sampleProjection(10_000) });
      await selectTab(page, 'projection');
      await page.waitForFunction(() => document.querySelector('canvas.scatter')?.getAttribute('data-points') === '10000');
      const ms = await page.evaluate(() => {
        const input = document.querySelector('input[name="search"]') as HTMLInputElement;
        const started = performance.now();
        input.value = '^·tok\\d{3}$';
        input.dispatchEvent(new Event('input', { bubbles: true }));
        return performance.now() - started;
      });
      assert.equal((await canvasData(page)).matches, 900);
      assert.ok(ms < 1000, `a search over 10,000 points took ${ms.toFixed(0)} ms`);

      await send(page, { type: 'projection', state: sampleProjection(12_000) });
      await page.waitForFunction(() => /10,000 of 12,000 points drawn/.test(document.querySelector('.projection-caption')?.textContent ?? ''));
      assert.equal((await canvasData(page)).points, 10_000);
    } finally {
      await page.close();
    }
  });

  test('the projection toolbar posts project for the neighbourhood, the selection and a sample', async () => {
    const { page } = await openPage();
    try {
      await showNeighbours(page, KING);
      await shiftClick(page, nodeSelector(45219));
      await selectTab(page, 'projection');
      await page.selectOption('select[name="method"]', 'umap');
      await page.click('button[data-source="neighbourhood"]');
      assert.deepEqual(await lastPosted(page), { type: 'project', method: 'umap', source: 'neighbourhood' });
      assert.equal(await page.textContent('button[data-source="selection"]'), 'Selection (1)');
      await page.click('button[data-source="selection"]');
      assert.deepEqual(await lastPosted(page), { type: 'project', method: 'umap', source: 'selection', ids: [45219] });
      await page.click('button[data-source="sample"]');
      assert.deepEqual(await lastPosted(page), { type: 'project', method: 'umap', source: 'sample' });

      // A small projection labels every point; clicking one recentres on it and shows the graph.
      await send(page, { type: 'projection', state: KING_PROJECTION });
      await page.waitForFunction(() => document.querySelector('canvas.scatter')?.getAttribute('data-points') === '11');
      assert.equal((await canvasData(page)).labels, 11);
      assert.equal(
        await page.textContent('.projection-caption'),
        'UMAP of the neighbourhood · Llama 3 8B · 11 points',
      );
      const centre = await page.evaluate(() => {
        const c = document.querySelector('canvas.scatter') as HTMLCanvasElement;
        const r = c.getBoundingClientRect();
        return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
      });
      // Ġking is at (0, 0); the data's bounding box is centred, so find it from the extent: x ∈ [-1.1, 1.5], y ∈ [-1.6, 1.8].
      const box = await page.evaluate(() => {
        const c = document.querySelector('canvas.scatter') as HTMLCanvasElement;
        return { w: c.clientWidth, h: c.clientHeight };
      });
      const span = Math.max(2.6 / (box.w - 56), 3.4 / (box.h - 56));
      const kingX = centre.x + (0 - 0.2) / span;
      const kingY = centre.y - (0 - 0.1) / span;
      await page.mouse.move(kingX, kingY);
      await page.waitForSelector('.tooltip:not([hidden])');
      assert.equal(await page.textContent('.tooltip'), '·king  ·  id 11734');
      await page.mouse.click(kingX, kingY);
      assert.deepEqual(await lastPosted(page), { type: 'recentre', id: 11734 });
      assert.equal(await page.getAttribute('#tab-graph', 'aria-selected'), 'true');
    } finally {
      await page.close();
    }
  });

  test('the compare view shows Jaccard@k, the shared tokens, and the ones that differ most', async () => {
    const { page } = await openPage();
    try {
      await showNeighbours(page, KING);
      await page.click('button.open-compare');
      assert.deepEqual(await lastPosted(page), { type: 'openCompare', token: 'Ġking' });
      await send(page, { type: 'compare', state: COMPARE });
      // The comparison the user asked for opens its tab.
      await page.waitForSelector('#panel-compare:not([hidden]) .compare-head');
      assert.equal(await page.textContent('.compare-head .title .token'), '·king');
      assert.equal(await page.textContent('.compare-head .models'), 'Llama 3 8B vs Gemma 3 1B');
      assert.equal(await page.textContent('.jaccard .name'), 'Jaccard@8');
      assert.equal(await page.textContent('.jaccard .value'), '0.45');
      assert.equal(await page.textContent('.jaccard .detail'), '5 shared of 11 distinct');
      const shared = (side: string) =>
        page.$$eval(`section.side[data-side="${side}"] li.shared .token`, (ts) => ts.map((t) => t.textContent));
      // Ġ and ▁ pieces for the same word are the same token.
      assert.deepEqual(await shared('left'), ['·kings', '·King', '·queen', '·monarch', '·prince']);
      assert.deepEqual(await shared('right'), ['·queen', '·kings', '·prince', '·monarch', '·King']);
      assert.equal(await page.locator('section.side li:not(.shared)').count(), 6);

      // Hovering a shared token links it across the lists.
      await page.hover('section.side[data-side="left"] li:nth-child(3)');
      assert.deepEqual(await page.$$eval('li.linked .token', (ts) => ts.map((t) => t.textContent)), ['·queen', '·queen']);

      const table = await page.$$eval('.most-different tbody tr', (trs) =>
        trs.map((tr) => [tr.querySelector('button')?.textContent, tr.querySelector('.number')?.textContent]),
      );
      assert.deepEqual(table, [
        ['·monarch', '0.18'],
        ['·King', '0.27'],
        ['·prince', '0.41'],
      ]);
      await page.click('.most-different tbody tr:nth-child(2) button');
      assert.deepEqual(await lastPosted(page), { type: 'openCompare', token: 'ĠKing' });
    } finally {
      await page.close();
    }
  });

  test('the controls post setControls; k stays within 5–200', async () => {
    const { page } = await openPage();
    try {
      await showNeighbours(page, KING);
      assert.equal(await page.inputValue('input[name="k"]'), '10');
      assert.equal(await page.inputValue('select[name="metric"]'), 'cosine');
      assert.equal(await page.inputValue('select[name="space"]'), 'input');

      await page.fill('input[name="k"]', '25');
      await page.press('input[name="k"]', 'Enter');
      assert.deepEqual(await lastPosted(page), { type: 'setControls', k: 25, metric: 'cosine', space: 'input' });
      await page.selectOption('select[name="metric"]', 'euclidean');
      assert.deepEqual(await lastPosted(page), { type: 'setControls', k: 25, metric: 'euclidean', space: 'input' });
      await page.selectOption('select[name="space"]', 'output');
      assert.deepEqual(await lastPosted(page), { type: 'setControls', k: 25, metric: 'euclidean', space: 'output' });
      await page.fill('input[name="k"]', '500');
      await page.press('input[name="k"]', 'Enter');
      assert.deepEqual(await lastPosted(page), { type: 'setControls', k: 200, metric: 'euclidean', space: 'output' });
      assert.equal(await page.inputValue('input[name="k"]'), '200');
      await page.fill('input[name="k"]', '2');
      await page.press('input[name="k"]', 'Enter');
      assert.deepEqual(await lastPosted(page), { type: 'setControls', k: 5, metric: 'euclidean', space: 'output' });
      const count = (await posted(page)).length;
      await page.fill('input[name="k"]', '');
      await page.press('input[name="k"]', 'Enter');
      assert.equal((await posted(page)).length, count, 'an empty k posts nothing');
      assert.equal(await page.inputValue('input[name="k"]'), '5');

      // The reply (same query, new controls) refreshes the entry; it is not a new history step.
      await showNeighbours(page, { ...KING, k: 5, metric: 'euclidean', space: 'output', neighbours: KING.neighbours.slice(0, 5) });
      assert.equal(await page.locator('svg.graph g.node').count(), 6);
      assert.equal(await page.isDisabled('button.back'), true);
      assert.equal(await page.textContent('.list-head .score'), 'Distance');
    } finally {
      await page.close();
    }
  });

  test('Copy JSON and Copy CSV post the data of the active tab', async () => {
    const { page } = await openPage();
    try {
      await showNeighbours(page, { ...KING, neighbours: [...KING.neighbours.slice(0, 2), { id: 11, token: ',"', score: 0.4 }] });
      await page.click('button.copy-csv');
      assert.deepEqual(await lastPosted(page), {
        type: 'copy',
        format: 'csv',
        text: 'rank,id,token,cosine\r\n1,45219,Ġkings,0.712\r\n2,6342,ĠKing,0.694\r\n3,11,",""",0.4\r\n',
      });
      await page.click('button.copy-json');
      const json = await lastPosted(page);
      assert.ok(json?.type === 'copy' && json.format === 'json');
      const parsed = JSON.parse(json.text) as NeighboursState;
      assert.equal(parsed.query.label, 'Ġking');
      assert.deepEqual(parsed.neighbours.map((n) => n.id), [45219, 6342, 11]);

      await send(page, { type: 'projection', state: { ...KING_PROJECTION, points: KING_PROJECTION.points.slice(0, 2) } });
      await selectTab(page, 'projection');
      await page.click('button.copy-csv');
      assert.deepEqual(await lastPosted(page), {
        type: 'copy',
        format: 'csv',
        text: 'id,token,x,y\r\n11734,Ġking,0,0\r\n45219,Ġkings,0.4,0.3\r\n',
      });

      await send(page, { type: 'compare', state: COMPARE });
      await selectTab(page, 'compare');
      await page.click('button.copy-csv');
      const csv = await lastPosted(page);
      assert.ok(csv?.type === 'copy');
      const lines = csv.text.trimEnd().split('\r\n');
      assert.equal(lines[0], 'side,model,rank,id,token,score,shared');
      assert.equal(lines[1], 'left,Llama 3 8B,1,45219,Ġkings,0.712,yes');
      assert.equal(lines[9], 'right,Gemma 3 1B,1,22576,▁queen,0.684,yes');
      assert.equal(lines[12], 'right,Gemma 3 1B,4,35812,▁royal,0.602,no');
      assert.equal(lines.length, 17);
      await page.click('button.copy-json');
      const compareJson = await lastPosted(page);
      assert.ok(compareJson?.type === 'copy');
      assert.deepEqual(JSON.parse(compareJson.text), COMPARE);
    } finally {
      await page.close();
    }
  });

  test('state survives a reload: history, selection, search, projection, comparison and the active tab', async () => {
    const { page, pageErrors } = await openPage();
    try {
      await showNeighbours(page, KING);
      await page.click(nodeSelector(29006));
      await showNeighbours(page, QUEEN);
      await shiftClick(page, nodeSelector(40367));
      await send(page, { type: 'compare', state: COMPARE });
      await send(page, { type: 'projection', state: sampleProjection(500) });
      await selectTab(page, 'projection');
      await page.fill('input[name="search"]', '^·tok4\\d$');
      assert.equal((await canvasData(page)).matches, 10);

      await page.reload();
      await page.waitForSelector('#panel-projection:not([hidden])');
      await page.waitForFunction(() => document.querySelector('canvas.scatter')?.getAttribute('data-points') === '500');
      // Restored first, then ready: the extension need not send anything again.
      assert.deepEqual(await posted(page), [{ type: 'ready' }]);
      assert.equal(await page.getAttribute('#tab-projection', 'aria-selected'), 'true');
      assert.equal(await page.inputValue('input[name="search"]'), '^·tok4\\d$');
      assert.equal((await canvasData(page)).matches, 10);

      await selectTab(page, 'graph');
      assert.equal(await centreId(page), '29006');
      assert.equal(await page.locator('svg.graph g.node').count(), QUEEN.k + 1);
      assert.deepEqual(await page.$$eval('g.node.selected', (gs) => gs.map((g) => g.getAttribute('data-id'))), ['40367']);
      await page.click('button.back');
      assert.equal(await centreId(page), '11734');
      await selectTab(page, 'compare');
      assert.equal(await page.textContent('.jaccard .value'), '0.45');
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('busy and error messages show inline and clear with the next result', async () => {
    const { page } = await openPage();
    try {
      await showNeighbours(page, KING);
      await send(page, { type: 'busy', message: 'Computing UMAP of 5,000 points…' });
      await page.waitForSelector('.busy:not([hidden])');
      assert.equal(await page.textContent('.busy .message'), 'Computing UMAP of 5,000 points…');
      await send(page, { type: 'error', message: 'The model has no output embeddings (lm_head is tied).' });
      await page.waitForSelector('.error:not([hidden])');
      assert.equal(await page.isVisible('.busy'), false);
      assert.equal(await page.textContent('.error'), 'The model has no output embeddings (lm_head is tied).');
      assert.equal(await page.getAttribute('.error', 'role'), 'alert');
      // What was drawn stays.
      assert.equal(await page.locator('svg.graph g.node').count(), KING.k + 1);
      await showNeighbours(page, QUEEN);
      assert.equal(await page.isVisible('.error'), false);
    } finally {
      await page.close();
    }
  });

  test('compact layout for a side view: the list goes under the graph', async () => {
    const { page } = await openPage({ theme: 'dark', width: 360, height: 720 });
    try {
      await send(page, { type: 'layout', compact: true });
      await showNeighbours(page, KING);
      assert.equal(await page.locator('main.compact').count(), 1);
      const graph = (await page.locator('.graph-view').boundingBox())!;
      const list = (await page.locator('.neighbour-list').boundingBox())!;
      assert.ok(list.y >= graph.y + graph.height - 1, 'the list is below the graph');
      assert.ok(graph.width > 300);
      await page.screenshot({ path: path.join(RESULTS_DIR, 'neighbourhood-compact-dark.png') });
    } finally {
      await page.close();
    }
  });

  test('a big neighbourhood (k = 200) lays out and labels only the closest', async () => {
    const { page } = await openPage();
    try {
      const neighbours = Array.from({ length: 200 }, (_, i) => ({ id: 5000 + i, token: `Ġw${i}`, score: 0.9 - i * 0.003 }));
      const edges = neighbours.slice(0, 100).map((n, i) => ({ source: n.id, target: 5000 + ((i * 7 + 3) % 200), score: 0.6 }));
      const started = Date.now();
      await showNeighbours(page, { ...KING, k: 200, neighbours, edges, threshold: 0.5 });
      const ms = Date.now() - started;
      assert.equal(await page.locator('svg.graph g.node').count(), 201);
      assert.equal(await page.locator('svg.graph g.node.minor').count(), 160);
      assert.ok(ms < 5000, `layout took ${ms} ms`);
    } finally {
      await page.close();
    }
  });

  test('screenshots: light, dark and high contrast', async () => {
    for (const theme of ['light', 'dark', 'hc'] as const) {
      const { page, cspViolations, pageErrors } = await openPage({ theme, width: 1100, height: 680 });
      try {
        await showNeighbours(page, KING);
        await page.click(nodeSelector(29006));
        await showNeighbours(page, QUEEN);
        await shiftClick(page, nodeSelector(40367));
        await shiftClick(page, nodeSelector(99361));
        await page.hover(nodeSelector(37965));
        await page.screenshot({ path: path.join(RESULTS_DIR, `neighbourhood-graph-${theme}.png`) });

        await send(page, { type: 'projection', state: sampleProjection(4000) });
        await selectTab(page, 'projection');
        await page.fill('input[name="search"]', '^·tok1\\d\\d$');
        await page.waitForFunction(() => document.querySelector('canvas.scatter')?.getAttribute('data-matches') === '100');
        await page.screenshot({ path: path.join(RESULTS_DIR, `neighbourhood-projection-${theme}.png`) });
        await page.fill('input[name="search"]', '[tok');
        await send(page, { type: 'busy', message: 'Computing UMAP of 5,000 points…' });
        await page.screenshot({ path: path.join(RESULTS_DIR, `neighbourhood-projection-${theme}-error.png`) });

        await send(page, { type: 'compare', state: COMPARE });
        await selectTab(page, 'compare');
        await page.hover('section.side[data-side="left"] li:nth-child(3)');
        await page.screenshot({ path: path.join(RESULTS_DIR, `neighbourhood-compare-${theme}.png`) });
        assert.deepEqual(cspViolations, []);
        assert.deepEqual(pageErrors, []);
      } finally {
        await page.close();
      }
    }
  });
});
