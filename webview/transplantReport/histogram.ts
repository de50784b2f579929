/**
 * The self-check's cosine histograms: one small chart per method, side by side, on shared axes (the same cosine
 * range and the same count scale, so the methods compare at a glance), each with its mean (solid) and median
 * (dashed) marked. One function from data to SVG; bars are joined by bin index, charts by method.
 */
import { max } from 'd3-array';
import { axisBottom, axisLeft } from 'd3-axis';
import { scaleLinear } from 'd3-scale';
import { select } from 'd3-selection';
import type { SelfCheckResult } from '../../server/features/transplant/report';
import { formatCosine, formatCount, methodColour } from './format';

const WIDTH = 300;
const HEIGHT = 170;
const MARGIN = { top: 22, right: 10, bottom: 28, left: 40 };

export function renderHistograms(container: HTMLElement, results: SelfCheckResult[]): void {
  const drawable = results.filter((r) => !r.error && r.histogram.counts.length > 0);
  const lo = Math.min(0, ...drawable.map((r) => r.histogram.edges[0]));
  const x = scaleLinear().domain([lo, 1]).range([MARGIN.left, WIDTH - MARGIN.right]);
  const yMax = max(drawable, (r) => max(r.histogram.counts) ?? 0) ?? 0;
  const y = scaleLinear()
    .domain([0, Math.max(1, yMax)])
    .nice()
    .range([HEIGHT - MARGIN.bottom, MARGIN.top]);

  const figures = select(container)
    .selectAll<HTMLElement, SelfCheckResult>('figure.histogram')
    .data(results, (r) => `${r.method}:${r.matrix}`)
    .join((enter) => {
      const f = enter.append('figure').attr('class', 'histogram');
      f.append('figcaption');
      const svg = f.append('svg').attr('viewBox', `0 0 ${WIDTH} ${HEIGHT}`).attr('role', 'img');
      svg.append('g').attr('class', 'axis x').attr('transform', `translate(0,${HEIGHT - MARGIN.bottom})`);
      svg.append('g').attr('class', 'axis y').attr('transform', `translate(${MARGIN.left},0)`);
      svg.append('g').attr('class', 'bars');
      svg.append('g').attr('class', 'markers');
      f.append('p').attr('class', 'method-error').attr('role', 'alert');
      return f;
    });

  figures.attr('data-method', (r) => r.method);
  figures
    .select('figcaption')
    .html('')
    .call((c) =>
      c
        .append('span')
        .attr('class', 'swatch')
        .style('background-color', (r) => methodColour(r.method)),
    )
    .call((c) => c.append('strong').text((r) => r.method))
    .call((c) =>
      c
        .append('span')
        .attr('class', 'stats')
        .text((r) =>
          r.error
            ? 'did not run'
            : `mean ${formatCosine(r.mean)} · median ${formatCosine(r.median)} · min ${formatCosine(r.min)}`,
        ),
    );
  figures
    .select('.method-error')
    .attr('hidden', (r) => (r.error ? null : ''))
    .text((r) => r.error ?? '');

  const svg = figures
    .select<SVGSVGElement>('svg')
    .attr('hidden', (r) => (r.error ? '' : null))
    .attr('data-bars', (r) => (r.error ? 0 : r.histogram.counts.length))
    .attr('data-total', (r) => r.histogram.counts.reduce((a, b) => a + b, 0))
    .attr('aria-label', (r) =>
      r.error
        ? `${r.method}: ${r.error}`
        : `Cosine histogram for ${r.method}: mean ${formatCosine(r.mean)}, median ${formatCosine(r.median)}`,
    );

  svg.select<SVGGElement>('g.axis.x').each(function () {
    select(this).call(axisBottom(x).ticks(5).tickSizeOuter(0));
  });
  svg.select<SVGGElement>('g.axis.y').each(function () {
    select(this).call(axisLeft(y).ticks(4, '~s').tickSizeOuter(0));
  });

  svg.select('g.bars').each(function (r) {
    const bins = r.error ? [] : r.histogram.counts.map((count, i) => ({ i, count, x0: r.histogram.edges[i], x1: r.histogram.edges[i + 1] }));
    select(this)
      .selectAll<SVGRectElement, (typeof bins)[number]>('rect.bar')
      .data(bins, (b) => b.i)
      .join((enter) => enter.append('rect').attr('class', 'bar').call((e) => e.append('title')))
      .attr('data-count', (b) => b.count)
      .attr('x', (b) => x(b.x0) + 0.5)
      .attr('width', (b) => Math.max(0.5, x(b.x1) - x(b.x0) - 1))
      .attr('y', (b) => y(b.count))
      .attr('height', (b) => y(0) - y(b.count))
      .style('fill', methodColour(r.method))
      .select('title')
      .text((b) => `${formatCosine(b.x0)} – ${formatCosine(b.x1)}: ${formatCount(b.count)} tokens`);
  });

  svg.select('g.markers').each(function (r) {
    const marks = r.error
      ? []
      : [
          { kind: 'mean', value: r.mean },
          { kind: 'median', value: r.median },
        ];
    const g = select(this)
      .selectAll<SVGGElement, (typeof marks)[number]>('g.marker')
      .data(marks, (m) => m.kind)
      .join((enter) => {
        const m = enter.append('g');
        m.append('line');
        m.append('text');
        return m;
      })
      .attr('class', (m) => `marker ${m.kind}`)
      .attr('data-value', (m) => m.value)
      .attr('transform', (m) => `translate(${x(Math.min(1, Math.max(lo, m.value))).toFixed(2)},0)`);
    g.select('line')
      .attr('y1', MARGIN.top - 4)
      .attr('y2', HEIGHT - MARGIN.bottom);
    // Labels on either side of their line, so mean and median do not overlap when close.
    g.select('text')
      .attr('y', MARGIN.top - 8)
      .attr('text-anchor', (m) => (m.kind === 'mean' ? 'end' : 'start'))
      .attr('dx', (m) => (m.kind === 'mean' ? -2 : 2))
      .text((m) => m.kind);
  });
}
