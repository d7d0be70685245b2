/**
 * Equivariant diffusion over molecules (EDM, Hoogeboom et al. 2022) with an EGNN denoiser: training,
 * sampling and the model folder. Coordinates diffuse in the zero-centre-of-mass subspace — their noise
 * is drawn as a Gaussian and projected (x_i − mean over real atoms), the network's ε̂_x is projected
 * too, and so every DDPM step keeps the CoM at zero, making the learned density translation-invariant
 * (EDM §3.2). Atom types diffuse as continuous one-hot vectors scaled by `type_scale` (EDM uses 0.25, so
 * types are decided late in sampling), and the number of atoms of each sample is drawn from the data's
 * histogram. Loss: ε-prediction MSE over the real atoms' coordinates and types; sampler: DDPM ancestral
 * steps over all training timesteps. A model folder holds `config.json` (network, diffusion and
 * atom-count distribution) and `model.safetensors` (EMA weights).
 *
 * This module must not parse flags or print; the CLI wires it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { CompiledFunction, HostTensor, Tensor, TensorTree } from '../engine/index.js';
import {
  OrtNodeRuntime,
  adamw,
  div,
  hostCopy,
  hostZeros,
  mul,
  reshape,
  sub,
  sum,
  trainStep,
  trainStepTypes,
} from '../engine/index.js';
import { alphasCumprod, betaSchedule } from '../diffusion/schedules.js';
import type { Element, Molecule } from '../data/molecules.js';
import { ELEMENTS, padMolecules, atomCountDistribution } from '../data/molecules.js';
import { EGNNDenoiser, egnnConfigSchema } from '../models/egnn.js';
import type { ParamTensors, Params } from '../models/types.js';
import { readSafetensorsFile, getFloatTensor, writeSafetensorsFile } from '../io/safetensors.js';
import { ConfigError, FormatError, NotFoundError } from '../util/errors.js';
import { writeDirAtomic, writeFileAtomic } from '../util/fs.js';
import { Random } from '../util/random.js';

export const moleculeDiffusionSchema = z.strictObject({
  num_train_timesteps: z.number().int().min(2).default(500),
  beta_schedule: z.enum(['linear', 'scaled_linear', 'squaredcos_cap_v2']).default('squaredcos_cap_v2'),
  /** Multiplier of the one-hot types before noising (EDM's 0.25). */
  type_scale: z.number().positive().default(0.25),
});
export type MoleculeDiffusionConfig = z.output<typeof moleculeDiffusionSchema>;

const folderSchema = z.strictObject({
  _class_name: z.literal('EquivariantMoleculeDiffusion'),
  network: egnnConfigSchema,
  diffusion: moleculeDiffusionSchema,
  /** p[n]: probability of n atoms. */
  atom_count_distribution: z.array(z.number().nonnegative()),
  elements: z.array(z.enum(ELEMENTS)),
});

/** A trained (or freshly initialised) molecule diffusion model. */
export interface MoleculeModel {
  readonly network: EGNNDenoiser;
  readonly diffusion: MoleculeDiffusionConfig;
  readonly atomCounts: readonly number[];
  readonly params: Params;
}

/** ᾱ_t for t = 0..T−1 of a config (diffusers' beta schedules). */
export function scheduleOf(diffusion: MoleculeDiffusionConfig): {
  betas: Float64Array;
  alphasBar: Float64Array;
} {
  const betas = betaSchedule({
    betaSchedule: diffusion.beta_schedule,
    numTrainTimesteps: diffusion.num_train_timesteps,
    betaStart: 1e-4,
    betaEnd: 0.02,
  });
  return { betas, alphasBar: alphasCumprod(betas) };
}

/** In place: Gaussian noise on the real atoms of [B, N, 3] coordinates, projected to zero CoM; padding 0. */
export function fillZeroComNoise(
  out: Float32Array,
  mask: Float32Array,
  random: Random,
  maxAtoms: number,
): void {
  random.fillNormal(out);
  projectZeroCom(out, mask, maxAtoms);
}

