/**
 * Provenance of the approximated tokens: token → how its rows were made (method; for OMP its top atoms with their
 * weights and the residual). Searchable by token text (raw or as shown), by id ("#1234" or "1234"), or by method;
 * at most `PROVENANCE_ROWS_SHOWN` matching rows are drawn (a transplant can approximate tens of thousands).
 */
import { select } from 'd3-selection';
import type { TokenRecipe } from '../../server/features/transplant/methods/types';
import type { TokenProvenance } from '../../server/features/transplant/report';
import { formatCount, tokenLabel } from './format';

export const PROVENANCE_ROWS_SHOWN = 200;
/** Atoms listed per recipe; the rest are counted. */
const ATOMS_SHOWN = 5;

export function provenanceMatches(p: TokenProvenance, query: string): boolean {
  const q = query.trim().toLowerCase();
  if (q === '') return true;
  const id = /^#?(\d+)$/.exec(q);
  if (id && Number(id[1]) === p.id) return true;
  if (p.token.toLowerCase().includes(q) || tokenLabel(p.token).toLowerCase().includes(q)) return true;
  return [p.input?.method, p.output?.method].some((m) => m !== undefined && m === q);
}

interface RecipeLine {
  matrix: 'input' | 'output';
  recipe: TokenRecipe;
}

function recipeLines(p: TokenProvenance): RecipeLine[] {
  const lines: RecipeLine[] = [];
  if (p.input) lines.push({ matrix: 'input', recipe: p.input });
  if (p.output) lines.push({ matrix: 'output', recipe: p.output });
  return lines;
}

function weight(w: number): string {
  return `${w >= 0 ? '+' : '−'}${Math.abs(w).toFixed(3)}`;
}

export function renderProvenance(container: HTMLElement, provenance: TokenProvenance[], query: string): { matches: number; shown: number } {
  const matching = provenance.filter((p) => provenanceMatches(p, query));
  const shown = matching.slice(0, PROVENANCE_ROWS_SHOWN);
  const table = select(container)
    .selectAll<HTMLTableElement, null>('table.provenance')
    .data([null])
    .join((e) => {
      const t = e.append('table').attr('class', 'data provenance');
      const tr = t.append('thead').append('tr');
      tr.append('th').attr('scope', 'col').text('Token');
      tr.append('th').attr('scope', 'col').attr('class', 'num').text('Id');
      tr.append('th').attr('scope', 'col').text('Matrix');
      tr.append('th').attr('scope', 'col').text('Method');
      tr.append('th').attr('scope', 'col').text('Top atoms (weight)');
      tr.append('th').attr('scope', 'col').attr('class', 'num').text('Residual');
      return t;
    })
    .attr('data-total', provenance.length)
    .attr('data-matches', matching.length)
    .attr('data-shown', shown.length);

  // One <tbody> per token (keyed by id), one row per recipe in it.
  const groups = table
    .selectAll<HTMLTableSectionElement, TokenProvenance>('tbody')
    .data(shown, (p) => p.id)
    .join('tbody')
    .attr('class', 'token-group')
    .attr('data-id', (p) => p.id)
    .order();
  groups.each(function (p) {
    const lines = recipeLines(p);
    const rows = select(this)
      .selectAll<HTMLTableRowElement, RecipeLine>('tr')
      .data(lines.length > 0 ? lines : [null as unknown as RecipeLine], (l) => (l ? l.matrix : 'none'))
      .join('tr')
      .html('');
    rows.each(function (line, i) {
      const tr = select(this);
      if (i === 0) {
        tr.append('th')
          .attr('scope', 'rowgroup')
          .attr('rowspan', Math.max(1, lines.length))
          .append('code')
          .attr('title', JSON.stringify(p.token))
          .text(tokenLabel(p.token));
        tr.append('td').attr('class', 'num id').attr('rowspan', Math.max(1, lines.length)).text(p.id);
      }
      if (!line) {
        tr.append('td').attr('colspan', 4).attr('class', 'muted').text('no recipe kept');
        return;
      }
      const r = line.recipe;
      tr.append('td').attr('class', 'matrix').text(line.matrix);
      tr.append('td').attr('class', 'method').append('span').attr('class', `badge method-${r.method}`).text(r.method);
      const atoms = tr.append('td').attr('class', 'atoms');
      const parts = r.parts ?? [];
      atoms
        .selectAll('span.atom')
        .data(parts.slice(0, ATOMS_SHOWN))
        .join('span')
        .attr('class', 'atom')
        .attr('title', (a) => `${r.partsFrom === 'base-pieces' ? 'base' : 'anchor'} ${JSON.stringify(a.token)} #${a.id}: ${a.weight}`)
        .call((s) => s.append('code').text((a) => tokenLabel(a.token)))
        .call((s) =>
          s
            .append('span')
            .attr('class', (a) => `weight${a.weight < 0 ? ' negative' : ''}`)
            .text((a) => weight(a.weight)),
        );
      const more = Math.max(0, parts.length - ATOMS_SHOWN) + (r.moreParts ?? 0);
      if (more > 0) atoms.append('span').attr('class', 'more muted').text(`+${formatCount(more)} more`);
      if (r.note) atoms.append('div').attr('class', 'note muted').text(r.note);
      tr.append('td')
        .attr('class', 'num residual')
        .text(r.residual !== undefined ? r.residual.toFixed(3) : '');
    });
  });
  return { matches: matching.length, shown: shown.length };
}
