/**
 * The token strip webview in a real browser: bundles webview/tokenStrip/main.ts with esbuild, serves it on 127.0.0.1
 * inside the HTML that `buildWebviewHtml` makes (so the strict CSP applies), stubs `acquireVsCodeApi`, and drives
 * Debian Chromium through playwright-core. Screenshots of the light, dark and high-contrast renderings go to
 * test-results/.
 *
 * Run: node --import tsx --test test/unit/tokenStripWebview.test.ts
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildWebviewHtml, makeNonce } from '../../extension/webviewHtml';
import type { TokenizationResult } from '../../server/protocol';
import type { FromTokenStrip, TokenStripState } from '../../webview/messages';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const resultsDir = path.join(repoRoot, 'test-results');
const CHROMIUM = '/usr/bin/chromium';

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

// ---- page: the real webview HTML plus a stub of acquireVsCodeApi and a theme -----------------------------------------

const STUB = `(() => {
  const KEY = 'modelLensTestState';
  window.__posted = [];
  window.__setStateCalls = [];
  window.acquireVsCodeApi = () => ({
    postMessage: (m) => { window.__posted.push(m); },
    getState: () => { const s = sessionStorage.getItem(KEY); return s === null ? undefined : JSON.parse(s); },
    setState: (s) => { window.__setStateCalls.push(s); sessionStorage.setItem(KEY, JSON.stringify(s)); },
  });
})();`;

const THEMES: Record<string, { bodyClass: string; vars: Record<string, string> }> = {
  light: {
    bodyClass: 'vscode-light',
    vars: {
      'font-family': 'system-ui, "DejaVu Sans", sans-serif',
      'font-size': '13px',
      'editor-font-family': '"DejaVu Sans Mono", monospace',
      'editor-font-size': '13px',
      foreground: '#3b3b3b',
      descriptionForeground: '#717171',
      'sideBar-background': '#f8f8f8',
      'editor-background': '#ffffff',
      focusBorder: '#005fb8',
      'charts-blue': '#1a85ff',
      'charts-red': '#e51400',
      'charts-green': '#388a34',
      'charts-yellow': '#bf8803',
      'charts-orange': '#d18616',
      'charts-purple': '#652d90',
      'button-secondaryBackground': '#e5e5e5',
      'button-secondaryForeground': '#3b3b3b',
      'button-secondaryHoverBackground': '#cccccc',
      'button-border': '#0000001a',
      'widget-border': '#e5e5e5',
      'badge-background': '#cccccc',
      'badge-foreground': '#3b3b3b',
      'inputValidation-errorBackground': '#f2dede',
      'inputValidation-errorBorder': '#be1100',
    },
  },
  dark: {
    bodyClass: 'vscode-dark',
    vars: {
      'font-family': 'system-ui, "DejaVu Sans", sans-serif',
      'font-size': '13px',
      'editor-font-family': '"DejaVu Sans Mono", monospace',
      'editor-font-size': '13px',
      foreground: '#cccccc',
      descriptionForeground: '#9d9d9d',
      'sideBar-background': '#181818',
      'editor-background': '#1f1f1f',
      focusBorder: '#0078d4',
      'charts-blue': '#3794ff',
      'charts-red': '#f14c4c',
      'charts-green': '#89d185',
      'charts-yellow': '#cca700',
      'charts-orange': '#d18616',
      'charts-purple': '#b180d7',
      'button-secondaryBackground': '#313131',
      'button-secondaryForeground': '#cccccc',
      'button-secondaryHoverBackground': '#3c3c3c',
      'button-border': '#ffffff12',
      'widget-border': '#313131',
      'badge-background': '#616161',
      'badge-foreground': '#f8f8f8',
      'inputValidation-errorBackground': '#5a1d1d',
      'inputValidation-errorBorder': '#be1100',
    },
  },
  hc: {
    bodyClass: 'vscode-high-contrast',
    vars: {
      'font-family': 'system-ui, "DejaVu Sans", sans-serif',
      'font-size': '13px',
      'editor-font-family': '"DejaVu Sans Mono", monospace',
      'editor-font-size': '13px',
      foreground: '#ffffff',
      descriptionForeground: '#ffffffb3',
      'sideBar-background': '#000000',
      'editor-background': '#000000',
      focusBorder: '#f38518',
      contrastBorder: '#6fc3df',
      contrastActiveBorder: '#f38518',
      'charts-blue': '#3794ff',
      'charts-red': '#f14c4c',
      'charts-green': '#89d185',
      'charts-yellow': '#cca700',
      'charts-orange': '#d18616',
      'charts-purple': '#b180d7',
      'button-border': '#6fc3df',
      'widget-border': '#6fc3df',
      'badge-background': '#000000',
      'badge-foreground': '#ffffff',
    },
  },
};

function themeCss(theme: string): string {
  const vars = Object.entries(THEMES[theme]!.vars)
    .map(([k, v]) => `  --vscode-${k}: ${v};`)
    .join('\n');
  return `:root {\n${vars}\n}\n`;
}

let tempDir = '';
let bundlePath = '';
let server: Server;
let origin = '';
let browser: Browser;

function pageHtml(theme: string): string {
  const nonce = makeNonce();
  const html = buildWebviewHtml({
    cspSource: origin,
    scriptUri: `${origin}/tokenStrip.js`,
    styleUri: `${origin}/tokenStrip.css`,
    nonce,
    title: 'Token strip',
  });
  return html
    .replace(
      '</head>',
      `<link rel="stylesheet" href="${origin}/theme-${theme}.css">\n<script nonce="${nonce}">${STUB}</script>\n</head>`,
    )
    .replace('<body>', `<body class="${THEMES[theme]!.bodyClass}">`);
}

interface Harness {
  page: Page;
  cspViolations: string[];
  pageErrors: string[];
}

async function openPage(theme = 'light', width = 440): Promise<Harness> {
  const page = await browser.newPage({ viewport: { width, height: 600 }, deviceScaleFactor: 2 });
  const cspViolations: string[] = [];
  const pageErrors: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.goto(`${origin}/?theme=${theme}`);
  await page.waitForFunction(() => (window as unknown as { __posted: FromTokenStrip[] }).__posted.length > 0);
  return { page, cspViolations, pageErrors };
}

async function show(page: Page, state: TokenStripState): Promise<void> {
  await page.evaluate((s) => window.postMessage({ type: 'show', state: s }, '*'), state);
  await page.waitForFunction((n) => document.querySelectorAll('section.row').length === n, state.results.length);
}

async function posted(page: Page): Promise<FromTokenStrip[]> {
  return page.evaluate(() => (window as unknown as { __posted: FromTokenStrip[] }).__posted);
}

async function rowTexts(page: Page, selector: string): Promise<string[][]> {
  return page.$$eval(
    'section.row',
    (rows, sel) => rows.map((r) => Array.from(r.querySelectorAll(sel), (e) => e.textContent ?? '')),
    selector,
  );
}

const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed`;

describe('token strip webview in Chromium', { skip }, () => {
  before(async () => {
    tempDir = await mkdtemp(path.join(tmpdir(), 'model-lens-strip-'));
    bundlePath = path.join(tempDir, 'tokenStrip.js');
    await build({
      entryPoints: [path.join(repoRoot, 'webview/tokenStrip/main.ts')],
      bundle: true,
      format: 'iife',
      platform: 'browser',
      target: 'es2022',
      minify: true,
      outfile: bundlePath,
      logLevel: 'silent',
    });
    const bundle = await readFile(bundlePath);
    const css = await readFile(path.join(repoRoot, 'media/tokenStrip.css'));
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', origin);
      const send = (type: string, body: string | Buffer) => {
        res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
        res.end(body);
      };
      if (url.pathname === '/') send('text/html; charset=utf-8', pageHtml(url.searchParams.get('theme') ?? 'light'));
      else if (url.pathname === '/tokenStrip.js') send('text/javascript; charset=utf-8', bundle);
      else if (url.pathname === '/tokenStrip.css') send('text/css; charset=utf-8', css);
      else if (/^\/theme-(light|dark|hc)\.css$/.test(url.pathname))
        send('text/css; charset=utf-8', themeCss(url.pathname.slice(7, -4)));
      else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    });
    await mkdir(resultsDir, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    if (tempDir) await rm(tempDir, { recursive: true, force: true });
  });

  test('the bundle stays small (d3-selection only)', async () => {
    const { size } = await stat(bundlePath);
    assert.ok(size < 40_000, `bundle is ${size} bytes`);
  });

  test('an empty view shows a hint and says it is ready', async () => {
    const { page, cspViolations, pageErrors } = await openPage();
    try {
      assert.equal(await page.textContent('.empty .hint'), 'Select text and run Model Lens: Tokenize Selection');
      assert.equal(await page.locator('section.row').count(), 0);
      assert.deepEqual(await posted(page), [{ type: 'ready' }]);
      await page.screenshot({ path: path.join(resultsDir, 'token-strip-empty-light.png') });
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
    for (const theme of ['light', 'dark', 'hc']) {
      const { page, cspViolations } = await openPage(theme);
      try {
        await show(page, COMPARISON);
        await page.hover('section.row:nth-of-type(1) button.chip:nth-child(4)');
        await page.screenshot({ path: path.join(resultsDir, `token-strip-${theme}.png`), fullPage: true });
        await page.evaluate(() =>
          window.postMessage({ type: 'error', message: 'Could not read tokenizer.json: unexpected end of JSON.' }, '*'),
        );
        await page.waitForSelector('.error');
        await page.focus('section.row:nth-of-type(2) button.chip[tabindex="0"]');
        await page.keyboard.press('ArrowRight');
        await page.keyboard.press('ArrowRight');
        await page.screenshot({ path: path.join(resultsDir, `token-strip-${theme}-error-focus.png`), fullPage: true });
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
