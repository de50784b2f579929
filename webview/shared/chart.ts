/**
 * What the D3 plots share (Permutation Probe, Backpack Senses): an SVG frame with margins, axes and axis labels (d3-axis), a tooltip,
 * and number formats. Colours come from CSS classes (media/<view>.css), never from code.
 */
import { axisBottom, axisLeft, type AxisScale } from 'd3-axis';
import { format } from 'd3-format';
import { select, type Selection } from 'd3-selection';

export interface Frame {
  svg: Selection<SVGSVGElement, unknown, null, undefined>;
  /** The plotting area, translated by the margins. */
  plot: Selection<SVGGElement, unknown, null, undefined>;
  width: number;
  height: number;
}

export const MARGIN = { top: 12, right: 16, bottom: 40, left: 52 };

/** The SVG of one plot inside `host` (created once, then reused so joins update in place). */
export function plotFrame(host: HTMLElement, name: string, outerWidth: number, outerHeight: number, label: string): Frame {
  let svg = select(host).select<SVGSVGElement>('svg.plot');
  if (svg.empty()) {
    svg = select(host).append('svg').attr('class', 'plot').attr('data-plot', name).attr('role', 'img');
    const plot = svg.append('g').attr('class', 'area');
    plot.append('g').attr('class', 'grid');
    plot.append('g').attr('class', 'axis x-axis');
    plot.append('g').attr('class', 'axis y-axis');
    plot.append('text').attr('class', 'axis-label x-label').attr('text-anchor', 'middle');
    plot.append('text').attr('class', 'axis-label y-label').attr('text-anchor', 'middle');
  }
  const width = Math.max(120, outerWidth - MARGIN.left - MARGIN.right);
  const height = Math.max(80, outerHeight - MARGIN.top - MARGIN.bottom);
  svg.attr('width', outerWidth).attr('height', outerHeight).attr('viewBox', `0 0 ${outerWidth} ${outerHeight}`).attr('aria-label', label);
  const plot = svg.select<SVGGElement>('g.area').attr('transform', `translate(${MARGIN.left},${MARGIN.top})`);
  return { svg, plot, width, height };
}

/** Draws both axes, light horizontal grid lines at the y ticks, and the axis labels. */
export function drawAxes(
  frame: Frame,
  x: AxisScale<number>,
  y: AxisScale<number>,
  labels: { x: string; y: string },
  ticks: { x?: number; y?: number; xFormat?: (v: number) => string; yFormat?: (v: number) => string; xValues?: number[] } = {},
): void {
  const { plot, width, height } = frame;
  const xAxis = axisBottom(x).ticks(ticks.x ?? Math.max(2, Math.floor(width / 70)));
  if (ticks.xFormat) xAxis.tickFormat((v) => ticks.xFormat!(Number(v)));
  if (ticks.xValues) xAxis.tickValues(ticks.xValues);
  const yAxis = axisLeft(y).ticks(ticks.y ?? Math.max(2, Math.floor(height / 40)));
  if (ticks.yFormat) yAxis.tickFormat((v) => ticks.yFormat!(Number(v)));
  plot.select<SVGGElement>('g.x-axis').attr('transform', `translate(0,${height})`).call(xAxis);
  plot.select<SVGGElement>('g.y-axis').call(yAxis);
  // Grid lines only at labelled ticks (a log axis has unlabelled minor ticks).
  const gridTicks = plot.selectAll<SVGGElement, number>('g.y-axis g.tick').data().map(Number).filter((d) => !ticks.yFormat || ticks.yFormat(d) !== '');
  plot
    .select('g.grid')
    .selectAll<SVGLineElement, number>('line')
    .data(gridTicks, (d) => String(d))
    .join('line')
    .attr('x1', 0)
    .attr('x2', width)
    .attr('y1', (d) => (y(d) ?? 0) + 0.5)
    .attr('y2', (d) => (y(d) ?? 0) + 0.5);
  plot.select('text.x-label').attr('x', width / 2).attr('y', height + 34).text(labels.x);
  plot.select('text.y-label').attr('transform', `translate(${-40},${height / 2}) rotate(-90)`).text(labels.y);
}

// ---- tooltip ----------------------------------------------------------------------------------------------------------

let tooltipElement: HTMLDivElement | null = null;

function tooltipDiv(): HTMLDivElement {
  if (!tooltipElement || !tooltipElement.isConnected) {
    tooltipElement = document.body.appendChild(document.createElement('div'));
    tooltipElement.className = 'tooltip';
    tooltipElement.setAttribute('role', 'tooltip');
    tooltipElement.hidden = true;
  }
  return tooltipElement;
}

/** Shows `text` beside `target` (an SVG element or HTML element), flipped left near the right edge. */
export function showTooltip(target: Element, text: string): void {
  const tip = tooltipDiv();
  const box = target.getBoundingClientRect();
  tip.textContent = text;
  tip.hidden = false;
  const flip = box.right + 220 > window.innerWidth;
  tip.classList.toggle('flip', flip);
  tip.style.left = `${(flip ? box.left - 6 : box.right + 6) + window.scrollX}px`;
  tip.style.top = `${box.top - 4 + window.scrollY}px`;
}

export function hideTooltip(): void {
  if (tooltipElement) tooltipElement.hidden = true;
}

/** Wires hover and keyboard focus of a joined selection to the tooltip. */
export function withTooltip<E extends Element, D>(selection: Selection<E, D, SVGGElement | HTMLElement, unknown>, text: (d: D) => string): void {
  selection
    .on('mouseenter focus', function (_event: Event, d: D) {
      showTooltip(this, text(d));
    })
    .on('mouseleave blur', hideTooltip);
}

// ---- formats ------------------------------------------------------------------------------------------------------------

export const formatPercent = format('.1%');
export const formatCount = format(',');
export const formatFraction = format('.2f');
export const formatMargin = format('.3~g');

/** Calls `render` on the next frame whenever `element` changes width (plots are sized by width; heights follow). */
export function redrawOnWidthChange(element: Element, render: () => void): void {
  let frame = 0;
  let lastWidth = element.clientWidth;
  new ResizeObserver(() => {
    const width = element.clientWidth;
    if (width === lastWidth) return;
    lastWidth = width;
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(render);
  }).observe(element);
}
