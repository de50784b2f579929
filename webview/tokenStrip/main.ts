/**
 * The token strip: draws a tokenized selection as coloured chips, one row per tokenizer, and compares tokenizers.
 *
 * One function from data to DOM (`renderTokenStrip`), with d3 joins keyed by tokenizer and by token position + id.
 * The extension posts `ToTokenStrip`; this view posts `FromTokenStrip`. State survives hiding and reloading through
 * `vscode.getState()` / `setState()` (REFERENCES §6), not `retainContextWhenHidden`.
 */
import { select, type Selection } from 'd3-selection';
import type { FromTokenStrip, ToTokenStrip, TokenStripState } from '../messages';
import type { TokenizationResult, TokenSpan } from '../../server/protocol';

/** More chips than this per tokenizer are not drawn; a note says how many were left out. */
export const MAX_CHIPS_PER_ROW = 2000;
/** Chip colours cycle through this many palette entries (classes c0…c5 in tokenStrip.css). */
const PALETTE_SIZE = 6;

export const EMPTY_HINT = 'Select text and run Model Lens: Tokenize Selection';

export interface StripView {
  state: TokenStripState | null;
  /** An error from the extension, shown inline above whatever was last drawn. */
  error?: string;
}

export type PostMessage = (message: FromTokenStrip) => void;

// ---- display -------------------------------------------------------------------------------------------------------

/** Makes whitespace visible: space → ·, newline → ↵, tab → ⇥, carriage return → ␍. */
export function visibleWhitespace(s: string): string {
  return s
    .replace(/\r\n/g, '↵')
    .replace(/ /g, '·')
    .replace(/\n/g, '↵')
    .replace(/\t/g, '⇥')
    .replace(/\r/g, '␍')
    .replace(/\u00a0/g, '⍽');
}

/** A vocabulary string as text: the byte-level (Ġ Ċ ĉ) and SentencePiece (▁, <0x0A>) markers become real characters. */
function vocabPieceAsText(piece: string): string {
  const byte = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
  if (byte) {
    const code = parseInt(byte[1]!, 16);
    return code === 9 || code === 10 || code === 13 || (code >= 0x20 && code < 0x7f)
      ? String.fromCharCode(code)
      : piece;
  }
  return piece.replace(/[Ġ▁]/g, ' ').replace(/Ċ/g, '\n').replace(/ĉ/g, '\t');
}

/**
 * What a chip shows. The characters it covers in the source when it has a span of its own (this is right for every
 * tokenizer family, including byte-level pieces of accented letters); otherwise (special tokens, zero-width tokens,
 * several byte tokens sharing one character) the vocabulary piece.
 */
function chipLabel(token: TokenSpan, text: string, sharesSpan: boolean): string {
  if (token.special) return token.text;
  const label =
    token.end > token.start && !sharesSpan ? text.slice(token.start, token.end) : vocabPieceAsText(token.text);
  return label === '' ? '∅' : visibleWhitespace(label);
}

function spanText(start: number, end: number): string {
  return `chars ${start}–${end}`;
}

// ---- view model ----------------------------------------------------------------------------------------------------

interface ChipDatum {
  key: string;
  index: number;
  token: TokenSpan;
  label: string;
  colour: number;
}

interface RowDatum {
  key: string;
  result: TokenizationResult;
  chips: ChipDatum[];
  hidden: number;
  charsPerToken: number;
  /** Token count relative to the first tokenizer's. */
  ratio: number;
}

