/**
 * The neighbourhood graph: the query token fixed at the centre, its top-k neighbours around it, and the similarities
 * among neighbours that pass the server's threshold. Closer means a shorter link and a stronger colour.
 *
 * One function from data to SVG (`renderGraph`), with d3 joins keyed by token id. The force layout runs to rest
 * synchronously when a new neighbourhood arrives (deterministic: the same data always gives the same picture), then
 * only runs again while the user drags a node. Zoom and pan with the wheel and by dragging the background.
 */
import { drag } from 'd3-drag';
import {
  forceCollide,
  forceLink,
  forceManyBody,
  forceSimulation,
  type Simulation,
  type SimulationLinkDatum,
  type SimulationNodeDatum,
} from 'd3-force';
import { select, type Selection } from 'd3-selection';
import { zoom, zoomIdentity, type ZoomBehavior } from 'd3-zoom';
import type { NeighbourMetric, NeighboursState } from '../neighbourhoodMessages';
import { formatScore, tokenLabel } from './label';

/** Beyond this rank a node's label shows only on hover, focus or selection, so a k of 200 stays readable. */
export const LABELLED_RANKS = 40;
const LAYOUT_TICKS = 300;

export interface GraphNode extends SimulationNodeDatum {
  /** Join key: `t<id>`, or `query` for a centre without a token id (text and analogy queries). */
  key: string;
  id: number | undefined;
  token: string;
  label: string;
  /** 0 for the centre, 1… for neighbours, closest first. */
  rank: number;
  score: number | undefined;
  /** 0 (the farthest neighbour) to 1 (the closest); 1 for the centre. */
  closeness: number;
  centre: boolean;
  radius: number;
  /** Nodes left of the centre carry their label on the left, away from the centre's. */
  labelLeft?: boolean;
}

export interface GraphLink extends SimulationLinkDatum<GraphNode> {
  key: string;
  kind: 'spoke' | 'edge';
  score: number;
  closeness: number;
  source: GraphNode;
  target: GraphNode;
}

export interface GraphModel {
  nodes: GraphNode[];
  links: GraphLink[];
}

export interface GraphView {
  state: NeighboursState;
  /** Selected token ids. */
  selection: ReadonlySet<number>;
}

export interface GraphActions {
  recentre(node: GraphNode): void;
  toggleSelect(node: GraphNode): void;
  /** Hover or focus moved to a token (or away: undefined); the list mirrors it. */
  hover(id: number | undefined): void;
}

/** A linear map from [d0, d1] to [r0, r1], clamped (d3-scale's scaleLinear would add d3-format to the bundle). */
export function linearMap(d0: number, d1: number, r0: number, r1: number): (x: number) => number {
  return (x) => {
    const t = d1 === d0 ? 1 : Math.min(1, Math.max(0, (x - d0) / (d1 - d0)));
    return r0 + t * (r1 - r0);
  };
}

// ---- data → model --------------------------------------------------------------------------------------------------

export function isCloser(metric: NeighbourMetric): (a: number, b: number) => boolean {
  return metric === 'euclidean' ? (a, b) => a < b : (a, b) => a > b;
}

/** Maps scores to closeness in [0, 1] over `[farthest, closest]`; everything is 1 when the scores are all equal. */
export function closenessScale(metric: NeighbourMetric, scores: number[]): (score: number) => number {
  const finite = scores.filter(Number.isFinite);
  if (finite.length === 0) return () => 1;
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  if (hi === lo) return () => 1;
  const scale = metric === 'euclidean' ? linearMap(hi, lo, 0, 1) : linearMap(lo, hi, 0, 1);
  return (score) => (Number.isFinite(score) ? scale(score) : 0);
}

/** The edges to draw: both ends among the neighbours (not the centre), passing the threshold, one per pair. */
export function visibleEdges(state: NeighboursState): NeighboursState['edges'] {
  const ids = new Set(state.neighbours.map((n) => n.id));
  if (state.query.id !== undefined) ids.delete(state.query.id);
  const passes = (score: number) =>
    state.metric === 'euclidean' ? score <= state.threshold : score >= state.threshold;
  const seen = new Set<string>();
  return state.edges.filter((e) => {
    if (e.source === e.target || !ids.has(e.source) || !ids.has(e.target) || !passes(e.score)) return false;
    const pair = e.source < e.target ? `${e.source}:${e.target}` : `${e.target}:${e.source}`;
    if (seen.has(pair)) return false;
    seen.add(pair);
    return true;
  });
}

