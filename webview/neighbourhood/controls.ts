/**
 * The bar above every tab: the tabs (Graph / Projection / Compare, arrow keys move between them), the neighbour
 * controls (k, metric, embedding space) and the copy buttons. Built once, then only updated.
 */
import { select } from 'd3-selection';
import type { EmbeddingSpace, NeighbourMetric, NeighbourhoodTab } from '../neighbourhoodMessages';

export const K_MIN = 5;
export const K_MAX = 200;

export interface Controls {
  k: number;
  metric: NeighbourMetric;
  space: EmbeddingSpace;
}

export interface ControlsView {
  tab: NeighbourhoodTab;
  controls: Controls;
  /** Whether the active tab has something to copy. */
  canCopy: boolean;
}

export interface ControlsActions {
  selectTab(tab: NeighbourhoodTab): void;
  setControls(controls: Controls): void;
  copy(format: 'json' | 'csv'): void;
}

export const TABS: { id: NeighbourhoodTab; label: string }[] = [
  { id: 'graph', label: 'Graph' },
  { id: 'projection', label: 'Projection' },
  { id: 'compare', label: 'Compare' },
];

const METRICS: { value: NeighbourMetric; label: string }[] = [
  { value: 'cosine', label: 'Cosine' },
  { value: 'dot', label: 'Dot product' },
  { value: 'euclidean', label: 'Euclidean' },
];

const SPACES: { value: EmbeddingSpace; label: string }[] = [
  { value: 'input', label: 'Input embeddings' },
  { value: 'output', label: 'Output embeddings' },
];

/** k as typed, made whole and kept within 5–200; NaN when it is not a number. */
export function clampK(value: number): number {
  if (!Number.isFinite(value)) return NaN;
  return Math.min(K_MAX, Math.max(K_MIN, Math.round(value)));
}

function isMetric(value: string): value is NeighbourMetric {
  return METRICS.some((m) => m.value === value);
}

function isSpace(value: string): value is EmbeddingSpace {
  return SPACES.some((s) => s.value === value);
}

function build(root: HTMLElement, actions: ControlsActions): void {
  const bar = select(root).attr('class', 'topbar');
  const tabs = bar.append('div').attr('class', 'tabs').attr('role', 'tablist').attr('aria-label', 'Views');
  tabs
    .selectAll('button')
    .data(TABS)
    .join('button')
    .attr('type', 'button')
    .attr('role', 'tab')
    .attr('id', (d) => `tab-${d.id}`)
    .attr('aria-controls', (d) => `panel-${d.id}`)
    .attr('data-tab', (d) => d.id)
    .text((d) => d.label)
    .on('click', (_event, d) => actions.selectTab(d.id))
    .on('keydown', (event: KeyboardEvent, d) => {
      const i = TABS.findIndex((t) => t.id === d.id);
      let next: number;
      if (event.key === 'ArrowRight') next = (i + 1) % TABS.length;
      else if (event.key === 'ArrowLeft') next = (i + TABS.length - 1) % TABS.length;
      else if (event.key === 'Home') next = 0;
      else if (event.key === 'End') next = TABS.length - 1;
      else return;
      if (event.altKey) return;
      event.preventDefault();
      actions.selectTab(TABS[next]!.id);
      root.querySelector<HTMLButtonElement>(`#tab-${TABS[next]!.id}`)?.focus();
    });

  const controls = bar.append('div').attr('class', 'controls');
  const field = (label: string, cls: string) => {
    const l = controls.append('label').attr('class', `field ${cls}`);
    l.append('span').attr('class', 'caption').text(label);
    return l;
  };
  field('k', 'k')
    .append('input')
    .attr('type', 'number')
    .attr('name', 'k')
    .attr('min', K_MIN)
    .attr('max', K_MAX)
    .attr('step', 1)
    .attr('title', `Neighbours to show (${K_MIN}–${K_MAX})`);
  const metric = field('Metric', 'metric').append('select').attr('name', 'metric');
  metric
    .selectAll('option')
    .data(METRICS)
    .join('option')
    .attr('value', (d) => d.value)
    .text((d) => d.label);
  const space = field('Space', 'space').append('select').attr('name', 'space');
  space
    .selectAll('option')
    .data(SPACES)
    .join('option')
    .attr('value', (d) => d.value)
    .text((d) => d.label);

  const copy = bar.append('div').attr('class', 'copy');
  copy
    .append('button')
    .attr('type', 'button')
    .attr('class', 'copy-json')
    .text('Copy JSON')
    .on('click', () => actions.copy('json'));
  copy
    .append('button')
    .attr('type', 'button')
    .attr('class', 'copy-csv')
    .text('Copy CSV')
    .on('click', () => actions.copy('csv'));
}

export function renderControls(root: HTMLElement, view: ControlsView, actions: ControlsActions): void {
  if (!root.querySelector('.tabs')) build(root, actions);
  const bar = select(root);
  bar
    .selectAll<HTMLButtonElement, (typeof TABS)[number]>('button[role="tab"]')
    .attr('aria-selected', (d) => String(d.id === view.tab))
    .attr('tabindex', (d) => (d.id === view.tab ? 0 : -1));

  const k = root.querySelector<HTMLInputElement>('input[name="k"]')!;
  const metric = root.querySelector<HTMLSelectElement>('select[name="metric"]')!;
  const space = root.querySelector<HTMLSelectElement>('select[name="space"]')!;
  if (document.activeElement !== k) k.value = String(view.controls.k);
  metric.value = view.controls.metric;
  space.value = view.controls.space;

  const commit = () => {
    const parsed = clampK(k.valueAsNumber);
    const next: Controls = {
      k: Number.isNaN(parsed) ? view.controls.k : parsed,
      metric: isMetric(metric.value) ? metric.value : view.controls.metric,
      space: isSpace(space.value) ? space.value : view.controls.space,
    };
    k.value = String(next.k);
    if (next.k !== view.controls.k || next.metric !== view.controls.metric || next.space !== view.controls.space) {
      actions.setControls(next);
    }
  };
  // `change` fires when a number is committed (Enter, blur, the spinner), not on every keystroke.
  select(k).on('change', commit);
  select(k).on('keydown', (event: KeyboardEvent) => {
    if (event.key === 'Escape') {
      k.value = String(view.controls.k);
      k.blur();
    }
  });
  select(metric).on('change', commit);
  select(space).on('change', commit);

  bar.selectAll<HTMLButtonElement, unknown>('.copy button').property('disabled', !view.canCopy);
  bar
    .select('.copy-json')
    .attr('title', `Copy the ${view.tab === 'graph' ? 'neighbours' : view.tab} as JSON`);
  bar.select('.copy-csv').attr('title', `Copy the ${view.tab === 'graph' ? 'neighbours' : view.tab} as CSV`);
}
