/**
 * The Neighbourhood webview: an embedding's neighbourhood as a graph, a projection scatter, and a comparison
 * between two models. An editor panel; a side view asks for the compact layout with `{type: 'layout'}`.
 *
 * The server computes everything (kNN, PCA, UMAP, Jaccard); this view draws what the extension posts
 * (`ToNeighbourhood`) and posts what the user asks for (`FromNeighbourhood`). Its state (the history of
 * neighbourhoods, the last projection and comparison, the selection, the search and the active tab) survives hiding
 * and reloading through `vscode.getState()` / `setState()` (REFERENCES §6); it is restored first, then the view
 * posts `ready`.
 */
import { select } from 'd3-selection';
import type {
  CompareState,
  FromNeighbourhood,
  NeighbourhoodQuery,
  NeighbourhoodTab,
  NeighboursState,
  ProjectionMethod,
  ProjectionSource,
  ProjectionState,
  ToNeighbourhood,
} from '../neighbourhoodMessages';
import { renderCompare } from './compare';
import { renderControls, TABS, type Controls } from './controls';
import { asJson, compareCsv, neighboursCsv, projectionCsv } from './copy';
import { highlightGraphToken, refitGraph, renderGraph, visibleEdges } from './graph';
import {
  canStep,
  currentEntry,
  EMPTY_HISTORY,
  recordState,
  sameQuery,
  stepHistory,
  type NeighbourHistory,
} from './history';
import { formatCount, formatScore, tokenLabel } from './label';
import { highlightListToken, renderNeighbourList } from './neighbourList';
import { renderScatter, resetScatterZoom, MAX_POINTS } from './scatter';
import { compileSearch } from './search';
import { connectToVsCode, isObject } from '../shared/vscodeHost';

export type PostMessage = (message: FromNeighbourhood) => void;

/** What getState / setState keep. */
export interface SavedNeighbourhood {
  version: 1;
  tab: NeighbourhoodTab;
  history: NeighbourHistory;
  projection: ProjectionState | null;
  compare: CompareState | null;
  /** Selected tokens, [id, token], in the order they were picked. */
  selection: [number, string][];
  search: string;
  method: ProjectionMethod;
  controls: Controls;
  compact: boolean;
}

export const EMPTY_GRAPH_HINT = 'No neighbourhood yet. Ask Model Lens for the neighbours of a token to start.';
export const EMPTY_PROJECTION_HINT = 'No projection yet. Project the neighbourhood, the selection or a sample.';

const DEFAULTS: SavedNeighbourhood = {
  version: 1,
  tab: 'graph',
  history: EMPTY_HISTORY,
  projection: null,
  compare: null,
  selection: [],
  search: '',
  method: 'pca',
  controls: { k: 10, metric: 'cosine', space: 'input' },
  compact: false,
};

// ---- messages in -------------------------------------------------------------------------------------------------

function isNeighboursState(value: unknown): value is NeighboursState {
  return (
    isObject(value) &&
    isObject(value.model) &&
    isObject(value.query) &&
    Array.isArray(value.neighbours) &&
    Array.isArray(value.edges)
  );
}

function isProjectionState(value: unknown): value is ProjectionState {
  return isObject(value) && isObject(value.model) && Array.isArray(value.points);
}

function isCompareState(value: unknown): value is CompareState {
  return (
    isObject(value) &&
    isObject(value.left) &&
    isObject(value.right) &&
    Array.isArray((value.left as { neighbours?: unknown }).neighbours) &&
    Array.isArray((value.right as { neighbours?: unknown }).neighbours)
  );
}

export function isToNeighbourhood(value: unknown): value is ToNeighbourhood {
  if (!isObject(value)) return false;
  switch (value.type) {
    case 'neighbours':
      return isNeighboursState(value.state);
    case 'projection':
      return isProjectionState(value.state);
    case 'compare':
      return isCompareState(value.state);
    case 'busy':
    case 'error':
      return typeof value.message === 'string';
    case 'layout':
      return typeof value.compact === 'boolean';
    default:
      return false;
  }
}