export function buildGraph(state: NeighboursState): GraphModel {
  const closeness = closenessScale(
    state.metric,
    state.neighbours.map((n) => n.score),
  );
  const centreId = state.query.id;
  const centre: GraphNode = {
    key: centreId !== undefined ? `t${centreId}` : 'query',
    id: centreId,
    token: state.query.label,
    label: state.query.kind === 'token' || state.query.kind === 'id' ? tokenLabel(state.query.label) : state.query.label,
    rank: 0,
    score: undefined,
    closeness: 1,
    centre: true,
    radius: 9,
    x: 0,
    y: 0,
    fx: 0,
    fy: 0,
  };
  const neighbours = state.neighbours
    .filter((n) => n.id !== centreId)
    .map<GraphNode>((n, i) => {
      const c = closeness(n.score);
      return {
        key: `t${n.id}`,
        id: n.id,
        token: n.token,
        label: tokenLabel(n.token),
        rank: i + 1,
        score: n.score,
        closeness: c,
        centre: false,
        radius: 4 + 2.5 * c,
      };
    });
  const byId = new Map(neighbours.map((n) => [n.id!, n]));
  const spokes = neighbours.map<GraphLink>((n) => ({
    key: `s${n.id}`,
    kind: 'spoke',
    score: n.score!,
    closeness: n.closeness,
    source: centre,
    target: n,
  }));
  const edges = visibleEdges(state);
  const edgeCloseness = closenessScale(state.metric, [state.threshold, ...edges.map((e) => e.score)]);
  const links = spokes.concat(
    edges.map<GraphLink>((e) => ({
      key: `e${Math.min(e.source, e.target)}-${Math.max(e.source, e.target)}`,
      kind: 'edge',
      score: e.score,
      closeness: edgeCloseness(e.score),
      source: byId.get(e.source)!,
      target: byId.get(e.target)!,
    })),
  );
  return { nodes: [centre, ...neighbours], links };
}

/** Runs the force layout to rest. The centre stays at (0, 0); closer neighbours sit nearer to it. */
export function layoutGraph(model: GraphModel): Simulation<GraphNode, GraphLink> {
  const n = model.nodes.length - 1;
  const near = 60;
  const far = near + 40 + 22 * Math.sqrt(Math.max(n, 1));
  const spokeLength = linearMap(0, 1, far, near);
  const edgeLength = linearMap(0, 1, far * 0.8, near * 0.8);
  // Start on a spiral by rank, at roughly the right distance: the layout then only has to settle.
  model.nodes.forEach((node, i) => {
    if (node.centre) return;
    const angle = i * 2.399963; // the golden angle
    const r = spokeLength(node.closeness);
    node.x = r * Math.cos(angle);
    node.y = r * Math.sin(angle);
  });
  const simulation = forceSimulation<GraphNode, GraphLink>(model.nodes)
    .force(
      'link',
      forceLink<GraphNode, GraphLink>(model.links)
        .id((d) => d.key)
        .distance((l) => (l.kind === 'spoke' ? spokeLength(l.closeness) : edgeLength(l.closeness)))
        .strength((l) => (l.kind === 'spoke' ? 0.9 : 0.08 + 0.12 * l.closeness)),
    )
    .force('charge', forceManyBody<GraphNode>().strength(-90).distanceMax(far))
    .force(
      'collide',
      forceCollide<GraphNode>((d) => d.radius + 9),
    )
    .stop();
  simulation.tick(LAYOUT_TICKS);
  for (const node of model.nodes) node.labelLeft = !node.centre && (node.x ?? 0) < -4;
  return simulation;
}

// ---- rendering -----------------------------------------------------------------------------------------------------

interface GraphInternals {
  state: NeighboursState | null;
  model: GraphModel;
  simulation: Simulation<GraphNode, GraphLink> | null;
  zoom: ZoomBehavior<SVGSVGElement, unknown>;
  /** Join key of the node that holds the tab stop. */
  tabStop: string;
  /** Layout units → SVG units: how far the layout is spread to fill the box. */
  spread: number;
  resize: ResizeObserver;
}

const internals = new WeakMap<HTMLElement, GraphInternals>();

type Root = Selection<HTMLElement, unknown, null, undefined>;

