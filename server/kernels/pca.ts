/**
 * Principal components of a point cloud, exact to floating-point tolerance: the covariance matrix when the
 * dimension is small enough to form it, otherwise subspace iteration with products by X and Xᵀ (never forming the
 * d × d matrix). Both finish with Rayleigh–Ritz, so the components are the covariance's top eigenvectors.
 */

export interface PcaResult {
  /** [n, components] coordinates of the centred points on the components. */
  coordinates: Float32Array;
  components: number;
  /** The share of the total variance each component explains. */
  explainedVariance: number[];
}

/** Up to this dimension the covariance is formed (d² memory, n·d² work). */
const COVARIANCE_MAX_DIM = 1024;
const MAX_ITERATIONS = 500;
const TOLERANCE = 1e-10;

function centre(points: Float32Array, n: number, d: number): { centred: Float64Array; totalVariance: number } {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += points[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= n;
  const centred = new Float64Array(n * d);
  let total = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      const value = points[i * d + j] - mean[j];
      centred[i * d + j] = value;
      total += value * value;
    }
  }
  return { centred, totalVariance: total / n };
}

/**
 * Orthonormalises the c columns of a [d, c] matrix in place: modified Gram–Schmidt, twice (once is not enough in
 * floating point), and a column that vanishes (the data has fewer directions than the subspace) is replaced by a
 * fresh direction, so the basis stays orthonormal.
 */
function orthonormalise(basis: Float64Array, d: number, c: number): void {
  let seed = 987654321;
  for (let k = 0; k < c; k++) {
    for (let attempt = 0; attempt < 3; attempt++) {
      let before = 0;
      for (let j = 0; j < d; j++) before += basis[j * c + k] ** 2;
      for (let pass = 0; pass < 2; pass++) {
        for (let prev = 0; prev < k; prev++) {
          let dot = 0;
          for (let j = 0; j < d; j++) dot += basis[j * c + k] * basis[j * c + prev];
          for (let j = 0; j < d; j++) basis[j * c + k] -= dot * basis[j * c + prev];
        }
      }
      let norm = 0;
      for (let j = 0; j < d; j++) norm += basis[j * c + k] ** 2;
      if (norm > 1e-20 * Math.max(before, 1e-300) && norm > 1e-200) {
        norm = Math.sqrt(norm);
        for (let j = 0; j < d; j++) basis[j * c + k] /= norm;
        break;
      }
      for (let j = 0; j < d; j++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        basis[j * c + k] = seed / 2 ** 32 - 0.5;
      }
    }
  }
}

/** out = C · basis, with C the covariance, given either explicitly or through the centred points. */
type CovarianceProduct = (basis: Float64Array, c: number) => Float64Array<ArrayBuffer>;

function explicitCovariance(centred: Float64Array, n: number, d: number): CovarianceProduct {
  const cov = new Float64Array(d * d);
  for (let i = 0; i < n; i++) {
    const row = i * d;
    for (let a = 0; a < d; a++) {
      const va = centred[row + a];
      if (va === 0) continue;
      for (let b = a; b < d; b++) cov[a * d + b] += va * centred[row + b];
    }
  }
  for (let a = 0; a < d; a++) for (let b = a; b < d; b++) cov[b * d + a] = cov[a * d + b] /= n;
  return (basis, c) => {
    const out = new Float64Array(d * c);
    for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) {
      const value = cov[a * d + b];
      for (let k = 0; k < c; k++) out[a * c + k] += value * basis[b * c + k];
    }
    return out;
  };
}

function implicitCovariance(centred: Float64Array, n: number, d: number): CovarianceProduct {
  return (basis, c) => {
    const projected = new Float64Array(n * c); // X · basis
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) {
      const value = centred[i * d + j];
      for (let k = 0; k < c; k++) projected[i * c + k] += value * basis[j * c + k];
    }
    const out = new Float64Array(d * c); // Xᵀ · (X · basis) / n
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) {
      const value = centred[i * d + j] / n;
      for (let k = 0; k < c; k++) out[j * c + k] += value * projected[i * c + k];
    }
    return out;
  };
}

