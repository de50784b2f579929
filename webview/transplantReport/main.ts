/**
 * The Transplant Report webview: what a tokenizer transplant did and how well (REFERENCES §1), or its progress
 * while it runs.
 *
 * - Header: base → donor, method, k, the output folder with Open Model / Reveal, total time, Copy JSON.
 * - A prominent warning when the two tokenizers split digits differently (the paper's main risk for arithmetic).
 * - Token categories (counts, share, examples), special tokens by role, the matrices replaced.
 * - The self-check: a cosine histogram per method side by side with mean and median, and the 20 worst tokens each.
 * - Stage timings as a bar chart, warnings, and a searchable provenance table of the approximated tokens.
 *
 * The extension posts `ToTransplant`; the view posts `FromTransplant`. Its state (the report or the progress, the
 * search) survives hiding and reloading through `vscode.getState()` / `setState()` (REFERENCES §6); it is restored
 * first, then the view posts `ready`.
 */
import { select } from 'd3-selection';
import type { TransplantReport } from '../../server/features/transplant/report';
import type { FromTransplant, ToTransplant } from '../transplantMessages';
import { formatBytes, formatCount, formatSeconds, tokenLabel } from './format';
import { renderHistograms } from './histogram';
import { renderProgress, STAGES, type ProgressState } from './progress';
import { renderProvenance, PROVENANCE_ROWS_SHOWN } from './provenance';
import { renderCategories, renderMatrices, renderSpecialTokens, renderWorst } from './tables';
import { renderTimings } from './timings';
import { connectToVsCode, isObject } from '../shared/vscodeHost';

export type PostMessage = (message: FromTransplant) => void;

/** What getState / setState keep. */
export interface SavedTransplant {
  version: 1;
  report: TransplantReport | null;
  progress: ProgressState | null;
  error: string | null;
  search: string;
}

export const EMPTY_HINT = 'No transplant yet. Run “Model Lens: Transplant Tokenizer…” to make one.';

const DEFAULTS: SavedTransplant = { version: 1, report: null, progress: null, error: null, search: '' };

// ---- messages in -------------------------------------------------------------------------------------------------

function isReport(value: unknown): value is TransplantReport {
  return (
    isObject(value) &&
    isObject(value.base) &&
    isObject(value.donor) &&
    isObject(value.matching) &&
    isObject(value.digits) &&
    isObject(value.options) &&
    Array.isArray(value.timings) &&
    Array.isArray(value.provenance) &&
    Array.isArray(value.warnings) &&
    Array.isArray(value.matrices)
  );
}

const STAGE_NAMES = new Set<string>(STAGES.map((s) => s.stage));

function isProgress(value: unknown): value is ProgressState {
  return isObject(value) && typeof value.stage === 'string' && STAGE_NAMES.has(value.stage) && typeof value.fraction === 'number';
}

export function isToTransplant(value: unknown): value is ToTransplant {
  if (!isObject(value)) return false;
  switch (value.type) {
    case 'report':
      return isReport(value.report);
    case 'progress':
      return isProgress(value);
    case 'error':
      return typeof value.message === 'string';
    default:
      return false;
  }
}

/** A saved state from an earlier session, or the defaults when there is none or it does not look right. */
export function restoreSaved(value: unknown): SavedTransplant {
  if (!isObject(value) || value.version !== 1) return { ...DEFAULTS };
  return {
    version: 1,
    report: isReport(value.report) ? value.report : null,
    progress: isProgress(value.progress) ? value.progress : null,
    error: typeof value.error === 'string' ? value.error : null,
    search: typeof value.search === 'string' ? value.search : '',
  };
}

// ---- layout ------------------------------------------------------------------------------------------------------

function section(root: HTMLElement, id: string, title: string) {
  const s = select(root).select('.report').append('section').attr('class', `card ${id}`).attr('aria-labelledby', `h-${id}`);
  s.append('h2').attr('id', `h-${id}`).text(title);
  return s;
}

