/**
 * `model-lens neighbours`, `analogy` and `project`: the neighbourhood features from a shell.
 */
import { ModelRegistry } from '../../registry/registry';
import { EmbeddingIndex } from '../../features/neighbours/embeddingIndex';
import { findAnalogy, findNeighbours, type NeighbourhoodResult, type NeighbourOptions } from '../../features/neighbours/neighbours';
import { projectEmbeddings, type ProjectionMethod } from '../../features/neighbours/projection';
import { showPiece } from '../../tokenization/display';
import { flag, stringOption, usage, type ParsedArgs } from '../args';
import { json, onePath, type Command } from '../command';

const CONTROL_OPTIONS = { k: {}, metric: {}, space: {}, json: { flag: true } } as const;

function controls(args: ParsedArgs, defaultK = 10): NeighbourOptions {
  const k = Number(stringOption(args, 'k') ?? defaultK);
  const metric = (stringOption(args, 'metric') ?? 'cosine') as NeighbourOptions['metric'];
  const space = (stringOption(args, 'space') ?? 'input') as NeighbourOptions['space'];
  return { k, metric, space };
}

/** Opens the model, runs `work` with an embedding index, and always stops the index's worker threads. */
async function withIndex<T>(args: ParsedArgs, command: string, work: (index: EmbeddingIndex, model: Awaited<ReturnType<ModelRegistry['open']>>) => Promise<T>): Promise<T> {
  const model = await new ModelRegistry().open(onePath(args, command));
  const index = new EmbeddingIndex();
  try {
    return await work(index, model);
  } finally {
    await index.close();
  }
}

function printNeighbours(result: NeighbourhoodResult, args: ParsedArgs, out: (text: string) => void): void {
  if (flag(args, 'json')) {
    out(json({ query: result.query, neighbours: result.neighbours.map(({ id, token, score }) => ({ id, token, score })) }));
    return;
  }
  const lines = [`${result.metric} neighbours of ${showPiece(result.query.label)} (${result.space} space):`];
  for (const [rank, neighbour] of result.neighbours.entries()) {
    lines.push(`${String(rank + 1).padStart(4)}  ${showPiece(neighbour.token).padEnd(24)} ${neighbour.score.toFixed(4)}  (id ${neighbour.id})`);
  }
  out(lines.join('\n'));
}

export const neighboursCommand: Command = {
  summary: 'nearest neighbours of a token, an id or a text in a model or word vectors',
  usage: 'model-lens neighbours <path> (--token T | --id N | --text T) [--k 10] [--metric cosine|dot|euclidean] [--space input|output] [--json]',
  options: { ...CONTROL_OPTIONS, token: {}, id: {}, text: {} },
  async run(args, out) {
    const given = (['token', 'id', 'text'] as const).filter((kind) => stringOption(args, kind) !== undefined);
    if (given.length !== 1) throw usage('give exactly one of --token, --id or --text');
    const kind = given[0];
    const result = await withIndex(args, 'neighbours', (index, model) => findNeighbours(index, model, { kind, value: stringOption(args, kind)! }, controls(args)));
    printNeighbours(result, args, out);
  },
};

export const analogyCommand: Command = {
  summary: 'a − b + c (e.g. king − man + woman), the inputs left out',
  usage: 'model-lens analogy <path> --a A --b B --c C [--k 10] [--metric cosine|dot|euclidean] [--space input|output] [--json]',
  options: { ...CONTROL_OPTIONS, a: {}, b: {}, c: {} },
  async run(args, out) {
    const [a, b, c] = ['a', 'b', 'c'].map((name) => stringOption(args, name));
    if (!a || !b || !c) throw usage('give --a, --b and --c');
    const result = await withIndex(args, 'analogy', (index, model) => findAnalogy(index, model, { a, b, c }, controls(args)));
    printNeighbours(result, args, out);
  },
};

export const projectCommand: Command = {
  summary: 'PCA or UMAP of chosen tokens or a vocabulary sample, to 2-D',
  usage: 'model-lens project <path> --method pca|umap (--tokens a,b,c | --sample N) [--space input|output] [--json]',
  options: { method: {}, tokens: {}, sample: {}, space: {}, json: { flag: true } },
  async run(args, out) {
    const method = (stringOption(args, 'method') ?? 'pca') as ProjectionMethod;
    const tokens = stringOption(args, 'tokens');
    const sample = stringOption(args, 'sample');
    if ((tokens === undefined) === (sample === undefined)) throw usage('give exactly one of --tokens or --sample');
    const space = (stringOption(args, 'space') ?? 'input') as NeighbourOptions['space'];
    const result = await withIndex(args, 'project', async (index, model) => {
      const ids = tokens?.split(',').map((token) => {
        const found = model.tokenizer?.tokenToId(token.trim()) ?? model.tokenizer?.tokenToId(`Ġ${token.trim()}`) ?? model.tokenizer?.tokenToId(`▁${token.trim()}`);
        if (found === undefined) throw usage(`"${token.trim()}" is not a token of ${model.name}`);
        return found;
      });
      return projectEmbeddings(index, model, { method, source: ids ? 'selection' : 'sample', ids, sample: sample ? Number(sample) : undefined, space });
    });
    if (flag(args, 'json')) return out(json(result));
    out([`${method.toUpperCase()} of ${result.points.length} points${result.explainedVariance ? ` (explained variance ${result.explainedVariance.map((v) => v.toFixed(3)).join(', ')})` : ''}:`, ...result.points.map((point) => `${showPiece(point.token).padEnd(24)} ${point.x.toFixed(4)} ${point.y.toFixed(4)}`)].join('\n'));
  },
};
