/**
 * Messages between the extension host and the webviews, typed like the server protocol. The extension posts
 * `ToWebview`; the webview posts `FromWebview`.
 */
import type { TokenizationResult } from '../server/protocol';

export interface TokenStripState {
  /** The text that was tokenized (the selection). */
  text: string;
  /** One result per tokenizer; more than one means a comparison. */
  results: TokenizationResult[];
  /** Where the text came from, e.g. "prompt.py, line 3". */
  source?: string;
}

export type ToTokenStrip = { type: 'show'; state: TokenStripState } | { type: 'error'; message: string };

export type FromTokenStrip =
  | { type: 'ready' }
  /** The user picked a token chip (click or Enter): the extension may reveal its span in the editor. */
  | { type: 'revealSpan'; start: number; end: number }
  | { type: 'copy'; format: 'json' | 'ids'; text: string };