/** In place: subtract each molecule's mean over its real atoms, zero the padding ([B, N, 3]). */
export function projectZeroCom(v: Float32Array, mask: Float32Array, maxAtoms: number): void {
  const B = mask.length / maxAtoms;
  for (let b = 0; b < B; b++) {
    let count = 0;
    const centre = [0, 0, 0];
    for (let i = 0; i < maxAtoms; i++) {
      const m = mask[b * maxAtoms + i];
      count += m;
      for (let k = 0; k < 3; k++) centre[k] += m * v[(b * maxAtoms + i) * 3 + k];
    }
    for (let i = 0; i < maxAtoms; i++) {
      const m = mask[b * maxAtoms + i];
      for (let k = 0; k < 3; k++) {
        const at = (b * maxAtoms + i) * 3 + k;
        v[at] = m === 0 ? 0 : m * (v[at] - centre[k] / count);
      }
    }
  }
}

/** Max over molecules of |centre of mass| of [B, N, 3] coordinates (real atoms only). */
export function maxCentreOfMass(v: Float32Array, mask: Float32Array, maxAtoms: number): number {
  let worst = 0;
  for (let b = 0; b < mask.length / maxAtoms; b++) {
    const c = [0, 0, 0];
    let n = 0;
    for (let i = 0; i < maxAtoms; i++) {
      const m = mask[b * maxAtoms + i];
      n += m;
      for (let k = 0; k < 3; k++) c[k] += m * v[(b * maxAtoms + i) * 3 + k];
    }
    if (n > 0) worst = Math.max(worst, Math.hypot(c[0], c[1], c[2]) / n);
  }
  return worst;
}

interface Batch {
  positions: Float32Array;
  types: Float32Array;
  time: Float32Array;
  mask: Float32Array;
  target: Float32Array;
}

/** A noised training batch: z_t = √ᾱ·x₀ + √(1−ᾱ)·ε with zero-CoM ε_x, and the target (ε_x, ε_h). */
function noisyBatch(
  data: ReturnType<typeof padMolecules>,
  batch: number,
  diffusion: MoleculeDiffusionConfig,
  alphasBar: Float64Array,
  random: Random,
): Batch {
  const { maxAtoms: N, numTypes: K } = data;
  const T = diffusion.num_train_timesteps;
  const sources = Array.from({ length: batch }, () => random.int(data.count));
  const mask = new Float32Array(batch * N);
  sources.forEach((source, b) => mask.set(data.mask.subarray(source * N, (source + 1) * N), b * N));
  const epsX = new Float32Array(batch * N * 3);
  fillZeroComNoise(epsX, mask, random, N);
  const positions = new Float32Array(batch * N * 3);
  const types = new Float32Array(batch * N * K);
  const time = new Float32Array(batch);
  const target = new Float32Array(batch * N * (3 + K));
  sources.forEach((source, b) => {
    const t = random.int(T);
    time[b] = (t + 1) / T;
    const a = Math.sqrt(alphasBar[t]);
    const s = Math.sqrt(1 - alphasBar[t]);
    for (let i = 0; i < N; i++) {
      const m = mask[b * N + i];
      const row = (b * N + i) * (3 + K);
      for (let k = 0; k < 3; k++) {
        const at = (b * N + i) * 3 + k;
        target[row + k] = epsX[at];
        positions[at] = a * data.positions[(source * N + i) * 3 + k] + s * epsX[at];
      }
      for (let k = 0; k < K; k++) {
        const e = m * random.normal();
        target[row + 3 + k] = e;
        types[(b * N + i) * K + k] =
          m * a * diffusion.type_scale * data.oneHot[(source * N + i) * K + k] + s * e;
      }
    }
  });
  return { positions, types, time, mask, target };
}

