/**
 * How the transplant report shows numbers and tokens. Vocabulary pieces go through the same `showPiece` as hovers
 * and the CLI (Ġ/▁ → a visible space ·, Ċ → ↵, stray bytes as <0xNN>).
 */
import { showPiece } from '../../server/tokenization/display';
import type { MethodName } from '../../server/features/transplant/methods/types';

export function tokenLabel(piece: string): string {
  return showPiece(piece);
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

export function formatCosine(c: number): string {
  return Number.isFinite(c) ? c.toFixed(3) : String(c);
}

export function formatPercent(part: number, whole: number): string {
  if (whole <= 0) return '–';
  const p = (100 * part) / whole;
  return p > 0 && p < 0.1 ? '<0.1%' : `${p.toFixed(1)}%`;
}

/** "0.42 s", "12.3 s", "4 min 05 s", "1 h 02 min". */
export function formatSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '–';
  if (s < 10) return `${s.toFixed(2)} s`;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.round(s - 60 * m)).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

/** One colour per method, from the theme's chart palette (CSS variables set in media/transplantReport.css). */
const METHOD_COLOUR_INDEX: Record<MethodName, number> = { omp: 0, knn: 1, subword: 2, mean: 3, aux: 4, zero: 5 };

export function methodColour(method: MethodName): string {
  return `var(--tr-method-${METHOD_COLOUR_INDEX[method] ?? 0})`;
}
