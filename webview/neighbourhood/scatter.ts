/**
 * The projection scatter: up to 10,000 projected tokens on a canvas (one path per colour, so 10k points draw in a few
 * milliseconds), zoom and pan with d3-zoom (wheel, drag, and + − 0 and arrows from the keyboard), a tooltip on
 * hover, and regex search highlights. Both axes share one scale, so distances read true (PCA is a rotation).
 *
 * The canvas tells tests and assistive tech what it drew: `data-points` (points drawn), `data-matches` (points the
 * search highlights), `data-labels` (labels drawn) and an aria-label summary.
 */
import { select } from 'd3-selection';
import { zoom, zoomIdentity, type ZoomBehavior, type ZoomTransform } from 'd3-zoom';
import type { ProjectedPoint, ProjectionState } from '../neighbourhoodMessages';
import { formatCount, tokenLabel } from './label';
import { tokenMatches } from './search';

export const MAX_POINTS = 10_000;
/** Every label is drawn up to this many points; beyond, only the search matches' (when there are few). */
const ALL_LABELS_UP_TO = 150;
const MATCH_LABELS_UP_TO = 200;
const HOVER_RADIUS = 8;

export interface ScatterView {
  state: ProjectionState;
  /** Compiled search; null: no search. */
  regex: RegExp | null;
  selection: ReadonlySet<number>;
}

export interface ScatterActions {
  /** A click (shift: select) on a point. */
  pick(point: ProjectedPoint, shift: boolean): void;
}

interface Colours {
  point: string;
  match: string;
  selected: string;
  label: string;
  halo: string;
  hover: string;
}

interface ScatterInternals {
  canvas: HTMLCanvasElement;
  tooltip: HTMLDivElement;
  zoom: ZoomBehavior<HTMLCanvasElement, unknown>;
  transform: ZoomTransform;
  view: ScatterView | null;
  actions: ScatterActions;
  /** For the state drawn: points, labels and base positions in CSS pixels at zoom 1. */
  state: ProjectionState | null;
  points: ProjectedPoint[];
  labels: string[];
  px: Float32Array;
  py: Float32Array;
  size: { width: number; height: number };
  matches: Uint8Array;
  hovered: number;
  frame: number;
}

const internals = new WeakMap<HTMLElement, ScatterInternals>();

function readColours(el: HTMLElement): Colours {
  const style = getComputedStyle(el);
  const get = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
  return {
    point: get('--nb-point', '#3794ff'),
    match: get('--nb-match', '#d18616'),
    selected: get('--nb-selected', '#cca700'),
    label: get('--nb-label', '#cccccc'),
    halo: get('--nb-halo', '#1f1f1f'),
    hover: get('--nb-hover', '#cccccc'),
  };
}

/** Base positions: both axes on one scale, the data's bounding box centred with a margin. */
function basePositions(points: ProjectedPoint[], width: number, height: number): { px: Float32Array; py: Float32Array } {
  const px = new Float32Array(points.length);
  const py = new Float32Array(points.length);
  if (points.length === 0) return { px, py };
  let x0 = Infinity;
  let x1 = -Infinity;
  let y0 = Infinity;
  let y1 = -Infinity;
  for (const p of points) {
    if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) continue;
    x0 = Math.min(x0, p.x);
    x1 = Math.max(x1, p.x);
    y0 = Math.min(y0, p.y);
    y1 = Math.max(y1, p.y);
  }
  if (!Number.isFinite(x0)) [x0, x1, y0, y1] = [0, 0, 0, 0];
  const margin = 28;
  const w = Math.max(width - 2 * margin, 10);
  const h = Math.max(height - 2 * margin, 10);
  const span = Math.max((x1 - x0) / w, (y1 - y0) / h) || 1;
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  points.forEach((p, i) => {
    // Screen y grows downwards; data y grows upwards.
    px[i] = width / 2 + (Number.isFinite(p.x) ? (p.x - cx) / span : 0);
    py[i] = height / 2 - (Number.isFinite(p.y) ? (p.y - cy) / span : 0);
  });
  return { px, py };
}

