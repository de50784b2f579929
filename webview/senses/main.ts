/**
 * The Backpack Senses webview (REFERENCES §2): one panel with four tabs over one Backpack language model.
 * - **Senses** of a word: a diverging bar row per sense (senseBars.ts); a click on any word opens its own senses, with
 *   back/forward history.
 * - **Explain** a prediction: α over source positions × senses and the largest terms α·(E·C) (explainView.ts).
 * - **Search** senses for a word (searchList.ts).
 * - **Finetune**: a sense-finetuning report per epoch (finetuneChart.ts).
 * Above them, the Edits strip: the edited words, the enabled toggle, Save and Discard.
 *
 * The server computes everything; this view draws what the extension posts (`ToSenses`) and posts what the user asks
 * for (`FromSenses`). Its state survives hiding and reloading through `vscode.getState()` / `setState()`
 * (REFERENCES §6); it is restored first, then the view posts `ready` (and `attach` to name its model again).
 */
import type {
  ExplainRequest,
  FinetuneView,
  FromSenses,
  PredictionExplanation,
  SenseEditState,
  SenseSearchResult,
  SensesModel,
  SensesTab,
  ToSenses,
  WordSenses,
} from '../sensesMessages';
import { redrawOnWidthChange } from '../shared/chart';
import { connectToVsCode, isObject } from '../shared/vscodeHost';
import { renderExplanation } from './explainView';
import { renderFinetune } from './finetuneChart';
import { wordLabel } from './format';
import { renderSearch } from './searchList';
import { renderSenseBars } from './senseBars';

export type PostMessage = (message: FromSenses) => void;

export interface HistoryEntry {
  tokenId: number;
  token: string;
  sense?: number;
}

/** What getState / setState keep. */
export interface SavedSenses {
  version: 1;
  tab: SensesTab;
  model: SensesModel | null;
  senses: WordSenses | null;
  highlight: number | null;
  history: HistoryEntry[];
  /** Index into `history` of the word shown. */
  index: number;
  explain: { state: PredictionExplanation; request: ExplainRequest } | null;
  search: SenseSearchResult | null;
  edits: SenseEditState | null;
  finetune: FinetuneView | null;
  wordsPerSide: number;
  /** What the forms hold. */
  prompt: string;
  query: string;
}

const DEFAULTS: SavedSenses = {
  version: 1,
  tab: 'senses',
  model: null,
  senses: null,
  highlight: null,
  history: [],
  index: -1,
  explain: null,
  search: null,
  edits: null,
  finetune: null,
  wordsPerSide: 20,
  prompt: '',
  query: '',
};

export const MAX_HISTORY = 50;
export const WORDS_PER_SIDE = [5, 10, 20] as const;
export const TABS: { id: SensesTab; label: string }[] = [
  { id: 'senses', label: 'Senses' },
  { id: 'explain', label: 'Explain' },
  { id: 'search', label: 'Search' },
  { id: 'finetune', label: 'Finetune' },
];

export const EMPTY_SENSES_HINT = 'No word yet. Type one above, click "Show senses" in a hover, or run "Model Lens: Show Senses" on a word.';
export const EMPTY_EXPLAIN_HINT = 'Type a prompt above and press Explain, or run "Model Lens: Explain Prediction…" on a selection.';
export const EMPTY_SEARCH_HINT = 'Search for the senses whose top words hold a word, e.g. " Paris".';
export const EMPTY_FINETUNE_HINT = 'No finetuning run yet. Run "Model Lens: Finetune Senses from Examples…".';

// ---- messages in -------------------------------------------------------------------------------------------------

