/**
 * The hover's neighbour line: the five nearest neighbours of the token under the cursor, in the first open model
 * whose embedding is already in memory, and a link that opens the Neighbourhood view. A hover never waits for an
 * embedding to load, and gives up on the search after a short budget.
 */
import type { EmbeddingIndex } from '../neighbours/embeddingIndex';
import { findNeighbours } from '../neighbours/neighbours';
import type { OpenedModel } from '../../registry/types';
import { showPiece } from '../../tokenization/display';
import { codeSpan, tokenAtCursor } from './hoverMarkdown';
import { findHoverTarget } from './findHoverTarget';

const NEIGHBOURS = 5;
const BUDGET_MS = 300;

/** Which token the cursor is on, in one model's vocabulary. */
export function cursorToken(model: OpenedModel, text: string, languageId: string, offset: number): number | undefined {
  const target = findHoverTarget(text, languageId, offset);
  if (!target || target.kind !== 'string' || !model.tokenizer) return undefined;
  const whole = model.tokenizer.tokenToId(target.value);
  if (whole !== undefined && whole >= 0) return whole;
  const tokens = model.tokenizer.tokenize(target.value);
  const token = tokens[tokenAtCursor(tokens, target.cursor)];
  return token && !token.special && token.id >= 0 ? token.id : undefined;
}

/** The promise's value, or undefined when it takes longer than `ms`. */
export async function withinBudget<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function neighbourSection(
  index: EmbeddingIndex,
  models: OpenedModel[],
  document: { text: string; languageId: string; offset: number },
): Promise<string | undefined> {
  // Word vectors first: a hovered word is most often asked about there.
  const ready = models
    .filter((model) => model.tokenizer && model.embeddings.input && index.isLoaded(model, 'input'))
    .sort((a, b) => Number(b.format === 'word-vectors') - Number(a.format === 'word-vectors'));
  for (const model of ready) {
    const id = cursorToken(model, document.text, document.languageId, document.offset);
    if (id === undefined) continue;
    const search = findNeighbours(index, model, { kind: 'id', value: String(id) }, { k: NEIGHBOURS, metric: 'cosine', space: 'input' });
    const result = await withinBudget(search.catch(() => undefined), BUDGET_MS);
    if (!result) return undefined;
    const list = result.neighbours.map((neighbour) => `${codeSpan(showPiece(neighbour.token))} ${neighbour.score.toFixed(2)}`).join(' · ');
    const args = encodeURIComponent(JSON.stringify([{ modelId: model.id, id }]));
    return `**Neighbours** of ${codeSpan(showPiece(result.query.label))} in ${model.name}: ${list} — [Show neighbourhood](command:modelLens.showNeighbourhood?${args})`;
  }
  return undefined;
}
