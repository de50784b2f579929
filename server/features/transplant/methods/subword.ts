/**
 * `subword` (FVT, and the reference's subword method): re-tokenise the new token's text with the base tokenizer and
 * combine the pieces' base rows:
 * - 'mean': the plain mean (FVT);
 * - 'length-weighted': weights proportional to each piece's length in bytes;
 * - 'first-last': the input embedding takes the last piece (after reading the token, the model is where it would be
 *   after its last piece) and the output head the first piece (before the token, the base model would predict its
 *   first piece).
 * A token whose bytes are not valid UTF-8 (a fragment of a character) is split into the base's single-byte tokens.
 * In the self-check, a held-out token must not be rebuilt from itself: a piece that is a held-out token is split
 * again, at the point that gives the fewest pieces.
 */
import { meanRow, recipeParts, weightedSum, yieldToEventLoop } from './rows';
import type { ApproximationTask, MethodControl, MethodOptions, SubwordCombine, TokenRecipe, TransplantMethod } from './types';
import type { TokenizerHandle } from '../../../tokenization/tokenizer';
import { ModelLensError } from '../../../errors';

const singleByteTokens = new WeakMap<TokenizerHandle, Map<number, number>>();

/** Byte value → id of a (non-special) token standing for exactly that byte. */
function byteTokenIds(tokenizer: TokenizerHandle): Map<number, number> {
  let map = singleByteTokens.get(tokenizer);
  if (map) return map;
  map = new Map();
  const maxId = tokenizer.facts.maxTokenId ?? tokenizer.facts.vocabSize - 1;
  for (let id = 0; id <= maxId; id++) {
    if (tokenizer.isSpecial(id) || tokenizer.idToToken(id) === undefined) continue;
    const bytes = tokenizer.tokenBytes(id);
    if (bytes.length === 1 && !map.has(bytes[0])) map.set(bytes[0], id);
  }
  singleByteTokens.set(tokenizer, map);
  return map;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

interface Piece {
  id: number;
  bytes: number;
}

/** The base pieces of `text`, none of them excluded (excluded pieces are split again). */
function piecesOf(base: TokenizerHandle, text: string, excluded: ReadonlySet<number> | undefined, depth = 0): Piece[] {
  const spans = base.tokenize(text);
  const out: Piece[] = [];
  for (const span of spans) {
    const pieceText = text.slice(span.start, span.end);
    if (!excluded?.has(span.id)) {
      out.push({ id: span.id, bytes: base.tokenBytes(span.id).length || 1 });
      continue;
    }
    const chars = Array.from(pieceText);
    if (chars.length < 2 || depth > 4) continue; // a single held-out character has no smaller pieces
    let best: Piece[] | undefined;
    for (let cut = 1; cut < chars.length; cut++) {
      const left = piecesOf(base, chars.slice(0, cut).join(''), excluded, depth + 1);
      const right = piecesOf(base, chars.slice(cut).join(''), excluded, depth + 1);
      const total = left.length + right.length;
      if (total > 0 && (!best || total < best.length)) best = [...left, ...right];
    }
    if (best) out.push(...best);
  }
  return out;
}

function combineWeights(pieces: Piece[], combine: SubwordCombine, matrix: 'input' | 'output'): number[] {
  const m = pieces.length;
  switch (combine) {
    case 'mean':
      return pieces.map(() => 1 / m);
    case 'length-weighted': {
      const total = pieces.reduce((s, p) => s + p.bytes, 0);
      return pieces.map((p) => p.bytes / total);
    }
    case 'first-last':
      return pieces.map((_, i) => ((matrix === 'input' ? i === m - 1 : i === 0) ? 1 : 0));
  }
}

export const SUBWORD_COMBINES: readonly SubwordCombine[] = ['mean', 'length-weighted', 'first-last'];

export function subwordMethod(options: MethodOptions = {}): TransplantMethod {
  const combine = options.subwordCombine ?? 'mean';
  if (!SUBWORD_COMBINES.includes(combine)) throw new ModelLensError('usage', `unknown subword combination "${combine}"; use ${SUBWORD_COMBINES.join(', ')}`);
  return {
    name: 'subword',
    description: `re-tokenise with the base tokenizer, ${combine === 'mean' ? 'mean of the pieces (FVT)' : combine === 'length-weighted' ? 'pieces weighted by length' : 'last piece for the input, first for the output'}`,
    needsDonorEmbeddings: false,
    async approximate(task: ApproximationTask, control: MethodControl = {}) {
      const { space, targetDonorIds, baseTokenizer, donorTokenizer, excludedBaseIds } = task;
      const targets = targetDonorIds.length;
      const rows = new Float32Array(targets * space.baseDim);
      const recipes: TokenRecipe[] | undefined = task.recipes ? [] : undefined;
      const scratch = new Float64Array(space.baseDim);
      let mean: Float32Array | undefined;
      const baseToken = (id: number) => baseTokenizer.idToToken(id) ?? '';
      for (let t = 0; t < targets; t++) {
        if (t % 256 === 0) {
          await yieldToEventLoop();
          if (control.signal?.aborted) throw new ModelLensError('cancelled', 'the subword method was cancelled');
          control.onProgress?.(t / targets);
        }
        const bytes = donorTokenizer.tokenBytes(targetDonorIds[t]);
        let pieces: Piece[];
        let note: string | undefined;
        let text: string | undefined;
        try {
          text = strictUtf8.decode(bytes);
        } catch {
          text = undefined;
        }
        if (text !== undefined) {
          pieces = piecesOf(baseTokenizer, text, excludedBaseIds).filter((p) => p.id < space.baseRows);
        } else {
          const byId = byteTokenIds(baseTokenizer);
          pieces = Array.from(bytes, (b) => ({ id: byId.get(b) ?? -1, bytes: 1 })).filter((p) => p.id >= 0 && p.id < space.baseRows && !excludedBaseIds?.has(p.id));
          note = 'not whole UTF-8 characters; split into the base\'s byte tokens';
        }
        if (pieces.length === 0) {
          mean ??= meanRow(space.base, space.baseRows, space.baseDim, excludedBaseIds);
          rows.set(mean, t * space.baseDim);
          recipes?.push({ method: 'subword', note: 'no base pieces; mean of all base rows instead' });
          continue;
        }
        const weights = combineWeights(pieces, combine, space.matrix);
        const ids = pieces.map((p) => p.id);
        weightedSum(space.base, space.baseDim, ids, weights, ids.length, rows, t, scratch);
        recipes?.push({ method: 'subword', partsFrom: 'base-pieces', ...recipeParts(ids, weights, ids.length, baseToken, task.recipeParts ?? 8), ...(note ? { note } : {}) });
      }
      control.onProgress?.(1);
      return { rows, recipes, details: { combine } };
    },
  };
}
