/**
 * What "Copy JSON" and "Copy CSV" put on the clipboard for each tab. CSV follows RFC 4180: fields holding a comma,
 * a quote, a line break or leading / trailing whitespace are quoted, quotes doubled, lines end in CRLF. Tokens are
 * copied raw ("Ġking"), exactly as the vocabulary has them.
 */
import type { CompareState, NeighboursState, ProjectionState } from '../neighbourhoodMessages';
import { tokenLabel } from './label';

export function csvField(value: string | number): string {
  const text = String(value);
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csv(header: string[], rows: (string | number)[][]): string {
  return [header, ...rows].map((row) => row.map(csvField).join(',')).join('\r\n') + '\r\n';
}

export function neighboursCsv(state: NeighboursState): string {
  return csv(
    ['rank', 'id', 'token', state.metric === 'euclidean' ? 'distance' : state.metric],
    state.neighbours.map((n, i) => [i + 1, n.id, n.token, n.score]),
  );
}

export function projectionCsv(state: ProjectionState): string {
  return csv(
    ['id', 'token', 'x', 'y'],
    state.points.map((p) => [p.id, p.token, p.x, p.y]),
  );
}

export function compareCsv(state: CompareState): string {
  const shared = sharedTokens(state);
  const rows: (string | number)[][] = [];
  for (const [side, data] of [
    ['left', state.left],
    ['right', state.right],
  ] as const) {
    data.neighbours.forEach((n, i) => {
      rows.push([side, data.model.name, i + 1, n.id, n.token, n.score, shared.has(tokenLabel(n.token)) ? 'yes' : 'no']);
    });
  }
  return csv(['side', 'model', 'rank', 'id', 'token', 'score', 'shared'], rows);
}

/**
 * The tokens in both neighbour lists, as the text they stand for (`tokenLabel`): ids differ between vocabularies,
 * and so do the markers (Llama 3's "Ġqueen" is Gemma's "▁queen", both " queen").
 */
export function sharedTokens(state: CompareState): Set<string> {
  const right = new Set(state.right.neighbours.map((n) => tokenLabel(n.token)));
  return new Set(state.left.neighbours.map((n) => tokenLabel(n.token)).filter((t) => right.has(t)));
}

export function asJson(value: NeighboursState | ProjectionState | CompareState): string {
  return JSON.stringify(value, null, 2);
}
