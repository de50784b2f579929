/**
 * The Permutation Probe webview: one panel with four plots of the permutation-learning probe (REFERENCES §3):
 * (a) exact-match accuracy against ensemble size, empirical and theory, with the 1 − δ line and the stopping M;
 * (b) the ensemble size that reaches the target against k, ours beside the paper's and the theory's;
 * (c) the per-input margin histogram of the last ensemble;
 * (d) the LM copy probe's heat map of accuracy by k × shots, with the failing positions.
 * A small form starts a new run or the paper's reproduction; while a job runs, a progress bar and Cancel show.
 *
 * The server computes everything; this view draws what the extension posts (`ToPermutation`) and posts what the
 * user asks for (`FromPermutation`). Its state (the last results, the form and the axis scale) survives hiding and
 * reloading through `vscode.getState()` / `setState()` (REFERENCES §6); it is restored first, then the view posts
 * `ready`.
 */
import { select } from 'd3-selection';
import type {
  CopyProbeResult,
  FromPermutation,
  PermutationProbeResult,
  PermutationTheoryResult,
  ReproductionResult,
  ToPermutation,
} from '../permutationMessages';
import { formatCount, formatPercent, redrawOnWidthChange } from '../shared/chart';
import { buildForm, DEFAULT_RUN, type RunValues } from './form';
import { renderHeatmap } from './heatmap';
import {
  markerPath,
  renderAccuracyPlot,
  renderEnsembleSizePlot,
  renderMarginHistogram,
  type AccuracyView,
  type SizeScale,
  type SizeSeries,
} from './plots';
import { connectToVsCode, isObject } from '../shared/vscodeHost';

export type PostMessage = (message: FromPermutation) => void;

/** Experiment 1 of the paper (width 50,000, 90% on two-one inputs); the same numbers as the server's PAPER_EXPERIMENT_1. */
export const PAPER_MODELS: { k: number; models: number }[] = [
  { k: 5, models: 43 },
  { k: 10, models: 69 },
  { k: 15, models: 103 },
  { k: 20, models: 117 },
  { k: 25, models: 157 },
  { k: 30, models: 175 },
];

/** What getState / setState keep. */
export interface SavedPermutation {
  version: 1;
  theory: PermutationTheoryResult | null;
  ensemble: PermutationProbeResult | null;
  reproduction: ReproductionResult | null;
  copyProbe: CopyProbeResult | null;
  /** Which of theory / ensemble arrived last: the accuracy plot shows it. */
  latest: 'theory' | 'ensemble' | null;
  form: RunValues;
  scale: SizeScale;
}

const DEFAULTS: SavedPermutation = {
  version: 1,
  theory: null,
  ensemble: null,
  reproduction: null,
  copyProbe: null,
  latest: null,
  form: DEFAULT_RUN,
  scale: 'log',
};

export const EMPTY_ACCURACY_HINT = 'No run yet. Set k and the other values above and press Run.';
export const EMPTY_MARGINS_HINT = 'The margins of each input appear after an ensemble run.';
export const EMPTY_COPY_HINT = 'No copy probe yet. Run "Model Lens: Probe Model Copying…" on a causal language model to fill this map.';

// ---- messages in -------------------------------------------------------------------------------------------------

function isToPermutation(value: unknown): value is ToPermutation {
  if (!isObject(value) || typeof value.type !== 'string') return false;
  switch (value.type) {
    case 'theory':
      return isObject(value.state) && Array.isArray(value.state.supportSizes) && isObject(value.state.curves);
    case 'ensemble':
      return isObject(value.state) && isObject(value.state.curve) && isObject(value.state.margins);
    case 'reproduction':
      return isObject(value.state) && Array.isArray(value.state.rows);
    case 'copyProbe':
      return isObject(value.state) && Array.isArray(value.state.ks) && Array.isArray(value.state.shots) && isObject(value.state.heatmap);
    case 'busy':
    case 'error':
      return typeof value.message === 'string';
    default:
      return false;
  }
}