function pointRadius(n: number, k: number): number {
  const base = n <= 200 ? 4 : n <= 2000 ? 2.6 : 1.7;
  return Math.min(base * Math.sqrt(k), base * 3);
}

function ensureScaffold(root: HTMLElement, actions: ScatterActions): ScatterInternals {
  let inner = internals.get(root);
  if (inner) {
    inner.actions = actions;
    return inner;
  }
  const canvas = document.createElement('canvas');
  canvas.className = 'scatter';
  canvas.tabIndex = 0;
  canvas.setAttribute('role', 'img');
  const tooltip = document.createElement('div');
  tooltip.className = 'tooltip';
  tooltip.setAttribute('role', 'status');
  tooltip.hidden = true;
  root.append(canvas, tooltip);

  const zoomBehaviour = zoom<HTMLCanvasElement, unknown>()
    .scaleExtent([0.5, 60])
    .on('zoom', (event: { transform: ZoomTransform }) => {
      const current = internals.get(root)!;
      current.transform = event.transform;
      hideTooltip(current);
      scheduleDraw(root);
    });
  select(canvas).call(zoomBehaviour).on('dblclick.zoom', null);

  inner = {
    canvas,
    tooltip,
    zoom: zoomBehaviour,
    transform: zoomIdentity,
    view: null,
    actions,
    state: null,
    points: [],
    labels: [],
    px: new Float32Array(0),
    py: new Float32Array(0),
    size: { width: 0, height: 0 },
    matches: new Uint8Array(0),
    hovered: -1,
    frame: 0,
  };
  internals.set(root, inner);

  const nearest = (event: MouseEvent): number => {
    const current = internals.get(root)!;
    const rect = canvas.getBoundingClientRect();
    const mx = event.clientX - rect.left;
    const my = event.clientY - rect.top;
    const t = current.transform;
    let best = -1;
    let bestD = HOVER_RADIUS * HOVER_RADIUS;
    for (let i = 0; i < current.points.length; i++) {
      const dx = t.x + t.k * current.px[i]! - mx;
      const dy = t.y + t.k * current.py[i]! - my;
      const d = dx * dx + dy * dy;
      if (d <= bestD) {
        bestD = d;
        best = i;
      }
    }
    return best;
  };

  canvas.addEventListener('mousemove', (event) => {
    const current = internals.get(root)!;
    const i = nearest(event);
    if (i === current.hovered) return;
    current.hovered = i;
    canvas.style.cursor = i >= 0 ? 'pointer' : '';
    showTooltip(current, i);
    scheduleDraw(root);
  });
  canvas.addEventListener('mouseleave', () => {
    const current = internals.get(root)!;
    current.hovered = -1;
    hideTooltip(current);
    scheduleDraw(root);
  });
  canvas.addEventListener('click', (event) => {
    const current = internals.get(root)!;
    const i = nearest(event);
    if (i >= 0) current.actions.pick(current.points[i]!, event.shiftKey);
  });
  canvas.addEventListener('keydown', (event) => {
    const current = internals.get(root)!;
    const sel = select(canvas);
    const step = 40;
    switch (event.key) {
      case '+':
      case '=':
        sel.call(current.zoom.scaleBy, 1.5);
        break;
      case '-':
        sel.call(current.zoom.scaleBy, 1 / 1.5);
        break;
      case '0':
        sel.call(current.zoom.transform, zoomIdentity);
        break;
      case 'ArrowLeft':
        sel.call(current.zoom.translateBy, step / current.transform.k, 0);
        break;
      case 'ArrowRight':
        sel.call(current.zoom.translateBy, -step / current.transform.k, 0);
        break;
      case 'ArrowUp':
        sel.call(current.zoom.translateBy, 0, step / current.transform.k);
        break;
      case 'ArrowDown':
        sel.call(current.zoom.translateBy, 0, -step / current.transform.k);
        break;
      default:
        return;
    }
    event.preventDefault();
  });

  new ResizeObserver(() => {
    const current = internals.get(root)!;
    const resized = canvas.clientWidth !== current.size.width || canvas.clientHeight !== current.size.height;
    if (resized && current.view) renderScatter(root, current.view, current.actions);
  }).observe(canvas);
  // VS Code switches themes by changing the body's class: redraw with the new colours.
  new MutationObserver(() => scheduleDraw(root)).observe(document.body, { attributes: true, attributeFilter: ['class'] });
  return inner;
}

