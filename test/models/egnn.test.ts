// The EGNN denoiser's symmetries: for a random rotation R, translation t and permutation P of the
// atoms, the coordinate output is R·out permuted (translation-invariant) and the type output is
// permuted and otherwise unchanged, to ~1e-5; padding rows stay zero and the coordinate output has
// zero centre of mass.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OrtNodeRuntime } from '../../src/engine/index.js';
import type { CompiledFunction, HostTensor, Tensor } from '../../src/engine/index.js';
import { EGNNDenoiser } from '../../src/models/egnn.js';
import type { ParamTensors } from '../../src/models/types.js';
import { randomRotation } from '../../src/data/molecules.js';
import { Random } from '../../src/util/random.js';

const [B, N, K] = [2, 6, 4];
const f32 = (shape: number[]) => ({ shape, dtype: 'float32' as const });

async function compiled(network: EGNNDenoiser) {
  return new OrtNodeRuntime().compile(
    ((inputs: { params: ParamTensors; positions: Tensor; types: Tensor; time: Tensor; mask: Tensor }) => ({
      out: network.apply(inputs.params, inputs),
    })) as never,
    { params: network.paramTypes(), positions: f32([B, N, 3]), types: f32([B, N, K]), time: f32([B]), mask: f32([B, N]) },
  ) as CompiledFunction<{ out: HostTensor }>;
}

describe('EGNNDenoiser', () => {
  it('is E(3)-equivariant in coordinates and invariant in types, and permutation-equivariant', async () => {
    const network = new EGNNDenoiser({ max_atoms: N, num_types: K, hidden_size: 16, num_layers: 3 });
    const random = new Random(3);
    const params = network.init(random);
    const mask = Float32Array.from([1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0]);
    const positions = Float32Array.from({ length: B * N * 3 }, (_, i) => mask[Math.floor(i / 3)] * random.normal());
    const types = Float32Array.from({ length: B * N * K }, (_, i) => mask[Math.floor(i / K)] * random.normal());
    const time = Float32Array.from([0.3, 0.8]);
    const R = randomRotation(random);
    const shift = [1.7, -2.3, 0.9];
    // Permutation of the atoms within each molecule (padding rows move with it).
    const perm = [3, 0, 4, 1, 5, 2];
    const moved = new Float32Array(positions.length);
    const movedTypes = new Float32Array(types.length);
    const movedMask = new Float32Array(mask.length);
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < N; i++) {
        const src = b * N + perm[i];
        const dst = b * N + i;
        movedMask[dst] = mask[src];
        for (let k = 0; k < K; k++) movedTypes[dst * K + k] = types[src * K + k];
        for (let r = 0; r < 3; r++) {
          const p = [0, 1, 2].reduce((s, c) => s + R[3 * r + c] * positions[src * 3 + c], 0);
          moved[dst * 3 + r] = mask[src] * (p + shift[r]);
        }
      }
    }
    const run = await compiled(network);
    const a = (await run.run({ params, positions, types, time, mask } as never)).out.data as Float32Array;
    const b = (await run.run({ params, positions: moved, types: movedTypes, time, mask: movedMask } as never)).out
      .data as Float32Array;
    await run.dispose();
    const C = 3 + K;
    let worst = 0;
    let scale = 0;
    for (let m = 0; m < B; m++) {
      for (let i = 0; i < N; i++) {
        const src = (m * N + perm[i]) * C;
        const dst = (m * N + i) * C;
        for (let r = 0; r < 3; r++) {
          const expected = [0, 1, 2].reduce((s, c) => s + R[3 * r + c] * a[src + c], 0);
          worst = Math.max(worst, Math.abs(b[dst + r] - expected));
          scale = Math.max(scale, Math.abs(expected));
        }
        for (let k = 3; k < C; k++) worst = Math.max(worst, Math.abs(b[dst + k] - a[src + k]));
      }
    }
    assert.ok(scale > 1e-2, `coordinate output is not trivially zero (max ${scale})`);
    assert.ok(worst < 1e-5, `equivariance error ${worst}`);
    // Padding rows are zero; each molecule's coordinate output has zero centre of mass.
    for (let m = 0; m < B; m++) {
      const com = [0, 0, 0];
      for (let i = 0; i < N; i++) {
        const row = (m * N + i) * C;
        if (mask[m * N + i] === 0) for (let k = 0; k < C; k++) assert.equal(Math.abs(a[row + k]), 0);
        for (let r = 0; r < 3; r++) com[r] += a[row + r];
      }
      assert.ok(Math.hypot(...com) < 1e-5, `CoM of ε̂_x ${com}`);
    }
  });

  it('names the offending config key', () => {
    assert.equal(new EGNNDenoiser({ max_atoms: 5 }).maxAtoms, 5);
    assert.throws(() => new EGNNDenoiser({ hidden_size: 0 }), /hidden_size/);
  });
});
