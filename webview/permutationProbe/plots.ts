/**
 * Three of the Permutation Probe's plots, each one function from data to SVG (joins keyed by id):
 * - `renderAccuracyPlot`: exact-match accuracy against ensemble size M, empirical and theory, the 1 − δ target line
 *   and the stopping M;
 * - `renderEnsembleSizePlot`: the ensemble size that reaches the target against k, ours, the paper's and the
 *   theory's, on a log or linear axis;
 * - `renderMarginHistogram`: the per-input margins of the final ensemble.
 *
 * Each SVG says what it drew for tests and assistive tech: `data-points` / `data-bars` on the series groups and an
 * aria-label summary.
 */
import { bisectLeft, max, min } from 'd3-array';
import { format } from 'd3-format';
import { scaleLinear, scaleLog } from 'd3-scale';
import { pointer, select } from 'd3-selection';
import { line } from 'd3-shape';
import { drawAxes, formatCount, formatMargin, formatPercent, hideTooltip, plotFrame, showTooltip, withTooltip } from '../shared/chart';

export interface Curve {
  models: number[];
  accuracy: number[];
}

export interface AccuracyView {
  empirical: Curve | null;
  theory: Curve | null;
  /** 1 − δ. */
  target: number;
  /** The M where the ensemble (or, without one, the theory) first reaches the target. */
  stop: { models: number; source: 'empirical' | 'theory' } | null;
}

const percentTick = format('.0%');

export function renderAccuracyPlot(host: HTMLElement, view: AccuracyView, width: number, height: number): void {
  const empirical = view.empirical?.models.length ? view.empirical : null;
  const theory = view.theory?.models.length ? view.theory : null;
  const lastM = Math.max(2, max([...(empirical?.models ?? []), ...(theory?.models ?? []), view.stop?.models ?? 1]) ?? 2);
  const summary = [
    empirical ? `empirical accuracy for M = 1…${empirical.models.length}` : null,
    theory ? `theory for M = 1…${theory.models.length}` : null,
    `target ${formatPercent(view.target)}`,
    view.stop ? `reached at M = ${view.stop.models}` : 'target not reached',
  ].filter(Boolean);
  const frame = plotFrame(host, 'accuracy', width, height, `Accuracy against ensemble size: ${summary.join(', ')}`);
  const { plot, svg } = frame;
  const x = scaleLinear().domain([1, lastM]).range([0, frame.width]).nice();
  const y = scaleLinear().domain([0, 1]).range([frame.height, 0]);
  drawAxes(frame, x, y, { x: 'ensemble size M', y: 'exact-match accuracy' }, { y: 5, yFormat: percentTick });

  const path = line<[number, number]>()
    .x((d) => x(d[0]))
    .y((d) => y(d[1]));
  const series = [
    { id: 'theory', curve: theory },
    { id: 'empirical', curve: empirical },
  ];
  const groups = plot
    .selectAll<SVGGElement, (typeof series)[number]>('g.series')
    .data(series, (d) => d.id)
    .join((enter) => {
      const g = enter.append('g').attr('class', (d) => `series series-${d.id}`);
      g.append('path').attr('class', 'curve');
      return g;
    })
    .attr('data-series', (d) => d.id)
    .attr('data-points', (d) => d.curve?.models.length ?? 0);
  groups
    .select('path.curve')
    .attr('d', (d) => (d.curve ? path(d.curve.models.map((m, i) => [m, d.curve!.accuracy[i]])) : null));
  // Dots on the empirical curve (each M is one measured ensemble), up to a few hundred.
  const dots = empirical && empirical.models.length <= 400 ? empirical.models.map((m, i) => ({ m, a: empirical.accuracy[i] })) : [];
  groups
    .filter((d) => d.id === 'empirical')
    .selectAll<SVGCircleElement, { m: number; a: number }>('circle.point')
    .data(dots, (d) => String(d.m))
    .join('circle')
    .attr('class', 'point')
    .attr('r', dots.length > 80 ? 2 : 3)
    .attr('cx', (d) => x(d.m))
    .attr('cy', (d) => y(d.a));

  // The 1 − δ target line and the stopping M.
  const target = plot.selectAll<SVGGElement, number>('g.target').data([view.target]).join((enter) => {
    const g = enter.append('g').attr('class', 'target');
    g.append('line');
    g.append('text').attr('text-anchor', 'end');
    return g;
  });
  target.attr('data-target', (d) => d);
  target.select('line').attr('x1', 0).attr('x2', frame.width).attr('y1', y(view.target)).attr('y2', y(view.target));
  target.select('text').attr('x', frame.width - 4).attr('y', y(view.target) + 14).text(`1 − δ = ${formatPercent(view.target)}`);

  const stop = plot
    .selectAll<SVGGElement, NonNullable<AccuracyView['stop']>>('g.stop')
    .data(view.stop ? [view.stop] : [], (d) => d.source)
    .join((enter) => {
      const g = enter.append('g').attr('class', 'stop');
      g.append('line');
      g.append('circle');
      g.append('text');
      return g;
    });
  stop.attr('data-models', (d) => d.models).attr('data-source', (d) => d.source);
  stop.select('line').attr('x1', (d) => x(d.models)).attr('x2', (d) => x(d.models)).attr('y1', frame.height).attr('y2', 0);
  stop.select('circle').attr('r', 5).attr('cx', (d) => x(d.models)).attr('cy', y(view.target));
  stop
    .select('text')
    .attr('x', (d) => x(d.models) + (x(d.models) > frame.width - 90 ? -6 : 6))
    .attr('text-anchor', (d) => (x(d.models) > frame.width - 90 ? 'end' : 'start'))
    .attr('y', 12)
    .text((d) => `${d.source === 'theory' ? 'theory ' : ''}M = ${formatCount(d.models)}`);

  // Hover and arrow keys read the curves at one M.
  const cursor = plot.selectAll<SVGLineElement, number>('line.cursor').data([0]).join('line').attr('class', 'cursor').attr('y1', 0).attr('y2', frame.height);
  const reference = empirical ?? theory;
  let index = -1;
  const at = (curve: Curve | null, m: number) => {
    if (!curve) return null;
    const i = bisectLeft(curve.models, m);
    return curve.models[i] === m ? curve.accuracy[i] : null;
  };
  const show = (i: number) => {
    if (!reference) return;
    index = Math.max(0, Math.min(reference.models.length - 1, i));
    const m = reference.models[index];
    cursor.attr('x1', x(m)).attr('x2', x(m)).classed('visible', true);
    const e = at(empirical, m);
    const t = at(theory, m);
    const lines = [`M = ${formatCount(m)}`];
    if (e !== null) lines.push(`empirical ${formatPercent(e)}`);
    if (t !== null) lines.push(`theory    ${formatPercent(t)}`);
    showTooltip(cursor.node()!, lines.join('\n'));
  };
  const hide = () => {
    cursor.classed('visible', false);
    hideTooltip();
  };
  const overlay = plot.selectAll<SVGRectElement, number>('rect.overlay').data([0]).join('rect').attr('class', 'overlay').attr('width', frame.width).attr('height', frame.height);
  overlay.on('mousemove', (event: MouseEvent) => {
    if (!reference) return;
    const [px] = pointer(event, overlay.node());
    const m = Math.round(x.invert(px));
    show(Math.min(reference.models.length - 1, Math.max(0, bisectLeft(reference.models, m))));
  });
  overlay.on('mouseleave', hide);
  svg
    .attr('tabindex', reference ? 0 : null)
    .on('keydown', (event: KeyboardEvent) => {
      if (!reference) return;
      const step = event.shiftKey ? 10 : 1;
      if (event.key === 'ArrowRight') show(index < 0 ? 0 : index + step);
      else if (event.key === 'ArrowLeft') show(index < 0 ? 0 : index - step);
      else if (event.key === 'Home') show(0);
      else if (event.key === 'End') show(reference.models.length - 1);
      else if (event.key === 'Escape') hide();
      else return;
      event.preventDefault();
    })
    .on('blur', hide);
}

