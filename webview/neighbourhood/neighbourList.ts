/**
 * The list beside the graph: the same neighbours, ranked, with id and score, for reading and for the keyboard.
 * Click or Enter recentres, Shift+click or Shift+Enter selects, arrows move between rows. Joins keyed by token id.
 */
import { select } from 'd3-selection';
import type { Neighbour, NeighboursState } from '../neighbourhoodMessages';
import { closenessScale } from './graph';
import { formatScore, tokenLabel } from './label';

export interface ListActions {
  recentre(neighbour: Neighbour): void;
  toggleSelect(neighbour: Neighbour): void;
  hover(id: number | undefined): void;
}

interface RowDatum {
  neighbour: Neighbour;
  rank: number;
  label: string;
  closeness: number;
}

const tabStops = new WeakMap<HTMLElement, number>();

export function renderNeighbourList(
  root: HTMLElement,
  state: NeighboursState | null,
  selection: ReadonlySet<number>,
  actions: ListActions,
): void {
  const rootSel = select(root);
  const closeness = state ? closenessScale(state.metric, state.neighbours.map((n) => n.score)) : () => 0;
  const rows: RowDatum[] = (state?.neighbours ?? [])
    .filter((n) => n.id !== state?.query.id)
    .map((n, i) => ({ neighbour: n, rank: i + 1, label: tokenLabel(n.token), closeness: closeness(n.score) }));

  const head = rootSel
    .selectAll<HTMLDivElement, null>('div.list-head')
    .data([null])
    .join((enter) => {
      const div = enter.append('div').attr('class', 'list-head');
      div.append('span').attr('class', 'rank').text('#');
      div.append('span').attr('class', 'token').text('Token');
      div.append('span').attr('class', 'id').text('Id');
      div.append('span').attr('class', 'score');
      return div;
    });
  head.select('.score').text(state?.metric === 'euclidean' ? 'Distance' : state?.metric === 'dot' ? 'Dot' : 'Cosine');

  const list = rootSel
    .selectAll<HTMLOListElement, null>('ol.neighbours')
    .data([null])
    .join((enter) => enter.append('ol').attr('class', 'neighbours').attr('aria-label', 'Neighbours, closest first'));

  let stop = tabStops.get(root) ?? rows[0]?.neighbour.id ?? -1;
  if (!rows.some((r) => r.neighbour.id === stop)) stop = rows[0]?.neighbour.id ?? -1;
  tabStops.set(root, stop);

  list
    .selectAll<HTMLLIElement, RowDatum>('li')
    .data(rows, (d) => String(d.neighbour.id))
    .join((enter) => {
      const li = enter.append('li');
      const button = li.append('button').attr('type', 'button').attr('class', 'row');
      button.append('span').attr('class', 'rank');
      button.append('span').attr('class', 'token');
      button.append('span').attr('class', 'id');
      const score = button.append('span').attr('class', 'score');
      score.append('span').attr('class', 'track').append('span').attr('class', 'bar');
      score.append('span').attr('class', 'value');
      return li;
    })
    .attr('data-id', (d) => d.neighbour.id)
    .classed('selected', (d) => selection.has(d.neighbour.id))
    .call((li) =>
      li
        .select<HTMLButtonElement>('button.row')
        .attr('tabindex', (d) => (d.neighbour.id === stop ? 0 : -1))
        .attr('aria-pressed', (d) => String(selection.has(d.neighbour.id)))
        .attr(
          'aria-label',
          (d) =>
            `${d.rank}. ${d.label}, id ${d.neighbour.id}, score ${formatScore(d.neighbour.score)}${selection.has(d.neighbour.id) ? ', selected' : ''}`,
        )
        .attr('title', (d) => `${d.neighbour.token} · id ${d.neighbour.id}`),
    )
    .call((li) => li.select('.rank').text((d) => d.rank))
    .call((li) => li.select('.token').text((d) => d.label))
    .call((li) => li.select('.id').text((d) => d.neighbour.id))
    .call((li) => li.select<HTMLElement>('.bar').style('width', (d) => `${Math.round(4 + 96 * d.closeness)}%`))
    .call((li) => li.select('.value').text((d) => formatScore(d.neighbour.score)))
    .order();

  const datumOf = (target: EventTarget | null): RowDatum | null => {
    const button = target instanceof Element ? target.closest<HTMLButtonElement>('button.row') : null;
    return button ? select<HTMLLIElement, RowDatum>(button.parentElement as HTMLLIElement).datum() : null;
  };

  list
    .on('click', (event: MouseEvent) => {
      const d = datumOf(event.target);
      if (!d) return;
      tabStops.set(root, d.neighbour.id);
      if (event.shiftKey) actions.toggleSelect(d.neighbour);
      else actions.recentre(d.neighbour);
    })
    .on('mouseover', (event: MouseEvent) => actions.hover(datumOf(event.target)?.neighbour.id))
    .on('mouseleave', () => actions.hover(undefined))
    .on('focusin', (event: FocusEvent) => {
      const d = datumOf(event.target);
      if (!d) return;
      tabStops.set(root, d.neighbour.id);
      list.selectAll<HTMLButtonElement, RowDatum>('button.row').attr('tabindex', function () {
        return this === event.target ? 0 : -1;
      });
      actions.hover(d.neighbour.id);
    })
    .on('keydown', (event: KeyboardEvent) => {
      const d = datumOf(event.target);
      if (!d) return;
      const buttons = Array.from(root.querySelectorAll<HTMLButtonElement>('button.row'));
      const i = buttons.indexOf(event.target as HTMLButtonElement);
      let next: HTMLButtonElement | undefined;
      switch (event.key) {
        case 'ArrowDown':
          next = buttons[i + 1];
          break;
        case 'ArrowUp':
          next = buttons[i - 1];
          break;
        case 'Home':
          next = buttons[0];
          break;
        case 'End':
          next = buttons[buttons.length - 1];
          break;
        case 'PageDown':
          next = buttons[Math.min(i + 10, buttons.length - 1)];
          break;
        case 'PageUp':
          next = buttons[Math.max(i - 10, 0)];
          break;
        case 'Enter':
          // Buttons turn Enter into a click; Shift+Enter must select rather than recentre, so handle both here.
          event.preventDefault();
          if (event.shiftKey) actions.toggleSelect(d.neighbour);
          else actions.recentre(d.neighbour);
          return;
        default:
          return;
      }
      if (event.altKey) return;
      event.preventDefault();
      next?.focus();
      next?.scrollIntoView({ block: 'nearest' });
    });
}

/** Marks the row of a token as hovered (mirroring the graph). */
export function highlightListToken(root: HTMLElement, id: number | undefined): void {
  select(root)
    .selectAll<HTMLLIElement, RowDatum>('ol.neighbours li')
    .classed('hovered', (d) => id !== undefined && d.neighbour.id === id);
}