function isToSenses(value: unknown): value is ToSenses {
  if (!isObject(value) || typeof value.type !== 'string') return false;
  const state = value.state;
  switch (value.type) {
    case 'model':
      return isObject(value.model) && typeof value.model.id === 'string' && typeof value.model.name === 'string';
    case 'senses':
      return isObject(state) && Array.isArray(state.senses) && typeof state.tokenId === 'number';
    case 'explain':
      return isObject(state) && Array.isArray(state.alpha) && Array.isArray(state.tokens) && isObject(value.request) && typeof value.request.text === 'string';
    case 'search':
      return isObject(state) && Array.isArray(state.hits);
    case 'edits':
      return isObject(state) && Array.isArray(state.editedWords);
    case 'finetune':
      return isObject(state) && Array.isArray(state.epochs);
    case 'busy':
    case 'error':
      return typeof value.message === 'string';
    default:
      return false;
  }
}

function restore(state: unknown): SavedSenses {
  if (!isObject(state) || state.version !== 1) return { ...DEFAULTS };
  const saved = { ...DEFAULTS, ...(state as Partial<SavedSenses>) };
  if (!TABS.some((t) => t.id === saved.tab)) saved.tab = 'senses';
  if (!WORDS_PER_SIDE.includes(saved.wordsPerSide as 5 | 10 | 20)) saved.wordsPerSide = 20;
  if (!Array.isArray(saved.history)) saved.history = [];
  saved.index = Math.min(Math.max(-1, Number(saved.index) || 0), saved.history.length - 1);
  return saved;
}

// ---- the view ---------------------------------------------------------------------------------------------------------