/** A saved state from an earlier session, or the defaults when there is none or it does not look right. */
export function restoreSaved(value: unknown): SavedNeighbourhood {
  if (!isObject(value) || value.version !== 1) return { ...DEFAULTS };
  const saved = value as unknown as SavedNeighbourhood;
  const history =
    isObject(saved.history) && Array.isArray(saved.history.entries) && saved.history.entries.every(isNeighboursState)
      ? {
          entries: saved.history.entries,
          index: Math.min(Math.max(Number(saved.history.index) || 0, 0), saved.history.entries.length - 1),
        }
      : EMPTY_HISTORY;
  return {
    version: 1,
    tab: TABS.some((t) => t.id === saved.tab) ? saved.tab : DEFAULTS.tab,
    history,
    projection: isProjectionState(saved.projection) ? saved.projection : null,
    compare: isCompareState(saved.compare) ? saved.compare : null,
    selection: Array.isArray(saved.selection)
      ? saved.selection.filter((s) => Array.isArray(s) && typeof s[0] === 'number')
      : [],
    search: typeof saved.search === 'string' ? saved.search : '',
    method: saved.method === 'umap' ? 'umap' : 'pca',
    controls: isObject(saved.controls) ? { ...DEFAULTS.controls, ...saved.controls } : DEFAULTS.controls,
    compact: saved.compact === true,
  };
}

// ---- the app -----------------------------------------------------------------------------------------------------

interface Transient {
  busy: string | null;
  error: string | null;
  /** Queries posted by back / forward whose replies may still come; a late one for another entry is dropped. */
  awaiting: { model: { id: string }; query: NeighbourhoodQuery }[];
  /** The tab whose result the user asked for (Project…, Compare models); it opens when that result arrives. */
  expecting: NeighbourhoodTab | null;
}

export interface NeighbourhoodApp {
  receive(message: ToNeighbourhood): void;
  saved(): SavedNeighbourhood;
}

const SOURCE_TEXT: Record<ProjectionSource, string> = {
  neighbourhood: 'the neighbourhood',
  selection: 'the selection',
  sample: 'a vocabulary sample',
};

function queryText(state: NeighboursState): string {
  return state.query.kind === 'token' || state.query.kind === 'id' ? tokenLabel(state.query.label) : state.query.label;
}

function recentreMessage(query: NeighbourhoodQuery): FromNeighbourhood {
  return query.id !== undefined ? { type: 'recentre', id: query.id } : { type: 'recentre', token: query.label };
}

