/**
 * The E(n)-equivariant graph network (EGNN, Satorras et al. 2021) as the denoiser of equivariant
 * diffusion over molecules (EDM, Hoogeboom et al. 2022). Each molecule is a fully connected graph of up
 * to `max_atoms` nodes with a node mask for padding; node features are the (noisy, scaled) one-hot atom
 * types plus the normalised time, coordinates are x ∈ ℝ³. Every layer computes
 *   m_ij = φ_e(h_i, h_j, ‖x_i − x_j‖²),
 *   x_i ← x_i + Σ_j (x_i − x_j)/(‖x_i − x_j‖ + 1) · r·tanh(φ_x(m_ij)) / Z,
 *   h_i ← h_i + φ_h(h_i, Σ_j m_ij / Z)                                   (Satorras et al. eq. 3–6)
 * with Z a constant normaliser. The coordinate noise prediction is x_out − x_in with its (masked) centre
 * of mass removed, which makes it rotation- and permutation-equivariant and translation-invariant; the
 * type prediction is a linear read-out of h, invariant. The network does not fit `DenoiserNetwork`
 * (it needs the node mask as an input), so it offers the sibling `MoleculeDenoiser` interface.
 *
 * This module must not know about schedules, losses or samplers.
 */
import { z } from 'zod';
import type { Tensor, TensorType } from '../engine/index.js';
import {
  add,
  broadcastTo,
  concat,
  constant,
  div,
  mul,
  reshape,
  silu,
  sqrt,
  sub,
  sum,
  tanh,
  unsqueeze,
} from '../engine/index.js';
import type { Layer, ParamSpecs } from '../nn/index.js';
import { initParams, linear, mergeSpecs, paramTypesOf } from '../nn/index.js';
import { ShapeError } from '../util/errors.js';
import type { Random } from '../util/random.js';
import { parseModelConfig, positiveInt } from './config.js';
import type { ParamTensors, Params } from './types.js';

export const egnnConfigSchema = z.strictObject({
  _class_name: z.literal('EGNNDenoiser').optional(),
  /** Padded number of atoms per molecule. */
  max_atoms: positiveInt.default(14),
  /** Number of atom types (one-hot width). */
  num_types: positiveInt.default(4),
  hidden_size: positiveInt.default(64),
  num_layers: positiveInt.default(4),
  /** Z in the aggregation Σ_j(·)/Z; EDM's `normalization_factor`. */
  normalization_factor: z.number().positive().default(4),
  /**
   * φ_x is squashed to range·tanh(φ_x) (EDM's `coords_range`): without the bound, a layer can move atoms
   * arbitrarily far at high noise, and the next layer's distances overflow in sampling (NaN molecules).
   */
  coords_range: z.number().positive().default(15),
});

export type EGNNConfig = z.output<typeof egnnConfigSchema>;
export type EGNNConfigInput = z.input<typeof egnnConfigSchema>;

/** Inputs of a molecule denoiser for a batch of B padded molecules of N atoms and K types. */
export interface MoleculeInputs {
  /** Noisy coordinates [B, N, 3] (zero centre of mass over the real atoms). */
  positions: Tensor;
  /** Noisy scaled one-hot types [B, N, K]. */
  types: Tensor;
  /** Time t/T in [0, 1], [B]. */
  time: Tensor;
  /** 1 for a real atom, 0 for padding, [B, N]. */
  mask: Tensor;
}

/** Sibling of `DenoiserNetwork` for masked point sets: output [B, N, 3 + K] = (ε̂_x, ε̂_h), padding zero. */
export interface MoleculeDenoiser<Config = unknown> {
  readonly className: string;
  readonly config: Config;
  readonly maxAtoms: number;
  readonly numTypes: number;
  paramTypes(): Record<string, TensorType>;
  init(random: Random): Params;
  apply(params: ParamTensors, inputs: MoleculeInputs): Tensor;
}

/** A two-layer MLP with SiLU between (and after, when `outerActivation`). */
function mlp(prefix: string, sizes: [number, number, number], outerActivation: boolean) {
  const l1 = linear(`${prefix}.0`, sizes[0], sizes[1]);
  const l2 = linear(`${prefix}.2`, sizes[1], sizes[2]);
  return {
    specs: mergeSpecs(l1.specs, l2.specs),
    apply: (p: ParamTensors, x: Tensor) => {
      const y = l2.apply(p, silu(l1.apply(p, x)));
      return outerActivation ? silu(y) : y;
    },
  };
}

function buildLayers(config: EGNNConfig) {
  const { num_types: K, hidden_size: H, num_layers } = config;
  return {
    embedding: linear('embedding', K + 1, H) as Layer,
    layers: Array.from({ length: num_layers }, (_, l) => ({
      edge: mlp(`layers.${l}.edge_mlp`, [2 * H + 1, H, H], true),
      coord: mlp(`layers.${l}.coord_mlp`, [H, H, 1], false),
      node: mlp(`layers.${l}.node_mlp`, [2 * H, H, H], false),
    })),
    readout: linear('type_out', H, K) as Layer,
  };
}

