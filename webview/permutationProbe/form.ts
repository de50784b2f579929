/**
 * The run form (k, width, parameterisation, target, most members) with Run and Reproduce-paper buttons, and the busy
 * bar with Cancel. Built once; `renderForm` only updates it. Values are clamped to what the probe accepts before they
 * are posted.
 */
import type { PermutationParam } from '../permutationMessages';

export interface RunValues {
  k: number;
  width: number;
  param: PermutationParam;
  target: number;
  maxModels: number;
}

export const DEFAULT_RUN: RunValues = { k: 10, width: 1024, param: 'standard', target: 0.9, maxModels: 500 };

export interface FormActions {
  run(values: RunValues): void;
  reproduce(): void;
  cancel(): void;
  /** The form changed (kept in the view's state). */
  change(values: RunValues): void;
}

export interface FormView {
  values: RunValues;
  busy: { message: string; fraction?: number } | null;
}

interface NumberField {
  name: keyof Omit<RunValues, 'param'>;
  label: string;
  min: number;
  max: number;
  step: string;
  title: string;
}

const FIELDS: NumberField[] = [
  { name: 'k', label: 'k', min: 2, max: 512, step: '1', title: 'Input size k: the permutation acts on k positions (2–512)' },
  { name: 'width', label: 'width', min: 1, max: 65536, step: '1', title: 'Hidden width m of each network' },
  { name: 'target', label: 'target', min: 0.01, max: 0.999, step: '0.01', title: 'Target exact-match accuracy 1 − δ' },
  { name: 'maxModels', label: 'max models', min: 1, max: 100000, step: '1', title: 'Stop at this many members if the target is not reached' },
];

function clamp(value: number, field: NumberField, fallback: number): number {
  if (!Number.isFinite(value)) return fallback;
  const v = Math.min(field.max, Math.max(field.min, value));
  return field.step === '1' ? Math.round(v) : v;
}

export function buildForm(host: HTMLElement, actions: FormActions): (view: FormView) => void {
  const form = host.appendChild(document.createElement('form'));
  form.className = 'run-form';
  form.setAttribute('aria-label', 'New permutation probe run');
  const inputs = new Map<string, HTMLInputElement>();
  for (const field of FIELDS) {
    const label = form.appendChild(document.createElement('label'));
    label.title = field.title;
    label.append(field.label);
    const input = label.appendChild(document.createElement('input'));
    input.type = 'number';
    input.name = field.name;
    input.min = String(field.min);
    input.max = String(field.max);
    input.step = field.step;
    input.required = true;
    inputs.set(field.name, input);
    if (field.name === 'width') {
      const paramLabel = form.appendChild(document.createElement('label'));
      paramLabel.title = 'Parameterisation of the hidden layer';
      paramLabel.append('param');
      const selectEl = paramLabel.appendChild(document.createElement('select'));
      selectEl.name = 'param';
      for (const p of ['standard', 'ntk']) selectEl.appendChild(new Option(p === 'ntk' ? 'NTK' : 'standard', p));
    }
  }
  const paramSelect = form.querySelector<HTMLSelectElement>('select[name="param"]')!;
  const buttons = form.appendChild(document.createElement('div'));
  buttons.className = 'buttons';
  const run = buttons.appendChild(document.createElement('button'));
  run.type = 'submit';
  run.name = 'run';
  run.textContent = 'Run';
  run.title = 'Train an ensemble with these values and compare it with the theory';
  const reproduce = buttons.appendChild(document.createElement('button'));
  reproduce.type = 'button';
  reproduce.name = 'reproduce';
  reproduce.className = 'secondary';
  reproduce.textContent = 'Reproduce paper';
  reproduce.title = "Run experiment 1 of the paper (k = 5…30, 90% on two-one inputs) at this machine's width";

  const busyBar = host.appendChild(document.createElement('div'));
  busyBar.className = 'busy';
  busyBar.setAttribute('role', 'status');
  busyBar.hidden = true;
  const busyText = busyBar.appendChild(document.createElement('span'));
  busyText.className = 'busy-message';
  const track = busyBar.appendChild(document.createElement('div'));
  track.className = 'progress';
  track.setAttribute('role', 'progressbar');
  track.setAttribute('aria-valuemin', '0');
  track.setAttribute('aria-valuemax', '100');
  const fill = track.appendChild(document.createElement('div'));
  fill.className = 'progress-fill';
  const cancel = busyBar.appendChild(document.createElement('button'));
  cancel.type = 'button';
  cancel.name = 'cancel';
  cancel.className = 'secondary';
  cancel.textContent = 'Cancel';

  let current: RunValues = { ...DEFAULT_RUN };
  const read = (): RunValues => {
    const values = { ...current, param: (paramSelect.value === 'ntk' ? 'ntk' : 'standard') as PermutationParam };
    for (const field of FIELDS) values[field.name] = clamp(inputs.get(field.name)!.valueAsNumber, field, current[field.name]);
    return values;
  };
  form.addEventListener('change', () => {
    current = read();
    actions.change(current);
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    current = read();
    actions.change(current);
    actions.run(current);
  });
  reproduce.addEventListener('click', () => actions.reproduce());
  cancel.addEventListener('click', () => actions.cancel());

  return (view: FormView) => {
    current = { ...view.values };
    for (const field of FIELDS) {
      const input = inputs.get(field.name)!;
      if (document.activeElement !== input) input.value = String(view.values[field.name]);
    }
    paramSelect.value = view.values.param;
    const busy = view.busy !== null;
    run.disabled = busy;
    reproduce.disabled = busy;
    busyBar.hidden = !busy;
    if (view.busy) {
      busyText.textContent = view.busy.message;
      const fraction = view.busy.fraction;
      const known = typeof fraction === 'number' && Number.isFinite(fraction);
      track.classList.toggle('indeterminate', !known);
      if (known) {
        const percent = Math.round(Math.min(1, Math.max(0, fraction)) * 100);
        fill.style.width = `${percent}%`;
        track.setAttribute('aria-valuenow', String(percent));
      } else {
        fill.style.width = '';
        track.removeAttribute('aria-valuenow');
      }
    }
  };
}