function restore(state: unknown): SavedPermutation {
  if (!isObject(state) || state.version !== 1) return { ...DEFAULTS };
  const saved = { ...DEFAULTS, ...(state as Partial<SavedPermutation>) };
  saved.form = { ...DEFAULT_RUN, ...(isObject(state.form) ? (state.form as Partial<RunValues>) : {}) };
  if (saved.scale !== 'log' && saved.scale !== 'linear') saved.scale = 'log';
  return saved;
}

// ---- from results to plot data --------------------------------------------------------------------------------------

/** The theory's M for the paper's test set (two-one inputs) when k > 16, else for the average over all inputs. */
function theoryCurve(theory: PermutationTheoryResult): AccuracyView {
  const allInputs = theory.k <= 16;
  const models = allInputs ? theory.models.allInputsAverage.models : theory.models.twoOnes.models;
  return {
    empirical: null,
    theory: { models: theory.curves.models, accuracy: allInputs ? theory.curves.allInputsAverage : theory.curves.twoOnes },
    target: 1 - theory.delta,
    stop: models === null ? null : { models, source: 'theory' },
  };
}

export function accuracyView(saved: SavedPermutation): AccuracyView | null {
  const { ensemble, theory } = saved;
  if (ensemble && (saved.latest !== 'theory' || !theory)) {
    return {
      empirical: ensemble.curve,
      theory: ensemble.theoryCurve,
      target: ensemble.options.target,
      stop: ensemble.stoppedAt === null ? null : { models: ensemble.stoppedAt, source: 'empirical' },
    };
  }
  return theory ? theoryCurve(theory) : null;
}

export function sizeSeries(saved: SavedPermutation): SizeSeries[] {
  const rows = saved.reproduction?.rows ?? [];
  const paperRows = rows.filter((r) => r.paper !== null).map((r) => ({ k: r.k, models: r.paper! }));
  const ours = rows.filter((r) => r.ours !== null).map((r) => ({ k: r.k, models: r.ours! }));
  if (ours.length === 0 && saved.ensemble?.stoppedAt != null && saved.ensemble.evaluationSet.kind === 'two-ones') {
    ours.push({ k: saved.ensemble.options.k, models: saved.ensemble.stoppedAt });
  }
  let theory = rows
    .map((r) => ({ k: r.k, models: r.theoryOurWidth ?? r.theoryInfiniteWidth }))
    .filter((p): p is { k: number; models: number } => p.models !== null);
  if (theory.length === 0) {
    const source = saved.theory ?? saved.ensemble?.theory ?? null;
    const growth = (source?.growth ?? []).filter((g) => g.k <= 30 && g.twoOnes !== null).map((g) => ({ k: g.k, models: g.twoOnes! }));
    if (source && source.models.twoOnes.models !== null && !growth.some((g) => g.k === source.k)) {
      growth.push({ k: source.k, models: source.models.twoOnes.models });
    }
    theory = growth.sort((a, b) => a.k - b.k);
  }
  const series: SizeSeries[] = [
    { id: 'paper', label: 'paper (width 50,000)', points: paperRows.length ? paperRows : PAPER_MODELS },
    { id: 'theory', label: `theory${saved.reproduction ? ` (width ${formatCount(saved.reproduction.width)})` : ''}`, points: theory },
    { id: 'ours', label: `ours${saved.reproduction ? ` (width ${formatCount(saved.reproduction.width)})` : ''}`, points: ours },
  ];
  return series;
}

// ---- copy -----------------------------------------------------------------------------------------------------------