function showTooltip(inner: ScatterInternals, i: number): void {
  if (i < 0) {
    hideTooltip(inner);
    return;
  }
  const p = inner.points[i]!;
  const t = inner.transform;
  inner.tooltip.textContent = `${inner.labels[i]}  ·  id ${p.id}`;
  inner.tooltip.hidden = false;
  const x = t.x + t.k * inner.px[i]!;
  const y = t.y + t.k * inner.py[i]!;
  const flip = x > inner.size.width - 160;
  inner.tooltip.style.left = `${Math.round(flip ? x - 12 : x + 12)}px`;
  inner.tooltip.style.top = `${Math.round(y - 12)}px`;
  inner.tooltip.classList.toggle('flip', flip);
}

function hideTooltip(inner: ScatterInternals): void {
  inner.tooltip.hidden = true;
}

function scheduleDraw(root: HTMLElement): void {
  const inner = internals.get(root);
  if (!inner || inner.frame) return;
  inner.frame = requestAnimationFrame(() => {
    inner.frame = 0;
    draw(inner);
  });
}

function draw(inner: ScatterInternals): void {
  const { canvas, points, px, py, matches } = inner;
  const { width, height } = inner.size;
  const ctx = canvas.getContext('2d');
  if (!ctx || width === 0 || height === 0) return;
  const dpr = window.devicePixelRatio || 1;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const colours = readColours(canvas);
  const t = inner.transform;
  const n = points.length;
  const r = pointRadius(n, t.k);
  const searching = !!inner.view?.regex;
  const selection = inner.view?.selection ?? new Set<number>();

  const pathOf = (include: (i: number) => boolean, radius: number): Path2D => {
    const path = new Path2D();
    for (let i = 0; i < n; i++) {
      if (!include(i)) continue;
      const x = t.x + t.k * px[i]!;
      const y = t.y + t.k * py[i]!;
      if (x < -radius || y < -radius || x > width + radius || y > height + radius) continue;
      path.moveTo(x + radius, y);
      path.arc(x, y, radius, 0, 2 * Math.PI);
    }
    return path;
  };

  // Everything first (dimmed while a search is on), then selection rings, then the matches on top.
  ctx.globalAlpha = searching ? 0.22 : 0.85;
  ctx.fillStyle = colours.point;
  ctx.fill(pathOf(() => true, r));
  ctx.globalAlpha = 1;
  if (selection.size > 0) {
    ctx.strokeStyle = colours.selected;
    ctx.lineWidth = 2;
    ctx.stroke(pathOf((i) => selection.has(points[i]!.id), r + 2.5));
  }
  if (searching) {
    ctx.fillStyle = colours.match;
    ctx.fill(pathOf((i) => matches[i] === 1, r + 1));
  }

  // Labels: all of them for small projections; otherwise the matches when they are few.
  let matchCount = 0;
  for (let i = 0; i < n; i++) matchCount += matches[i]!;
  const labelled: number[] = [];
  if (n <= ALL_LABELS_UP_TO) for (let i = 0; i < n; i++) labelled.push(i);
  else if (searching && matchCount <= MATCH_LABELS_UP_TO) for (let i = 0; i < n; i++) if (matches[i]) labelled.push(i);
  ctx.font = `11px ${getComputedStyle(canvas).getPropertyValue('--nb-mono').trim() || 'monospace'}`;
  ctx.textBaseline = 'middle';
  ctx.lineJoin = 'round';
  ctx.lineWidth = 3;
  ctx.strokeStyle = colours.halo;
  let drawnLabels = 0;
  // Greedy placement: a label that would overlap one already drawn is left out (hover shows it).
  const placed: [number, number, number, number][] = [];
  for (const i of labelled) {
    const x = t.x + t.k * px[i]! + r + 3;
    const y = t.y + t.k * py[i]!;
    if (x > width || y < 0 || y > height || x < -200) continue;
    const box: [number, number, number, number] = [x - 1, y - 7, x + ctx.measureText(inner.labels[i]!).width + 1, y + 7];
    if (placed.some((b) => b[0] < box[2] && box[0] < b[2] && b[1] < box[3] && box[1] < b[3])) continue;
    placed.push(box);
    ctx.globalAlpha = searching && !matches[i] ? 0.4 : 1;
    ctx.strokeText(inner.labels[i]!, x, y);
    ctx.fillStyle = colours.label;
    ctx.fillText(inner.labels[i]!, x, y);
    drawnLabels++;
  }
  ctx.globalAlpha = 1;

  if (inner.hovered >= 0 && inner.hovered < n) {
    const x = t.x + t.k * px[inner.hovered]!;
    const y = t.y + t.k * py[inner.hovered]!;
    ctx.strokeStyle = colours.hover;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.arc(x, y, r + 3, 0, 2 * Math.PI);
    ctx.stroke();
  }

  canvas.dataset.points = String(n);
  canvas.dataset.matches = String(searching ? matchCount : 0);
  canvas.dataset.labels = String(drawnLabels);
  canvas.setAttribute(
    'aria-label',
    `Scatter plot of ${formatCount(n)} tokens${searching ? `, ${formatCount(matchCount)} match the search` : ''}. ` +
      'Plus and minus zoom, arrows pan, 0 resets.',
  );
}

