/**
 * Serves one webview the way VS Code shows it and opens it in Debian Chromium through playwright-core:
 * - bundles `webview/<name>/main.ts` with esbuild, as scripts/build.mjs does;
 * - serves it on 127.0.0.1 inside the HTML that `buildWebviewHtml` makes, so the strict CSP applies;
 * - stubs `acquireVsCodeApi` (posted messages land in `window.__posted`; getState / setState use sessionStorage,
 *   so state survives a reload as it does when VS Code hides and shows a webview);
 * - themes the page with the --vscode-* variables and body class of VS Code's light, dark and high-contrast themes.
 *
 * Used by the webview tests (test/unit/*Webview.test.ts).
 */
import { CHROMIUM_FLAGS, CHROMIUM_PATH } from './chromium';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildWebviewHtml, makeNonce } from '../../extension/webviewHtml';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Screenshots go here (gitignored). */
export const RESULTS_DIR = path.join(REPO_ROOT, 'test-results');
export const CHROMIUM = CHROMIUM_PATH;
/** For `describe(…, { skip })`: false when Chromium is there, else why the browser tests are skipped. */
export const CHROMIUM_SKIP: false | string = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed`;

export type ThemeName = 'light' | 'dark' | 'hc';

const COMMON = {
  'font-family': 'system-ui, "DejaVu Sans", sans-serif',
  'font-size': '13px',
  'editor-font-family': '"DejaVu Sans Mono", monospace',
  'editor-font-size': '13px',
};

/** Colours of VS Code's Light Modern, Dark Modern and Dark High Contrast themes. */
export const THEMES: Record<ThemeName, { bodyClass: string; vars: Record<string, string> }> = {
  light: {
    bodyClass: 'vscode-light',
    vars: {
      ...COMMON,
      foreground: '#3b3b3b',
      descriptionForeground: '#717171',
      errorForeground: '#f85149',
      'sideBar-background': '#f8f8f8',
      'editor-background': '#ffffff',
      focusBorder: '#005fb8',
      'charts-blue': '#1a85ff',
      'charts-red': '#e51400',
      'charts-green': '#388a34',
      'charts-yellow': '#bf8803',
      'charts-orange': '#d18616',
      'charts-purple': '#652d90',
      'button-background': '#005fb8',
      'button-foreground': '#ffffff',
      'button-hoverBackground': '#0258a8',
      'button-secondaryBackground': '#e5e5e5',
      'button-secondaryForeground': '#3b3b3b',
      'button-secondaryHoverBackground': '#cccccc',
      'button-border': '#0000001a',
      'widget-border': '#e5e5e5',
      'widget-shadow': '#00000029',
      'badge-background': '#cccccc',
      'badge-foreground': '#3b3b3b',
      'input-background': '#ffffff',
      'input-foreground': '#3b3b3b',
      'input-border': '#cecece',
      'dropdown-background': '#ffffff',
      'dropdown-foreground': '#3b3b3b',
      'dropdown-border': '#cecece',
      'list-hoverBackground': '#f2f2f2',
      'panelTitle-activeForeground': '#3b3b3b',
      'panelTitle-activeBorder': '#005fb8',
      'progressBar-background': '#005fb8',
      'textLink-foreground': '#005fb8',
      'textLink-activeForeground': '#005fb8',
      'toolbar-hoverBackground': '#b8b8b850',
      'editorHoverWidget-background': '#f8f8f8',
      'editorHoverWidget-foreground': '#3b3b3b',
      'editorHoverWidget-border': '#c8c8c8',
      'inputValidation-errorBackground': '#f2dede',
      'inputValidation-errorBorder': '#be1100',
    },
  },
  dark: {
    bodyClass: 'vscode-dark',
    vars: {
      ...COMMON,
      foreground: '#cccccc',
      descriptionForeground: '#9d9d9d',
      errorForeground: '#f85149',
      'sideBar-background': '#181818',
      'editor-background': '#1f1f1f',
      focusBorder: '#0078d4',
      'charts-blue': '#3794ff',
      'charts-red': '#f14c4c',
      'charts-green': '#89d185',
      'charts-yellow': '#cca700',
      'charts-orange': '#d18616',
      'charts-purple': '#b180d7',
      'button-background': '#0078d4',
      'button-foreground': '#ffffff',
      'button-hoverBackground': '#026ec1',
      'button-secondaryBackground': '#313131',
      'button-secondaryForeground': '#cccccc',
      'button-secondaryHoverBackground': '#3c3c3c',
      'button-border': '#ffffff12',
      'widget-border': '#313131',
      'widget-shadow': '#0000005c',
      'badge-background': '#616161',
      'badge-foreground': '#f8f8f8',
      'input-background': '#313131',
      'input-foreground': '#cccccc',
      'input-border': '#3c3c3c',
      'dropdown-background': '#313131',
      'dropdown-foreground': '#cccccc',
      'dropdown-border': '#3c3c3c',
      'list-hoverBackground': '#2a2d2e',
      'panelTitle-activeForeground': '#cccccc',
      'panelTitle-activeBorder': '#0078d4',
      'progressBar-background': '#0078d4',
      'textLink-foreground': '#4daafc',
      'textLink-activeForeground': '#4daafc',
      'toolbar-hoverBackground': '#5a5d5e50',
      'editorHoverWidget-background': '#202020',
      'editorHoverWidget-foreground': '#cccccc',
      'editorHoverWidget-border': '#454545',
      'inputValidation-errorBackground': '#5a1d1d',
      'inputValidation-errorBorder': '#be1100',
    },
  },
  hc: {
    bodyClass: 'vscode-high-contrast',
    vars: {
      ...COMMON,
      foreground: '#ffffff',
      descriptionForeground: '#ffffffb3',
      errorForeground: '#f48771',
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
      'button-background': '#000000',
      'button-foreground': '#ffffff',
      'button-border': '#6fc3df',
      'widget-border': '#6fc3df',
      'badge-background': '#000000',
      'badge-foreground': '#ffffff',
      'input-background': '#000000',
      'input-foreground': '#ffffff',
      'input-border': '#6fc3df',
      'dropdown-background': '#000000',
      'dropdown-foreground': '#ffffff',
      'dropdown-border': '#6fc3df',
      'panelTitle-activeForeground': '#ffffff',
      'panelTitle-activeBorder': '#6fc3df',
      'progressBar-background': '#6fc3df',
      'textLink-foreground': '#21a6ff',
      'textLink-activeForeground': '#21a6ff',
      'editorHoverWidget-background': '#0c141f',
      'editorHoverWidget-foreground': '#ffffff',
      'editorHoverWidget-border': '#6fc3df',
      'inputValidation-errorBackground': '#000000',
      'inputValidation-errorBorder': '#f48771',
    },
  },
};

/** Stands in for VS Code's webview API. Runs before the bundle, by nonce, like any other script on the page. */
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

function themeCss(theme: ThemeName): string {
  const vars = Object.entries(THEMES[theme].vars)
    .map(([k, v]) => `  --vscode-${k}: ${v};`)
    .join('\n');
  return `:root {\n${vars}\n}\n`;
}

export interface WebviewPageOptions {
  /** The webview's folder under webview/ (its bundle is `<name>.js`). */
  name: string;
  /** Its stylesheet, relative to the repository root: "media/tokenStrip.css". */
  css: string;
  title: string;
}

export interface OpenedPage {
  page: Page;
  /** Console messages about the Content Security Policy: any one means the webview would break in VS Code. */
  cspViolations: string[];
  /** Uncaught exceptions on the page. */
  pageErrors: string[];
}

export interface OpenOptions {
  theme?: ThemeName;
  width?: number;
  height?: number;
}

export class WebviewPageServer {
  private constructor(
    private readonly tempDir: string,
    /** The bundled script. */
    readonly bundlePath: string,
    private readonly server: Server,
    readonly origin: string,
    private readonly browser: Browser,
  ) {}

  /** Bundles the webview, starts the HTTP server and launches Chromium. Call `close()` when done. */
  static async start(options: WebviewPageOptions): Promise<WebviewPageServer> {
    const tempDir = await mkdtemp(path.join(tmpdir(), `model-lens-${options.name}-`));
    const bundlePath = path.join(tempDir, `${options.name}.js`);
    await build({
      entryPoints: [path.join(REPO_ROOT, 'webview', options.name, 'main.ts')],
      bundle: true,
      format: 'iife',
      platform: 'browser',
      target: 'es2022',
      minify: true,
      outfile: bundlePath,
      logLevel: 'silent',
    });
    const bundle = await readFile(bundlePath);
    const css = await readFile(path.join(REPO_ROOT, options.css));
    const panelCss = await readFile(path.join(REPO_ROOT, 'media/panel.css'));
    let origin = '';
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', origin);
      const send = (type: string, body: string | Buffer) => {
        res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
        res.end(body);
      };
      const theme = /^\/theme-(light|dark|hc)\.css$/.exec(url.pathname)?.[1] as ThemeName | undefined;
      if (url.pathname === '/') send('text/html; charset=utf-8', pageHtml(options, origin, url.searchParams));
      else if (url.pathname === `/${options.name}.js`) send('text/javascript; charset=utf-8', bundle);
      else if (url.pathname === `/${options.name}.css`) send('text/css; charset=utf-8', css);
      else if (url.pathname === '/panel.css') send('text/css; charset=utf-8', panelCss); // the shared base some panels @import
      else if (theme) send('text/css; charset=utf-8', themeCss(theme));
      else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_FLAGS,
    });
    await mkdir(RESULTS_DIR, { recursive: true });
    return new WebviewPageServer(tempDir, bundlePath, server, origin, browser);
  }

  async bundleSize(): Promise<number> {
    return (await stat(this.bundlePath)).size;
  }

  /** Opens the webview in a new page and waits until it has posted its first message (`ready`). */
  async open(options: OpenOptions = {}): Promise<OpenedPage> {
    const { theme = 'light', width = 440, height = 600 } = options;
    const page = await this.browser.newPage({ viewport: { width, height }, deviceScaleFactor: 2 });
    const cspViolations: string[] = [];
    const pageErrors: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.goto(`${this.origin}/?theme=${theme}`);
    await page.waitForFunction(() => (window as unknown as { __posted: unknown[] }).__posted.length > 0);
    return { page, cspViolations, pageErrors };
  }

  async close(): Promise<void> {
    await this.browser.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await rm(this.tempDir, { recursive: true, force: true });
  }
}

function pageHtml(options: WebviewPageOptions, origin: string, params: URLSearchParams): string {
  const theme = (params.get('theme') ?? 'light') as ThemeName;
  const nonce = makeNonce();
  const html = buildWebviewHtml({
    cspSource: origin,
    scriptUri: `${origin}/${options.name}.js`,
    styleUri: `${origin}/${options.name}.css`,
    nonce,
    title: options.title,
  });
  return html
    .replace(
      '</head>',
      `<link rel="stylesheet" href="${origin}/theme-${theme}.css">\n<script nonce="${nonce}">${STUB}</script>\n</head>`,
    )
    .replace('<body>', `<body class="${THEMES[theme]?.bodyClass ?? THEMES.light.bodyClass}">`);
}

/** Everything the webview has posted so far, oldest first. */
export async function postedMessages<T>(page: Page): Promise<T[]> {
  return page.evaluate(() => (window as unknown as { __posted: unknown[] }).__posted) as Promise<T[]>;
}
