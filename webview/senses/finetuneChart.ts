/**
 * A sense-finetuning report per epoch (REFERENCES §2, "Sense finetuning"), as three small plots over the epochs, with
 * epoch 0 the model before training:
 * - the canonical examples' mean loss;
 * - the general text's relative loss change, against the degradation budget line (epochs over it are marked);
 * - the success rate on the evaluation examples, when there were some.
 * The kept epoch (the last within the budget) is a vertical line in each. Below, the examples before and after.
 *
 * Each SVG carries `data-plot` ("canonical-loss", "general-change", "success-rate") and `data-points`; the budget
 * line is `g.budget` with `data-budget`.
 */
import { format } from 'd3-format';
import { scaleLinear } from 'd3-scale';
import { line } from 'd3-shape';
import type { FinetuneView } from '../sensesMessages';
import { drawAxes, plotFrame, withTooltip, type Frame } from '../shared/chart';
import { formatCount, formatProbability, formatRelative, formatScore, wordLabel } from './format';

const formatPercentTick = format('.0%');

interface Point {
  epoch: number;
  value: number;
  over?: boolean;
}

function el<K extends keyof HTMLElementTagNameMap>(parent: HTMLElement, tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = parent.appendChild(document.createElement(tag));
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function drawSeries(frame: Frame, points: Point[], x: (v: number) => number, y: (v: number) => number, describe: (p: Point) => string): void {
  const path = line<Point>()
    .x((p) => x(p.epoch))
    .y((p) => y(p.value));
  frame.plot.selectAll('path.curve').data([points]).join('path').attr('class', 'curve').attr('d', path);
  const dots = frame.plot
    .selectAll<SVGCircleElement, Point>('circle.point')
    .data(points, (p) => String(p.epoch))
    .join('circle')
    .attr('class', (p) => `point${p.over ? ' over' : ''}`)
    .attr('tabindex', 0)
    .attr('r', 3.5)
    .attr('cx', (p) => x(p.epoch))
    .attr('cy', (p) => y(p.value))
    .attr('aria-label', describe);
  withTooltip(dots, describe);
}

function drawChosen(frame: Frame, epoch: number, x: (v: number) => number): void {
  const chosen = frame.plot.selectAll('g.chosen').data(epoch > 0 ? [epoch] : []).join((enter) => {
    const g = enter.append('g').attr('class', 'chosen');
    g.append('line');
    g.append('text').attr('text-anchor', 'middle');
    return g;
  });
  chosen.attr('data-epoch', (e) => e);
  chosen.select('line').attr('x1', (e) => x(e)).attr('x2', (e) => x(e)).attr('y1', 0).attr('y2', frame.height);
  chosen.select('text').attr('x', (e) => x(e)).attr('y', -2).text((e) => `kept: epoch ${e}`);
}

export function renderFinetune(host: HTMLElement, report: FinetuneView, width: number): void {
  host.replaceChildren();
  const epochs = report.epochs;
  const last = Math.max(1, ...epochs.map((e) => e.epoch));
  const plotWidth = Math.max(240, Math.min(420, Math.floor((width - 64) / 3)));
  const height = 220;
  const summary = el(host, 'p', 'finetune-summary');
  const kept = report.chosenEpoch > 0 ? `kept epoch ${report.chosenEpoch}` : 'no epoch stayed within the budget, so nothing was applied';
  summary.textContent = [
    `${formatCount(report.pairs.length)} (word, sense) pairs trained over ${epochs.length} epochs; ${kept}.`,
    `Canonical loss ${formatScore(report.canonicalLossBefore)} → ${formatScore(report.canonicalLossAfter)}; general-text loss change ${formatRelative(report.generalLossChange)} (budget ${formatRelative(report.budget)}).`,
    report.successRateBefore !== undefined && report.successRateAfter !== undefined
      ? `Success rate ${formatProbability(report.successRateBefore)} → ${formatProbability(report.successRateAfter)}.`
      : '',
    report.applied ? 'The edits are in the model (unsaved until you Save).' : '',
  ]
    .filter(Boolean)
    .join(' ');
  const grid = el(host, 'div', 'finetune-plots');

  const x = scaleLinear().domain([0, last]).range([0, 1]);
  const xTicks = Array.from({ length: last + 1 }, (_, i) => i).filter((e) => last <= 12 || e % Math.ceil(last / 10) === 0);
  const plots: { name: string; title: string; points: Point[]; yLabel: string; format: (v: number) => string; budget?: number; fixed?: [number, number] }[] = [
    {
      name: 'canonical-loss',
      title: 'Canonical examples: mean loss',
      points: [{ epoch: 0, value: report.canonicalLossBefore }, ...epochs.map((e) => ({ epoch: e.epoch, value: e.canonicalLoss }))],
      yLabel: 'loss',
      format: formatScore,
    },
    {
      name: 'general-change',
      title: 'General text: relative loss change',
      points: [{ epoch: 0, value: 0 }, ...epochs.map((e) => ({ epoch: e.epoch, value: e.generalLossChange, over: !e.withinBudget }))],
      yLabel: 'Δ loss / loss',
      format: (v) => (v === 0 ? '0' : formatRelative(v)),
      budget: report.budget,
    },
  ];
  if (epochs.some((e) => e.successRate !== undefined)) {
    plots.push({
      name: 'success-rate',
      title: 'Evaluation: success rate',
      points: [
        ...(report.successRateBefore !== undefined ? [{ epoch: 0, value: report.successRateBefore }] : []),
        ...epochs.filter((e) => e.successRate !== undefined).map((e) => ({ epoch: e.epoch, value: e.successRate! })),
      ],
      yLabel: 'success',
      format: (v) => formatPercentTick(v),
      fixed: [0, 1],
    });
  }
  for (const spec of plots) {
    const card = el(grid, 'section', 'plot-card');
    card.dataset.card = spec.name;
    el(card, 'h3', undefined, spec.title);
    const body = el(card, 'div');
    const frame = plotFrame(body, spec.name, plotWidth, height, `${spec.title} by epoch`);
    frame.svg.attr('data-points', spec.points.length).attr('tabindex', null);
    const values = spec.points.map((p) => p.value);
    if (spec.budget !== undefined) values.push(spec.budget);
    let [lo, hi] = spec.fixed ?? [Math.min(0, ...values), Math.max(...values)];
    if (!(hi > lo)) hi = lo + (Math.abs(lo) || 1);
    const y = scaleLinear().domain([lo, hi]).nice().range([frame.height, 0]);
    const xs = (v: number) => x(v) * frame.width;
    const xAxisScale = scaleLinear().domain([0, last]).range([0, frame.width]);
    drawAxes(frame, xAxisScale, y, { x: 'epoch', y: spec.yLabel }, { xValues: xTicks, xFormat: (v) => String(v), yFormat: spec.format, y: 4 });
    if (spec.budget !== undefined) {
      const budget = frame.plot.selectAll('g.budget').data([spec.budget]).join((enter) => {
        const g = enter.append('g').attr('class', 'budget');
        g.append('line');
        g.append('text').attr('text-anchor', 'end');
        return g;
      });
      budget.attr('data-budget', (b) => b);
      budget.select('line').attr('x1', 0).attr('x2', frame.width).attr('y1', (b) => y(b)).attr('y2', (b) => y(b));
      budget.select('text').attr('x', frame.width - 2).attr('y', (b) => y(b) - 4).text((b) => `budget ${formatRelative(b)}`);
    }
    drawSeries(frame, spec.points, xs, (v) => y(v), (p) => `epoch ${p.epoch}: ${spec.format(p.value)}${p.over ? ' (over the budget)' : ''}`);
    drawChosen(frame, report.chosenEpoch, xs);
  }

  // ---- examples and pairs --------------------------------------------------------------------------------------------
  if (report.examples.length > 0) {
    const table = el(host, 'table', 'examples');
    table.dataset.rows = String(report.examples.length);
    const head = el(el(table, 'thead'), 'tr');
    for (const title of ['kind', 'prefix', 'suffix', 'p before', 'p after', 'success']) el(head, 'th', undefined, title).setAttribute('scope', 'col');
    const body = el(table, 'tbody');
    for (const example of report.examples) {
      const row = el(body, 'tr');
      el(row, 'td', undefined, example.kind);
      el(row, 'td', 'prompt', example.prefix);
      el(row, 'td', 'prompt', example.suffixes.map(wordLabel).join(' / '));
      el(row, 'td', 'num', example.before.map(formatProbability).join(' / '));
      el(row, 'td', 'num', example.after.map(formatProbability).join(' / '));
      el(row, 'td', example.successAfter ? 'ok' : 'fail', `${example.successBefore ? '✓' : '✗'} → ${example.successAfter ? '✓' : '✗'}`);
    }
  }
  if (report.pairs.length > 0) {
    const pairs = el(host, 'p', 'pairs');
    pairs.textContent = `Trained senses: ${report.pairs
      .slice(0, 24)
      .map((p) => `${wordLabel(p.token)} ${p.sense} (‖Δ‖ ${formatScore(p.deltaNorm)})`)
      .join(', ')}${report.pairs.length > 24 ? `, and ${report.pairs.length - 24} more` : ''}.`;
  }
}