/** Eigen-decomposition of a small symmetric matrix by cyclic Jacobi rotations: eigenvalues and column vectors. */
export function symmetricEigen(matrix: Float64Array, size: number): { values: Float64Array<ArrayBuffer>; vectors: Float64Array<ArrayBuffer> } {
  const a = new Float64Array(matrix);
  const v = new Float64Array(size * size);
  for (let i = 0; i < size; i++) v[i * size + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < size; p++) for (let q = p + 1; q < size; q++) off += a[p * size + q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < size; p++) {
      for (let q = p + 1; q < size; q++) {
        const apq = a[p * size + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * size + q] - a[p * size + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const cos = 1 / Math.sqrt(t * t + 1);
        const sin = t * cos;
        for (let k = 0; k < size; k++) {
          const akp = a[k * size + p];
          const akq = a[k * size + q];
          a[k * size + p] = cos * akp - sin * akq;
          a[k * size + q] = sin * akp + cos * akq;
        }
        for (let k = 0; k < size; k++) {
          const apk = a[p * size + k];
          const aqk = a[q * size + k];
          a[p * size + k] = cos * apk - sin * aqk;
          a[q * size + k] = sin * apk + cos * aqk;
        }
        for (let k = 0; k < size; k++) {
          const vkp = v[k * size + p];
          const vkq = v[k * size + q];
          v[k * size + p] = cos * vkp - sin * vkq;
          v[k * size + q] = sin * vkp + cos * vkq;
        }
      }
    }
  }
  const values = new Float64Array(size);
  for (let i = 0; i < size; i++) values[i] = a[i * size + i];
  return { values, vectors: v };
}

export function pca(points: Float32Array, n: number, d: number, components = 2): PcaResult {
  if (n < 2 || d < 1) throw new Error(`PCA needs at least two points (got ${n}) of dimension ≥ 1`);
  const c = Math.min(components, d, n);
  // A few extra vectors in the subspace make the wanted ones converge much faster.
  const width = Math.min(d, c + 8);
  const { centred, totalVariance } = centre(points, n, d);
  const product = d <= COVARIANCE_MAX_DIM ? explicitCovariance(centred, n, d) : implicitCovariance(centred, n, d);

  let basis: Float64Array<ArrayBuffer> = new Float64Array(d * width);
  let seed = 12345;
  for (let i = 0; i < basis.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    basis[i] = seed / 2 ** 32 - 0.5;
  }
  orthonormalise(basis, d, width);
  let previous: Float64Array<ArrayBuffer> = new Float64Array(width);
  let values: Float64Array<ArrayBuffer> = new Float64Array(width);
  let vectors: Float64Array<ArrayBuffer> = new Float64Array(width * width);
  for (let iteration = 0; iteration < MAX_ITERATIONS; iteration++) {
    const image = product(basis, width);
    // Rayleigh–Ritz: the small matrix Bᵀ C B, whose eigenvectors rotate B onto the eigenvectors of C.
    const small = new Float64Array(width * width);
    for (let j = 0; j < d; j++) for (let a = 0; a < width; a++) for (let b = 0; b < width; b++) small[a * width + b] += basis[j * width + a] * image[j * width + b];
    ({ values, vectors } = symmetricEigen(small, width));
    let change = 0;
    const sortedValues = [...values].sort((x, y) => y - x);
    for (let k = 0; k < c; k++) change = Math.max(change, Math.abs(sortedValues[k] - previous[k]) / (Math.abs(sortedValues[k]) || 1));
    previous = Float64Array.from(sortedValues);
    basis = image;
    orthonormalise(basis, d, width);
    if (iteration > 2 && change < TOLERANCE) break;
  }
  // Final rotation of the (pre-iteration) Ritz vectors: recompute them on the converged basis.
  const image = product(basis, width);
  const small = new Float64Array(width * width);
  for (let j = 0; j < d; j++) for (let a = 0; a < width; a++) for (let b = 0; b < width; b++) small[a * width + b] += basis[j * width + a] * image[j * width + b];
  ({ values, vectors } = symmetricEigen(small, width));
  const order = Array.from(values.keys()).sort((x, y) => values[y] - values[x]).slice(0, c);
  const axes = new Float64Array(d * c);
  for (let k = 0; k < c; k++) {
    const column = order[k];
    for (let j = 0; j < d; j++) {
      let sum = 0;
      for (let m = 0; m < width; m++) sum += basis[j * width + m] * vectors[m * width + column];
      axes[j * c + k] = sum;
    }
    // A fixed sign convention, so the same data always gives the same picture.
    let largest = 0;
    for (let j = 0; j < d; j++) if (Math.abs(axes[j * c + k]) > Math.abs(largest)) largest = axes[j * c + k];
    if (largest < 0) for (let j = 0; j < d; j++) axes[j * c + k] = -axes[j * c + k];
  }
  const coordinates = new Float32Array(n * c);
  for (let i = 0; i < n; i++) for (let k = 0; k < c; k++) {
    let sum = 0;
    for (let j = 0; j < d; j++) sum += centred[i * d + j] * axes[j * c + k];
    coordinates[i * c + k] = sum;
  }
  return {
    coordinates,
    components: c,
    explainedVariance: order.map((column) => (totalVariance > 0 ? Math.max(0, values[column]) / totalVariance : 0)),
  };
}