function countCharacters(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

function buildRows(state: TokenStripState): RowDatum[] {
  const characters = countCharacters(state.text);
  const firstCount = state.results[0]?.count ?? 0;
  return state.results.map((result, r) => {
    const shown = result.tokens.slice(0, MAX_CHIPS_PER_ROW);
    const spanUses = new Map<string, number>();
    for (const t of shown) {
      const k = `${t.start}:${t.end}`;
      spanUses.set(k, (spanUses.get(k) ?? 0) + 1);
    }
    const chips = shown.map((token, index) => ({
      key: `${index}:${token.id}`,
      index,
      token,
      label: chipLabel(token, state.text, (spanUses.get(`${token.start}:${token.end}`) ?? 0) > 1),
      colour: index % PALETTE_SIZE,
    }));
    const total = Math.max(result.count, result.tokens.length);
    return {
      key: `${r}:${result.modelId}`,
      result,
      chips,
      hidden: total - chips.length,
      charsPerToken: result.count > 0 ? characters / result.count : 0,
      ratio: firstCount > 0 ? result.count / firstCount : 0,
    };
  });
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
}

function formatRatio(ratio: number): string {
  return `×${ratio.toFixed(2)}`;
}

// ---- rendering -----------------------------------------------------------------------------------------------------

/** Which chip holds the tab stop in each row (roving tabindex), by row key; survives re-renders. */
const tabStops = new WeakMap<HTMLElement, Map<string, number>>();

/**
 * Draws `view` into `root`. Idempotent: calling it again with new data updates the DOM in place (joins keyed by
 * tokenizer and token), so focus and the roving tab stop survive.
 */
export function renderTokenStrip(root: HTMLElement, view: StripView, post: PostMessage): void {
  const rootSel = select(root);
  rootSel.classed('token-strip', true);

  const error = rootSel
    .selectAll<HTMLDivElement, string>('div.error')
    .data(view.error ? [view.error] : [])
    .join((enter) => enter.insert('div', ':first-child').attr('class', 'error').attr('role', 'alert'));
  error.text((d) => d);

  const state = view.state && view.state.results.length > 0 ? view.state : null;

  rootSel
    .selectAll<HTMLDivElement, string>('div.empty')
    .data(state ? [] : [EMPTY_HINT])
    .join((enter) => {
      const div = enter.append('div').attr('class', 'empty');
      div.append('p').attr('class', 'hint');
      div
        .append('p')
        .attr('class', 'sub')
        .text('Each token appears as a chip with its id; pick several tokenizers to compare them.');
      return div;
    })
    .select('p.hint')
    .text((d) => d);

  const rows = state ? buildRows(state) : [];

  renderSummary(rootSel, state, rows);

  const rowSel = rootSel
    .selectAll<HTMLElement, RowDatum>('section.row')
    .data(rows, (d) => d.key)
    .join((enter) => {
      const section = enter.append('section').attr('class', 'row');
      const head = section.append('div').attr('class', 'row-head');
      head.append('span').attr('class', 'name');
      head.append('span').attr('class', 'stats');
      const buttons = head.append('span').attr('class', 'actions');
      buttons.append('button').attr('type', 'button').attr('class', 'copy-ids').text('Copy ids');
      buttons.append('button').attr('type', 'button').attr('class', 'copy-json').text('Copy JSON');
      section.append('div').attr('class', 'chips').attr('role', 'group');
      section.append('p').attr('class', 'more');
      return section;
    });

  rowSel.attr('data-model', (d) => d.result.modelId);
  rowSel.select('.name').text((d) => d.result.modelName);
  rowSel.select('.stats').text((d) => {
    const parts = [plural(d.result.count, 'token'), `${d.charsPerToken.toFixed(2)} chars/token`];
    return parts.join(' · ');
  });
  rowSel.select('button.copy-ids').attr('aria-label', (d) => `Copy ${d.result.modelName} token ids`);
  rowSel.select('button.copy-json').attr('aria-label', (d) => `Copy ${d.result.modelName} tokens as JSON`);
  rowSel.select<HTMLButtonElement>('button.copy-ids').on('click', (_event, d) => {
    post({ type: 'copy', format: 'ids', text: `[${d.result.tokens.map((t) => t.id).join(', ')}]` });
  });
  rowSel.select<HTMLButtonElement>('button.copy-json').on('click', (_event, d) => {
    const json = {
      text: state?.text ?? '',
      tokenizer: d.result.modelName,
      modelId: d.result.modelId,
      count: d.result.count,
      tokens: d.result.tokens,
    };
    post({ type: 'copy', format: 'json', text: JSON.stringify(json, null, 2) });
  });
  rowSel
    .select('.more')
    .attr('hidden', (d) => (d.hidden > 0 ? null : ''))
    .text((d) => (d.hidden > 0 ? `${d.hidden.toLocaleString('en-US')} more tokens hidden` : ''));

  const chipGroups = rowSel.select<HTMLDivElement>('.chips').attr('aria-label', (d) => `${d.result.modelName} tokens`);

  const stops = tabStops.get(root) ?? new Map<string, number>();
  tabStops.set(root, stops);

  chipGroups.each(function (row) {
    const stop = Math.min(stops.get(row.key) ?? 0, Math.max(0, row.chips.length - 1));
    stops.set(row.key, stop);
    select(this)
      .selectAll<HTMLButtonElement, ChipDatum>('button.chip')
      .data(row.chips, (d) => d.key)
      .join((enter) => {
        const chip = enter.append('button').attr('type', 'button');
        chip.append('span').attr('class', 'piece');
        chip.append('span').attr('class', 'id');
        return chip;
      })
      .attr('class', (d) => `chip c${d.colour}${d.token.special ? ' special' : ''}`)
      .attr('tabindex', (d) => (d.index === stop ? 0 : -1))
      .attr('data-index', (d) => d.index)
      .attr('data-start', (d) => d.token.start)
      .attr('data-end', (d) => d.token.end)
      .attr(
        'title',
        (d) =>
          `${d.token.text} · id ${d.token.id}${d.token.special ? ' · special' : ''} · ${spanText(d.token.start, d.token.end)}`,
      )
      .attr(
        'aria-label',
        (d) =>
          `${d.label}, id ${d.token.id}${d.token.special ? ', special token' : ''}, ${spanText(d.token.start, d.token.end)}`,
      )
      .call((chip) => chip.select('.piece').text((d) => d.label))
      .call((chip) =>
        chip
          .select('.id')
          .text((d) => String(d.token.id))
          .selectAll('span.tag')
          .data((d) => (d.token.special ? ['special'] : []))
          .join('span')
          .attr('class', 'tag')
          .text((d) => d),
      );
  });

  // Rows are always last, in data order.
  rowSel.order();

  bindInteractions(rootSel, post, stops);
}

function renderSummary(
  rootSel: Selection<HTMLElement, unknown, null, undefined>,
  state: TokenStripState | null,
  rows: RowDatum[],
): void {
  const summary = rootSel
    .selectAll<HTMLElement, TokenStripState>('header.summary')
    .data(state ? [state] : [])
    .join((enter) => {
      const header = enter.insert('header', 'section.row').attr('class', 'summary');
      header.append('p').attr('class', 'source');
      header.append('table').attr('class', 'compare').append('tbody');
      return header;
    });

  summary.select('.source').text((d) => {
    const parts = [plural(countCharacters(d.text), 'character')];
    if (d.source) parts.push(d.source);
    return parts.join(' · ');
  });

  const comparing = rows.length > 1;
  const maxCount = Math.max(1, ...rows.map((r) => r.result.count));
  summary
    .select('table.compare')
    .attr('hidden', comparing ? null : '')
    .attr('aria-label', 'Token counts compared');
  summary
    .select('tbody')
    .selectAll<HTMLTableRowElement, RowDatum>('tr')
    .data(comparing ? rows : [], (d) => d.key)
    .join((enter) => {
      const tr = enter.append('tr');
      tr.append('th').attr('scope', 'row');
      tr.append('td').attr('class', 'count');
      tr.append('td').attr('class', 'bar').append('span');
      tr.append('td').attr('class', 'ratio');
      return tr;
    })
    .call((tr) => tr.select('th').text((d) => d.result.modelName))
    .call((tr) => tr.select('td.count').text((d) => d.result.count.toLocaleString('en-US')))
    .call((tr) => tr.select('td.bar span').style('width', (d) => `${(100 * d.result.count) / maxCount}%`))
    .call((tr) =>
      tr
        .select('td.ratio')
        .text((d, i) => (i === 0 ? 'baseline' : `${formatRatio(d.ratio)} vs first`))
        .classed('more-tokens', (d, i) => i > 0 && d.ratio > 1)
        .classed('fewer-tokens', (d, i) => i > 0 && d.ratio < 1),
    );
}

// ---- interaction ---------------------------------------------------------------------------------------------------

function chipOf(target: EventTarget | null): HTMLButtonElement | null {
  return target instanceof Element ? target.closest<HTMLButtonElement>('button.chip') : null;
}

function chipSpan(chip: HTMLElement): [number, number] {
  return [Number(chip.dataset.start), Number(chip.dataset.end)];
}

/** Marks the chips of the other rows whose characters overlap `chip`'s span. */
function highlightSpan(root: HTMLElement, chip: HTMLElement | null): void {
  const row = chip?.closest('section.row') ?? null;
  const [start, end] = chip ? chipSpan(chip) : [0, 0];
  root.querySelectorAll<HTMLElement>('button.chip').forEach((other) => {
    let linked = false;
    if (chip && other !== chip && other.closest('section.row') !== row) {
      const [s, e] = chipSpan(other);
      linked = start < end ? s < end && start < e : s === start && e === end;
    }
    other.classList.toggle('linked', linked);
    other.classList.toggle('current', other === chip);
  });
}

function moveFocus(
  from: HTMLButtonElement,
  to: HTMLButtonElement | null | undefined,
  stops: Map<string, number>,
): void {
  if (!to) return;
  to.parentElement?.querySelectorAll<HTMLButtonElement>('button.chip').forEach((chip) => {
    chip.tabIndex = chip === to ? 0 : -1;
  });
  const row = select<HTMLElement, RowDatum>(to.closest<HTMLElement>('section.row')!).datum();
  if (row) stops.set(row.key, Number(to.dataset.index));
  if (to !== from || document.activeElement !== to) to.focus();
}

/** The chip in `row` that covers (or comes first after) character offset `offset`. */
function chipAtOffset(row: Element, offset: number): HTMLButtonElement | null {
  const chips = Array.from(row.querySelectorAll<HTMLButtonElement>('button.chip'));
  return chips.find((c) => Number(c.dataset.end) > offset) ?? chips[chips.length - 1] ?? null;
}

function bindInteractions(
  rootSel: Selection<HTMLElement, unknown, null, undefined>,
  post: PostMessage,
  stops: Map<string, number>,
): void {
  const root = rootSel.node()!;
  rootSel
    .on('click.strip', (event: MouseEvent) => {
      const chip = chipOf(event.target);
      if (!chip) return;
      const [start, end] = chipSpan(chip);
      moveFocus(chip, chip, stops);
      post({ type: 'revealSpan', start, end });
    })
    .on('keydown.strip', (event: KeyboardEvent) => {
      const chip = chipOf(event.target);
      if (!chip) return;
      const chips = Array.from(chip.parentElement!.querySelectorAll<HTMLButtonElement>('button.chip'));
      const i = chips.indexOf(chip);
      const rowsEls = Array.from(root.querySelectorAll<HTMLElement>('section.row'));
      const r = rowsEls.indexOf(chip.closest<HTMLElement>('section.row')!);
      let target: HTMLButtonElement | null | undefined;
      switch (event.key) {
        case 'ArrowRight':
          target = chips[i + 1];
          break;
        case 'ArrowLeft':
          target = chips[i - 1];
          break;
        case 'Home':
          target = chips[0];
          break;
        case 'End':
          target = chips[chips.length - 1];
          break;
        case 'ArrowDown':
        case 'ArrowUp': {
          const otherRow = rowsEls[event.key === 'ArrowDown' ? r + 1 : r - 1];
          target = otherRow ? chipAtOffset(otherRow, chipSpan(chip)[0]) : undefined;
          break;
        }
        default:
          return;
      }
      event.preventDefault();
      moveFocus(chip, target, stops);
    })
    .on('mouseover.strip focusin.strip', (event: Event) => {
      const chip = chipOf(event.target);
      if (chip) highlightSpan(root, chip);
    })
    .on('mouseleave.strip', () => highlightSpan(root, chipOf(document.activeElement)))
    .on('focusout.strip', (event: FocusEvent) => {
      if (!chipOf(event.relatedTarget)) highlightSpan(root, null);
    });
}

// ---- wiring to VS Code ---------------------------------------------------------------------------------------------

interface VsCodeApi {
  postMessage(message: FromTokenStrip): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

function isTokenStripState(value: unknown): value is TokenStripState {
  const v = value as TokenStripState | null;
  return !!v && typeof v === 'object' && typeof v.text === 'string' && Array.isArray(v.results);
}

function isMessage(value: unknown): value is ToTokenStrip {
  const v = value as ToTokenStrip | null;
  return !!v && typeof v === 'object' && (v.type === 'show' || v.type === 'error');
}

function start(): void {
  if (typeof acquireVsCodeApi !== 'function') return;
  const vscode = acquireVsCodeApi();
  const root = document.getElementById('root') ?? document.body.appendChild(document.createElement('main'));
  const post: PostMessage = (message) => vscode.postMessage(message);

  const saved = vscode.getState();
  const view: StripView = { state: isTokenStripState(saved) ? saved : null };
  renderTokenStrip(root, view, post);

  window.addEventListener('message', (event: MessageEvent<unknown>) => {
    const message = event.data;
    if (!isMessage(message)) return;
    if (message.type === 'show') {
      view.state = message.state;
      view.error = undefined;
      vscode.setState(message.state);
    } else {
      view.error = message.message;
    }
    renderTokenStrip(root, view, post);
  });

  post({ type: 'ready' });
}

start();
