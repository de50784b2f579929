/**
 * A word's senses as diverging bars (REFERENCES §2, "Looking at a sense"): one row per sense; its top words (the
 * largest E·C(x)_ℓ) run right from the centre line, its bottom words (the most negative) run left, strongest next to
 * the centre. Each word is a cell whose bar length is |score| against the largest |score| of the word, so rows compare.
 * When a side's words do not fit one line they wrap onto more lines, so all of them stay legible.
 *
 * The SVG carries `data-plot="senses"`, `data-senses` and `data-token-id`; each row `g.sense[data-sense]` (with
 * `data-edited`), each word `g.word[data-id][data-side][data-rank]`. Words are one roving tab stop: the arrow keys move
 * (left/right along the row, up/down between senses), Enter or Space opens the word's own senses.
 */
import { select, type Selection } from 'd3-selection';
import type { ScoredWord, SenseWords, WordSenses } from '../sensesMessages';
import { hideTooltip, showTooltip } from '../shared/chart';
import { clip, formatScore, wordLabel } from './format';

export interface SenseBarsActions {
  openWord(word: ScoredWord, fromSense: number): void;
  /** A row label was clicked: highlight that sense. */
  selectSense(sense: number): void;
}

export interface SenseBarsOptions {
  width: number;
  /** Words per side (at most what the server sent). */
  wordsPerSide: number;
  /** A sense to highlight. */
  highlight: number | null;
}

interface WordCell {
  key: string;
  sense: number;
  side: 'top' | 'bottom';
  rank: number;
  /** Position in the row's reading order (bottom words from the far left, then top words). */
  order: number;
  word: ScoredWord;
  x: number;
  y: number;
  width: number;
}

const LABEL_WIDTH = 112;
const LINE_HEIGHT = 18;
const ROW_GAP = 7;
const MIN_CELL = 74;
/** Monospace advance at 11.5px, for clipping labels to their cell. */
const CHAR_WIDTH = 7;

export function senseRowLabel(sense: SenseWords): string {
  const parts = [`sense ${sense.sense}`];
  if (sense.scale !== 1) parts.push(`α×${Number(sense.scale.toPrecision(3))}`);
  return parts.join(' ');
}

