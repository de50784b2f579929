/** Messages between the server and the projection worker. */
export interface ProjectionJob {
  method: 'pca' | 'umap';
  /** [n, dim] float32 values, transferred. */
  points: ArrayBuffer;
  n: number;
  dim: number;
  seed: number;
}

export type ProjectionReply =
  | { ok: true; coordinates: ArrayBuffer; explainedVariance?: number[] }
  | { ok: false; message: string }
  | { progress: number };