/** Approximate label width in the graph's units (monospace, 12px). */
function labelWidth(label: string): number {
  return [...label].length * 7.3;
}

/**
 * Fits the graph to its box: spreads the layout (positions only; labels keep their size) to use the space, between
 * 0.5× and 2.5×, then sets the viewBox so everything shows, never magnified beyond 1:1.
 */
function fitView(root: HTMLElement, inner: GraphInternals): void {
  const svg = root.querySelector<SVGSVGElement>('svg.graph');
  if (!svg) return;
  const { nodes } = inner.model;
  const boxWidth = svg.clientWidth;
  const boxHeight = svg.clientHeight;
  const pad = 16;
  let nx0 = 0;
  let nx1 = 0;
  let ny0 = 0;
  let ny1 = 0;
  let leftLabels = 0;
  let rightLabels = 0;
  const labelExtent = (node: GraphNode) =>
    node.radius + 6 + (node.rank <= LABELLED_RANKS ? labelWidth(node.label) : 0);
  for (const node of nodes) {
    nx0 = Math.min(nx0, node.x ?? 0);
    nx1 = Math.max(nx1, node.x ?? 0);
    ny0 = Math.min(ny0, node.y ?? 0);
    ny1 = Math.max(ny1, node.y ?? 0);
    if (node.labelLeft) leftLabels = Math.max(leftLabels, labelExtent(node));
    else rightLabels = Math.max(rightLabels, labelExtent(node));
  }
  if (boxWidth > 0 && boxHeight > 0 && nodes.length > 1) {
    const sx = (boxWidth - 2 * pad - leftLabels - rightLabels) / Math.max(nx1 - nx0, 1);
    const sy = (boxHeight - 2 * pad - 24) / Math.max(ny1 - ny0, 1);
    inner.spread = Math.min(2.5, Math.max(0.75, Math.min(sx, sy)));
  }
  const s = inner.spread;
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const node of nodes) {
    const x = s * (node.x ?? 0);
    const y = s * (node.y ?? 0);
    x0 = Math.min(x0, x - (node.labelLeft ? labelExtent(node) : node.radius + 4));
    x1 = Math.max(x1, x + (node.labelLeft ? node.radius + 4 : labelExtent(node)));
    y0 = Math.min(y0, y - Math.max(node.radius + 4, 10));
    y1 = Math.max(y1, y + Math.max(node.radius + 4, 10));
  }
  if (!Number.isFinite(x0)) [x0, y0, x1, y1] = [-100, -100, 100, 100];
  const width = Math.max(x1 - x0 + 2 * pad, boxWidth, 200);
  const height = Math.max(y1 - y0 + 2 * pad, boxHeight, 160);
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  svg.setAttribute('viewBox', `${cx - width / 2} ${cy - height / 2} ${width} ${height}`);
  positionAll(root, inner);
}

function nodeTitle(d: GraphNode, metric: NeighbourMetric): string {
  const id = d.id !== undefined ? ` · id ${d.id}` : '';
  if (d.centre) return `${d.label}${id} · query`;
  return `${d.label}${id} · rank ${d.rank} · ${metric === 'euclidean' ? 'distance' : metric} ${formatScore(d.score!)}`;
}

function nodeAria(d: GraphNode, metric: NeighbourMetric, selected: boolean): string {
  const parts = [d.label];
  if (d.centre) parts.push('query');
  else parts.push(`rank ${d.rank}`, `${metric === 'euclidean' ? 'distance' : metric} ${formatScore(d.score!)}`);
  if (d.id !== undefined) parts.push(`id ${d.id}`);
  if (selected) parts.push('selected');
  return parts.join(', ');
}

/** Places nodes and links at their layout positions times the spread. */
function positionAll(root: HTMLElement, inner: GraphInternals): void {
  const s = inner.spread;
  const at = (v: number | undefined) => (s * (v ?? 0)).toFixed(2);
  const svg = select(root).select('svg.graph');
  svg.selectAll<SVGGElement, GraphNode>('g.node').attr('transform', (d) => `translate(${at(d.x)},${at(d.y)})`);
  svg
    .selectAll<SVGLineElement, GraphLink>('line.link')
    .attr('x1', (d) => at(d.source.x))
    .attr('y1', (d) => at(d.source.y))
    .attr('x2', (d) => at(d.target.x))
    .attr('y2', (d) => at(d.target.y));
}