// ---- ensemble size against k --------------------------------------------------------------------------------------------

export interface SizePoint {
  k: number;
  models: number;
}

export interface SizeSeries {
  id: 'ours' | 'paper' | 'theory';
  label: string;
  points: SizePoint[];
}

export type SizeScale = 'log' | 'linear';

export function renderEnsembleSizePlot(host: HTMLElement, series: SizeSeries[], scale: SizeScale, target: number, width: number, height: number): void {
  const all = series.flatMap((s) => s.points);
  const frame = plotFrame(
    host,
    'ensemble-size',
    width,
    height,
    `Ensemble size for ${formatPercent(target)} against k: ${series.map((s) => `${s.label} ${s.points.length} points`).join(', ')}`,
  );
  const { plot } = frame;
  const ks = [...new Set(all.map((p) => p.k))].sort((a, b) => a - b);
  const kLow = min(ks) ?? 2;
  const kHigh = max(ks) ?? 30;
  const pad = Math.max(1, (kHigh - kLow) * 0.05);
  const x = scaleLinear().domain([kLow - pad, kHigh + pad]).range([0, frame.width]);
  const top = Math.max(2, max(all, (p) => p.models) ?? 10);
  const bottom = Math.max(1, min(all, (p) => p.models) ?? 1);
  const y =
    scale === 'log'
      ? scaleLog().domain([Math.max(1, bottom / 1.3), top * 1.3]).range([frame.height, 0])
      : scaleLinear().domain([0, top * 1.08]).range([frame.height, 0]).nice();
  drawAxes(
    frame,
    x,
    y,
    { x: 'k (input size)', y: `ensemble size M (${scale})` },
    {
      xValues: ks.length <= 12 ? ks : undefined,
      xFormat: format('d'),
      y: scale === 'log' ? 4 : 5,
      yFormat: scale === 'log' ? (v) => (Math.log10(v) % 1 === 0 || [2, 5].includes(+String(v)[0]) ? formatCount(v) : '') : format(','),
    },
  );
  const path = line<SizePoint>()
    .x((d) => x(d.k))
    .y((d) => y(d.models));
  const groups = plot
    .selectAll<SVGGElement, SizeSeries>('g.series')
    .data(series, (d) => d.id)
    .join((enter) => {
      const g = enter.append('g').attr('class', (d) => `series series-${d.id}`);
      g.append('path').attr('class', 'curve');
      return g;
    })
    .attr('data-series', (d) => d.id)
    .attr('data-points', (d) => d.points.length);
  groups.select('path.curve').attr('d', (d) => path(d.points));
  groups.each(function (s) {
    const marks = plotGroup(this)
      .selectAll<SVGPathElement, SizePoint>('path.point')
      .data(s.points, (d) => String(d.k))
      .join('path')
      .attr('class', 'point')
      .attr('tabindex', 0)
      .attr('d', markerPath(s.id))
      .attr('transform', (d) => `translate(${x(d.k)},${y(d.models)})`)
      .attr('aria-label', (d) => `${s.label}: k = ${d.k}, M = ${d.models}`);
    withTooltip(marks, (d) => `${s.label}\nk = ${d.k}\nM = ${formatCount(d.models)}`);
  });
}