function buildLayout(root: HTMLElement): void {
  root.classList.add('transplant');
  root.innerHTML = '';
  const r = select(root);
  r.append('p').attr('class', 'empty').text(EMPTY_HINT);
  r.append('div').attr('class', 'error').attr('role', 'alert');

  // Progress
  const p = r.append('section').attr('class', 'progress-view').attr('aria-label', 'Transplant in progress');
  p.append('h1').text('Transplanting tokenizer…');
  p.append('ol').attr('class', 'stages');
  const barRow = p.append('div').attr('class', 'bar-row');
  barRow
    .append('div')
    .attr('class', 'progress-track')
    .attr('role', 'progressbar')
    .attr('aria-valuemin', 0)
    .attr('aria-valuemax', 100)
    .attr('aria-label', 'Overall progress')
    .append('div')
    .attr('class', 'fill');
  barRow.append('span').attr('class', 'percent');
  const info = p.append('div').attr('class', 'progress-info');
  info.append('span').attr('class', 'progress-message').attr('aria-live', 'polite');
  info.append('span').attr('class', 'eta');
  p.append('div').attr('class', 'actions').append('button').attr('type', 'button').attr('class', 'cancel secondary').text('Cancel');

  // Report
  const rep = r.append('div').attr('class', 'report');
  const header = rep.append('header').attr('class', 'report-header');
  const titleRow = header.append('div').attr('class', 'title-row');
  const h1 = titleRow.append('h1');
  h1.append('span').attr('class', 'model base');
  h1.append('span').attr('class', 'arrow').attr('aria-label', 'to').text('→');
  h1.append('span').attr('class', 'model donor');
  titleRow.append('button').attr('type', 'button').attr('class', 'copy-json secondary').attr('title', 'Copy the report as JSON').text('Copy JSON');
  header.append('p').attr('class', 'meta');
  const out = header.append('div').attr('class', 'output');
  out.append('span').attr('class', 'caption').text('Output');
  out.append('code').attr('class', 'output-path');
  out.append('span').attr('class', 'output-meta muted');
  const buttons = out.append('span').attr('class', 'buttons');
  buttons.append('button').attr('type', 'button').attr('class', 'open-model').text('Open Model');
  buttons.append('button').attr('type', 'button').attr('class', 'reveal secondary').text('Reveal');
  header.append('p').attr('class', 'compare-only muted').text('Compare only: the self-check ran; no checkpoint was written.');

  const digits = rep.append('div').attr('class', 'digit-warning').attr('role', 'alert');
  digits.append('span').attr('class', 'icon').attr('aria-hidden', 'true').text('⚠');
  const body = digits.append('div');
  body.append('strong').text('The tokenizers split numbers differently.');
  body.append('p').attr('class', 'note');
  body.append('div').attr('class', 'splits');
  rep.append('p').attr('class', 'digit-ok muted');

  const warnings = rep.append('ul').attr('class', 'warnings').attr('aria-label', 'Warnings');
  warnings.attr('role', 'list');

  const cats = section(root, 'categories', 'Token categories');
  cats.append('p').attr('class', 'summary muted');
  cats.append('table').attr('class', 'data categories-table');
  cats.append('h3').text('Special tokens');
  cats.append('table').attr('class', 'data compact specials-table');
  cats.append('h3').text('Matrices');
  cats.append('table').attr('class', 'data compact matrices-table');

  const check = section(root, 'self-check', 'Self-check');
  check.append('p').attr('class', 'summary muted');
  check.append('div').attr('class', 'legend muted').text('Bars: held-out tokens per cosine bin. Solid line: mean · dashed: median.');
  check.append('div').attr('class', 'histograms');
  check.append('h3').text('Worst tokens');
  check.append('div').attr('class', 'worst-tables');
  check.append('p').attr('class', 'none muted').text('No self-check in this run.');

  const timing = section(root, 'timings', 'Stage timings');
  timing.append('div').attr('class', 'timing-chart');

  const prov = section(root, 'provenance', 'Provenance of approximated tokens');
  const tools = prov.append('div').attr('class', 'toolbar');
  tools
    .append('input')
    .attr('type', 'search')
    .attr('name', 'search')
    .attr('placeholder', 'Filter by token, id or method')
    .attr('aria-label', 'Filter approximated tokens by token, id or method')
    .attr('spellcheck', 'false');
  tools.append('span').attr('class', 'search-count muted').attr('aria-live', 'polite');
  prov.append('div').attr('class', 'provenance-table');
}