function ensureScaffold(root: HTMLElement, actions: GraphActions): GraphInternals {
  let inner = internals.get(root);
  if (inner) return inner;
  const rootSel = select(root);
  const svg = rootSel
    .append('svg')
    .attr('class', 'graph')
    .attr('role', 'group')
    .attr('aria-label', 'Neighbourhood graph')
    .attr('preserveAspectRatio', 'xMidYMid meet');
  const scene = svg.append('g').attr('class', 'scene');
  scene.append('g').attr('class', 'links');
  scene.append('g').attr('class', 'nodes');
  const zoomBehaviour = zoom<SVGSVGElement, unknown>()
    .scaleExtent([0.2, 8])
    .on('zoom', (event: { transform: { toString(): string } }) => {
      scene.attr('transform', event.transform.toString());
    });
  svg.call(zoomBehaviour).on('dblclick.zoom', null);
  const resize = new ResizeObserver(() => {
    const current = internals.get(root);
    if (current) fitView(root, current);
  });
  resize.observe(svg.node()!);
  inner = {
    state: null,
    model: { nodes: [], links: [] },
    simulation: null,
    zoom: zoomBehaviour,
    tabStop: '',
    spread: 1,
    resize,
  };
  internals.set(root, inner);
  bindKeyboard(root, actions);
  return inner;
}

/**
 * Draws `view` into `root` (a container the graph owns). Idempotent: a new neighbourhood lays the graph out again;
 * the same one with a new selection only restyles it. Nodes keep their elements by token id, so focus survives a
 * recentre on the focused node.
 */
export function renderGraph(root: HTMLElement, view: GraphView | null, actions: GraphActions): void {
  const inner = ensureScaffold(root, actions);
  const svg = select(root).select<SVGSVGElement>('svg.graph');
  svg.attr('hidden', view ? null : '');
  if (!view) return;

  if (inner.state !== view.state) {
    inner.simulation?.stop();
    inner.state = view.state;
    inner.model = buildGraph(view.state);
    inner.simulation = layoutGraph(inner.model);
    inner.simulation.on('tick', () => positionAll(root, inner));
    if (!inner.model.nodes.some((n) => n.key === inner.tabStop)) inner.tabStop = inner.model.nodes[0]!.key;
    svg.call(inner.zoom.transform, zoomIdentity);
  }
  const { model } = inner;
  const metric = view.state.metric;
  const isSelected = (d: GraphNode) => d.id !== undefined && view.selection.has(d.id);

  svg
    .attr('data-nodes', model.nodes.length)
    .attr('data-edges', model.links.filter((l) => l.kind === 'edge').length)
    .attr('aria-label', `Neighbourhood graph of ${model.nodes[0]!.label}: ${model.nodes.length - 1} neighbours`);

  svg
    .select('g.links')
    .selectAll<SVGLineElement, GraphLink>('line.link')
    .data(model.links, (d) => d.key)
    .join('line')
    .attr('class', (d) => `link ${d.kind}`)
    .attr('data-source', (d) => d.source.id ?? '')
    .attr('data-target', (d) => d.target.id ?? '')
    .attr('data-score', (d) => d.score)
    .style('--closeness', (d) => `${Math.round(100 * d.closeness)}%`)
    .attr('stroke-width', (d) => (d.kind === 'edge' ? 0.8 + 2.4 * d.closeness : 0.6 + 0.9 * d.closeness));

  const nodes = svg
    .select('g.nodes')
    .selectAll<SVGGElement, GraphNode>('g.node')
    .data(model.nodes, (d) => d.key)
    .join((enter) => {
      const g = enter.append('g').attr('role', 'button');
      g.append('circle').attr('class', 'halo');
      g.append('circle').attr('class', 'dot');
      g.append('text').attr('class', 'label').attr('dy', '0.35em');
      g.append('title');
      return g;
    });
  nodes
    .attr('class', (d) =>
      [
        'node',
        d.centre ? 'centre' : '',
        d.rank > LABELLED_RANKS ? 'minor' : '',
        isSelected(d) ? 'selected' : '',
      ]
        .filter(Boolean)
        .join(' '),
    )
    .attr('tabindex', (d) => (d.key === inner.tabStop ? 0 : -1))
    .attr('data-id', (d) => d.id ?? null)
    .attr('data-rank', (d) => d.rank)
    .attr('aria-pressed', (d) => (d.id !== undefined ? String(isSelected(d)) : null))
    .attr('aria-label', (d) => nodeAria(d, metric, isSelected(d)))
    .style('--closeness', (d) => `${Math.round(100 * d.closeness)}%`);
  nodes.select('circle.halo').attr('r', (d) => d.radius + 4);
  nodes.select('circle.dot').attr('r', (d) => d.radius);
  nodes
    .select('text.label')
    .attr('x', (d) => (d.labelLeft ? -(d.radius + 5) : d.radius + 5))
    .attr('text-anchor', (d) => (d.labelLeft ? 'end' : 'start'))
    .text((d) => d.label);
  nodes.select('title').text((d) => nodeTitle(d, metric));
  nodes.order();

  nodes
    .on('click', (event: MouseEvent, d) => {
      inner.tabStop = d.key;
      if (event.shiftKey) actions.toggleSelect(d);
      else if (!d.centre) actions.recentre(d);
    })
    .on('mouseenter', (_event, d) => actions.hover(d.id))
    .on('mouseleave', () => actions.hover(undefined))
    .on('focus', (_event, d) => {
      inner.tabStop = d.key;
      nodes.attr('tabindex', (n) => (n.key === d.key ? 0 : -1));
      actions.hover(d.id);
    })
    .on('blur', () => actions.hover(undefined));

  nodes.call(
    drag<SVGGElement, GraphNode>()
      .clickDistance(4)
      // The pointer moves in SVG units; the layout is in layout units (SVG units / spread).
      .subject((_event, d) => ({ x: inner.spread * (d.x ?? 0), y: inner.spread * (d.y ?? 0) }))
      .on('start', (event: { active: number }, d) => {
        if (d.centre) return;
        if (!event.active) inner.simulation?.alphaTarget(0.25).restart();
        d.fx = d.x;
        d.fy = d.y;
      })
      .on('drag', (event: { x: number; y: number }, d) => {
        if (d.centre) return;
        d.fx = event.x / inner.spread;
        d.fy = event.y / inner.spread;
      })
      .on('end', (event: { active: number }, d) => {
        if (d.centre) return;
        if (!event.active) inner.simulation?.alphaTarget(0);
        d.fx = null;
        d.fy = null;
      }),
  );

  fitView(root, inner);
}