function buildLayout(root: HTMLElement): void {
  root.classList.add('neighbourhood');
  root.innerHTML = '';
  const r = select(root);
  r.append('header');
  const status = r.append('div').attr('class', 'status');
  status
    .append('div')
    .attr('class', 'busy')
    .attr('role', 'status')
    .attr('aria-live', 'polite')
    .call((busy) => busy.append('span').attr('class', 'progress'))
    .call((busy) => busy.append('span').attr('class', 'message'));
  status.append('div').attr('class', 'error').attr('role', 'alert');

  const panel = (id: NeighbourhoodTab) =>
    r.append('section').attr('class', 'panel').attr('id', `panel-${id}`).attr('role', 'tabpanel').attr('aria-labelledby', `tab-${id}`);

  // Graph
  const graph = panel('graph');
  const toolbar = graph.append('div').attr('class', 'toolbar graph-toolbar');
  const nav = toolbar.append('div').attr('class', 'history').attr('role', 'group').attr('aria-label', 'History');
  nav.append('button').attr('type', 'button').attr('class', 'icon back').attr('title', 'Back (Alt+Left)').attr('aria-label', 'Back').text('←');
  nav.append('button').attr('type', 'button').attr('class', 'icon forward').attr('title', 'Forward (Alt+Right)').attr('aria-label', 'Forward').text('→');
  const query = toolbar.append('div').attr('class', 'query');
  query.append('span').attr('class', 'centre-token');
  query.append('span').attr('class', 'meta');
  const actions = toolbar.append('div').attr('class', 'actions');
  actions.append('span').attr('class', 'selection-count').attr('aria-live', 'polite');
  actions.append('button').attr('type', 'button').attr('class', 'project-selection').text('Project selection');
  actions.append('button').attr('type', 'button').attr('class', 'clear-selection').text('Clear');
  actions.append('button').attr('type', 'button').attr('class', 'open-compare').text('Compare models');
  graph.append('p').attr('class', 'empty').text(EMPTY_GRAPH_HINT);
  const body = graph.append('div').attr('class', 'graph-body');
  body.append('div').attr('class', 'graph-view');
  body.append('aside').attr('class', 'neighbour-list').attr('aria-label', 'Neighbour list');
  graph
    .append('p')
    .attr('class', 'hint keys')
    .text('Click or Enter: recentre · Shift+click or Shift+Enter: select · Alt+←/→: back/forward · wheel: zoom');

  // Projection
  const projection = panel('projection');
  const ptools = projection.append('div').attr('class', 'toolbar projection-toolbar');
  const method = ptools.append('label').attr('class', 'field');
  method.append('span').attr('class', 'caption').text('Method');
  const methodSelect = method.append('select').attr('name', 'method');
  methodSelect.append('option').attr('value', 'pca').text('PCA');
  methodSelect.append('option').attr('value', 'umap').text('UMAP');
  const sources = ptools.append('div').attr('class', 'sources').attr('role', 'group').attr('aria-label', 'Project');
  sources.append('span').attr('class', 'caption').text('Project');
  sources.append('button').attr('type', 'button').attr('data-source', 'neighbourhood').text('Neighbourhood');
  sources.append('button').attr('type', 'button').attr('data-source', 'selection').text('Selection');
  sources.append('button').attr('type', 'button').attr('data-source', 'sample').text('Sample');
  const search = ptools.append('div').attr('class', 'search');
  search
    .append('input')
    .attr('type', 'search')
    .attr('name', 'search')
    .attr('placeholder', 'Search tokens (regex)')
    .attr('aria-label', 'Search tokens by regular expression')
    .attr('spellcheck', 'false')
    .attr('aria-describedby', 'search-error');
  search.append('span').attr('class', 'search-count').attr('aria-live', 'polite');
  ptools.append('button').attr('type', 'button').attr('class', 'reset-zoom').attr('title', 'Reset zoom (0)').text('Reset view');
  projection.append('div').attr('class', 'search-error').attr('id', 'search-error').attr('role', 'alert');
  projection.append('p').attr('class', 'projection-caption');
  projection.append('p').attr('class', 'empty').text(EMPTY_PROJECTION_HINT);
  projection.append('div').attr('class', 'plot');

  // Compare
  panel('compare').append('div').attr('class', 'compare-view');
}

