/**
 * Sense search results: the (word, sense) pairs whose top words hold the query, strongest first. Each hit is a
 * button that opens the word's senses at that sense. The list carries `data-hits`; each item `data-id`, `data-sense`.
 */
import { select } from 'd3-selection';
import type { SenseSearchResult } from '../sensesMessages';
import { formatCount, formatScore, wordLabel } from './format';

type Hit = SenseSearchResult['hits'][number];

export interface SearchActions {
  openWord(word: { id: number; token: string }, sense: number): void;
}

export function renderSearch(host: HTMLElement, result: SenseSearchResult, actions: SearchActions): void {
  const root = select(host);
  root
    .selectAll<HTMLParagraphElement, number>('p.search-summary')
    .data([0])
    .join('p')
    .attr('class', 'search-summary')
    .text(
      result.hits.length === 0
        ? `No sense has ${wordLabel(result.query.token)} among its top ${result.top} words (${formatCount(result.wordsScanned)} words scanned).`
        : `${formatCount(result.hits.length)} senses have ${wordLabel(result.query.token)} among their top ${result.top} words, strongest first (${formatCount(result.wordsScanned)} words scanned, ${formatCount(result.candidatesChecked)} candidates checked exactly).`,
    );
  const list = root
    .selectAll<HTMLOListElement, number>('ol.hits')
    .data([0])
    .join('ol')
    .attr('class', 'hits')
    .attr('data-hits', result.hits.length);
  const items = list
    .selectAll<HTMLLIElement, Hit>('li')
    .data(result.hits, (d) => `${d.tokenId}:${d.sense}`)
    .join((enter) => {
      const li = enter.append('li');
      const button = li.append('button').attr('type', 'button').attr('class', 'hit');
      button.append('span').attr('class', 'word');
      button.append('span').attr('class', 'sense');
      button.append('span').attr('class', 'stats');
      return li;
    })
    .attr('data-id', (d) => d.tokenId)
    .attr('data-sense', (d) => d.sense);
  const buttons = items.select('button').attr('aria-label', (d) => `${wordLabel(d.token)}, sense ${d.sense}: rank ${d.rank}, score ${formatScore(d.score)}. Open its senses`);
  buttons.select('span.word').text((d) => wordLabel(d.token));
  buttons.select('span.sense').text((d) => `sense ${d.sense}`);
  buttons.select('span.stats').text((d) => `#${d.rank} · E·C ${formatScore(d.score)} · z ${d.z.toFixed(2)}`);
  buttons.on('click', (_event: MouseEvent, d) => actions.openWord({ id: d.tokenId, token: d.token }, d.sense));
}
