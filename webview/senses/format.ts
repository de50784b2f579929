/**
 * How the Senses views show words and numbers. Words are the decoded text of one token; whitespace is made visible
 * the same way hovers and the token strip do (space ·, newline ↵, tab ⇥).
 */
import { format } from 'd3-format';
import { showPiece } from '../../server/tokenization/display';

/** " Paris" → "·Paris". */
export function wordLabel(token: string): string {
  return showPiece(token);
}

/** Cuts a label to `chars` characters with an ellipsis. */
export function clip(label: string, chars: number): string {
  const glyphs = Array.from(label);
  return glyphs.length <= chars ? label : `${glyphs.slice(0, Math.max(1, chars - 1)).join('')}…`;
}

/** Scores as people read them: more decimals for small numbers. */
export function formatScore(score: number): string {
  if (!Number.isFinite(score)) return String(score);
  const abs = Math.abs(score);
  return abs >= 100 ? score.toFixed(1) : abs >= 10 ? score.toFixed(2) : score.toFixed(3);
}

export const formatAlpha = format('.3f');
export const formatProbability = format('.1%');
export const formatSigned = format('+.3~g');
export const formatCount = format(',');
/** Relative changes like 2.3e-4 or −0.0012. */
export const formatRelative = format('+.2~e');
