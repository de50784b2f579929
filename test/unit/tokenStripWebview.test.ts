/**
 * The token strip webview in a real browser (test/support/webviewPage.ts): bundled with esbuild, served inside the
 * HTML that `buildWebviewHtml` makes (so the strict CSP applies), with `acquireVsCodeApi` stubbed, in Debian Chromium
 * through playwright-core. Screenshots of the light, dark and high-contrast renderings go to
 * test-results/.
 *
 * Run: node --import tsx --test test/unit/tokenStripWebview.test.ts
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { buildWebviewHtml, makeNonce } from '../../extension/webviewHtml';
import type { TokenizationResult } from '../../server/protocol';
import type { FromTokenStrip, TokenStripState } from '../../webview/messages';
import {
  CHROMIUM_SKIP,
  postedMessages,
  RESULTS_DIR,
  WebviewPageServer,
  type OpenedPage,
  type ThemeName,
} from '../support/webviewPage';

// ---- data: real tokenizations of one text, ids and offsets as the tokenizers produce them --------------------------

const TEXT = 'Hello world\n\tis tokenized';

const llama3: TokenizationResult = {
  modelId: '/models/llama3',
  modelName: 'Llama 3',
  count: 6,
  tokens: [
    { id: 9906, text: 'Hello', start: 0, end: 5, special: false },
    { id: 1917, text: 'Ġworld', start: 5, end: 11, special: false },
    { id: 198, text: 'Ċ', start: 11, end: 12, special: false },
    { id: 20501, text: 'ĉis', start: 12, end: 15, special: false },
    { id: 4037, text: 'Ġtoken', start: 15, end: 21, special: false },
    { id: 1534, text: 'ized', start: 21, end: 25, special: false },
  ],
};

const gemma3: TokenizationResult = {
  modelId: '/models/gemma3',
  modelName: 'Gemma 3',
  count: 8,
  tokens: [
    { id: 2, text: '<bos>', start: 0, end: 0, special: true },
    { id: 9259, text: 'Hello', start: 0, end: 5, special: false },
    { id: 1902, text: '▁world', start: 5, end: 11, special: false },
    { id: 107, text: '\n', start: 11, end: 12, special: false },
    { id: 255968, text: '\t', start: 12, end: 13, special: false },
    { id: 511, text: 'is', start: 13, end: 15, special: false },
    { id: 8369, text: '▁token', start: 15, end: 21, special: false },
    { id: 1662, text: 'ized', start: 21, end: 25, special: false },
  ],
};

const COMPARISON: TokenStripState = { text: TEXT, results: [llama3, gemma3], source: 'prompt.py, line 3' };

/** A long input: more tokens than the strip draws. */
function longState(tokens: number): TokenStripState {
  const text = 'ab'.repeat(tokens);
  return {
    text,
    results: [
      {
        modelId: '/models/long',
        modelName: 'Long',
        count: tokens,
        tokens: Array.from({ length: tokens }, (_, i) => ({
          id: 1000 + i,
          text: 'ab',
          start: 2 * i,
          end: 2 * i + 2,
          special: false,
        })),
      },
    ],
  };
}

let pages: WebviewPageServer;

async function openPage(theme: ThemeName = 'light', width = 440): Promise<OpenedPage> {
  return pages.open({ theme, width });
}

async function show(page: Page, state: TokenStripState): Promise<void> {
  await page.evaluate((s) => window.postMessage({ type: 'show', state: s }, '*'), state);
  await page.waitForFunction((n) => document.querySelectorAll('section.row').length === n, state.results.length);
}

async function posted(page: Page): Promise<FromTokenStrip[]> {
  return postedMessages<FromTokenStrip>(page);
}

async function rowTexts(page: Page, selector: string): Promise<string[][]> {
  return page.$$eval(
    'section.row',
    (rows, sel) => rows.map((r) => Array.from(r.querySelectorAll(sel), (e) => e.textContent ?? '')),
    selector,
  );
}