/** Draws `view` into `root` (a container the scatter owns). Cheap to call again: it only redraws the canvas. */
export function renderScatter(root: HTMLElement, view: ScatterView | null, actions: ScatterActions): void {
  const inner = ensureScaffold(root, actions);
  inner.view = view;
  inner.canvas.hidden = !view;
  if (!view) {
    hideTooltip(inner);
    return;
  }
  const width = inner.canvas.clientWidth;
  const height = inner.canvas.clientHeight;
  const newState = inner.state !== view.state;
  if (newState || width !== inner.size.width || height !== inner.size.height) {
    // A new projection starts unzoomed; a resize keeps the zoom.
    if (newState && inner.state) select(inner.canvas).call(inner.zoom.transform, zoomIdentity);
    inner.state = view.state;
    inner.points = view.state.points.slice(0, MAX_POINTS);
    inner.labels = inner.points.map((p) => tokenLabel(p.token));
    inner.size = { width, height };
    const dpr = window.devicePixelRatio || 1;
    inner.canvas.width = Math.max(1, Math.round(width * dpr));
    inner.canvas.height = Math.max(1, Math.round(height * dpr));
    ({ px: inner.px, py: inner.py } = basePositions(inner.points, width, height));
    inner.hovered = -1;
    hideTooltip(inner);
  }
  const matches = new Uint8Array(inner.points.length);
  if (view.regex) {
    for (let i = 0; i < inner.points.length; i++) {
      matches[i] = tokenMatches(view.regex, inner.points[i]!.token, inner.labels[i]!) ? 1 : 0;
    }
  }
  inner.matches = matches;
  // Draw now (not on the next frame) so what the data attributes say is already on the canvas.
  if (inner.frame) cancelAnimationFrame(inner.frame);
  inner.frame = 0;
  draw(inner);
}

/** Resets zoom and pan. */
export function resetScatterZoom(root: HTMLElement): void {
  const inner = internals.get(root);
  if (inner) select(inner.canvas).call(inner.zoom.transform, zoomIdentity);
}
