/**
 * The HTML shell of every Model Lens webview: a strict Content Security Policy (`default-src 'none'`, scripts only
 * by nonce, styles, images and fonts only from the webview's own resource origin), one stylesheet and one script.
 * Pure: the extension passes in what it got from `webview.cspSource` and `webview.asWebviewUri`.
 */
import { randomInt } from 'node:crypto';
import type * as vscode from 'vscode';

export interface WebviewHtmlOptions {
  /** `webview.cspSource`. */
  cspSource: string;
  /** The bundled script, through `webview.asWebviewUri`. */
  scriptUri: vscode.Uri | string;
  /** The stylesheet, through `webview.asWebviewUri`. */
  styleUri: vscode.Uri | string;
  /** From `makeNonce()`, fresh for every render. */
  nonce: string;
  title: string;
}

const NONCE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** 32 characters from a cryptographic random source, for the CSP `script-src 'nonce-…'`. */
export function makeNonce(): string {
  let nonce = '';
  for (let i = 0; i < 32; i++) nonce += NONCE_ALPHABET[randomInt(NONCE_ALPHABET.length)];
  return nonce;
}

/** Escapes text for element content and double-quoted attribute values. */
function escapeHtml(value: string): string {
  return value.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function buildWebviewHtml(options: WebviewHtmlOptions): string {
  const { cspSource, nonce, title } = options;
  if (!/^[A-Za-z0-9+/_=-]+$/.test(nonce)) throw new Error(`A CSP nonce must be base64 characters, got "${nonce}".`);
  if (cspSource.includes(';')) throw new Error(`A CSP source must not contain ";", got "${cspSource}".`);
  const csp = [
    "default-src 'none'",
    `style-src ${cspSource}`,
    `script-src 'nonce-${nonce}'`,
    `img-src ${cspSource} data:`,
    `font-src ${cspSource}`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)};">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${escapeHtml(String(options.styleUri))}">
<title>${escapeHtml(title)}</title>
</head>
<body>
<main id="root"></main>
<script nonce="${nonce}" src="${escapeHtml(String(options.scriptUri))}"></script>
</body>
</html>
`;
}
