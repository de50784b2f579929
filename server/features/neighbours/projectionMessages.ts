/** Messages between the server and the projection worker. */

/** UMAP's neighbourhood size (umap-learn's default of 15, fewer for tiny point sets), the point itself included. */
export function umapNeighbourCount(points: number): number {
  return Math.min(15, Math.max(2, points - 1));
}

export interface ProjectionJob {
  method: 'pca' | 'umap';
  /** [n, dim] float32 values, transferred. */
  points: ArrayBuffer;
  n: number;
  dim: number;
  seed: number;
  /**
   * UMAP only: each point's exact `k` nearest points (itself first), as [n, k] ids (Int32) and euclidean distances
   * (Float32), transferred. umap-js then skips its approximate nearest-neighbour descent.
   */
  neighbours?: { k: number; ids: ArrayBuffer; distances: ArrayBuffer };
}

export type ProjectionReply =
  | { ok: true; coordinates: ArrayBuffer; explainedVariance?: number[] }
  | { ok: false; message: string }
  | { progress: number };
