/** The progress view while a transplant runs: the stages (done, current, to come), a bar with the percentage, ETA. */
import { select } from 'd3-selection';
import type { TransplantStage } from '../../server/features/transplant/report';
import { formatSeconds } from './format';

export const STAGES: { stage: TransplantStage; label: string }[] = [
  { stage: 'open', label: 'Open models' },
  { stage: 'match', label: 'Match vocabularies' },
  { stage: 'self-check', label: 'Self-check' },
  { stage: 'approximate', label: 'Approximate rows' },
  { stage: 'write', label: 'Write checkpoint' },
];

export interface ProgressState {
  stage: TransplantStage;
  fraction: number;
  etaSeconds?: number;
  message?: string;
  cancelling?: boolean;
}

export function renderProgress(container: HTMLElement, progress: ProgressState): void {
  const current = STAGES.findIndex((s) => s.stage === progress.stage);
  const pct = Math.round(100 * Math.min(1, Math.max(0, progress.fraction)));
  const c = select(container);
  c.select('.stages')
    .selectAll<HTMLLIElement, (typeof STAGES)[number]>('li')
    .data(STAGES, (s) => s.stage)
    .join('li')
    .attr('data-stage', (s) => s.stage)
    .attr('class', (_, i) => (i < current ? 'done' : i === current ? 'current' : 'todo'))
    .attr('aria-current', (_, i) => (i === current ? 'step' : null))
    .text((s) => s.label);
  c.select('.progress-track')
    .attr('aria-valuenow', pct)
    .attr('data-fraction', progress.fraction)
    .select<HTMLElement>('.fill')
    .style('width', `${pct}%`);
  c.select('.percent').text(`${pct}%`);
  c.select('.eta').text(
    progress.cancelling
      ? 'Cancelling…'
      : progress.etaSeconds !== undefined
        ? `about ${formatSeconds(progress.etaSeconds)} left`
        : 'estimating time left…',
  );
  c.select('.progress-message').text(progress.message ?? STAGES[current]?.label ?? progress.stage);
  c.select<HTMLButtonElement>('button.cancel')
    .property('disabled', !!progress.cancelling)
    .text(progress.cancelling ? 'Cancelling…' : 'Cancel');
}