export function renderSenseBars(host: HTMLElement, data: WordSenses, actions: SenseBarsActions, options: SenseBarsOptions): void {
  const perSide = Math.max(1, Math.min(options.wordsPerSide, Math.max(...data.senses.map((s) => Math.max(s.top.length, s.bottom.length)), 1)));
  const width = Math.max(300, options.width);
  const half = (width - LABEL_WIDTH - 8) / 2;
  const centre = LABEL_WIDTH + 4 + half;
  const columns = Math.max(1, Math.min(perSide, Math.floor(half / MIN_CELL)));
  const cellWidth = half / columns;
  const lines = Math.ceil(perSide / columns);
  const rowHeight = lines * LINE_HEIGHT + ROW_GAP;
  const top = 22;
  const height = top + data.senses.length * rowHeight + 4;

  let maxAbs = 0;
  for (const sense of data.senses) for (const w of [...sense.top.slice(0, perSide), ...sense.bottom.slice(0, perSide)]) maxAbs = Math.max(maxAbs, Math.abs(w.score));
  maxAbs ||= 1;

  const cells: WordCell[] = [];
  data.senses.forEach((sense, row) => {
    const y0 = top + row * rowHeight;
    const bottom = sense.bottom.slice(0, perSide);
    const topWords = sense.top.slice(0, perSide);
    // Reading order: the bottom side from the far left (weakest negative) to the centre, then the top side outwards.
    const farthestBottom = bottom.length - 1;
    bottom.forEach((word, rank) => {
      const col = rank % columns;
      const line = Math.floor(rank / columns);
      cells.push({ key: `${sense.sense}:b:${rank}`, sense: sense.sense, side: 'bottom', rank, order: farthestBottom - rank, word, x: centre - (col + 1) * cellWidth, y: y0 + line * LINE_HEIGHT, width: cellWidth });
    });
    topWords.forEach((word, rank) => {
      const col = rank % columns;
      const line = Math.floor(rank / columns);
      cells.push({ key: `${sense.sense}:t:${rank}`, sense: sense.sense, side: 'top', rank, order: bottom.length + rank, word, x: centre + col * cellWidth, y: y0 + line * LINE_HEIGHT, width: cellWidth });
    });
  });

  let svg = select(host).select<SVGSVGElement>('svg.senses');
  if (svg.empty()) {
    svg = select(host).append('svg').attr('class', 'plot senses').attr('data-plot', 'senses').attr('role', 'group');
    svg.append('g').attr('class', 'rows');
    svg.append('line').attr('class', 'centre');
    const headings = svg.append('g').attr('class', 'side-headings');
    headings.append('text').attr('class', 'side-heading bottom-heading').attr('text-anchor', 'end');
    headings.append('text').attr('class', 'side-heading top-heading').attr('text-anchor', 'start');
  }
  svg
    .attr('width', width)
    .attr('height', height)
    .attr('viewBox', `0 0 ${width} ${height}`)
    .attr('data-senses', data.senses.length)
    .attr('data-token-id', data.tokenId)
    .attr('data-words-per-side', perSide)
    .attr('aria-label', `The ${data.senses.length} senses of ${wordLabel(data.token)}: for each sense its ${perSide} most negative and most positive words. Arrow keys move between words; Enter opens a word's senses.`);
  svg.select('line.centre').attr('x1', centre).attr('x2', centre).attr('y1', top - 4).attr('y2', height - 2);
  svg.select('text.bottom-heading').attr('x', centre - 6).attr('y', 13).text(`← bottom ${perSide} (most negative E·C)`);
  svg.select('text.top-heading').attr('x', centre + 6).attr('y', 13).text(`top ${perSide} (most positive E·C) →`);

  const rows = svg
    .select('g.rows')
    .selectAll<SVGGElement, SenseWords>('g.sense')
    .data(data.senses, (d) => String(d.sense))
    .join((enter) => {
      const g = enter.append('g').attr('class', 'sense');
      g.append('rect').attr('class', 'row-band');
      const label = g.append('g').attr('class', 'row-label');
      label.append('text').attr('class', 'sense-name');
      label.append('text').attr('class', 'sense-note');
      g.append('g').attr('class', 'words');
      return g;
    })
    .attr('data-sense', (d) => d.sense)
    .attr('data-edited', (d) => String(d.edited))
    .classed('edited', (d) => d.edited)
    .classed('highlight', (d) => d.sense === options.highlight)
    .attr('transform', (_d, i) => `translate(0,${top + i * rowHeight})`);
  rows
    .select('rect.row-band')
    .attr('x', 0)
    .attr('y', -2)
    .attr('width', width)
    .attr('height', rowHeight - ROW_GAP + 4)
    .attr('rx', 3);
  const labels = rows
    .select<SVGGElement>('g.row-label')
    .on('click', (_event: MouseEvent, d) => actions.selectSense(d.sense))
    .on('mouseenter', function (_event: MouseEvent, d) {
      showTooltip(this, `sense ${d.sense} of ${wordLabel(data.token)}\nnorm ${formatScore(d.norm)}${d.edited ? '\nedited' : ''}${d.scale !== 1 ? `\ncontribution ×${d.scale}` : ''}`);
    })
    .on('mouseleave', hideTooltip);
  labels
    .select('text.sense-name')
    .attr('x', 6)
    .attr('y', LINE_HEIGHT / 2)
    .attr('dominant-baseline', 'central')
    .text((d) => senseRowLabel(d));
  labels
    .select('text.sense-note')
    .attr('x', 6)
    .attr('y', LINE_HEIGHT * 1.5)
    .attr('dominant-baseline', 'central')
    .text((d) => (d.edited ? '✎ edited' : lines > 1 ? `‖C‖ ${formatScore(d.norm)}` : ''));

  // Words, positioned in svg coordinates within their row group (translate back by the row's y).
  const rowY = new Map(data.senses.map((s, i) => [s.sense, top + i * rowHeight]));
  const charLimit = Math.max(3, Math.floor((cellWidth - 8) / CHAR_WIDTH));
  rows.each(function (sense) {
    const mine = cells.filter((c) => c.sense === sense.sense);
    const words = select(this)
      .select('g.words')
      .selectAll<SVGGElement, WordCell>('g.word')
      .data(mine, (d) => d.key)
      .join((enter) => {
        const g = enter.append('g').attr('class', 'word').attr('role', 'button').attr('tabindex', -1);
        g.append('rect').attr('class', 'cell-bg');
        g.append('rect').attr('class', 'bar');
        g.append('text').attr('dominant-baseline', 'central');
        return g;
      });
    words
      .attr('class', (d) => `word ${d.side}`)
      .attr('data-id', (d) => d.word.id)
      .attr('data-side', (d) => d.side)
      .attr('data-rank', (d) => d.rank + 1)
      .attr('data-order', (d) => d.order)
      .attr('data-token', (d) => d.word.token)
      .attr('aria-label', (d) => `${wordLabel(d.word.token)}: ${d.side} ${d.rank + 1} of sense ${d.sense}, score ${formatScore(d.word.score)}. Open its senses`)
      .attr('transform', (d) => `translate(${d.x},${d.y - (rowY.get(d.sense) ?? 0)})`);
    words
      .select('rect.cell-bg')
      .attr('x', 1)
      .attr('y', 1)
      .attr('width', (d) => Math.max(0, d.width - 2))
      .attr('height', LINE_HEIGHT - 2)
      .attr('rx', 2);
    words
      .select('rect.bar')
      .attr('x', (d) => (d.side === 'top' ? 1 : d.width - 1 - barLength(d)))
      .attr('y', 1)
      .attr('width', (d) => barLength(d))
      .attr('height', LINE_HEIGHT - 2)
      .attr('rx', 2);
    words
      .select('text')
      .attr('x', (d) => (d.side === 'top' ? 4 : d.width - 4))
      .attr('y', LINE_HEIGHT / 2)
      .attr('text-anchor', (d) => (d.side === 'top' ? 'start' : 'end'))
      .text((d) => clip(wordLabel(d.word.token), charLimit));
  });

  function barLength(d: WordCell): number {
    return Math.max(1, ((d.width - 2) * Math.abs(d.word.score)) / maxAbs);
  }

  // ---- interaction: click, tooltip, roving keyboard focus -------------------------------------------------------------

  const allWords = svg.selectAll<SVGGElement, WordCell>('g.word');
  const byKey = new Map<string, SVGGElement>();
  allWords.each(function (d) {
    byKey.set(d.key, this);
  });
  const rowOrder = data.senses.map((s) => s.sense);
  const inRow = (sense: number) => cells.filter((c) => c.sense === sense).sort((a, b) => a.order - b.order);

  const focusable = allWords.filter(function () {
    return this.getAttribute('tabindex') === '0';
  });
  if (focusable.empty() || !byKey.has((focusable.datum() as WordCell).key)) {
    allWords.attr('tabindex', -1);
    const first = cells.find((c) => c.sense === (options.highlight ?? rowOrder[0]) && c.side === 'top' && c.rank === 0) ?? cells[0];
    if (first) byKey.get(first.key)?.setAttribute('tabindex', '0');
  }

  function moveTo(cell: WordCell | undefined): void {
    if (!cell) return;
    const target = byKey.get(cell.key);
    if (!target) return;
    allWords.attr('tabindex', -1);
    target.setAttribute('tabindex', '0');
    target.focus();
  }

  (allWords as Selection<SVGGElement, WordCell, SVGGElement, unknown>)
    .on('click', (_event: MouseEvent, d) => actions.openWord(d.word, d.sense))
    .on('mouseenter focus', function (_event: Event, d) {
      showTooltip(this, `${wordLabel(d.word.token)}   id ${d.word.id}\nsense ${d.sense}, ${d.side} ${d.rank + 1}\nE·C ${formatScore(d.word.score)}\nclick for its senses`);
    })
    .on('mouseleave blur', hideTooltip)
    .on('keydown', (event: KeyboardEvent, d) => {
      const row = inRow(d.sense);
      const index = row.findIndex((c) => c.key === d.key);
      const senseIndex = rowOrder.indexOf(d.sense);
      const sameOrderIn = (s: number | undefined) => {
        if (s === undefined) return undefined;
        const other = inRow(s);
        return other.find((c) => c.side === d.side && c.rank === d.rank) ?? other[Math.min(index, other.length - 1)];
      };
      switch (event.key) {
        case 'ArrowRight':
          moveTo(row[index + 1]);
          break;
        case 'ArrowLeft':
          moveTo(row[index - 1]);
          break;
        case 'ArrowDown':
          moveTo(sameOrderIn(rowOrder[senseIndex + 1]));
          break;
        case 'ArrowUp':
          moveTo(sameOrderIn(rowOrder[senseIndex - 1]));
          break;
        case 'Home':
          moveTo(row[0]);
          break;
        case 'End':
          moveTo(row[row.length - 1]);
          break;
        case 'Enter':
        case ' ':
          actions.openWord(d.word, d.sense);
          break;
        default:
          return;
      }
      event.preventDefault();
    });
}
