/**
 * Why a Backpack predicts what it does at one position (REFERENCES §2): the logit of the target y is
 * Σ_ℓ Σ_j α[ℓ][j] · (E_y · C(x_j)_ℓ), so the view shows
 * - the prompt's tokens as a position selector (the prediction after each token can be explained),
 * - the ten most likely next tokens (a click explains that one instead),
 * - a heat map of α over source positions (columns) × senses (rows); a cell opens that word's senses at that sense,
 * - the table of the largest terms α·(E·C), each row opening its word's senses.
 *
 * The heat map's SVG carries `data-plot="alpha"` and `data-cells`; each cell `g.cell[data-sense][data-position]`.
 * Cells are one roving tab stop (arrow keys move, Enter opens).
 */
import { scaleBand } from 'd3-scale';
import { select } from 'd3-selection';
import type { ExplainRequest, PredictionExplanation } from '../sensesMessages';
import { hideTooltip, showTooltip } from '../shared/chart';
import { clip, formatAlpha, formatProbability, formatScore, wordLabel } from './format';

export interface ExplainActions {
  openWord(word: { id: number; token: string }, sense: number): void;
  explain(request: ExplainRequest): void;
}

interface AlphaCell {
  sense: number;
  position: number;
  alpha: number;
  token: { id: number; text: string };
}

const MARGIN = { top: 70, left: 64, right: 8, bottom: 8 };