export class EGNNDenoiser implements MoleculeDenoiser<EGNNConfig> {
  readonly className = 'EGNNDenoiser';
  readonly config: EGNNConfig;
  readonly maxAtoms: number;
  readonly numTypes: number;
  private readonly parts: ReturnType<typeof buildLayers>;
  private readonly specs: ParamSpecs;

  constructor(config: EGNNConfigInput | Record<string, unknown> = {}) {
    this.config = parseModelConfig(egnnConfigSchema, config, 'EGNNDenoiser');
    this.maxAtoms = this.config.max_atoms;
    this.numTypes = this.config.num_types;
    this.parts = buildLayers(this.config);
    const { embedding, layers, readout } = this.parts;
    this.specs = mergeSpecs(
      embedding.specs,
      readout.specs,
      ...layers.flatMap((l) => [l.edge.specs, l.coord.specs, l.node.specs]),
    );
  }

  paramTypes(): Record<string, TensorType> {
    return paramTypesOf(this.specs);
  }

  init(random: Random): Params {
    return initParams(this.specs, random);
  }

  apply(params: ParamTensors, inputs: MoleculeInputs): Tensor {
    const [B, N] = this.checkInputs(inputs);
    const { positions: x0, types, time, mask } = inputs;
    const { embedding, layers, readout } = this.parts;
    const H = this.config.hidden_size;
    const Z = this.config.normalization_factor;
    const nodeMask = reshape(mask, [B, N, 1]);
    const edgeMask = this.edgeMask(mask, B, N);
    const timeFeature = broadcastTo(reshape(time, [B, 1, 1]), [B, N, 1]);
    let h = mul(embedding.apply(params, concat([types, timeFeature], 2)), nodeMask);
    let x = x0;
    for (const layer of layers) {
      const diff = sub(unsqueeze(x, [2]), unsqueeze(x, [1])); // x_i − x_j, [B, N, N, 3]
      const d2 = sum(mul(diff, diff), [3], true);
      const hi = broadcastTo(unsqueeze(h, [2]), [B, N, N, H]);
      const hj = broadcastTo(unsqueeze(h, [1]), [B, N, N, H]);
      const m = mul(layer.edge.apply(params, concat([hi, hj, d2], 3)), edgeMask);
      // (x_i − x_j)/(‖x_i − x_j‖ + 1)·φ_x(m_ij); the 1e-8 keeps √ differentiable on the (masked) diagonal.
      const weight = mul(mul(tanh(layer.coord.apply(params, m)), this.config.coords_range), edgeMask);
      const step = div(mul(diff, weight), add(sqrt(add(d2, 1e-8)), 1));
      x = add(x, mul(sum(step, [2]), 1 / Z));
      const aggregate = mul(sum(m, [2]), 1 / Z);
      h = mul(add(h, layer.node.apply(params, concat([h, aggregate], 2))), nodeMask);
    }
    const epsX = removeCentreOfMass(sub(x, x0), mask, B, N);
    const epsH = mul(readout.apply(params, h), nodeMask);
    return concat([epsX, epsH], 2);
  }

  /** e_ij = mask_i · mask_j · (1 − δ_ij), [B, N, N, 1]. */
  private edgeMask(mask: Tensor, B: number, N: number): Tensor {
    const offDiagonal = Array.from({ length: N * N }, (_, k) => (Math.floor(k / N) === k % N ? 0 : 1));
    const eye = constant(mask.graph, offDiagonal, [1, N, N, 1]);
    return mul(mul(reshape(mask, [B, N, 1, 1]), reshape(mask, [B, 1, N, 1])), eye);
  }

  private checkInputs({ positions, types, time, mask }: MoleculeInputs): [number, number] {
    const [B, N] = positions.shape;
    const K = this.numTypes;
    const ok =
      positions.rank === 3 &&
      positions.shape[2] === 3 &&
      N === this.maxAtoms &&
      types.rank === 3 &&
      types.shape[0] === B &&
      types.shape[1] === N &&
      types.shape[2] === K &&
      time.rank === 1 &&
      time.shape[0] === B &&
      mask.rank === 2 &&
      mask.shape[0] === B &&
      mask.shape[1] === N;
    if (!ok) {
      throw new ShapeError(
        `EGNNDenoiser: expected positions [B, ${this.maxAtoms}, 3], types [B, ${this.maxAtoms}, ${K}], time [B], mask [B, ${this.maxAtoms}]; got [${positions.shape.join(', ')}], [${types.shape.join(', ')}], [${time.shape.join(', ')}], [${mask.shape.join(', ')}]`,
      );
    }
    return [B, N];
  }
}

/** v − (Σ_i mask_i v_i / Σ_i mask_i), zeroed on padding: the projection onto the zero-CoM subspace. */
export function removeCentreOfMass(v: Tensor, mask: Tensor, B: number, N: number): Tensor {
  const m = reshape(mask, [B, N, 1]);
  const count = add(sum(m, [1], true), 1e-8);
  const centre = div(sum(mul(v, m), [1], true), count);
  return mul(sub(v, centre), m);
}
