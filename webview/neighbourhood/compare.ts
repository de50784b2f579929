/**
 * The compare view: one token's neighbours in two models side by side, the tokens both lists share highlighted,
 * Jaccard@k, and the shared tokens whose own neighbourhoods differ most. Tokens are matched as strings, since ids
 * differ between vocabularies. Joins keyed by token id within each list and by token in the table.
 */
import { select } from 'd3-selection';
import type { CompareSide, CompareState, Neighbour } from '../neighbourhoodMessages';
import { sharedTokens } from './copy';
import { formatScore, tokenLabel } from './label';

export interface CompareActions {
  openCompare(token: string): void;
}

interface SideDatum {
  key: 'left' | 'right';
  side: CompareSide;
  other: CompareSide;
}

interface ItemDatum {
  neighbour: Neighbour;
  rank: number;
  label: string;
  shared: boolean;
  /** The same token's rank in the other model's list. */
  otherRank: number | undefined;
}

export const EMPTY_COMPARE_HINT = 'No comparison yet. Choose “Compare models” on a neighbourhood, with two models open.';

export function renderCompare(root: HTMLElement, state: CompareState | null, actions: CompareActions): void {
  const rootSel = select(root);
  rootSel
    .selectAll<HTMLParagraphElement, string>('p.empty')
    .data(state ? [] : [EMPTY_COMPARE_HINT])
    .join('p')
    .attr('class', 'empty')
    .text((d) => d);

  const shared = state ? sharedTokens(state) : new Set<string>();
  const union = state
    ? new Set([...state.left.neighbours, ...state.right.neighbours].map((n) => tokenLabel(n.token)))
    : new Set<string>();

  // ---- header: the token, the two models, Jaccard@k ----
  const head = rootSel
    .selectAll<HTMLElement, CompareState>('header.compare-head')
    .data(state ? [state] : [])
    .join((enter) => {
      const header = enter.append('header').attr('class', 'compare-head');
      const title = header.append('div').attr('class', 'title');
      title.append('span').attr('class', 'token');
      title.append('span').attr('class', 'models');
      const metric = header.append('div').attr('class', 'jaccard').attr('role', 'group');
      metric.append('span').attr('class', 'name');
      metric.append('span').attr('class', 'value');
      metric.append('span').attr('class', 'meter').append('span');
      metric.append('span').attr('class', 'detail');
      return header;
    });
  head.select('.token').text((d) => tokenLabel(d.token));
  head.select('.models').text((d) => `${d.left.model.name} vs ${d.right.model.name}`);
  head.select('.jaccard').attr('aria-label', (d) => `Jaccard at ${d.k}: ${d.jaccard.toFixed(2)}`);
  head.select('.jaccard .name').text((d) => `Jaccard@${d.k}`);
  head.select('.jaccard .value').text((d) => d.jaccard.toFixed(2));
  head.select<HTMLElement>('.jaccard .meter span').style('width', (d) => `${Math.round(100 * clamp01(d.jaccard))}%`);
  head.select('.jaccard .detail').text(() => `${shared.size} shared of ${union.size} distinct`);

  // ---- the two lists ----
  const sides: SideDatum[] = state
    ? [
        { key: 'left', side: state.left, other: state.right },
        { key: 'right', side: state.right, other: state.left },
      ]
    : [];
  const lists = rootSel
    .selectAll<HTMLDivElement, null>('div.compare-lists')
    .data(state ? [null] : [])
    .join('div')
    .attr('class', 'compare-lists');
  const sideSel = lists
    .selectAll<HTMLElement, SideDatum>('section.side')
    .data(sides, (d) => d.key)
    .join((enter) => {
      const section = enter.append('section').attr('class', 'side');
      section.append('h3');
      section.append('ol');
      return section;
    })
    .attr('data-side', (d) => d.key);
  sideSel.select('h3').text((d) => d.side.model.name);
  sideSel.select('ol').attr('aria-label', (d) => `Neighbours in ${d.side.model.name}`);
  sideSel.each(function (d) {
    const other = d.other;
    const otherRanks = new Map(other.neighbours.map((n, i) => [tokenLabel(n.token), i + 1]));
    const items: ItemDatum[] = d.side.neighbours.map((n, i) => ({
      neighbour: n,
      rank: i + 1,
      label: tokenLabel(n.token),
      shared: shared.has(tokenLabel(n.token)),
      otherRank: otherRanks.get(tokenLabel(n.token)),
    }));
    select(this)
      .select('ol')
      .selectAll<HTMLLIElement, ItemDatum>('li')
      .data(items, (item) => String(item.neighbour.id))
      .join((enter) => {
        const li = enter.append('li');
        li.append('span').attr('class', 'rank');
        li.append('span').attr('class', 'token');
        li.append('span').attr('class', 'other');
        li.append('span').attr('class', 'score');
        return li;
      })
      .attr('class', (item) => (item.shared ? 'shared' : null))
      .attr('data-text', (item) => item.label)
      .attr(
        'title',
        (item) =>
          `${item.neighbour.token} · id ${item.neighbour.id}` +
          (item.otherRank !== undefined ? ` · rank ${item.otherRank} in ${other.model.name}` : ''),
      )
      .call((li) =>
        li
          .select('.other')
          .text((item) => (item.otherRank !== undefined ? `#${item.otherRank}` : ''))
          .attr('aria-label', (item) =>
            item.otherRank !== undefined ? `rank ${item.otherRank} in ${other.model.name}` : null,
          ),
      )
      .call((li) => li.select('.rank').text((item) => item.rank))
      .call((li) => li.select('.token').text((item) => item.label))
      .call((li) => li.select('.score').text((item) => formatScore(item.neighbour.score)))
      .order();
  });
  lists
    .on('mouseover', (event: MouseEvent) => {
      const li = event.target instanceof Element ? event.target.closest<HTMLLIElement>('li.shared') : null;
      const text = li?.dataset.text;
      lists.selectAll<HTMLLIElement, ItemDatum>('li').classed('linked', (item) => item.shared && item.label === text);
    })
    .on('mouseleave', () => lists.selectAll('li').classed('linked', false));

  // ---- shared tokens whose neighbourhoods differ most ----
  const differ = rootSel
    .selectAll<HTMLElement, CompareState>('section.most-different')
    .data(state && state.mostDifferent.length > 0 ? [state] : [])
    .join((enter) => {
      const section = enter.append('section').attr('class', 'most-different');
      section.append('h3').text('Shared tokens whose neighbourhoods differ most');
      const table = section.append('table');
      const tr = table.append('thead').append('tr');
      tr.append('th').attr('scope', 'col').text('Token');
      tr.append('th').attr('scope', 'col').attr('class', 'jaccard-col');
      table.append('tbody');
      return section;
    });
  differ.select('th.jaccard-col').text((d) => `Jaccard@${d.k}`);
  differ
    .select('tbody')
    .selectAll<HTMLTableRowElement, CompareState['mostDifferent'][number]>('tr')
    .data(state?.mostDifferent ?? [], (d) => d.token)
    .join((enter) => {
      const tr = enter.append('tr');
      tr.append('td').attr('class', 'token').append('button').attr('type', 'button').attr('class', 'link');
      const cell = tr.append('td').attr('class', 'value');
      cell.append('span').attr('class', 'meter').append('span');
      cell.append('span').attr('class', 'number');
      return tr;
    })
    .call((tr) =>
      tr
        .select('button.link')
        .text((d) => tokenLabel(d.token))
        .attr('title', (d) => `Compare the neighbourhoods of ${d.token}`)
        .on('click', (_event, d) => actions.openCompare(d.token)),
    )
    .call((tr) => tr.select<HTMLElement>('.meter span').style('width', (d) => `${Math.round(100 * clamp01(d.jaccard))}%`))
    .call((tr) => tr.select('.number').text((d) => d.jaccard.toFixed(2)))
    .order();
  // Entering sections append in this order (header, lists, table), so the order holds without sorting.
}

function clamp01(x: number): number {
  return Math.max(0, Math.min(1, Number.isFinite(x) ? x : 0));
}
