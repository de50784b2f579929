/**
 * Turns a hover target and the active tokenizers into the Markdown a person reads. Pure: tokenizers in, text out,
 * so the same text is unit-tested, shown by VS Code, and shown by any other LSP editor.
 */
import type { TokenizerHandle, TokenSpan } from '../../tokenization/tokenizer';
import { showPiece, describeTokenBytes } from '../../tokenization/display';
import type { IdListTarget, StringTarget } from './findHoverTarget';

export interface NamedTokenizer {
  modelId: string;
  name: string;
  tokenizer: TokenizerHandle;
}

export interface HoverOptions {
  /** Pieces listed per tokenizer before the rest is summarised. */
  maxTokens: number;
  /** True when the document is itself a vocabulary file (tokenizer.json, vocab.json …). */
  inVocabularyFile: boolean;
}

/** A code span that survives backticks and pipes inside the piece. */
export function codeSpan(text: string): string {
  const safe = text.replace(/\|/g, '¦');
  const fence = safe.includes('`') ? '``' : '`';
  const pad = safe.startsWith('`') || safe.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${safe}${pad}${fence}`;
}

/** The index of the token whose span holds the cursor (the token just before it at a boundary). */
export function tokenAtCursor(tokens: TokenSpan[], cursor: number): number {
  let best = -1;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token.start <= cursor && cursor < token.end) return i;
    if (token.end <= cursor && token.end > token.start) best = i;
  }
  return best;
}

const charsPerToken = (chars: number, count: number) => (count === 0 ? '–' : (chars / count).toFixed(2));

/** One tokenizer's pieces as chips: `piece`·id, the token under the cursor in bold, truncated with a count. */
function piecesLine(tokens: TokenSpan[], cursorToken: number, maxTokens: number): string {
  // Centre the visible window on the cursor so the hovered token is always listed.
  let from = 0;
  if (tokens.length > maxTokens && cursorToken >= 0) {
    from = Math.max(0, Math.min(cursorToken - Math.floor(maxTokens / 2), tokens.length - maxTokens));
  }
  const to = Math.min(tokens.length, from + maxTokens);
  const chips: string[] = [];
  for (let i = from; i < to; i++) {
    const token = tokens[i];
    const chip = `${codeSpan(showPiece(token.text))}${token.special ? '★' : ''}<sub>${token.id}</sub>`;
    chips.push(i === cursorToken ? `**▶${chip}**` : chip);
  }
  const hiddenBefore = from;
  const hiddenAfter = tokens.length - to;
  if (hiddenBefore > 0) chips.unshift(`… ${hiddenBefore} earlier`);
  if (hiddenAfter > 0) chips.push(`… ${hiddenAfter} more tokens hidden`);
  return chips.join(' ');
}

export function renderStringHover(target: StringTarget, tokenizers: NamedTokenizer[], options: HoverOptions): string {
  const sections: string[] = [];
  const card = renderTokenCard(target.value, tokenizers);
  const looksLikePiece = /^[Ġ▁]|^<0x[0-9A-Fa-f]{2}>$|^<[|｜]?[^<>\s]+[|｜]?>$/.test(target.value);
  if (card && (options.inVocabularyFile || looksLikePiece)) return card;

  const chars = target.value.length;
  const results = tokenizers.map((named) => {
    const tokens = named.tokenizer.tokenize(target.value);
    return { named, tokens, cursorToken: tokenAtCursor(tokens, target.cursor) };
  });

  // A side-by-side table first: one column per tokenizer.
  const header = `| ${chars} chars | ${results.map((r) => `**${r.named.name}**`).join(' | ')} |`;
  const rule = `|---|${results.map(() => '---:').join('|')}|`;
  const count = `| tokens | ${results.map((r) => r.tokens.length).join(' | ')} |`;
  const ratio = `| chars/token | ${results.map((r) => charsPerToken(chars, r.tokens.length)).join(' | ')} |`;
  const under = `| at cursor | ${results
    .map((r) => {
      const token = r.tokens[r.cursorToken];
      return token ? `${codeSpan(showPiece(token.text))} ${token.id}` : '–';
    })
    .join(' | ')} |`;
  sections.push([header, rule, count, ratio, under].join('\n'));

  for (const result of results) {
    sections.push(`**${result.named.name}** · ${result.tokens.length} tokens\n\n${piecesLine(result.tokens, result.cursorToken, options.maxTokens)}`);
  }
  if (card) sections.push(card);
  return sections.join('\n\n---\n\n');
}

/** A card for a string that is itself a vocabulary entry in at least one open tokenizer, or undefined. */
export function renderTokenCard(piece: string, tokenizers: NamedTokenizer[]): string | undefined {
  const holders = tokenizers
    .map((named) => ({ named, id: named.tokenizer.tokenToId(piece) }))
    .filter((entry): entry is { named: NamedTokenizer; id: number } => entry.id !== undefined);
  if (holders.length === 0) return undefined;

  const first = holders[0];
  const bytes = first.named.tokenizer.tokenBytes(first.id);
  const described = describeTokenBytes(bytes);
  const lines = [
    `**Token** ${codeSpan(showPiece(piece))} — id **${first.id}** in ${first.named.name}${first.named.tokenizer.isSpecial(first.id) ? ' · **special**' : ''}`,
    '',
    `decoded: ${codeSpan(described.text)} · bytes \`${described.hex}\``,
  ];
  const others = tokenizers.filter((named) => named !== first.named);
  if (others.length > 0) {
    lines.push('', '| tokenizer | id |', '|---|---:|');
    for (const named of others) {
      const id = named.tokenizer.tokenToId(piece);
      const special = id !== undefined && named.tokenizer.isSpecial(id) ? ' (special)' : '';
      lines.push(`| ${named.name} | ${id === undefined ? 'not in vocabulary' : `${id}${special}`} |`);
    }
  }
  return lines.join('\n');
}

export function renderIdListHover(target: IdListTarget, tokenizer: NamedTokenizer, maxTokens: number): string {
  const { ids, hovered } = target;
  const known = ids.filter((id) => tokenizer.tokenizer.idToToken(id) !== undefined);
  const unknown = ids.length - known.length;
  const decoded = tokenizer.tokenizer.decode(known);
  const hoveredId = ids[hovered];
  const hoveredPiece = tokenizer.tokenizer.idToToken(hoveredId);
  const lines = [
    `**${tokenizer.name}** · ${ids.length} ids${unknown > 0 ? ` · **${unknown} not in the vocabulary**` : ''}`,
    '',
    '```text',
    decoded.length > 2000 ? `${decoded.slice(0, 2000)}…` : decoded,
    '```',
    '',
    hoveredPiece === undefined
      ? `id ${hoveredId} is outside the vocabulary (size ${tokenizer.tokenizer.facts.vocabSize})`
      : `id ${hoveredId} → ${codeSpan(showPiece(hoveredPiece))}${tokenizer.tokenizer.isSpecial(hoveredId) ? ' (special)' : ''}`,
  ];
  const pieces: TokenSpan[] = ids.slice(0, maxTokens).map((id) => ({
    id,
    text: tokenizer.tokenizer.idToToken(id) ?? '�',
    start: 0,
    end: 0,
    special: tokenizer.tokenizer.idToToken(id) !== undefined && tokenizer.tokenizer.isSpecial(id),
  }));
  lines.push('', piecesLine(pieces, hovered < maxTokens ? hovered : -1, maxTokens));
  if (ids.length > maxTokens) lines.push(`… ${ids.length - maxTokens} more ids hidden`);
  return lines.join('\n');
}