/** Masked ε-MSE: mean over real atoms and their 3 + K channels of (ε̂ − ε)². */
function maskedLoss(network: EGNNDenoiser, params: ParamTensors, batch: Record<keyof Batch, Tensor>): Tensor {
  const { positions, types, time, mask, target } = batch;
  const [B, N] = mask.shape;
  const out = network.apply(params, { positions, types, time, mask });
  const diff = sub(out, target);
  const m = reshape(mask, [B, N, 1]);
  const total = sum(mul(mul(diff, diff), m));
  return div(total, mul(sum(mask), network.numTypes + 3));
}

export interface TrainMoleculesOptions {
  readonly molecules: readonly Molecule[];
  readonly network?: Record<string, unknown>;
  readonly diffusion?: Record<string, unknown>;
  readonly steps: number;
  readonly batchSize?: number;
  readonly learningRate?: number;
  readonly emaDecay?: number;
  readonly seed?: number;
  /** Stop early when this many seconds have passed (the model so far is returned). */
  readonly maxSeconds?: number;
  /** Called every `logEvery` steps with the mean loss since the last call. */
  readonly onLog?: (step: number, loss: number) => void;
  readonly logEvery?: number;
}

export interface TrainedMolecules {
  readonly model: MoleculeModel;
  readonly steps: number;
  readonly finalLoss: number;
}

/** Trains an EGNN denoiser on the molecules with one compiled train step (AdamW, clipping, EMA). */
export async function trainMolecules(options: TrainMoleculesOptions): Promise<TrainedMolecules> {
  const { molecules, steps, batchSize = 64, learningRate = 1e-3, emaDecay = 0.999, seed = 0 } = options;
  if (molecules.length === 0) throw new ConfigError('trainMolecules: no molecules to train on');
  const maxAtoms = Math.max(...molecules.map((m) => m.elements.length));
  const network = new EGNNDenoiser({ max_atoms: maxAtoms, num_types: ELEMENTS.length, ...options.network });
  const diffusion = moleculeDiffusionSchema.parse(options.diffusion ?? {});
  const { alphasBar } = scheduleOf(diffusion);
  const data = padMolecules(molecules, network.maxAtoms);
  const random = new Random(seed);
  const optimizer = adamw({ weightDecay: 0 });
  const step = trainStep({
    loss: (p: TensorTree, batch: Record<keyof Batch, Tensor>) =>
      maskedLoss(network, p as ParamTensors, batch),
    optimizer,
    clipNorm: 1,
    emaDecay,
    emaWarmup: true,
  });
  const [B, N, K] = [batchSize, network.maxAtoms, network.numTypes];
  const f32 = (shape: number[]) => ({ shape, dtype: 'float32' as const });
  const batchTypes = {
    positions: f32([B, N, 3]),
    types: f32([B, N, K]),
    time: f32([B]),
    mask: f32([B, N]),
    target: f32([B, N, 3 + K]),
  };
  const paramTypes = network.paramTypes();
  const compiled = new OrtNodeRuntime().compile(
    step as never,
    trainStepTypes(paramTypes, batchTypes, optimizer, true),
  ) as CompiledFunction<{ loss: HostTensor; params: Params; opt: unknown; ema: Params }>;
  let params = network.init(random.split()) as Params;
  let opt: unknown = hostZeros(optimizer.stateTypes(paramTypes));
  let ema = hostCopy(params) as Params;
  const started = Date.now();
  const logEvery = options.logEvery ?? 100;
  let sinceLog = 0;
  let lossSum = 0;
  let last = Number.NaN;
  let done = 0;
  try {
    for (let t = 1; t <= steps; t++) {
      const batch = noisyBatch(data, B, diffusion, alphasBar, random);
      const out = await compiled.run({ params, opt, ema, batch, step: t, lr: learningRate } as never);
      ({ params, opt, ema } = out);
      last = out.loss.data[0] as number;
      lossSum += last;
      sinceLog++;
      done = t;
      if (t % logEvery === 0 || t === steps) {
        options.onLog?.(t, lossSum / sinceLog);
        lossSum = 0;
        sinceLog = 0;
      }
      if (options.maxSeconds !== undefined && (Date.now() - started) / 1000 > options.maxSeconds) break;
    }
  } finally {
    await compiled.dispose();
  }
  return {
    model: { network, diffusion, atomCounts: atomCountDistribution(molecules), params: ema },
    steps: done,
    finalLoss: last,
  };
}

