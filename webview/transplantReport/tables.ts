/**
 * The report's tables, each one function from data to DOM with rows joined by key: token categories (counts, share
 * and a few examples), special tokens by role, the matrices replaced, and the 20 worst held-out tokens per method.
 */
import { select, type Selection } from 'd3-selection';
import type { MatchCategory, MatchExample, SpecialTokenMatch } from '../../server/features/transplant/matchVocabularies';
import type { MatrixReport, SelfCheckResult, TransplantReport } from '../../server/features/transplant/report';
import { formatCosine, formatCount, formatPercent, methodColour, tokenLabel } from './format';

/** At most this many examples per category row. */
export const EXAMPLES_SHOWN = 4;

const CATEGORY_TEXT: Record<MatchCategory, { label: string; help: string }> = {
  exact: { label: 'Copied (same id)', help: 'The same bytes at the same id: the base row is copied.' },
  moved: { label: 'Copied (moved)', help: 'The same bytes at another id: the base row is copied to the donor id.' },
  special: { label: 'Special', help: 'A special token that takes the base token with the same role.' },
  byte: { label: 'Byte-matched', help: 'A <0xNN> byte token matched with the byte-level token for that byte.' },
  prefix: { label: 'Prefix', help: 'No match: the row of its longest proper prefix the base knows.' },
  approximated: { label: 'Approximated', help: 'Made by the method from the anchors.' },
  unused: { label: 'Unused rows', help: 'Donor rows with no token (id gaps, padding): left zero.' },
};
const CATEGORY_ORDER: MatchCategory[] = ['exact', 'moved', 'special', 'byte', 'prefix', 'approximated', 'unused'];

interface CategoryRow {
  key: string;
  label: string;
  help: string;
  count: number;
  examples: MatchExample[];
  anchor: boolean;
}

function exampleText(e: MatchExample): string {
  const donor = tokenLabel(e.donorToken);
  if (e.baseToken === undefined) return `${donor} #${e.donorId}`;
  const base = tokenLabel(e.baseToken);
  const ids = e.baseId !== undefined && e.baseId !== e.donorId ? ` #${e.baseId}→#${e.donorId}` : ` #${e.donorId}`;
  return `${donor === base ? donor : `${base} → ${donor}`}${ids}${e.role ? ` (${e.role})` : ''}`;
}

function chips(cell: Selection<HTMLElement, MatchExample[], null, undefined>): void {
  cell
    .selectAll<HTMLElement, MatchExample>('code.chip')
    .data((d) => d.slice(0, EXAMPLES_SHOWN))
    .join('code')
    .attr('class', 'chip')
    .attr('title', (e) =>
      e.baseToken !== undefined ? `base ${JSON.stringify(e.baseToken)} #${e.baseId} → donor ${JSON.stringify(e.donorToken)} #${e.donorId}` : `donor ${JSON.stringify(e.donorToken)} #${e.donorId}`,
    )
    .text(exampleText);
}

export function renderCategories(table: HTMLTableElement, matching: TransplantReport['matching']): void {
  const anchors = new Set<MatchCategory>(['exact', 'moved', 'special', 'byte']);
  const rows: CategoryRow[] = CATEGORY_ORDER.filter((c) => (matching.counts[c] ?? 0) > 0 || c === 'approximated').map((c) => ({
    key: c,
    ...CATEGORY_TEXT[c],
    count: matching.counts[c] ?? 0,
    examples: matching.examples[c] ?? [],
    anchor: anchors.has(c),
  }));
  rows.push({
    key: 'unified',
    label: 'Ġ / ▁ unified',
    help: `Shared tokens spelled differently: ${formatCount(matching.unified.wordStart)} only by the word-start marker (Ġ vs ▁), ${formatCount(matching.unified.otherSpelling)} in other byte spellings (Ċ vs \\n, Ã© vs é). Counted among the copied rows.`,
    count: matching.unified.wordStart + matching.unified.otherSpelling,
    examples: matching.unified.examples,
    anchor: false,
  });

  const t = select(table);
  t.selectAll('thead')
    .data([null])
    .join((e) => {
      const tr = e.append('thead').append('tr');
      for (const h of ['Category', 'Tokens', 'Share', 'Examples']) tr.append('th').attr('scope', 'col').text(h);
      return e.select('thead');
    });
  const tbody = t.selectAll('tbody').data([null]).join('tbody');
  const tr = tbody
    .selectAll<HTMLTableRowElement, CategoryRow>('tr')
    .data(rows, (r) => r.key)
    .join((e) => {
      const row = e.append('tr');
      row.append('th').attr('scope', 'row');
      row.append('td').attr('class', 'num count');
      row.append('td').attr('class', 'num share');
      row.append('td').attr('class', 'examples');
      return row;
    })
    .attr('data-category', (r) => r.key)
    .attr('data-count', (r) => r.count)
    .classed('anchor', (r) => r.anchor)
    .classed('sub', (r) => r.key === 'unified');
  tr.select('th')
    .attr('title', (r) => r.help)
    .text((r) => r.label);
  tr.select('td.count').text((r) => formatCount(r.count));
  tr.select('td.share').text((r) => (r.key === 'unified' ? '' : formatPercent(r.count, matching.rows)));
  tr.select<HTMLElement>('td.examples').each(function (r) {
    const cell = select(this).datum(r.examples) as unknown as Selection<HTMLElement, MatchExample[], null, undefined>;
    chips(cell);
    select(this).datum(r);
  });
  t.attr('data-rows', matching.rows).attr('data-anchors', matching.anchors).attr('data-approximated', matching.approximated);
}