// ---- the app -----------------------------------------------------------------------------------------------------

export interface TransplantApp {
  receive(message: ToTransplant): void;
  saved(): SavedTransplant;
}

export function startTransplantReport(
  root: HTMLElement,
  post: PostMessage,
  savedState: unknown,
  persist: (state: SavedTransplant) => void,
): TransplantApp {
  const saved = restoreSaved(savedState);
  buildLayout(root);
  const $ = <T extends Element>(selector: string) => root.querySelector<T>(selector)!;
  const searchInput = $<HTMLInputElement>('input[name="search"]');
  searchInput.value = saved.search;
  const save = () => persist(saved);

  select($('button.open-model')).on('click', () => {
    const out = saved.report?.output;
    if (out) post({ type: 'openModel', path: out.path });
  });
  select($('button.reveal')).on('click', () => {
    const out = saved.report?.output;
    if (out) post({ type: 'revealFile', path: out.path });
  });
  select($('button.copy-json')).on('click', () => {
    if (saved.report) post({ type: 'copy', format: 'json', text: JSON.stringify(saved.report, null, 2) });
  });
  select($('button.cancel')).on('click', () => {
    if (!saved.progress || saved.progress.cancelling) return;
    saved.progress = { ...saved.progress, cancelling: true };
    save();
    render();
    post({ type: 'cancel' });
  });
  select(searchInput).on('input', () => {
    saved.search = searchInput.value;
    save();
    renderSearch();
  });
  searchInput.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && searchInput.value !== '') {
      searchInput.value = '';
      saved.search = '';
      save();
      renderSearch();
    }
  });

  function renderSearch(): void {
    const report = saved.report;
    if (!report) return;
    const { matches, shown } = renderProvenance($('.provenance-table'), report.provenance, saved.search);
    const total = report.provenance.length;
    const text =
      saved.search.trim() === ''
        ? `${formatCount(total)} tokens${shown < total ? ` · first ${formatCount(PROVENANCE_ROWS_SHOWN)} shown` : ''}`
        : `${formatCount(matches)} of ${formatCount(total)}${shown < matches ? ` · first ${formatCount(shown)} shown` : ''}`;
    select(root).select('.search-count').text(text);
  }

  function renderReport(report: TransplantReport): void {
    const r = select(root);
    r.select('.model.base').text(report.base.name).attr('title', report.base.path);
    r.select('.model.donor').text(report.donor.name).attr('title', report.donor.path);
    const o = report.options;
    r.select('.meta').text(
      [
        `method ${o.method}`,
        o.method === 'omp' && o.k !== undefined ? `k ${o.k}` : null,
        `matrices ${o.matrices.join(' + ')}`,
        `${formatCount(report.matching.rows)} rows: ${formatCount(report.matching.anchors)} anchors, ${formatCount(report.matching.approximated)} approximated`,
        `total ${formatSeconds(report.totalSeconds)}`,
        new Date(report.createdAt).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' }),
      ]
        .filter((s): s is string => s !== null)
        .join(' · '),
    );
    const out = report.output;
    r.select('.output').attr('hidden', out ? null : '');
    r.select('.compare-only').attr('hidden', report.compareOnly || !out ? null : '');
    if (out) {
      r.select('.output-path').text(out.path).attr('title', out.path);
      r.select('.output-meta').text(
        `${formatCount(out.rows)} rows · ${out.tied ? 'tied' : 'untied'} · ${out.sharded ? 'sharded · ' : ''}${formatBytes(out.weightBytes)} · ${out.files.length} files`,
      );
    }

    // Digits
    const d = report.digits;
    const warn = r.select('.digit-warning').attr('hidden', d.differs ? null : '');
    r.select('.digit-ok')
      .attr('hidden', d.differs ? '' : null)
      .text(`Digits: both tokenizers split numbers into ${d.base.style}.`);
    if (d.differs) {
      warn.select('.note').text(d.note);
      const sides = [
        { side: 'base', name: report.base.name, split: d.base },
        { side: 'donor', name: report.donor.name, split: d.donor },
      ];
      warn
        .select('.splits')
        .selectAll<HTMLDivElement, (typeof sides)[number]>('div.split')
        .data(sides, (s) => s.side)
        .join((e) => {
          const div = e.append('div').attr('class', 'split');
          div.append('span').attr('class', 'who');
          div.append('span').attr('class', 'examples');
          return div;
        })
        .call((s) => s.select('.who').text((x) => `${x.name} (${x.split.style}):`))
        .select('.examples')
        .each(function (x) {
          select(this)
            .selectAll('span.example')
            .data(x.split.examples.slice(0, 3))
            .join('span')
            .attr('class', 'example')
            .html('')
            .call((ex) =>
              ex
                .selectAll('code')
                .data((e) => e.pieces)
                .join('code')
                .attr('class', 'piece')
                .text((piece) => tokenLabel(piece)),
            );
        });
    }

    // Warnings
    r.select('.warnings')
      .attr('hidden', report.warnings.length > 0 ? null : '')
      .attr('data-count', report.warnings.length)
      .selectAll('li')
      .data(report.warnings)
      .join('li')
      .text((w) => w);

    // Categories
    const m = report.matching;
    r.select('.categories .summary').text(
      `${formatCount(m.rows)} donor rows: ${formatCount(m.anchors)} anchors copied from the base, ${formatCount(m.approximated)} made by ${o.method}.`,
    );
    renderCategories($('.categories-table'), m);
    renderSpecialTokens($('.specials-table'), m.specialTokens);
    r.select('.specials-table').attr('hidden', m.specialTokens.length > 0 ? null : '');
    renderMatrices($('.matrices-table'), report.matrices);

    // Self-check
    const sc = report.selfCheck;
    const check = r.select('.self-check');
    check.select('.none').attr('hidden', sc ? '' : null);
    check.selectAll('.legend, .histograms, h3, .worst-tables').attr('hidden', sc ? null : '');
    check.attr('data-methods', sc ? sc.results.length : 0);
    if (sc) {
      check
        .select('.summary')
        .text(
          `${formatCount(sc.heldOut)} shared tokens held out (${(100 * sc.fraction).toFixed(1)}%, seed ${sc.seed}) and rebuilt from ${formatCount(sc.anchorsUsed)} anchors; cosine to their true base rows.`,
        );
    } else check.select('.summary').text('');
    renderHistograms($('.histograms'), sc?.results ?? []);
    renderWorst($('.worst-tables'), sc?.results ?? []);

    renderTimings($('.timing-chart'), report.timings, report.totalSeconds);
    r.select('.provenance').attr('hidden', report.provenance.length > 0 ? null : '');
    renderSearch();
  }

  function render(): void {
    const mode = saved.progress ? 'progress' : saved.report ? 'report' : saved.error ? 'error' : 'empty';
    root.dataset.view = mode;
    const r = select(root);
    r.select('.empty').attr('hidden', mode === 'empty' ? null : '');
    r.select('.error')
      .attr('hidden', saved.error ? null : '')
      .text(saved.error ?? '');
    r.select('.progress-view').attr('hidden', mode === 'progress' ? null : '');
    r.select('.report').attr('hidden', mode === 'report' ? null : '');
    if (saved.progress) renderProgress($('.progress-view'), saved.progress);
    if (mode === 'report' && saved.report) renderReport(saved.report);
  }

  function receive(message: ToTransplant): void {
    switch (message.type) {
      case 'report':
        saved.report = message.report;
        saved.progress = null;
        saved.error = null;
        break;
      case 'progress':
        saved.progress = {
          stage: message.stage,
          fraction: message.fraction,
          etaSeconds: message.etaSeconds,
          message: message.message,
          cancelling: saved.progress?.cancelling ?? false,
        };
        saved.error = null;
        break;
      case 'error':
        saved.progress = null;
        saved.error = message.message;
        break;
    }
    save();
    render();
  }

  render();
  return { receive, saved: () => saved };
}

// ---- wiring to VS Code ---------------------------------------------------------------------------------------------

connectToVsCode<ToTransplant, FromTransplant>(isToTransplant, startTransplantReport);