export interface SampleMoleculesOptions {
  readonly count: number;
  readonly seed?: number;
  /** Called after every denoising step with the step's coordinates and mask (tests check the CoM). */
  readonly onStep?: (positions: Float32Array, mask: Float32Array) => void;
}

/** Draws atom counts from the model's distribution. */
function drawAtomCounts(p: readonly number[], count: number, random: Random): number[] {
  return Array.from({ length: count }, () => {
    let u = random.uniform();
    for (let n = 0; n < p.length; n++) {
      u -= p[n];
      if (u <= 0 && p[n] > 0) return n;
    }
    return p.length - 1;
  });
}

/**
 * `count` molecules by DDPM ancestral sampling (Ho et al. 2020, eq. 11) over all training timesteps:
 * z_{t−1} = (z_t − β_t/√(1−ᾱ_t)·ε̂)/√α_t + σ_t·ε with σ_t² = β_t(1−ᾱ_{t−1})/(1−ᾱ_t), ε for the
 * coordinates projected to zero CoM; at the end each atom's element is the argmax of its type channels.
 */
export async function sampleMolecules(
  model: MoleculeModel,
  options: SampleMoleculesOptions,
): Promise<Molecule[]> {
  const { network, diffusion } = model;
  const { count } = options;
  const random = new Random(options.seed ?? 0);
  const [B, N, K] = [count, network.maxAtoms, network.numTypes];
  const f32 = (shape: number[]) => ({ shape, dtype: 'float32' as const });
  const forward = new OrtNodeRuntime().compile(
    ((inputs: { params: ParamTensors; positions: Tensor; types: Tensor; time: Tensor; mask: Tensor }) => ({
      out: network.apply(inputs.params, inputs),
    })) as never,
    {
      params: network.paramTypes(),
      positions: f32([B, N, 3]),
      types: f32([B, N, K]),
      time: f32([B]),
      mask: f32([B, N]),
    },
    { frozen: { params: model.params } as never },
  ) as CompiledFunction<{ out: HostTensor }>;
  const atoms = drawAtomCounts(model.atomCounts, count, random);
  const mask = new Float32Array(B * N);
  atoms.forEach((n, b) => mask.fill(1, b * N, b * N + Math.min(n, N)));
  const { betas, alphasBar } = scheduleOf(diffusion);
  const T = diffusion.num_train_timesteps;
  const positions = new Float32Array(B * N * 3);
  fillZeroComNoise(positions, mask, random, N);
  const types = new Float32Array(B * N * K);
  for (let i = 0; i < types.length; i++) types[i] = mask[Math.floor(i / K)] * random.normal();
  const noiseX = new Float32Array(B * N * 3);
  try {
    for (let t = T - 1; t >= 0; t--) {
      const time = new Float32Array(B).fill((t + 1) / T);
      const { out } = await forward.run({ positions, types, time, mask } as never);
      const eps = out.data as Float32Array;
      const alpha = 1 - betas[t];
      const c = betas[t] / Math.sqrt(1 - alphasBar[t]);
      const sigma = t > 0 ? Math.sqrt((betas[t] * (1 - alphasBar[t - 1])) / (1 - alphasBar[t])) : 0;
      fillZeroComNoise(noiseX, mask, random, N);
      for (let a = 0; a < B * N; a++) {
        const m = mask[a];
        for (let k = 0; k < 3; k++) {
          const at = a * 3 + k;
          positions[at] =
            m * ((positions[at] - c * eps[a * (3 + K) + k]) / Math.sqrt(alpha) + sigma * noiseX[at]);
        }
        for (let k = 0; k < K; k++) {
          const at = a * K + k;
          const z = sigma > 0 ? random.normal() : 0;
          types[at] = m * ((types[at] - c * eps[a * (3 + K) + 3 + k]) / Math.sqrt(alpha) + sigma * z);
        }
      }
      // Float rounding drifts the CoM by ~1e-7 per step; re-projecting keeps it exactly in the subspace.
      projectZeroCom(positions, mask, N);
      options.onStep?.(positions, mask);
    }
  } finally {
    await forward.dispose();
  }
  return atoms.map((n, b) => moleculeAt(positions, types, b, Math.min(n, N), N, K));
}

