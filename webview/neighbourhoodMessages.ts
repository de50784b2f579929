/**
 * Messages between the extension host and the Neighbourhood webview (graph, projection, compare), typed like the
 * server protocol. The extension posts `ToNeighbourhood`; the webview posts `FromNeighbourhood`.
 *
 * The server computes everything (kNN, similarities among neighbours, PCA, UMAP, Jaccard); the webview only draws
 * what it is sent and posts what the user asked for.
 */

export interface NeighbourhoodModel {
  /** The registry id of the model (its path). */
  id: string;
  /** What the user reads: "Llama 3 8B". */
  name: string;
}

export type NeighbourMetric = 'cosine' | 'dot' | 'euclidean';
/** Input embeddings (`embed_tokens`) or output embeddings (`lm_head`). */
export type EmbeddingSpace = 'input' | 'output';
export type ProjectionMethod = 'pca' | 'umap';
/** What a projection was made of: the current neighbourhood, the user's selection, or a sample of the vocabulary. */
export type ProjectionSource = 'neighbourhood' | 'selection' | 'sample';

/** How the query was given: a vocabulary token, a token id, free text (pooled), or an analogy ("king - man + woman"). */
export type QueryKind = 'token' | 'id' | 'text' | 'analogy';

export interface NeighbourhoodQuery {
  /** What the user asked for, as the vocabulary or the user wrote it: "Ġking", "king - man + woman". */
  label: string;
  /** The token id when the query is one vocabulary token. */
  id?: number;
  kind: QueryKind;
}

export interface Neighbour {
  id: number;
  /** The vocabulary string, raw ("Ġking", "▁roi"); the webview makes markers and whitespace visible. */
  token: string;
  /**
   * Closeness to the query under the metric: cosine similarity, dot product, or, for `euclidean`, the distance.
   * Cosine and dot: higher is closer. Euclidean: lower is closer.
   */
  score: number;
}

/** A similarity between two neighbours (token ids), scored like `Neighbour.score`. */
export interface NeighbourEdge {
  source: number;
  target: number;
  score: number;
}

export interface NeighboursState {
  model: NeighbourhoodModel;
  query: NeighbourhoodQuery;
  /** How many neighbours were asked for (5–200). */
  k: number;
  metric: NeighbourMetric;
  space: EmbeddingSpace;
  /** Closest first, at most `k`; the query token itself is not among them. */
  neighbours: Neighbour[];
  /** Similarities among the neighbours that pass `threshold` (≥ for cosine and dot, ≤ for euclidean). */
  edges: NeighbourEdge[];
  threshold: number;
}

export interface ProjectedPoint {
  id: number;
  token: string;
  x: number;
  y: number;
}

export interface ProjectionState {
  model: NeighbourhoodModel;
  method: ProjectionMethod;
  /** At most 10,000 points (TensorBoard's caps: UMAP 5,000, PCA 50,000; the view draws 10,000). */
  points: ProjectedPoint[];
  source: ProjectionSource;
  /** PCA only: the fraction of variance each drawn component explains, in [0, 1]. */
  explainedVariance?: number[];
}

export interface CompareSide {
  model: NeighbourhoodModel;
  neighbours: Neighbour[];
}

export interface CompareState {
  /** The token both models were asked about, as a string (ids differ between vocabularies). */
  token: string;
  left: CompareSide;
  right: CompareSide;
  /** |L ∩ R| / |L ∪ R| of the two top-k token sets, in [0, 1]. */
  jaccard: number;
  k: number;
  /** Tokens in both neighbourhoods whose own neighbourhoods differ most between the models, least similar first. */
  mostDifferent: { token: string; jaccard: number }[];
}

export type ToNeighbourhood =
  | { type: 'neighbours'; state: NeighboursState }
  | { type: 'projection'; state: ProjectionState }
  | { type: 'compare'; state: CompareState }
  /** Work is running (a projection, a big kNN); the view shows `message` until the next state or error. */
  | { type: 'busy'; message: string }
  | { type: 'error'; message: string }
  /** A side view asks for the compact layout (list under the graph, smaller controls). */
  | { type: 'layout'; compact: boolean };

export type NeighbourhoodTab = 'graph' | 'projection' | 'compare';

export type FromNeighbourhood =
  | { type: 'ready' }
  /** Make this token the centre (a click or Enter on a node, back / forward in the history). */
  | { type: 'recentre'; id: number }
  | { type: 'recentre'; token: string }
  | { type: 'setControls'; k: number; metric: NeighbourMetric; space: EmbeddingSpace }
  /** `ids` when `source` is 'selection'. */
  | { type: 'project'; method: ProjectionMethod; source: ProjectionSource; ids?: number[] }
  | { type: 'copy'; format: 'json' | 'csv'; text: string }
  /** Compare this token's neighbourhood across the open models. */
  | { type: 'openCompare'; token: string };