export function startNeighbourhood(
  root: HTMLElement,
  post: PostMessage,
  savedState: unknown,
  persist: (state: SavedNeighbourhood) => void,
): NeighbourhoodApp {
  const saved = restoreSaved(savedState);
  const transient: Transient = { busy: null, error: null, awaiting: [], expecting: null };
  buildLayout(root);

  const $ = <T extends Element>(selector: string) => root.querySelector<T>(selector)!;
  const header = $<HTMLElement>('header');
  const graphView = $<HTMLElement>('.graph-view');
  const listView = $<HTMLElement>('.neighbour-list');
  const plot = $<HTMLElement>('.plot');
  const compareView = $<HTMLElement>('.compare-view');
  const searchInput = $<HTMLInputElement>('input[name="search"]');
  const methodSelect = $<HTMLSelectElement>('select[name="method"]');
  searchInput.value = saved.search;
  methodSelect.value = saved.method;

  const selection = () => new Map(saved.selection);
  const selectedIds = () => new Set(saved.selection.map(([id]) => id));
  const save = () => persist(saved);

  const toggleSelect = (id: number | undefined, token: string) => {
    if (id === undefined) return;
    const map = selection();
    if (map.has(id)) map.delete(id);
    else map.set(id, token);
    saved.selection = [...map];
    save();
    render();
  };

  const recentre = (id: number) => {
    // A new step: replies to earlier back / forward moves no longer matter.
    transient.awaiting = [];
    post({ type: 'recentre', id });
  };

  const hover = (id: number | undefined) => {
    highlightGraphToken(graphView, id);
    highlightListToken(listView, id);
  };

  const selectTab = (tab: NeighbourhoodTab) => {
    if (saved.tab === tab) return;
    saved.tab = tab;
    save();
    render();
    if (tab === 'graph') refitGraph(graphView);
  };

  const stepBack = (delta: -1 | 1) => {
    if (!canStep(saved.history, delta)) return;
    saved.history = stepHistory(saved.history, delta);
    const entry = currentEntry(saved.history)!;
    saved.controls = { k: entry.k, metric: entry.metric, space: entry.space };
    transient.awaiting.push({ model: entry.model, query: entry.query });
    transient.error = null;
    save();
    render();
    post(recentreMessage(entry.query));
  };

  const project = (source: ProjectionSource) => {
    const method = saved.method;
    transient.expecting = 'projection';
    if (source === 'selection') {
      post({ type: 'project', method, source, ids: saved.selection.map(([id]) => id) });
    } else {
      post({ type: 'project', method, source });
    }
  };

  const copy = (format: 'json' | 'csv') => {
    const neighbours = currentEntry(saved.history);
    let text: string | null = null;
    if (saved.tab === 'graph' && neighbours) text = format === 'json' ? asJson(neighbours) : neighboursCsv(neighbours);
    if (saved.tab === 'projection' && saved.projection)
      text = format === 'json' ? asJson(saved.projection) : projectionCsv(saved.projection);
    if (saved.tab === 'compare' && saved.compare)
      text = format === 'json' ? asJson(saved.compare) : compareCsv(saved.compare);
    if (text !== null) post({ type: 'copy', format, text });
  };

  // ---- static wiring ----
  select($<HTMLButtonElement>('button.back')).on('click', () => stepBack(-1));
  select($<HTMLButtonElement>('button.forward')).on('click', () => stepBack(1));
  select($<HTMLButtonElement>('button.project-selection')).on('click', () => {
    if (saved.selection.length === 0) return;
    project('selection');
  });
  select($<HTMLButtonElement>('button.clear-selection')).on('click', () => {
    saved.selection = [];
    save();
    render();
  });
  select($<HTMLButtonElement>('button.open-compare')).on('click', () => {
    const entry = currentEntry(saved.history);
    if (!entry) return;
    transient.expecting = 'compare';
    post({ type: 'openCompare', token: entry.query.label });
  });
  select(root.querySelector('.sources')!).on('click', (event: MouseEvent) => {
    const button = event.target instanceof Element ? event.target.closest<HTMLButtonElement>('button') : null;
    const source = button?.dataset.source as ProjectionSource | undefined;
    if (source && !button!.disabled) project(source);
  });
  select(methodSelect).on('change', () => {
    saved.method = methodSelect.value === 'umap' ? 'umap' : 'pca';
    save();
  });
  select(searchInput).on('input', () => {
    saved.search = searchInput.value;
    save();
    render();
  });
  select($<HTMLButtonElement>('button.reset-zoom')).on('click', () => resetScatterZoom(plot));

  window.addEventListener('keydown', (event) => {
    if (!event.altKey || (event.key !== 'ArrowLeft' && event.key !== 'ArrowRight')) return;
    if (saved.tab !== 'graph') return;
    const target = event.target as HTMLElement | null;
    if (target && (target.tagName === 'INPUT' || target.tagName === 'SELECT' || target.tagName === 'TEXTAREA')) return;
    event.preventDefault();
    stepBack(event.key === 'ArrowLeft' ? -1 : 1);
  });

  // ---- render ----
  function render(): void {
    const current = currentEntry(saved.history);
    const ids = selectedIds();
    root.classList.toggle('compact', saved.compact);

    const canCopy =
      (saved.tab === 'graph' && !!current) ||
      (saved.tab === 'projection' && !!saved.projection) ||
      (saved.tab === 'compare' && !!saved.compare);
    renderControls(
      header,
      { tab: saved.tab, controls: saved.controls, canCopy },
      {
        selectTab,
        setControls: (controls) => {
          saved.controls = controls;
          save();
          render();
          post({ type: 'setControls', ...controls });
        },
        copy,
      },
    );

    // Status
    const busy = select(root).select('.busy').attr('hidden', transient.busy ? null : '');
    busy.select('.message').text(transient.busy ?? '');
    select(root)
      .select('.error')
      .attr('hidden', transient.error ? null : '')
      .text(transient.error ?? '');

    // Panels
    for (const { id } of TABS) {
      const panel = root.querySelector<HTMLElement>(`#panel-${id}`)!;
      panel.hidden = id !== saved.tab;
    }

    // Graph panel
    const graph = select(root).select('#panel-graph');
    graph.classed('is-empty', !current);
    graph.select('.empty').attr('hidden', current ? '' : null);
    graph.select('.graph-body').attr('hidden', current ? null : '');
    graph.select('.graph-toolbar').attr('hidden', current ? null : '');
    graph.select('.keys').attr('hidden', current ? null : '');
    graph.select<HTMLButtonElement>('button.back').property('disabled', !canStep(saved.history, -1));
    graph.select<HTMLButtonElement>('button.forward').property('disabled', !canStep(saved.history, 1));
    if (current) {
      const edges = visibleEdges(current).length;
      const label = current.metric === 'euclidean' ? 'distance ≤' : `${current.metric} ≥`;
      graph
        .select('.centre-token')
        .text(queryText(current))
        .attr('title', current.query.id !== undefined ? `${current.query.label} · id ${current.query.id}` : current.query.label);
      graph
        .select('.meta')
        .text(
          [
            current.model.name,
            current.query.id !== undefined ? `id ${current.query.id}` : current.query.kind,
            `${current.neighbours.length} neighbours`,
            `${current.space} space`,
            `${formatCount(edges)} ${edges === 1 ? 'link' : 'links'} at ${label} ${formatScore(current.threshold)}`,
          ].join(' · '),
        );
      graph
        .select<HTMLButtonElement>('button.open-compare')
        .property('disabled', current.query.kind !== 'token' && current.query.kind !== 'id');
    }
    graph
      .select('.selection-count')
      .text(ids.size > 0 ? `${ids.size} selected` : '')
      .attr('hidden', ids.size > 0 ? null : '');
    graph.select<HTMLButtonElement>('button.project-selection').property('disabled', ids.size === 0);
    graph.select('button.clear-selection').attr('hidden', ids.size > 0 ? null : '');

    renderGraph(graphView, current ? { state: current, selection: ids } : null, {
      recentre: (node) => {
        if (node.id !== undefined) recentre(node.id);
      },
      toggleSelect: (node) => toggleSelect(node.id, node.token),
      hover,
    });
    renderNeighbourList(listView, current, ids, {
      recentre: (n) => recentre(n.id),
      toggleSelect: (n) => toggleSelect(n.id, n.token),
      hover,
    });

    // Projection panel
    const projection = select(root).select('#panel-projection');
    const p = saved.projection;
    projection.select('.empty').attr('hidden', p ? '' : null);
    projection.select('.plot').attr('hidden', p ? null : '');
    projection.select<HTMLButtonElement>('button[data-source="neighbourhood"]').property('disabled', !current);
    projection
      .select<HTMLButtonElement>('button[data-source="selection"]')
      .property('disabled', ids.size === 0)
      .text(ids.size > 0 ? `Selection (${ids.size})` : 'Selection');
    const compiled = compileSearch(saved.search);
    projection
      .select('.search-error')
      .attr('hidden', compiled.ok ? '' : null)
      .text(compiled.ok ? '' : `Not a valid regular expression: ${compiled.error}`);
    projection.select('input[name="search"]').attr('aria-invalid', compiled.ok ? null : 'true');
    projection.select('.projection-caption').attr('hidden', p ? null : '').text(p ? projectionCaption(p) : '');
    renderScatter(
      plot,
      p ? { state: p, regex: compiled.ok ? compiled.regex : null, selection: ids } : null,
      {
        pick: (point, shift) => {
          if (shift) toggleSelect(point.id, point.token);
          else {
            recentre(point.id);
            selectTab('graph');
          }
        },
      },
    );
    const canvas = plot.querySelector('canvas');
    const matches = Number(canvas?.dataset.matches ?? 0);
    projection
      .select('.search-count')
      .text(p && compiled.ok && compiled.regex ? `${formatCount(matches)} of ${formatCount(Math.min(p.points.length, MAX_POINTS))}` : '');

    // Compare panel
    renderCompare(compareView, saved.compare, {
      openCompare: (token) => {
        transient.expecting = 'compare';
        post({ type: 'openCompare', token });
      },
    });
  }

  function projectionCaption(p: ProjectionState): string {
    const parts = [
      `${p.method === 'pca' ? 'PCA' : 'UMAP'} of ${SOURCE_TEXT[p.source] ?? p.source}`,
      p.model.name,
      p.points.length > MAX_POINTS
        ? `${formatCount(MAX_POINTS)} of ${formatCount(p.points.length)} points drawn`
        : `${formatCount(p.points.length)} points`,
    ];
    const ev = p.explainedVariance;
    if (ev && ev.length > 0) {
      const pcs = ev.map((v, i) => `PC${i + 1} ${(100 * v).toFixed(1)}%`).join(', ');
      const total = ev.reduce((a, b) => a + b, 0);
      parts.push(`explained variance ${pcs}${ev.length > 1 ? ` (${(100 * total).toFixed(1)}% total)` : ''}`);
    }
    return parts.join(' · ');
  }

  function receive(message: ToNeighbourhood): void {
    switch (message.type) {
      case 'neighbours': {
        const state = message.state;
        const current = currentEntry(saved.history);
        const awaited = transient.awaiting.findIndex((q) => sameQuery(q, state));
        if (awaited >= 0) transient.awaiting.splice(awaited, 1);
        // A late reply to a back / forward the user has already moved on from.
        if (awaited >= 0 && current && !sameQuery(current, state)) return;
        saved.history = recordState(saved.history, state);
        saved.controls = { k: state.k, metric: state.metric, space: state.space };
        transient.busy = null;
        transient.error = null;
        break;
      }
      case 'projection':
        saved.projection = message.state;
        saved.method = message.state.method;
        methodSelect.value = message.state.method;
        if (transient.expecting === 'projection') {
          saved.tab = 'projection';
          transient.expecting = null;
        }
        transient.busy = null;
        transient.error = null;
        break;
      case 'compare':
        saved.compare = message.state;
        if (transient.expecting === 'compare') {
          saved.tab = 'compare';
          transient.expecting = null;
        }
        transient.busy = null;
        transient.error = null;
        break;
      case 'busy':
        transient.busy = message.message;
        break;
      case 'error':
        transient.busy = null;
        transient.error = message.message;
        break;
      case 'layout':
        saved.compact = message.compact;
        break;
    }
    save();
    render();
  }

  render();
  return { receive, saved: () => saved };
}

// ---- wiring to VS Code ---------------------------------------------------------------------------------------------

connectToVsCode<ToNeighbourhood, FromNeighbourhood>(isToNeighbourhood, startNeighbourhood);