function moleculeAt(
  positions: Float32Array,
  types: Float32Array,
  b: number,
  n: number,
  N: number,
  K: number,
): Molecule {
  const elements: Element[] = [];
  const coords = new Float64Array(n * 3);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let k = 1; k < K; k++) if (types[(b * N + i) * K + k] > types[(b * N + i) * K + best]) best = k;
    elements.push(ELEMENTS[best]);
    for (let k = 0; k < 3; k++) coords[3 * i + k] = positions[(b * N + i) * 3 + k];
  }
  return { elements, positions: coords };
}

/** Writes a model folder: config.json and model.safetensors. */
export function saveMoleculeModel(dir: string, model: MoleculeModel): void {
  const config = {
    _class_name: 'EquivariantMoleculeDiffusion',
    network: model.network.config,
    diffusion: model.diffusion,
    atom_count_distribution: model.atomCounts,
    elements: [...ELEMENTS],
  };
  writeDirAtomic(dir, (temp) => {
    writeFileAtomic(join(temp, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
    const tensors = Object.fromEntries(
      Object.entries(model.params).map(([name, t]) => [
        name,
        { shape: t.shape, data: t.data as Float32Array },
      ]),
    );
    writeSafetensorsFile(join(temp, 'model.safetensors'), tensors);
  });
}

/** Reads a model folder written by `saveMoleculeModel`; NotFoundError/FormatError say what is wrong. */
export function loadMoleculeModel(dir: string): MoleculeModel {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  } catch (error) {
    throw new NotFoundError(`'${dir}' has no readable config.json of a molecule model`, {
      hint: 'train one with `diffusion train-molecules --out DIR`',
      cause: error,
    });
  }
  const parsed = folderSchema.safeParse(raw);
  if (!parsed.success) {
    throw new FormatError(
      `'${dir}/config.json' is not a molecule model config: ${parsed.error.issues[0]?.message}`,
    );
  }
  const network = new EGNNDenoiser(parsed.data.network);
  const file = readSafetensorsFile(join(dir, 'model.safetensors'));
  const params: Params = {};
  for (const [name, type] of Object.entries(network.paramTypes())) {
    const { shape, data } = getFloatTensor(file, name);
    if (shape.join(',') !== type.shape.join(',')) {
      throw new FormatError(
        `'${dir}/model.safetensors': '${name}' is [${shape.join(', ')}], expected [${type.shape.join(', ')}]`,
      );
    }
    params[name] = { data, shape: [...shape], dtype: 'float32' };
  }
  return {
    network,
    diffusion: parsed.data.diffusion,
    atomCounts: parsed.data.atom_count_distribution,
    params,
  };
}

/**
 * The random baseline: each molecule takes the elements of a randomly drawn reference molecule and
 * places its atoms uniformly at random in a cube of side `side` Å (4 Å spans the reference set's
 * molecules), centred at the origin.
 */
export function randomMolecules(
  reference: readonly Molecule[],
  count: number,
  seed: number,
  side = 4,
): Molecule[] {
  const random = new Random(seed);
  return Array.from({ length: count }, () => {
    const { elements } = reference[random.int(reference.length)];
    const positions = Float64Array.from(
      { length: elements.length * 3 },
      () => side * (random.uniform() - 0.5),
    );
    return { elements: [...elements], positions };
  });
}
