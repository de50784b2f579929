/**
 * How tokens and scores are shown in the neighbourhood views. Vocabulary pieces go through the same `showPiece` as
 * hovers and the CLI: byte-level (Ġ Ċ ĉ) and SentencePiece (▁) markers become the characters they stand for, with
 * whitespace made visible in the token strip's glyphs (space ·, newline ↵, tab ⇥), and stray bytes as <0xNN>.
 */
import { showPiece } from '../../server/tokenization/display';

/** "Ġking" → "·king", "▁new" → "·new", "ĊĊ" → "↵↵", "ĠðŁĺĢ" → "·😀". */
export function tokenLabel(piece: string): string {
  return showPiece(piece);
}

/** Scores as people read them: three decimals for similarities, more significant digits for big dot products. */
export function formatScore(score: number): string {
  if (!Number.isFinite(score)) return String(score);
  const abs = Math.abs(score);
  return abs >= 100 ? score.toFixed(1) : abs >= 10 ? score.toFixed(2) : score.toFixed(3);
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}