function csvField(value: string | number | null): string {
  const text = value === null ? '' : String(value);
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csv(header: string[], rows: (string | number | null)[][]): string {
  return [header, ...rows].map((row) => row.map(csvField).join(',')).join('\r\n') + '\r\n';
}

/** The ensemble sizes by k when a reproduction ran, else the accuracy curve drawn. */
export function permutationCsv(saved: SavedPermutation): string {
  if (saved.reproduction) {
    return csv(
      ['k', 'ours', 'paper', 'theory_our_width', 'theory_infinite_width', 'ours_accuracy'],
      saved.reproduction.rows.map((r) => [r.k, r.ours, r.paper, r.theoryOurWidth, r.theoryInfiniteWidth, r.oursAccuracy]),
    );
  }
  const view = accuracyView(saved);
  const reference = view?.empirical ?? view?.theory;
  if (!view || !reference) return csv(['models', 'empirical', 'theory'], []);
  return csv(
    ['models', 'empirical', 'theory'],
    reference.models.map((m, i) => [m, view.empirical?.accuracy[i] ?? null, view.theory?.accuracy[view.theory.models.indexOf(m)] ?? null]),
  );
}

// ---- the view --------------------------------------------------------------------------------------------------------

function element<K extends keyof HTMLElementTagNameMap>(parent: HTMLElement, tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const el = parent.appendChild(document.createElement(tag));
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

interface Card {
  section: HTMLElement;
  body: HTMLDivElement;
  empty: HTMLParagraphElement;
  note: HTMLParagraphElement;
}

function card(parent: HTMLElement, id: string, title: string, emptyText: string): Card {
  const section = element(parent, 'section', 'card');
  section.dataset.card = id;
  section.setAttribute('aria-label', title);
  const header = element(section, 'header');
  element(header, 'h2', undefined, title);
  const note = element(section, 'p', 'note');
  const body = element(section, 'div', 'card-body');
  const empty = element(section, 'p', 'empty', emptyText);
  return { section, body, empty, note };
}

export function startPermutationProbe(root: HTMLElement, post: PostMessage, initial: unknown, persist: (state: SavedPermutation) => void) {
  const saved = restore(initial);
  const transient: { busy: { message: string; fraction?: number } | null; error: string | null } = { busy: null, error: null };
  const save = () => persist(saved);

  root.classList.add('permutation');
  const header = element(root, 'header', 'top');
  element(header, 'h1', undefined, 'Permutation Probe');
  const summary = element(header, 'p', 'summary');
  const toolbar = element(header, 'div', 'toolbar');
  const copyJson = element(toolbar, 'button', 'secondary', 'Copy JSON');
  copyJson.name = 'copy-json';
  const copyCsv = element(toolbar, 'button', 'secondary', 'Copy CSV');
  copyCsv.name = 'copy-csv';
  copyJson.addEventListener('click', () => {
    const { version: _version, form: _form, scale: _scale, latest: _latest, ...results } = saved;
    post({ type: 'copy', format: 'json', text: JSON.stringify(results, null, 2) });
  });
  copyCsv.addEventListener('click', () => post({ type: 'copy', format: 'csv', text: permutationCsv(saved) }));

  const renderForm = buildForm(element(root, 'div', 'form-host'), {
    run: (values) => post({ type: 'run', ...values }),
    reproduce: () => post({ type: 'reproduce' }),
    cancel: () => post({ type: 'cancel' }),
    change: (values) => {
      saved.form = values;
      save();
    },
  });
  const errorBox = element(root, 'div', 'error');
  errorBox.setAttribute('role', 'alert');
  errorBox.hidden = true;

  const grid = element(root, 'div', 'grid');
  const accuracy = card(grid, 'accuracy', 'Accuracy against ensemble size', EMPTY_ACCURACY_HINT);
  const sizes = card(grid, 'ensemble-size', 'Ensemble size against k', '');
  const margins = card(grid, 'margins', 'Per-input margins', EMPTY_MARGINS_HINT);
  const copy = card(grid, 'copy-probe', 'LM copy probe: accuracy by k × shots', EMPTY_COPY_HINT);
  copy.section.classList.add('wide');

  // Legend and scale toggle of the ensemble-size plot.
  const sizeHeader = sizes.section.querySelector('header')!;
  const scaleGroup = element(sizeHeader, 'div', 'segmented');
  scaleGroup.setAttribute('role', 'group');
  scaleGroup.setAttribute('aria-label', 'Axis scale');
  const scaleButtons = (['log', 'linear'] as const).map((scale) => {
    const button = element(scaleGroup, 'button', undefined, scale);
    button.type = 'button';
    button.dataset.scale = scale;
    button.addEventListener('click', () => {
      saved.scale = scale;
      save();
      render();
    });
    return button;
  });
  const legend = element(sizes.section, 'ul', 'legend');
  sizes.section.insertBefore(legend, sizes.body);
  const accuracyLegend = element(accuracy.section, 'ul', 'legend');
  accuracy.section.insertBefore(accuracyLegend, accuracy.body);

  function legendItems(host: HTMLElement, items: { id: string; label: string; marker: 'line' | 'dash' | SizeSeries['id'] }[]) {
    select(host)
      .selectAll<HTMLLIElement, (typeof items)[number]>('li')
      .data(items, (d) => d.id)
      .join((enter) => {
        const li = enter.append('li');
        const svg = li.append('svg').attr('width', 22).attr('height', 12).attr('aria-hidden', 'true');
        svg.append('line').attr('x1', 1).attr('x2', 21).attr('y1', 6).attr('y2', 6);
        svg.append('path').attr('transform', 'translate(11,6)');
        li.append('span');
        return li;
      })
      .attr('class', (d) => `series-${d.id}`)
      .call((li) => li.select('path').attr('d', (d) => (d.marker === 'line' || d.marker === 'dash' ? null : markerPath(d.marker))))
      .call((li) => li.select('span').text((d) => d.label));
  }

  function widthOf(body: HTMLElement): number {
    return Math.max(240, Math.floor(body.clientWidth || 420));
  }

  function renderSummary() {
    const parts: string[] = [];
    const e = saved.latest !== 'theory' ? saved.ensemble : null;
    const t = saved.theory;
    if (e) {
      const o = e.options;
      parts.push(`k = ${o.k}, width ${formatCount(o.width)}, ${o.param === 'ntk' ? 'NTK' : 'standard'} parameterisation`);
      parts.push(`${formatCount(e.evaluationSet.distinctInputs)} ${e.evaluationSet.kind === 'all' ? 'inputs (all)' : 'two-one inputs'}`);
      parts.push(
        e.stoppedAt === null
          ? `${formatPercent(o.target)} not reached with ${formatCount(e.models)} models`
          : `${formatPercent(o.target)} reached at M = ${formatCount(e.stoppedAt)}`,
      );
    } else if (t) {
      parts.push(`theory at k = ${t.k}, ${t.width === null ? 'infinite width' : `width ${formatCount(t.width)}`}, ${t.param === 'ntk' ? 'NTK' : 'standard'}`);
      const m = t.models;
      parts.push(`M: worst input ${m.oneInput.models ?? '—'}, two-one inputs ${m.twoOnes.models ?? '—'}, all inputs ${m.allInputs.models ?? '—'}`);
    } else parts.push('Nothing run yet.');
    summary.textContent = parts.join(' · ');
  }

  function render() {
    renderSummary();
    renderForm({ values: saved.form, busy: transient.busy });
    errorBox.hidden = transient.error === null;
    errorBox.textContent = transient.error ?? '';
    copyJson.disabled = copyCsv.disabled = !(saved.theory || saved.ensemble || saved.reproduction || saved.copyProbe);

    // (a) accuracy against M
    const view = accuracyView(saved);
    accuracy.empty.hidden = view !== null;
    accuracy.body.hidden = view === null;
    accuracyLegend.hidden = view === null;
    if (view) {
      legendItems(accuracyLegend, [
        ...(view.empirical ? [{ id: 'empirical', label: 'empirical', marker: 'ours' as const }] : []),
        { id: 'theory', label: 'theory (GP)', marker: 'line' },
        { id: 'target', label: '1 − δ', marker: 'dash' },
      ]);
      renderAccuracyPlot(accuracy.body, view, widthOf(accuracy.body), 260);
      accuracy.note.textContent = view.empirical
        ? 'Exact-match accuracy of the running ensemble mean; the theory curve is the NTK-GP prediction on the same inputs.'
        : 'Expected accuracy of the converged NTK-GP ensemble (no empirical run yet).';
    } else accuracy.note.textContent = '';

    // (b) ensemble size against k
    const series = sizeSeries(saved);
    const target = saved.reproduction?.target ?? 0.9;
    sizes.empty.hidden = true;
    sizes.note.textContent = `Models needed for ${formatPercent(target)} exact match on two-one inputs.`;
    for (const button of scaleButtons) button.setAttribute('aria-pressed', String(button.dataset.scale === saved.scale));
    legendItems(
      legend,
      series.map((s) => ({ id: s.id, label: s.points.length ? s.label : `${s.label}: none yet`, marker: s.id })),
    );
    renderEnsembleSizePlot(sizes.body, series, saved.scale, target, widthOf(sizes.body), 260);

    // (c) margins
    const ensemble = saved.ensemble;
    margins.empty.hidden = ensemble !== null;
    margins.body.hidden = ensemble === null;
    if (ensemble) {
      renderMarginHistogram(
        margins.body,
        { edges: ensemble.margins.histogram.edges, counts: ensemble.margins.histogram.counts, inputs: ensemble.margins.inputs.length },
        widthOf(margins.body),
        240,
      );
      const wrong = ensemble.margins.margins.filter((m) => m <= 0).length;
      margins.note.textContent = `Worst-coordinate margin of each of ${formatCount(ensemble.margins.inputs.length)} inputs at M = ${formatCount(ensemble.models)}: ${wrong === 0 ? 'all positive (every input right)' : `${formatCount(wrong)} at or below zero (wrong)`}.`;
    } else margins.note.textContent = '';

    // (d) copy probe
    const copyProbe = saved.copyProbe;
    copy.empty.hidden = copyProbe !== null;
    copy.body.hidden = copyProbe === null;
    if (copyProbe) {
      renderHeatmap(copy.body, copyProbe, { showPrompt: (k, shots) => post({ type: 'showPrompt', k, shots }) }, Math.min(640, widthOf(copy.body)));
      copy.note.textContent = `${copyProbe.permutationKind === 'identity' ? 'Copy' : `Rearrange (${copyProbe.permutationKind})`} k words; ${copyProbe.queries} prompts per cell. Click a cell for its prompts.`;
    } else copy.note.textContent = '';
  }

  function receive(message: ToPermutation) {
    switch (message.type) {
      case 'theory':
        saved.theory = message.state;
        saved.latest = 'theory';
        transient.busy = null;
        transient.error = null;
        break;
      case 'ensemble': {
        saved.ensemble = message.state;
        saved.latest = 'ensemble';
        const o = message.state.options;
        saved.form = { k: o.k, width: o.width, param: o.param, target: o.target, maxModels: o.maxModels };
        transient.busy = null;
        transient.error = null;
        break;
      }
      case 'reproduction':
        saved.reproduction = message.state;
        transient.busy = null;
        transient.error = null;
        break;
      case 'copyProbe':
        saved.copyProbe = message.state;
        transient.busy = null;
        transient.error = null;
        break;
      case 'busy':
        transient.busy = { message: message.message, fraction: message.fraction };
        transient.error = null;
        break;
      case 'error':
        transient.busy = null;
        transient.error = message.message;
        break;
    }
    save();
    render();
  }

  redrawOnWidthChange(grid, render);

  render();
  return { receive, saved: () => saved };
}

// ---- wiring to VS Code ---------------------------------------------------------------------------------------------

connectToVsCode<ToPermutation, FromPermutation>(isToPermutation, startPermutationProbe);
