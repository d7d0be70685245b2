/**
 * Euclidean distances between rows of row-major point sets ([count, dim]), in float64, shared by the
 * kernel and nearest-neighbour metrics (MMD, precision/recall). This module must not validate shapes
 * or allocate: callers check their sets once (`featureRows`) and call this in their inner loops.
 */

/** ‖a_i − b_j‖²: the squared distance between row i of `a` and row j of `b`. */
export function squaredDistance(
  a: ArrayLike<number>,
  i: number,
  b: ArrayLike<number>,
  j: number,
  dim: number,
): number {
  let sum = 0;
  for (let t = 0; t < dim; t++) {
    const d = a[i * dim + t] - b[j * dim + t];
    sum += d * d;
  }
  return sum;
}
