/**
 * The embedding matrices the server searches: one shared copy per (model, space), loaded on first use a block of
 * rows at a time (so a 128k × 4096 checkpoint never exists twice in memory), registered with one kNN worker pool.
 */
import { ModelLensError } from '../../errors';
import { EmbeddingMatrix, type EmbeddingStorage } from '../../kernels/embeddingMatrix';
import { KnnPool } from '../../kernels/knnPool';
import { readTensorRows } from '../../loaders/safetensors';
import type { OpenedModel, TensorInfo } from '../../registry/types';

export type EmbeddingSpace = 'input' | 'output';

/** Row-range reads work on plain float tensors stored row-major; anything else goes through readTensor. */
const ROW_READABLE = new Set(['F32', 'F16', 'BF16']);
const BLOCK_BYTES = 64 << 20;

export interface LoadProgress {
  rowsDone: number;
  rows: number;
}

export function embeddingTensor(model: OpenedModel, space: EmbeddingSpace): { tensor: TensorInfo; transposed: boolean } {
  const { input, output, tied } = model.embeddings;
  const tensor = space === 'output' ? (output ?? (tied ? input : undefined)) : input;
  if (!tensor) {
    const what = space === 'output' ? 'an output head' : 'an input embedding';
    throw new ModelLensError('not-found', `has no ${what} Model Lens can find.`, model.path, space === 'output' ? 'Use the input space instead.' : 'Open a checkpoint with an embedding matrix.');
  }
  if (tensor.shape.length !== 2) throw new ModelLensError('bad-input', `embedding "${tensor.name}" is not 2-D.`, tensor.file);
  // A MatMul head stored [hidden, vocab] (ONNX) is read whole and transposed.
  const transposed = space === 'output' && Boolean((model.embeddings as { outputTransposed?: boolean }).outputTransposed) && tensor === output;
  return { tensor, transposed };
}

async function loadMatrix(
  model: OpenedModel,
  space: EmbeddingSpace,
  storage: EmbeddingStorage,
  onProgress?: (progress: LoadProgress) => void,
  signal?: AbortSignal,
): Promise<EmbeddingMatrix> {
  const { tensor, transposed } = embeddingTensor(model, space);
  const [shapeRows, shapeCols] = tensor.shape;
  const rows = transposed ? shapeCols : shapeRows;
  const dim = transposed ? shapeRows : shapeCols;
  if (!transposed && ROW_READABLE.has(tensor.dtype)) {
    const matrix = EmbeddingMatrix.allocate(rows, dim, storage);
    const blockRows = Math.max(1, Math.floor(BLOCK_BYTES / (dim * 4)));
    for (let row = 0; row < rows; row += blockRows) {
      if (signal?.aborted) throw new ModelLensError('cancelled', 'loading the embedding was cancelled.');
      const count = Math.min(blockRows, rows - row);
      matrix.setRows(row, await readTensorRows(tensor, row, count));
      onProgress?.({ rowsDone: row + count, rows });
    }
    return matrix;
  }
  const values = await model.readTensor(tensor.name);
  if (!transposed) return EmbeddingMatrix.fromFloat32(values, rows, dim, storage);
  const transposedValues = new Float32Array(rows * dim);
  for (let r = 0; r < shapeRows; r++) for (let c = 0; c < shapeCols; c++) transposedValues[c * dim + r] = values[r * shapeCols + c];
  return EmbeddingMatrix.fromFloat32(transposedValues, rows, dim, storage);
}

export class EmbeddingIndex {
  private readonly matrices = new Map<string, Promise<EmbeddingMatrix>>();
  private poolInstance: KnnPool | undefined;

  constructor(private readonly storage: () => EmbeddingStorage = () => 'f32') {}

  get pool(): KnnPool {
    this.poolInstance ??= new KnnPool();
    return this.poolInstance;
  }

  private key(model: OpenedModel, space: EmbeddingSpace): string {
    return `${model.id}\u0000${space}`;
  }

  /** True when the matrix is in memory already (hover only uses neighbours that are ready). */
  isLoaded(model: OpenedModel, space: EmbeddingSpace): boolean {
    return this.matrices.has(this.key(model, space));
  }

  matrix(model: OpenedModel, space: EmbeddingSpace, onProgress?: (progress: LoadProgress) => void, signal?: AbortSignal): Promise<EmbeddingMatrix> {
    const key = this.key(model, space);
    let pending = this.matrices.get(key);
    if (!pending) {
      pending = loadMatrix(model, space, this.storage(), onProgress, signal).then((matrix) => {
        this.pool.register(matrix);
        return matrix;
      });
      // A failed or cancelled load is forgotten, so the next request tries again.
      pending.catch(() => this.matrices.delete(key));
      this.matrices.set(key, pending);
    }
    return pending;
  }

  /** Frees a model's matrices (when it is closed). */
  async forget(modelId: string): Promise<void> {
    for (const [key, pending] of [...this.matrices]) {
      if (!key.startsWith(`${modelId}\u0000`)) continue;
      this.matrices.delete(key);
      const matrix = await pending.catch(() => undefined);
      if (matrix) this.poolInstance?.release(matrix);
    }
  }

  async close(): Promise<void> {
    await this.poolInstance?.close();
  }
}