/** Marks a token (and its links) as hovered in the graph; `undefined` clears it. */
export function highlightGraphToken(root: HTMLElement, id: number | undefined): void {
  const svg = select(root).select('svg.graph');
  svg.classed('has-hover', id !== undefined);
  svg.selectAll<SVGGElement, GraphNode>('g.node').classed('hovered', (d) => id !== undefined && d.id === id);
  svg
    .selectAll<SVGLineElement, GraphLink>('line.link')
    .classed('hovered', (d) => id !== undefined && (d.source.id === id || d.target.id === id));
}

/** Re-fits the graph (after its panel becomes visible again). */
export function refitGraph(root: HTMLElement): void {
  const inner = internals.get(root);
  if (inner) fitView(root, inner);
}

// ---- keyboard ------------------------------------------------------------------------------------------------------

function bindKeyboard(root: HTMLElement, actions: GraphActions): void {
  select(root).on('keydown.graph', (event: KeyboardEvent) => {
    const target = event.target instanceof Element ? event.target.closest<SVGGElement>('g.node') : null;
    if (!target) return;
    const all = Array.from(root.querySelectorAll<SVGGElement>('g.node'));
    const i = all.indexOf(target);
    const d = select<SVGGElement, GraphNode>(target).datum();
    let next: SVGGElement | undefined;
    switch (event.key) {
      case 'ArrowRight':
      case 'ArrowDown':
        next = all[Math.min(i + 1, all.length - 1)];
        break;
      case 'ArrowLeft':
      case 'ArrowUp':
        next = all[Math.max(i - 1, 0)];
        break;
      case 'Home':
        next = all[0];
        break;
      case 'End':
        next = all[all.length - 1];
        break;
      case 'Enter':
      case ' ':
        event.preventDefault();
        if (event.shiftKey || event.key === ' ') actions.toggleSelect(d);
        else if (!d.centre) actions.recentre(d);
        return;
      default:
        return;
    }
    if (event.altKey) return;
    event.preventDefault();
    next?.focus();
  });
}
