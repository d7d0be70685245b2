/**
 * Retrieval by cosine similarity: for each query vector, the key it is most similar to. unCLIP's prior
 * is scored this way (Ramesh et al. 2022 judge the prior by how well its image embeddings match their
 * captions): a generated image embedding should retrieve its own caption's text embedding among
 * distractors. This module must not embed anything; it compares vectors it is given.
 */
import { ShapeError } from '../util/errors.js';

/** Index of the most cosine-similar key row for each query row (rows of `width`). */
export function nearestByCosine(queries: Float32Array, keys: Float32Array, width: number): Int32Array {
  if (width < 1 || queries.length % width || keys.length % width || keys.length === 0) {
    throw new ShapeError(
      `retrieval needs rows of width ${width}: got ${queries.length} query and ${keys.length} key values`,
    );
  }
  const norms = (rows: Float32Array) =>
    Float64Array.from({ length: rows.length / width }, (_, r) => {
      let s = 0;
      for (let i = r * width; i < (r + 1) * width; i++) s += rows[i] * rows[i];
      return Math.sqrt(s) || 1;
    });
  const keyNorms = norms(keys);
  const out = new Int32Array(queries.length / width);
  for (let q = 0; q < out.length; q++) {
    let best = -Infinity;
    for (let k = 0; k < keyNorms.length; k++) {
      let dot = 0;
      for (let i = 0; i < width; i++) dot += queries[q * width + i] * keys[k * width + i];
      const cosine = dot / keyNorms[k];
      if (cosine > best) {
        best = cosine;
        out[q] = k;
      }
    }
  }
  return out;
}

/** Share of queries whose nearest key (cosine) is their target index. */
export function topOneRetrieval(
  queries: Float32Array,
  keys: Float32Array,
  width: number,
  targets: ArrayLike<number>,
): number {
  const nearest = nearestByCosine(queries, keys, width);
  if (targets.length !== nearest.length) {
    throw new ShapeError(`${targets.length} targets for ${nearest.length} queries`);
  }
  let hits = 0;
  nearest.forEach((k, q) => (hits += k === targets[q] ? 1 : 0));
  return hits / nearest.length;
}