export function renderSpecialTokens(table: HTMLTableElement, specials: SpecialTokenMatch[]): void {
  const t = select(table);
  t.selectAll('thead')
    .data([null])
    .join((e) => {
      const tr = e.append('thead').append('tr');
      for (const h of ['Donor token', 'Roles', 'Row from', 'Base token']) tr.append('th').attr('scope', 'col').text(h);
      return e.select('thead');
    });
  const tr = t
    .selectAll('tbody')
    .data([null])
    .join('tbody')
    .selectAll<HTMLTableRowElement, SpecialTokenMatch>('tr')
    .data(specials, (s) => s.donorId)
    .join((e) => {
      const row = e.append('tr');
      row.append('td').attr('class', 'token').append('code');
      row.append('td').attr('class', 'roles');
      row.append('td').attr('class', 'matched-by');
      row.append('td').attr('class', 'token base').append('code');
      return row;
    })
    .attr('data-id', (s) => s.donorId)
    .attr('data-matched-by', (s) => s.matchedBy);
  tr.select('td.token code').text((s) => `${s.donorToken} #${s.donorId}`);
  tr.select('td.roles').text((s) => s.roles.join(', ') || '–');
  tr.select('td.matched-by')
    .attr('class', (s) => `matched-by ${s.matchedBy}`)
    .text((s) => (s.matchedBy === 'role' ? 'same role' : s.matchedBy === 'text' ? 'same text' : 'approximated'));
  tr.select('td.base code').text((s) => (s.baseToken !== undefined ? `${s.baseToken} #${s.baseId}` : '–'));
  t.attr('data-rows', specials.length);
}

export function renderMatrices(table: HTMLTableElement, matrices: MatrixReport[]): void {
  const t = select(table);
  t.selectAll('thead')
    .data([null])
    .join((e) => {
      const tr = e.append('thead').append('tr');
      for (const h of ['Matrix', 'Method', 'Base tensor', 'Donor tensor', 'Copied', 'Made', 'Zero']) tr.append('th').attr('scope', 'col').text(h);
      return e.select('thead');
    });
  const tr = t
    .selectAll('tbody')
    .data([null])
    .join('tbody')
    .selectAll<HTMLTableRowElement, MatrixReport>('tr')
    .data(matrices, (m) => m.matrix)
    .join((e) => {
      const row = e.append('tr');
      row.append('th').attr('scope', 'row');
      row.append('td').attr('class', 'method');
      row.append('td').append('code').attr('class', 'tensor base');
      row.append('td').append('code').attr('class', 'tensor donor');
      row.append('td').attr('class', 'num copied');
      row.append('td').attr('class', 'num made');
      row.append('td').attr('class', 'num zero');
      return row;
    })
    .attr('data-matrix', (m) => m.matrix);
  tr.select('th').text((m) => (m.matrix === 'input' ? 'input (embed_tokens)' : 'output (lm_head)'));
  tr.select('td.method').text((m) => m.method);
  tr.select('code.base').text((m) => m.baseTensor);
  tr.select('code.donor').text((m) => m.donorTensor ?? '–');
  tr.select('td.copied').text((m) => formatCount(m.copiedRows));
  tr.select('td.made').text((m) => formatCount(m.madeRows));
  tr.select('td.zero').text((m) => formatCount(m.zeroRows));
}

/** One table per method of the self-check, side by side: the held-out tokens rebuilt worst, worst first. */
export function renderWorst(container: HTMLElement, results: SelfCheckResult[]): void {
  const blocks = select(container)
    .selectAll<HTMLElement, SelfCheckResult>('div.worst')
    .data(
      results.filter((r) => !r.error),
      (r) => `${r.method}:${r.matrix}`,
    )
    .join((e) => {
      const d = e.append('div').attr('class', 'worst');
      const table = d.append('table').attr('class', 'data compact');
      table.append('caption');
      const tr = table.append('thead').append('tr');
      tr.append('th').attr('scope', 'col').attr('class', 'num').text('#');
      tr.append('th').attr('scope', 'col').text('Token');
      tr.append('th').attr('scope', 'col').attr('class', 'num').text('Id');
      tr.append('th').attr('scope', 'col').attr('class', 'num').text('Cosine');
      table.append('tbody');
      return d;
    })
    .attr('data-method', (r) => r.method);
  blocks
    .select('caption')
    .html('')
    .call((c) =>
      c
        .append('span')
        .attr('class', 'swatch')
        .style('background-color', (r) => methodColour(r.method)),
    )
    .call((c) => c.append('span').text((r) => `${r.method}: ${r.worst.length} worst`));
  blocks.select('table').attr('data-rows', (r) => r.worst.length);
  blocks.select('tbody').each(function (r) {
    const tr = select(this)
      .selectAll<HTMLTableRowElement, SelfCheckResult['worst'][number]>('tr')
      .data(r.worst, (w) => w.id)
      .join((e) => {
        const row = e.append('tr');
        row.append('td').attr('class', 'num rank');
        row.append('td').attr('class', 'token').append('code');
        row.append('td').attr('class', 'num id');
        row.append('td').attr('class', 'num cosine');
        return row;
      })
      .attr('data-id', (w) => w.id)
      .order();
    tr.select('td.rank').text((_, i) => i + 1);
    tr.select('td.token code')
      .attr('title', (w) => JSON.stringify(w.token))
      .text((w) => tokenLabel(w.token));
    tr.select('td.id').text((w) => w.id);
    tr.select('td.cosine')
      .classed('bad', (w) => w.cosine < 0)
      .text((w) => formatCosine(w.cosine));
  });
}
