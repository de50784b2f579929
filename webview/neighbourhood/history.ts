/**
 * The graph's back / forward history: the neighbourhoods the user has walked through, newest last.
 *
 * A state for the query the user is at (new k, metric or space; the reply to a back / forward) refreshes that entry;
 * a state for another query is a new step, which drops the forward entries, as a browser does.
 */
import type { NeighbourhoodQuery, NeighboursState } from '../neighbourhoodMessages';

export const HISTORY_LIMIT = 50;

export interface NeighbourHistory {
  entries: NeighboursState[];
  /** The entry shown; -1 when there is none. */
  index: number;
}

export const EMPTY_HISTORY: NeighbourHistory = { entries: [], index: -1 };

export function sameQuery(
  a: { model: { id: string }; query: NeighbourhoodQuery },
  b: { model: { id: string }; query: NeighbourhoodQuery },
): boolean {
  if (a.model.id !== b.model.id || a.query.kind !== b.query.kind) return false;
  if (a.query.id !== undefined && b.query.id !== undefined) return a.query.id === b.query.id;
  return a.query.label === b.query.label;
}

export function currentEntry(history: NeighbourHistory): NeighboursState | null {
  return history.entries[history.index] ?? null;
}

/** Records a state that arrived: refreshes the current entry when it is the same query, else pushes a new step. */
export function recordState(history: NeighbourHistory, state: NeighboursState): NeighbourHistory {
  const current = currentEntry(history);
  if (current && sameQuery(current, state)) {
    const entries = history.entries.slice();
    entries[history.index] = state;
    return { entries, index: history.index };
  }
  const entries = [...history.entries.slice(0, history.index + 1), state].slice(-HISTORY_LIMIT);
  return { entries, index: entries.length - 1 };
}

export function canStep(history: NeighbourHistory, delta: -1 | 1): boolean {
  const next = history.index + delta;
  return next >= 0 && next < history.entries.length;
}

/** Moves back (-1) or forward (+1); the same history when there is nowhere to go. */
export function stepHistory(history: NeighbourHistory, delta: -1 | 1): NeighbourHistory {
  return canStep(history, delta) ? { entries: history.entries, index: history.index + delta } : history;
}