function el<K extends keyof HTMLElementTagNameMap>(parent: HTMLElement, tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = parent.appendChild(document.createElement(tag));
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

export function renderExplanation(host: HTMLElement, data: PredictionExplanation, request: ExplainRequest, actions: ExplainActions, width: number): void {
  host.replaceChildren();
  // ---- position selector ----------------------------------------------------------------------------------------
  const positions = el(host, 'div', 'positions');
  positions.setAttribute('role', 'group');
  positions.setAttribute('aria-label', 'Explain the prediction after token');
  el(positions, 'span', 'label', 'Predict after:');
  data.tokens.forEach((token, i) => {
    const button = el(positions, 'button', 'token', wordLabel(token.text));
    button.type = 'button';
    button.dataset.position = String(i);
    button.setAttribute('aria-pressed', String(i === data.position));
    button.title = `position ${i}, id ${token.id}`;
    button.addEventListener('click', () => actions.explain({ text: request.text, position: i }));
  });

  // ---- predictions ------------------------------------------------------------------------------------------------
  const predictions = el(host, 'div', 'predictions');
  el(predictions, 'span', 'label', 'Next token:');
  for (const p of data.predictions) {
    const button = el(predictions, 'button', 'prediction', `${wordLabel(p.token)} ${formatProbability(p.probability)}`);
    button.type = 'button';
    button.dataset.id = String(p.id);
    button.setAttribute('aria-pressed', String(p.id === data.target.id));
    button.title = `logit ${formatScore(p.logit)}; explain this token`;
    button.addEventListener('click', () => actions.explain({ text: request.text, position: data.position, target: p.token }));
  }
  const summary = el(
    host,
    'p',
    'explain-summary',
    `Explaining ${wordLabel(data.target.token)} (p = ${formatProbability(data.target.probability)}, logit ${formatScore(data.target.logit)}) after ${wordLabel(
      data.tokens[data.position]?.text ?? '',
    )} at position ${data.position}. The logit is the sum over senses ℓ and positions j of α[ℓ][j] · (E·C(x_j)_ℓ): ${formatScore(data.total)}.`,
  );
  summary.dataset.total = String(data.total);

  // ---- heat map -----------------------------------------------------------------------------------------------------
  const sources = data.tokens.slice(0, data.position + 1);
  const senses = data.alpha.map((_, l) => l);
  const cells: AlphaCell[] = [];
  data.alpha.forEach((row, sense) => row.forEach((alpha, position) => cells.push({ sense, position, alpha, token: sources[position] })));
  const maxAlpha = Math.max(1e-9, ...cells.map((c) => c.alpha));
  const cellSize = Math.max(14, Math.min(40, Math.floor((width - MARGIN.left - MARGIN.right) / Math.max(1, sources.length))));
  const plotWidth = cellSize * sources.length;
  const rowHeight = 18;
  const plotHeight = rowHeight * senses.length;
  const heat = el(host, 'div', 'heatmap-host');
  el(heat, 'h3', undefined, `α at position ${data.position}: senses × source positions`);
  const svg = select(heat)
    .append('svg')
    .attr('class', 'plot alpha')
    .attr('data-plot', 'alpha')
    .attr('data-cells', cells.length)
    .attr('role', 'group')
    .attr('aria-label', `Sense weights α of ${senses.length} senses over ${sources.length} source positions. Arrow keys move; Enter opens the word's senses.`)
    .attr('width', MARGIN.left + plotWidth + MARGIN.right)
    .attr('height', MARGIN.top + plotHeight + MARGIN.bottom);
  const plot = svg.append('g').attr('transform', `translate(${MARGIN.left},${MARGIN.top})`);
  const x = scaleBand<number>().domain(sources.map((_, i) => i)).range([0, plotWidth]).padding(0.05);
  const y = scaleBand<number>().domain(senses).range([0, plotHeight]).padding(0.05);
  plot
    .append('g')
    .attr('class', 'column-labels')
    .selectAll('text')
    .data(sources)
    .join('text')
    .attr('transform', (_d, i) => `translate(${(x(i) ?? 0) + x.bandwidth() / 2},-6) rotate(-50)`)
    .text((d) => clip(wordLabel(d.text), 9));
  plot
    .append('g')
    .attr('class', 'row-labels')
    .selectAll('text')
    .data(senses)
    .join('text')
    .attr('x', -6)
    .attr('y', (l) => (y(l) ?? 0) + y.bandwidth() / 2)
    .attr('text-anchor', 'end')
    .attr('dominant-baseline', 'central')
    .text((l) => `sense ${l}`);
  const groups = plot
    .append('g')
    .attr('class', 'cells')
    .selectAll<SVGGElement, AlphaCell>('g.cell')
    .data(cells, (d) => `${d.sense}:${d.position}`)
    .join((enter) => {
      const g = enter.append('g').attr('class', 'cell').attr('role', 'button').attr('tabindex', -1);
      g.append('rect');
      return g;
    })
    .attr('data-sense', (d) => d.sense)
    .attr('data-position', (d) => d.position)
    .attr('data-alpha', (d) => d.alpha)
    .attr('aria-label', (d) => `sense ${d.sense}, position ${d.position} (${wordLabel(d.token.text)}): α ${formatAlpha(d.alpha)}. Open its senses`)
    .attr('transform', (d) => `translate(${x(d.position) ?? 0},${y(d.sense) ?? 0})`);
  groups
    .select('rect')
    .attr('width', x.bandwidth())
    .attr('height', y.bandwidth())
    .attr('rx', 1.5)
    .style('fill-opacity', (d) => 0.04 + 0.96 * (d.alpha / maxAlpha));
  groups.filter((d) => d.position === data.position && d.sense === 0).attr('tabindex', 0);
  if (groups.filter((d) => d.position === data.position && d.sense === 0).empty()) groups.filter((_d, i) => i === 0).attr('tabindex', 0);
  const open = (d: AlphaCell) => actions.openWord({ id: d.token.id, token: d.token.text }, d.sense);
  const byKey = new Map<string, SVGGElement>();
  groups.each(function (d) {
    byKey.set(`${d.sense}:${d.position}`, this);
  });
  groups
    .on('click', (_event: MouseEvent, d) => open(d))
    .on('mouseenter focus', function (_event: Event, d) {
      showTooltip(this, `${wordLabel(d.token.text)} at ${d.position}, sense ${d.sense}\nα ${formatAlpha(d.alpha)}\nclick for its senses`);
    })
    .on('mouseleave blur', hideTooltip)
    .on('keydown', function (event: KeyboardEvent, d) {
      const moves: Record<string, [number, number]> = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        open(d);
        return;
      }
      const move = moves[event.key];
      if (!move) return;
      event.preventDefault();
      const next = byKey.get(`${d.sense + move[0]}:${d.position + move[1]}`);
      if (!next) return;
      this.setAttribute('tabindex', '-1');
      next.setAttribute('tabindex', '0');
      next.focus();
    });

  // ---- contributions table ---------------------------------------------------------------------------------------
  const tableHost = el(host, 'div', 'contributions-host');
  el(tableHost, 'h3', undefined, `Largest terms α·(E·C) of the logit of ${wordLabel(data.target.token)}`);
  const table = el(tableHost, 'table', 'contributions');
  table.dataset.rows = String(data.contributions.length);
  const head = el(el(table, 'thead'), 'tr');
  for (const title of ['word', 'position', 'sense', 'α', 'E·C', 'α·(E·C)']) el(head, 'th', undefined, title).setAttribute('scope', 'col');
  const body = el(table, 'tbody');
  const maxTerm = Math.max(1e-9, ...data.contributions.map((c) => Math.abs(c.contribution)));
  for (const c of data.contributions) {
    const row = el(body, 'tr');
    row.dataset.sense = String(c.sense);
    row.dataset.position = String(c.position);
    const wordCell = el(row, 'td');
    const button = el(wordCell, 'button', 'link word-link', wordLabel(c.token));
    button.type = 'button';
    button.title = `Show the senses of ${wordLabel(c.token)} (sense ${c.sense})`;
    button.addEventListener('click', () => actions.openWord({ id: c.tokenId, token: c.token }, c.sense));
    el(row, 'td', 'num', String(c.position));
    el(row, 'td', 'num', String(c.sense));
    el(row, 'td', 'num', formatAlpha(c.alpha));
    el(row, 'td', 'num', formatScore(c.senseScore));
    const term = el(row, 'td', 'num term');
    const bar = el(term, 'span', `term-bar ${c.contribution >= 0 ? 'positive' : 'negative'}`);
    bar.style.width = `${Math.round((60 * Math.abs(c.contribution)) / maxTerm)}px`;
    el(term, 'span', undefined, formatScore(c.contribution));
  }
}
