/** Stage timings as a horizontal bar chart: one row per stage, joined by stage, longest bar = the slowest stage. */
import { scaleLinear } from 'd3-scale';
import { select } from 'd3-selection';
import type { TransplantReport } from '../../server/features/transplant/report';
import { formatPercent, formatSeconds } from './format';

const ROW = 22;
const LABEL = 96;
const VALUE = 110;
const WIDTH = 560;

type Timing = TransplantReport['timings'][number];

export function renderTimings(container: HTMLElement, timings: Timing[], totalSeconds: number): void {
  const height = Math.max(1, timings.length) * ROW + 4;
  const longest = Math.max(1e-9, ...timings.map((t) => t.seconds));
  const x = scaleLinear().domain([0, longest]).range([0, WIDTH - LABEL - VALUE]);
  const svg = select(container)
    .selectAll<SVGSVGElement, null>('svg.timings')
    .data([null])
    .join('svg')
    .attr('class', 'timings')
    .attr('viewBox', `0 0 ${WIDTH} ${height}`)
    .attr('role', 'img')
    .attr('aria-label', `Stage timings, ${formatSeconds(totalSeconds)} in all`)
    .attr('data-stages', timings.length);
  const rows = svg
    .selectAll<SVGGElement, Timing>('g.stage')
    .data(timings, (t) => t.stage)
    .join((enter) => {
      const g = enter.append('g').attr('class', 'stage');
      g.append('text').attr('class', 'label');
      g.append('rect').attr('class', 'track');
      g.append('rect').attr('class', 'bar');
      g.append('text').attr('class', 'value');
      return g;
    })
    .attr('data-stage', (t) => t.stage)
    .attr('transform', (_, i) => `translate(0,${i * ROW + 2})`);
  rows
    .select('text.label')
    .attr('x', LABEL - 8)
    .attr('y', ROW / 2)
    .attr('text-anchor', 'end')
    .attr('dominant-baseline', 'central')
    .text((t) => t.stage);
  rows
    .select('rect.track')
    .attr('x', LABEL)
    .attr('y', 4)
    .attr('height', ROW - 8)
    .attr('width', WIDTH - LABEL - VALUE);
  rows
    .select('rect.bar')
    .attr('x', LABEL)
    .attr('y', 4)
    .attr('height', ROW - 8)
    .attr('width', (t) => Math.max(1, x(t.seconds)));
  rows
    .select('text.value')
    .attr('x', WIDTH - VALUE + 8)
    .attr('y', ROW / 2)
    .attr('dominant-baseline', 'central')
    .text((t) => `${formatSeconds(t.seconds)} · ${formatPercent(t.seconds, totalSeconds)}`);
}