function plotGroup(element: SVGGElement) {
  return select(element);
}

/** A distinct marker per series, so the legend reads without colour: circle, square, diamond. */
export function markerPath(id: SizeSeries['id']): string {
  if (id === 'paper') return 'M-3.5,-3.5H3.5V3.5H-3.5Z';
  if (id === 'theory') return 'M0,-4.5L4.5,0L0,4.5L-4.5,0Z';
  return 'M-4,0A4,4 0 1,0 4,0A4,4 0 1,0 -4,0Z';
}

// ---- margin histogram -------------------------------------------------------------------------------------------------

export interface MarginView {
  edges: number[];
  counts: number[];
  /** Distinct inputs and their total weight. */
  inputs: number;
}

interface Bar {
  i: number;
  low: number;
  high: number;
  count: number;
}

export function renderMarginHistogram(host: HTMLElement, view: MarginView, width: number, height: number): void {
  const bars: Bar[] = view.counts.map((count, i) => ({ i, low: view.edges[i], high: view.edges[i + 1], count }));
  const wrong = bars.filter((b) => b.high <= 0).reduce((s, b) => s + b.count, 0);
  const frame = plotFrame(host, 'margins', width, height, `Per-input margins: ${bars.length} bins, ${wrong} inputs below zero`);
  const { plot } = frame;
  const low = min(view.edges) ?? -1;
  const high = max(view.edges) ?? 1;
  const x = scaleLinear().domain([Math.min(low, 0), Math.max(high, 0)]).range([0, frame.width]);
  const y = scaleLinear().domain([0, Math.max(1, max(view.counts) ?? 1)]).range([frame.height, 0]).nice();
  drawAxes(frame, x, y, { x: 'margin (worst coordinate, mean − τ)', y: 'inputs' }, { y: 5, xFormat: formatMargin, yFormat: format(',~g') });
  const group = plot.selectAll<SVGGElement, number>('g.bars').data([0]).join('g').attr('class', 'bars').attr('data-bars', bars.length);
  const rects = group
    .selectAll<SVGRectElement, Bar>('rect.bar')
    .data(bars, (d) => String(d.i))
    .join('rect')
    .attr('class', (d) => `bar ${d.high <= 0 ? 'wrong' : d.low < 0 ? 'straddle' : 'right'}`)
    .attr('x', (d) => x(d.low) + 0.5)
    .attr('width', (d) => Math.max(1, x(d.high) - x(d.low) - 1))
    .attr('y', (d) => y(d.count))
    .attr('height', (d) => frame.height - y(d.count))
    .attr('data-count', (d) => d.count);
  withTooltip(rects, (d) => `[${formatMargin(d.low)}, ${formatMargin(d.high)})\n${formatCount(d.count)} input${d.count === 1 ? '' : 's'}`);
  plot
    .selectAll<SVGLineElement, number>('line.zero')
    .data(low < 0 && high > 0 ? [0] : [])
    .join('line')
    .attr('class', 'zero')
    .attr('x1', x(0))
    .attr('x2', x(0))
    .attr('y1', 0)
    .attr('y2', frame.height);
}