function element<K extends keyof HTMLElementTagNameMap>(parent: HTMLElement, tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const el = parent.appendChild(document.createElement(tag));
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

function button(parent: HTMLElement, text: string, name: string, className = 'secondary'): HTMLButtonElement {
  const b = element(parent, 'button', className, text);
  b.type = 'button';
  b.name = name;
  return b;
}

/** A one-line form: a labelled text input and its submit button. */
function textForm(
  parent: HTMLElement,
  className: string,
  field: { name: string; placeholder: string; label: string },
  submit: { text: string; name: string },
): { form: HTMLFormElement; input: HTMLInputElement } {
  const form = element(parent, 'form', className);
  const input = element(form, 'input');
  input.name = field.name;
  input.placeholder = field.placeholder;
  input.setAttribute('aria-label', field.label);
  button(form, submit.text, submit.name, '').type = 'submit';
  return { form, input };
}

export function startSenses(root: HTMLElement, post: PostMessage, initial: unknown, persist: (state: SavedSenses) => void) {
  const saved = restore(initial);
  const transient: { busy: { message: string; fraction?: number; cancellable?: boolean } | null; error: string | null } = { busy: null, error: null };
  const save = () => persist(saved);

  root.classList.add('senses-view');
  // ---- header: title, model, history, word box ---------------------------------------------------------------------
  const header = element(root, 'header', 'top');
  element(header, 'h1', undefined, 'Backpack Senses');
  const modelName = element(header, 'span', 'model-name');
  const nav = element(header, 'nav', 'toolbar');
  nav.setAttribute('aria-label', 'Word history');
  const back = button(nav, '←', 'back');
  back.title = 'Back';
  back.setAttribute('aria-label', 'Back');
  const forward = button(nav, '→', 'forward');
  forward.title = 'Forward';
  forward.setAttribute('aria-label', 'Forward');
  const wordForm = element(nav, 'form', 'word-form');
  const wordInput = element(wordForm, 'input');
  wordInput.name = 'word';
  wordInput.placeholder = 'a word, e.g. " king"';
  wordInput.setAttribute('aria-label', 'Word to show the senses of');
  button(wordForm, 'Show senses', 'show', '').type = 'submit';
  const editButton = button(nav, 'Edit…', 'edit');
  editButton.title = 'Edit the senses of this word (Model Lens: Edit Senses…)';

  // ---- edits strip -------------------------------------------------------------------------------------------------
  const strip = element(root, 'section', 'edits-strip');
  strip.setAttribute('aria-label', 'Sense edits');
  const toggleLabel = element(strip, 'label', 'toggle');
  const toggle = element(toggleLabel, 'input');
  toggle.type = 'checkbox';
  toggle.name = 'edits-enabled';
  element(toggleLabel, 'span', undefined, 'Edits on');
  const editedList = element(strip, 'span', 'edited-words');
  const unsavedBadge = element(strip, 'span', 'badge unsaved', 'unsaved');
  const saveButton = button(strip, 'Save', 'save', '');
  saveButton.title = 'Write the edits beside the model (sense-edits.safetensors and sense-edits.json)';
  const discardButton = button(strip, 'Discard', 'discard');
  discardButton.title = 'Go back to the saved edits (or none)';

  // ---- busy and error ------------------------------------------------------------------------------------------------
  const busy = element(root, 'div', 'busy');
  const busyMessage = element(busy, 'span', 'busy-message');
  const progress = element(busy, 'div', 'progress');
  progress.setAttribute('role', 'progressbar');
  element(progress, 'div', 'progress-fill');
  const cancel = button(busy, 'Cancel', 'cancel');
  const errorBox = element(root, 'div', 'error');
  errorBox.setAttribute('role', 'alert');

  // ---- tabs --------------------------------------------------------------------------------------------------------
  const tablist = element(root, 'div', 'tabs');
  tablist.setAttribute('role', 'tablist');
  const panels = new Map<SensesTab, HTMLElement>();
  const tabButtons = TABS.map((tab) => {
    const b = element(tablist, 'button', 'tab', tab.label);
    b.type = 'button';
    b.id = `tab-${tab.id}`;
    b.dataset.tab = tab.id;
    b.setAttribute('role', 'tab');
    b.setAttribute('aria-controls', `panel-${tab.id}`);
    b.addEventListener('click', () => selectTab(tab.id, false));
    b.addEventListener('keydown', (event) => {
      const i = TABS.findIndex((t) => t.id === tab.id);
      const next = event.key === 'ArrowRight' ? (i + 1) % TABS.length : event.key === 'ArrowLeft' ? (i + TABS.length - 1) % TABS.length : event.key === 'Home' ? 0 : event.key === 'End' ? TABS.length - 1 : -1;
      if (next < 0) return;
      event.preventDefault();
      selectTab(TABS[next].id, true);
    });
    const panel = element(root, 'section', 'tab-panel');
    panel.id = `panel-${tab.id}`;
    panel.dataset.panel = tab.id;
    panel.setAttribute('role', 'tabpanel');
    panel.setAttribute('aria-labelledby', b.id);
    panels.set(tab.id, panel);
    return b;
  });

  function selectTab(tab: SensesTab, focus: boolean) {
    saved.tab = tab;
    save();
    render();
    if (focus) tabButtons.find((b) => b.dataset.tab === tab)?.focus();
  }

  // Senses tab
  const sensesPanel = panels.get('senses')!;
  const sensesHead = element(sensesPanel, 'div', 'panel-head');
  const sensesTitle = element(sensesHead, 'h2');
  const perSideGroup = element(sensesHead, 'div', 'segmented');
  perSideGroup.setAttribute('role', 'group');
  perSideGroup.setAttribute('aria-label', 'Words per side');
  const perSideButtons = WORDS_PER_SIDE.map((n) => {
    const b = button(perSideGroup, String(n), `per-side-${n}`, '');
    b.dataset.perSide = String(n);
    b.title = `${n} words on each side`;
    b.addEventListener('click', () => {
      saved.wordsPerSide = n;
      save();
      render();
    });
    return b;
  });
  const sensesNote = element(sensesPanel, 'p', 'note');
  const sensesBody = element(sensesPanel, 'div', 'panel-body senses-body');
  const sensesEmpty = element(sensesPanel, 'p', 'empty', EMPTY_SENSES_HINT);

  // Explain tab
  const explainPanel = panels.get('explain')!;
  const { form: explainForm, input: promptInput } = textForm(explainPanel, 'prompt-form', { name: 'prompt', placeholder: 'a prompt, e.g. The capital of France is', label: 'Prompt to explain' }, { text: 'Explain', name: 'explain' });
  const explainBody = element(explainPanel, 'div', 'panel-body explain-body');
  const explainEmpty = element(explainPanel, 'p', 'empty', EMPTY_EXPLAIN_HINT);

  // Search tab
  const searchPanel = panels.get('search')!;
  const { form: searchForm, input: queryInput } = textForm(searchPanel, 'search-form', { name: 'query', placeholder: 'a word, e.g. " Paris"', label: 'Word to search the senses for' }, { text: 'Search', name: 'search' });
  const searchBody = element(searchPanel, 'div', 'panel-body search-body');
  const searchEmpty = element(searchPanel, 'p', 'empty', EMPTY_SEARCH_HINT);

  // Finetune tab
  const finetunePanel = panels.get('finetune')!;
  const finetuneBody = element(finetunePanel, 'div', 'panel-body finetune-body');
  const finetuneEmpty = element(finetunePanel, 'p', 'empty', EMPTY_FINETUNE_HINT);

  // ---- actions -------------------------------------------------------------------------------------------------------
  function openWord(word: { id: number; token: string }, sense?: number) {
    if (!saved.model) return;
    // A new word cuts the forward history, as in a browser.
    const current = saved.history[saved.index];
    if (!current || current.tokenId !== word.id) {
      saved.history = [...saved.history.slice(0, saved.index + 1), { tokenId: word.id, token: word.token, sense }].slice(-MAX_HISTORY);
      saved.index = saved.history.length - 1;
    } else current.sense = sense;
    saved.highlight = sense ?? null;
    saved.tab = 'senses';
    save();
    post({ type: 'openWord', modelId: saved.model.id, word: word.token, tokenId: word.id, ...(sense !== undefined ? { sense } : {}) });
    render();
  }

  function go(step: number) {
    const target = saved.history[saved.index + step];
    if (!target || !saved.model) return;
    saved.index += step;
    saved.highlight = target.sense ?? null;
    saved.tab = 'senses';
    save();
    post({ type: 'openWord', modelId: saved.model.id, word: target.token, tokenId: target.tokenId, ...(target.sense !== undefined ? { sense: target.sense } : {}) });
    render();
  }

  back.addEventListener('click', () => go(-1));
  forward.addEventListener('click', () => go(1));
  root.addEventListener('keydown', (event) => {
    if (event.altKey && (event.key === 'ArrowLeft' || event.key === 'ArrowRight')) {
      event.preventDefault();
      go(event.key === 'ArrowLeft' ? -1 : 1);
    }
  });
  wordForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const word = wordInput.value;
    if (!word.trim() || !saved.model) return;
    saved.tab = 'senses';
    post({ type: 'openWord', modelId: saved.model.id, word });
  });
  editButton.addEventListener('click', () => {
    if (!saved.model) return;
    const word = saved.senses?.token ?? wordInput.value;
    post({ type: 'editWord', modelId: saved.model.id, word, ...(saved.highlight !== null ? { sense: saved.highlight } : {}) });
  });
  explainForm.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!promptInput.value.trim() || !saved.model) return;
    saved.prompt = promptInput.value;
    save();
    post({ type: 'explain', modelId: saved.model.id, request: { text: promptInput.value } });
  });
  searchForm.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!queryInput.value.trim() || !saved.model) return;
    saved.query = queryInput.value;
    save();
    post({ type: 'search', modelId: saved.model.id, query: queryInput.value });
  });
  promptInput.addEventListener('change', () => {
    saved.prompt = promptInput.value;
    save();
  });
  queryInput.addEventListener('change', () => {
    saved.query = queryInput.value;
    save();
  });
  toggle.addEventListener('change', () => {
    if (saved.model) post({ type: 'changeEdits', modelId: saved.model.id, action: toggle.checked ? 'enable' : 'disable' });
  });
  saveButton.addEventListener('click', () => saved.model && post({ type: 'changeEdits', modelId: saved.model.id, action: 'save' }));
  discardButton.addEventListener('click', () => saved.model && post({ type: 'changeEdits', modelId: saved.model.id, action: 'discard' }));
  cancel.addEventListener('click', () => post({ type: 'cancel' }));

  // ---- rendering -------------------------------------------------------------------------------------------------------
  const widthOf = (el: HTMLElement) => Math.max(300, Math.floor(el.clientWidth || root.clientWidth || 900));

  function renderEdits() {
    const edits = saved.edits;
    strip.hidden = !edits || !saved.model || edits.modelId !== saved.model.id;
    if (!edits || strip.hidden) return;
    strip.dataset.unsaved = String(edits.unsaved);
    strip.classList.toggle('view-only', !edits.editable);
    toggle.checked = edits.enabled;
    toggle.disabled = !edits.editable;
    saveButton.disabled = !edits.editable || !edits.unsaved;
    discardButton.disabled = !edits.editable || !edits.unsaved;
    unsavedBadge.hidden = !edits.unsaved;
    editedList.replaceChildren();
    editedList.dataset.words = String(edits.editedWords.length);
    if (!edits.editable) {
      element(editedList, 'span', 'muted', 'This Backpack is view-only (ONNX): its senses cannot be edited here.');
      return;
    }
    if (edits.editedWords.length === 0) {
      element(editedList, 'span', 'muted', 'No edited words.');
      return;
    }
    element(editedList, 'span', 'muted', 'Edited:');
    for (const word of edits.editedWords) {
      const b = element(editedList, 'button', 'link edited-word', wordLabel(word.token));
      b.type = 'button';
      b.dataset.id = String(word.tokenId);
      b.addEventListener('click', () => openWord({ id: word.tokenId, token: word.token }));
    }
  }

  function render() {
    modelName.textContent = saved.model ? saved.model.name : 'no Backpack yet';
    back.disabled = saved.index <= 0;
    forward.disabled = saved.index >= saved.history.length - 1;
    editButton.disabled = !saved.model || !(saved.edits?.editable ?? true);
    if (document.activeElement !== promptInput) promptInput.value = saved.prompt;
    if (document.activeElement !== queryInput) queryInput.value = saved.query;
    renderEdits();

    busy.hidden = transient.busy === null;
    if (transient.busy) {
      busyMessage.textContent = transient.busy.message;
      const fraction = transient.busy.fraction;
      progress.classList.toggle('indeterminate', fraction === undefined);
      (progress.firstElementChild as HTMLElement).style.width = fraction === undefined ? '' : `${Math.round(fraction * 100)}%`;
      if (fraction === undefined) progress.removeAttribute('aria-valuenow');
      else progress.setAttribute('aria-valuenow', String(Math.round(fraction * 100)));
      cancel.hidden = !transient.busy.cancellable;
    }
    errorBox.hidden = transient.error === null;
    errorBox.textContent = transient.error ?? '';

    for (const b of tabButtons) {
      const selected = b.dataset.tab === saved.tab;
      b.setAttribute('aria-selected', String(selected));
      b.tabIndex = selected ? 0 : -1;
    }
    for (const [id, panel] of panels) panel.hidden = id !== saved.tab;

    // Senses
    const senses = saved.senses;
    sensesEmpty.hidden = senses !== null;
    sensesBody.hidden = senses === null;
    for (const b of perSideButtons) b.setAttribute('aria-pressed', String(Number(b.dataset.perSide) === saved.wordsPerSide));
    if (senses) {
      const edited = senses.senses.filter((s) => s.edited).length;
      sensesTitle.textContent = `Senses of ${wordLabel(senses.token)}`;
      sensesNote.textContent = `id ${senses.tokenId} · ${senses.senses.length} senses, each scoring every word by E·C(x)ℓ${edited ? ` · ${edited} edited` : ''}. Click a word for its own senses.`;
      if (saved.tab === 'senses') {
        renderSenseBars(
          sensesBody,
          senses,
          // The clicked word's own senses: no sense of it to highlight.
          { openWord: (word) => openWord({ id: word.id, token: word.token }), selectSense },
          { width: widthOf(sensesBody), wordsPerSide: saved.wordsPerSide, highlight: saved.highlight },
        );
      }
    } else {
      sensesTitle.textContent = 'Senses';
      sensesNote.textContent = '';
    }

    // Explain
    explainEmpty.hidden = saved.explain !== null;
    explainBody.hidden = saved.explain === null;
    if (saved.explain && saved.tab === 'explain') {
      renderExplanation(explainBody, saved.explain.state, saved.explain.request, {
        openWord: (word, sense) => openWord(word, sense),
        explain: (request) => {
          if (!saved.model) return;
          post({ type: 'explain', modelId: saved.model.id, request });
        },
      }, widthOf(explainBody));
    }

    // Search
    searchEmpty.hidden = saved.search !== null;
    searchBody.hidden = saved.search === null;
    if (saved.search) renderSearch(searchBody, saved.search, { openWord: (word, sense) => openWord(word, sense) });

    // Finetune
    finetuneEmpty.hidden = saved.finetune !== null;
    finetuneBody.hidden = saved.finetune === null;
    if (saved.finetune && saved.tab === 'finetune') renderFinetune(finetuneBody, saved.finetune, widthOf(finetuneBody));
  }

  function selectSense(sense: number) {
    saved.highlight = saved.highlight === sense ? null : sense;
    save();
    render();
  }

  function setModel(model: SensesModel) {
    if (saved.model?.id !== model.id) {
      saved.history = [];
      saved.index = -1;
      saved.senses = null;
      saved.explain = null;
      saved.search = null;
      saved.finetune = null;
      saved.edits = null;
      saved.highlight = null;
    }
    saved.model = model;
  }

  function receive(message: ToSenses) {
    switch (message.type) {
      case 'model':
        setModel(message.model);
        break;
      case 'senses': {
        const state = message.state;
        if (message.refresh) {
          if (saved.senses?.tokenId === state.tokenId) saved.senses = state;
          break;
        }
        saved.senses = state;
        const current = saved.history[saved.index];
        if (!current || current.tokenId !== state.tokenId) {
          saved.history = [...saved.history.slice(0, saved.index + 1), { tokenId: state.tokenId, token: state.token, sense: message.sense }].slice(-MAX_HISTORY);
          saved.index = saved.history.length - 1;
        } else current.token = state.token;
        if (message.sense !== undefined) saved.highlight = message.sense;
        else if (current?.tokenId !== state.tokenId) saved.highlight = null;
        saved.tab = 'senses';
        transient.busy = null;
        transient.error = null;
        break;
      }
      case 'explain':
        saved.explain = { state: message.state, request: message.request };
        saved.prompt = message.request.text;
        saved.tab = 'explain';
        transient.busy = null;
        transient.error = null;
        break;
      case 'search':
        saved.search = message.state;
        saved.query = message.state.query.token;
        saved.tab = 'search';
        transient.busy = null;
        transient.error = null;
        break;
      case 'edits':
        saved.edits = message.state;
        break;
      case 'finetune':
        saved.finetune = message.state;
        saved.tab = 'finetune';
        transient.busy = null;
        transient.error = null;
        break;
      case 'busy':
        transient.busy = { message: message.message, fraction: message.fraction, cancellable: message.cancellable };
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

  redrawOnWidthChange(root, render);

  render();
  // After `ready` (posted when this returns), so the extension answers into a ready channel.
  const restoredModel = saved.model;
  if (restoredModel) queueMicrotask(() => post({ type: 'attach', modelId: restoredModel.id }));
  return { receive, saved: () => saved };
}

// ---- wiring to VS Code ---------------------------------------------------------------------------------------------

connectToVsCode<ToSenses, FromSenses>(isToSenses, startSenses);
