/**
 * The LM copy probe as a heat map: exact-match accuracy for each sequence length k (rows) and shot count (columns).
 * Cells are keyed by "k×shots"; a click, Enter or Space on one asks for its prompts. Beside it, the positions the
 * model gets wrong, worst first. The SVG carries `data-cells`; each cell `data-k`, `data-shots`, `data-accuracy`.
 */
import { format } from 'd3-format';
import { scaleBand } from 'd3-scale';
import { select } from 'd3-selection';
import type { CopyProbeResult } from '../permutationMessages';
import { drawAxes, formatPercent, plotFrame, withTooltip } from '../shared/chart';

export interface HeatmapActions {
  showPrompt(k: number, shots: number): void;
}

interface Cell {
  k: number;
  shots: number;
  accuracy: number;
  position: number;
}

/** Most failing positions listed. */
export const MAX_FAILING = 12;

export function renderHeatmap(host: HTMLElement, result: CopyProbeResult, actions: HeatmapActions, width: number): void {
  const cells: Cell[] = [];
  result.ks.forEach((k, i) =>
    result.shots.forEach((shots, j) => cells.push({ k, shots, accuracy: result.heatmap.exactMatch[i]?.[j] ?? 0, position: result.heatmap.meanPositionAccuracy[i]?.[j] ?? 0 })),
  );
  const rowHeight = Math.max(16, Math.min(26, 260 / Math.max(1, result.ks.length)));
  const height = rowHeight * result.ks.length + 52;
  const plotHost = select(host).selectAll<HTMLDivElement, number>('div.heatmap-plot').data([0]).join('div').attr('class', 'heatmap-plot').node()!;
  const frame = plotFrame(
    plotHost,
    'heatmap',
    width,
    height,
    `Copy probe: exact-match accuracy for k ${result.ks[0]}…${result.ks[result.ks.length - 1]} and ${result.shots.join(', ')} shots`,
  );
  frame.svg.attr('data-cells', cells.length);
  const x = scaleBand<number>().domain(result.shots).range([0, frame.width]).padding(0.06);
  const y = scaleBand<number>().domain(result.ks).range([0, frame.height]).padding(0.06);
  // d3-axis centres ticks on the bands of a band scale.
  drawAxes(frame, x, y, { x: 'shots (worked examples in the prompt)', y: 'k (words to copy)' }, { xFormat: format('d'), yFormat: format('d') });
  frame.plot.select('g.grid').selectAll('line').remove();

  const groups = frame.plot
    .selectAll<SVGGElement, Cell>('g.cell')
    .data(cells, (d) => `${d.k}×${d.shots}`)
    .join((enter) => {
      const g = enter.append('g').attr('class', 'cell').attr('tabindex', 0).attr('role', 'button');
      g.append('rect');
      g.append('text').attr('text-anchor', 'middle').attr('dominant-baseline', 'central');
      return g;
    })
    .attr('data-k', (d) => d.k)
    .attr('data-shots', (d) => d.shots)
    .attr('data-accuracy', (d) => d.accuracy)
    .attr('aria-label', (d) => `k = ${d.k}, ${d.shots} shots: ${formatPercent(d.accuracy)} exact match. Show prompts`)
    .classed('strong', (d) => d.accuracy >= 0.55)
    .attr('transform', (d) => `translate(${x(d.shots) ?? 0},${y(d.k) ?? 0})`);
  groups
    .select('rect')
    .attr('width', x.bandwidth())
    .attr('height', y.bandwidth())
    .attr('rx', 2)
    .style('fill-opacity', (d) => 0.06 + 0.94 * d.accuracy);
  groups
    .select('text')
    .attr('x', x.bandwidth() / 2)
    .attr('y', y.bandwidth() / 2)
    .text((d) => (x.bandwidth() >= 30 ? format('.0%')(d.accuracy) : ''));
  withTooltip(groups, (d) => `k = ${d.k}, ${d.shots} shot${d.shots === 1 ? '' : 's'}\nexact match   ${formatPercent(d.accuracy)}\nper position  ${formatPercent(d.position)}\nclick for the prompts`);
  groups
    .on('click', (_event: MouseEvent, d) => actions.showPrompt(d.k, d.shots))
    .on('keydown', (event: KeyboardEvent, d) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        actions.showPrompt(d.k, d.shots);
      }
    });

  // Failing positions, worst first.
  const failing = result.failingPositions.slice(0, MAX_FAILING);
  const list = select(host)
    .selectAll<HTMLDivElement, number>('div.failing')
    .data([0])
    .join((enter) => {
      const div = enter.append('div').attr('class', 'failing');
      div.append('h3');
      div.append('ol');
      return div;
    });
  list
    .select('h3')
    .text(
      result.failingPositions.length === 0
        ? 'Every position is copied right in every query.'
        : `Failing positions (${result.failingPositions.length}${result.failingPositions.length > MAX_FAILING ? `, worst ${MAX_FAILING} shown` : ''})`,
    );
  list
    .select('ol')
    .attr('data-items', failing.length)
    .selectAll<HTMLLIElement, (typeof failing)[number]>('li')
    .data(failing, (d) => `${d.k}×${d.shots}×${d.position}`)
    .join((enter) => {
      const li = enter.append('li');
      li.append('button').attr('type', 'button').attr('class', 'link');
      return li;
    })
    .select('button')
    .text((d) => `k = ${d.k}, ${d.shots} shot${d.shots === 1 ? '' : 's'}, position ${d.position + 1}: ${formatPercent(d.accuracy)}`)
    .on('click', (_event: MouseEvent, d) => actions.showPrompt(d.k, d.shots));
}