describe('token strip webview in Chromium', { skip: CHROMIUM_SKIP }, () => {
  before(async () => {
    pages = await WebviewPageServer.start({ name: 'tokenStrip', css: 'media/tokenStrip.css', title: 'Token strip' });
  });

  after(async () => {
    await pages?.close();
  });

  test('the bundle stays small (d3-selection only)', async () => {
    const size = await pages.bundleSize();
    assert.ok(size < 40_000, `bundle is ${size} bytes`);
  });

  test('an empty view shows a hint and says it is ready', async () => {
    const { page, cspViolations, pageErrors } = await openPage();
    try {
      assert.equal(await page.textContent('.empty .hint'), 'Select text and run Model Lens: Tokenize Selection');
      assert.equal(await page.locator('section.row').count(), 0);
      assert.deepEqual(await posted(page), [{ type: 'ready' }]);
      await page.screenshot({ path: path.join(RESULTS_DIR, 'token-strip-empty-light.png') });
      assert.deepEqual(cspViolations, []);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('a comparison draws one chip per token, visible whitespace, ids and a summary', async () => {
    const { page, cspViolations, pageErrors } = await openPage();
    try {
      await show(page, COMPARISON);
      assert.equal(await page.locator('.empty').count(), 0);

      const pieces = await rowTexts(page, 'button.chip .piece');
      assert.deepEqual(
        pieces.map((r) => r.length),
        [llama3.count, gemma3.count],
      );
      assert.deepEqual(pieces[0], ['Hello', '·world', '↵', '⇥is', '·token', 'ized']);
      assert.deepEqual(pieces[1], ['<bos>', 'Hello', '·world', '↵', '⇥', 'is', '·token', 'ized']);

      const ids = await rowTexts(page, 'button.chip .id');
      assert.deepEqual(ids[0], ['9906', '1917', '198', '20501', '4037', '1534']);
      assert.deepEqual(ids[1]![0], '2special');
      assert.deepEqual(ids[1]!.slice(1), ['9259', '1902', '107', '255968', '511', '8369', '1662']);

      // The special token is marked, and only it.
      assert.deepEqual(
        await page.$$eval('section.row:nth-of-type(2) button.chip', (cs) =>
          cs.map((c) => c.classList.contains('special')),
        ),
        [true, false, false, false, false, false, false, false],
      );

      // Header rows: name, count, characters per token.
      assert.deepEqual(await rowTexts(page, '.row-head .name'), [['Llama 3'], ['Gemma 3']]);
      assert.deepEqual(await rowTexts(page, '.row-head .stats'), [
        ['6 tokens · 4.17 chars/token'],
        ['8 tokens · 3.13 chars/token'],
      ]);

      // Comparison summary: counts and the ratio against the first tokenizer.
      const summary = await page.$$eval('table.compare tr', (trs) =>
        trs.map((tr) => Array.from(tr.querySelectorAll('th, td.count, td.ratio'), (c) => c.textContent)),
      );
      assert.deepEqual(summary, [
        ['Llama 3', '6', 'baseline'],
        ['Gemma 3', '8', '×1.33 vs first'],
      ]);
      assert.equal(await page.textContent('.summary .source'), '25 characters · prompt.py, line 3');

      // Tooltips: piece, id, span.
      assert.equal(
        await page.getAttribute('section.row:nth-of-type(1) button.chip:nth-child(2)', 'title'),
        'Ġworld · id 1917 · chars 5–11',
      );

      // setState was called with exactly what was shown.
      const calls = await page.evaluate(() => (window as unknown as { __setStateCalls: unknown[] }).__setStateCalls);
      assert.deepEqual(calls, [COMPARISON]);

      assert.deepEqual(cspViolations, []);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('chips are reachable by keyboard; Enter reveals the span; hover links spans across tokenizers', async () => {
    const { page } = await openPage();
    try {
      await show(page, COMPARISON);
      const firstRowChips = 'section.row:nth-of-type(1) button.chip';
      // One tab stop per row (roving tabindex).
      assert.deepEqual(await page.$$eval(firstRowChips, (cs) => cs.map((c) => c.getAttribute('tabindex'))), [
        '0',
        '-1',
        '-1',
        '-1',
        '-1',
        '-1',
      ]);

      await page.focus(`${firstRowChips}[tabindex="0"]`);
      await page.keyboard.press('ArrowRight');
      const focused = () => page.evaluate(() => document.activeElement?.querySelector('.piece')?.textContent ?? null);
      assert.equal(await focused(), '·world');
      assert.deepEqual(await page.$$eval(firstRowChips, (cs) => cs.map((c) => c.getAttribute('tabindex'))), [
        '-1',
        '0',
        '-1',
        '-1',
        '-1',
        '-1',
      ]);

      await page.keyboard.press('Enter');
      assert.deepEqual((await posted(page)).at(-1), { type: 'revealSpan', start: 5, end: 11 });

      // Focus highlights the same characters in the other row.
      const linked = () =>
        page.$$eval('button.chip.linked', (cs) => cs.map((c) => c.querySelector('.piece')?.textContent));
      assert.deepEqual(await linked(), ['·world']);

      // ArrowDown moves to the chip covering the same characters in the next tokenizer's row.
      await page.keyboard.press('ArrowDown');
      assert.equal(await focused(), '·world');
      assert.equal(
        await page.evaluate(() => document.activeElement?.closest('section.row')?.getAttribute('data-model')),
        '/models/gemma3',
      );
      await page.keyboard.press('End');
      assert.equal(await focused(), 'ized');
      await page.keyboard.press('Home');
      await page.keyboard.press('Enter');
      assert.deepEqual((await posted(page)).at(-1), { type: 'revealSpan', start: 0, end: 0 });

      // Hovering "⇥is" (12–15) in Llama 3 links Gemma 3's "⇥" and "is".
      await page.hover(`${firstRowChips}:nth-child(4)`);
      assert.deepEqual(await linked(), ['⇥', 'is']);

      // Clicking a chip reveals it too.
      await page.click(`${firstRowChips}:nth-child(5)`);
      assert.deepEqual((await posted(page)).at(-1), { type: 'revealSpan', start: 15, end: 21 });
    } finally {
      await page.close();
    }
  });

  test('copy buttons post ids and JSON', async () => {
    const { page } = await openPage();
    try {
      await show(page, COMPARISON);
      await page.click('section.row:nth-of-type(1) button.copy-ids');
      assert.deepEqual((await posted(page)).at(-1), {
        type: 'copy',
        format: 'ids',
        text: '[9906, 1917, 198, 20501, 4037, 1534]',
      });
      await page.click('section.row:nth-of-type(2) button.copy-json');
      const last = (await posted(page)).at(-1);
      assert.ok(last && last.type === 'copy' && last.format === 'json');
      const json = JSON.parse(last.text) as { text: string; tokenizer: string; tokens: unknown[] };
      assert.equal(json.text, TEXT);
      assert.equal(json.tokenizer, 'Gemma 3');
      assert.deepEqual(json.tokens, gemma3.tokens);
    } finally {
      await page.close();
    }
  });

  test('state survives a reload; errors show inline', async () => {
    const { page } = await openPage();
    try {
      await show(page, COMPARISON);
      await page.reload();
      await page.waitForFunction(() => document.querySelectorAll('section.row').length === 2);
      assert.deepEqual(
        (await rowTexts(page, 'button.chip .piece')).map((r) => r.length),
        [6, 8],
      );
      assert.deepEqual(await posted(page), [{ type: 'ready' }]);

      await page.evaluate(() =>
        window.postMessage({ type: 'error', message: 'Could not read tokenizer.json: unexpected end of JSON.' }, '*'),
      );
      await page.waitForSelector('.error');
      assert.equal(await page.textContent('.error'), 'Could not read tokenizer.json: unexpected end of JSON.');
      assert.equal(await page.getAttribute('.error', 'role'), 'alert');
      assert.equal(await page.locator('section.row').count(), 2);

      // A new result clears the error.
      await show(page, { text: 'Hello', results: [{ ...llama3, count: 1, tokens: [llama3.tokens[0]!] }] });
      assert.equal(await page.locator('.error').count(), 0);
      assert.equal(await page.locator('table.compare').isVisible(), false);
    } finally {
      await page.close();
    }
  });

  test('large inputs are capped with a note', async () => {
    const { page } = await openPage();
    try {
      await show(page, longState(2500));
      assert.equal(await page.locator('button.chip').count(), 2000);
      assert.equal(await page.textContent('section.row .more'), '500 more tokens hidden');
    } finally {
      await page.close();
    }
  });

  test('screenshots: light, dark and high contrast', async () => {
    for (const theme of ['light', 'dark', 'hc'] as const) {
      const { page, cspViolations } = await openPage(theme);
      try {
        await show(page, COMPARISON);
        await page.hover('section.row:nth-of-type(1) button.chip:nth-child(4)');
        await page.screenshot({ path: path.join(RESULTS_DIR, `token-strip-${theme}.png`), fullPage: true });
        await page.evaluate(() =>
          window.postMessage({ type: 'error', message: 'Could not read tokenizer.json: unexpected end of JSON.' }, '*'),
        );
        await page.waitForSelector('.error');
        await page.focus('section.row:nth-of-type(2) button.chip[tabindex="0"]');
        await page.keyboard.press('ArrowRight');
        await page.keyboard.press('ArrowRight');
        await page.screenshot({ path: path.join(RESULTS_DIR, `token-strip-${theme}-error-focus.png`), fullPage: true });
        assert.deepEqual(cspViolations, []);
      } finally {
        await page.close();
      }
    }
  });
});

describe('buildWebviewHtml', () => {
  test('a strict CSP: nothing by default, scripts only by nonce', () => {
    const nonce = makeNonce();
    const html = buildWebviewHtml({
      cspSource: 'https://file+.vscode-resource.vscode-cdn.net',
      scriptUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview/tokenStrip.js',
      styleUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/media/tokenStrip.css',
      nonce,
      title: 'Tokens <&>',
    });
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html)?.[1];
    assert.ok(csp, 'has a CSP meta tag');
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, new RegExp(`script-src 'nonce-${nonce}'`));
    assert.match(csp, /style-src https:\/\/file\+\.vscode-resource\.vscode-cdn\.net;/);
    assert.match(csp, /img-src https:\/\/file\+\.vscode-resource\.vscode-cdn\.net data:;/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    const scripts = html.match(/<script\b[^>]*>/g) ?? [];
    assert.equal(scripts.length, 1);
    assert.ok(scripts[0]!.includes(`nonce="${nonce}"`));
    assert.ok(
      scripts[0]!.includes('src="https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview/tokenStrip.js"'),
    );
    assert.match(
      html,
      /<link rel="stylesheet" href="https:\/\/file\+\.vscode-resource\.vscode-cdn\.net\/ext\/media\/tokenStrip\.css">/,
    );
    assert.match(html, /<title>Tokens &#60;&#38;&#62;<\/title>/);
  });

  test('nonces are 32 random characters', () => {
    const a = makeNonce();
    const b = makeNonce();
    assert.match(a, /^[A-Za-z0-9]{32}$/);
    assert.notEqual(a, b);
  });

  test('refuses values that would break out of the policy', () => {
    const base = { cspSource: 'https://x', scriptUri: 'https://x/a.js', styleUri: 'https://x/a.css', title: 't' };
    assert.throws(() => buildWebviewHtml({ ...base, nonce: `abc' 'unsafe-inline` }));
    assert.throws(() => buildWebviewHtml({ ...base, nonce: 'abc', cspSource: 'https://x; script-src *' }));
  });
});
