/**
 * Low-dimensional toy distributions — the standard 2-D test beds of the diffusion and flow literature
 * (moons, swiss roll, 8 Gaussians, checkerboard, pinwheel, circles) and a general Gaussian mixture in
 * any dimension. Each sampler draws N points from an explicit `Random` and returns them as a row-major
 * float32 array [N, D], scaled so every coordinate lies roughly in [−3, 3] with a standard deviation
 * near 1 (what a diffusion model with unit-variance noise expects). Where a distribution has natural
 * parts (a moon, a circle, a cluster, an arm) the points carry that part as an integer label, usable
 * for class-conditional training. Each recipe is documented where it is defined; nothing here trains,
 * plots or touches the file system.
 */
import { z } from 'zod';
import { ConfigError, unknownChoice, UsageError } from '../util/errors.js';
import { Random } from '../util/random.js';
import { parseOptions, TensorDataset } from './dataset.js';

/** Sampled points: `x` is [count, dim] row-major; `labels` is [count] where the distribution has parts. */
export interface ToySample {
  x: Float32Array;
  labels?: Int32Array;
  dim: number;
  numClasses?: number;
}

export interface ToyOptions {
  /**
   * The distribution's noise level (its meaning is per distribution: additive Gaussian noise for moons,
   * swiss roll and circles, the cluster std for 8 Gaussians, the tangential std for pinwheel). Omitted:
   * the documented default. Checkerboard has none.
   */
  noise?: number;
}

type ToySampler = (count: number, random: Random, noise: number) => ToySample;

interface ToyDistribution {
  sample: ToySampler;
  /** Default for `ToyOptions.noise`; null where the distribution has no noise knob. */
  defaultNoise: number | null;
  classNames?: readonly string[];
  description: string;
}

/**
 * Two interleaved half circles (scikit-learn's `make_moons`). Point i belongs to moon i mod 2; with
 * t ~ U(0, π): moon 0 is (cos t, sin t), moon 1 is (1 − cos t, ½ − sin t); then N(0, noise²) is added
 * to each coordinate and the pair is centred by subtracting (½, ¼). Range about [−1.5, 1.5] × [−0.9, 0.9].
 */
function sampleMoons(count: number, random: Random, noise: number): ToySample {
  const x = new Float32Array(count * 2);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const moon = i % 2;
    const t = Math.PI * random.uniform();
    const px = moon === 0 ? Math.cos(t) : 1 - Math.cos(t);
    const py = moon === 0 ? Math.sin(t) : 0.5 - Math.sin(t);
    x[2 * i] = px + noise * random.normal() - 0.5;
    x[2 * i + 1] = py + noise * random.normal() - 0.25;
    labels[i] = moon;
  }
  return { x, labels, dim: 2, numClasses: 2 };
}

/**
 * The 2-D swiss roll (scikit-learn's `make_swiss_roll`, coordinates x and z): t = 1.5π(1 + 2u) with
 * u ~ U(0, 1), the point (t cos t, t sin t)/7 — so the outer end sits at radius 4.5π/7 ≈ 2.02 — plus
 * N(0, noise²) per coordinate. Unlabelled.
 */
function sampleSwissRoll(count: number, random: Random, noise: number): ToySample {
  const x = new Float32Array(count * 2);
  for (let i = 0; i < count; i++) {
    const t = 1.5 * Math.PI * (1 + 2 * random.uniform());
    x[2 * i] = (t * Math.cos(t)) / 7 + noise * random.normal();
    x[2 * i + 1] = (t * Math.sin(t)) / 7 + noise * random.normal();
  }
  return { x, dim: 2 };
}

/** Radius of the circle the 8 Gaussians sit on. */
export const EIGHT_GAUSSIANS_RADIUS = 2;

/**
 * Eight isotropic Gaussians of std `noise` centred on a circle of radius 2 at angles 2πk/8, k = 0..7;
 * each point picks a cluster uniformly at random and is labelled with it.
 */
function sampleEightGaussians(count: number, random: Random, noise: number): ToySample {
  return sampleGaussianMixture(count, random, eightGaussiansMixture(noise));
}

/** The 8-Gaussians distribution as an explicit mixture (for exact-denoiser tests). */
export function eightGaussiansMixture(std = 0.1): GaussianMixtureSpec {
  const means = Array.from({ length: 8 }, (_, k) => {
    const angle = (2 * Math.PI * k) / 8;
    return [EIGHT_GAUSSIANS_RADIUS * Math.cos(angle), EIGHT_GAUSSIANS_RADIUS * Math.sin(angle)];
  });
  return { weights: new Array<number>(8).fill(1), means, stds: new Array<number>(8).fill(std) };
}

/**
 * A 4×4 checkerboard on [−2, 2]²: x₁ ~ U(−2, 2); its column c = ⌊x₁⌋ + 2 picks one of the two rows r
 * with r + c even (each with probability ½), and x₂ = r − 2 + U(0, 1). Uniform over the eight filled
 * unit squares. Unlabelled.
 */
function sampleCheckerboard(count: number, random: Random): ToySample {
  const x = new Float32Array(count * 2);
  for (let i = 0; i < count; i++) {
    const x1 = 4 * random.uniform() - 2;
    const column = Math.min(3, Math.floor(x1) + 2);
    const row = (column % 2) + 2 * random.int(2);
    x[2 * i] = x1;
    x[2 * i + 1] = row - 2 + random.uniform();
  }
  return { x, dim: 2 };
}

const PINWHEEL_ARMS = 5;

/**
 * Five curved arms (the pinwheel of Johnson et al. 2016, as in FFJORD's toy data): arm k = i mod 5 has
 * base angle 2πk/5; a point starts at f = (1 + 0.3·n₁, noise·n₂) with n ~ N(0, I), is rotated by
 * 2πk/5 + 0.25·exp(f₁) (the farther out, the more it curls) and scaled by 1.5. Labelled by arm.
 */
function samplePinwheel(count: number, random: Random, noise: number): ToySample {
  const x = new Float32Array(count * 2);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const arm = i % PINWHEEL_ARMS;
    const radial = 1 + 0.3 * random.normal();
    const tangential = noise * random.normal();
    const angle = (2 * Math.PI * arm) / PINWHEEL_ARMS + 0.25 * Math.exp(radial);
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    x[2 * i] = 1.5 * (radial * cos - tangential * sin);
    x[2 * i + 1] = 1.5 * (radial * sin + tangential * cos);
    labels[i] = arm;
  }
  return { x, labels, dim: 2, numClasses: PINWHEEL_ARMS };
}

/**
 * Two concentric circles (scikit-learn's `make_circles` with factor ½, scaled by 2): point i lies on
 * circle i mod 2 — label 0 the outer one of radius 2, label 1 the inner one of radius 1 — at a uniform
 * angle, plus N(0, noise²) per coordinate.
 */
function sampleCircles(count: number, random: Random, noise: number): ToySample {
  const x = new Float32Array(count * 2);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const circle = i % 2;
    const radius = circle === 0 ? 2 : 1;
    const angle = 2 * Math.PI * random.uniform();
    x[2 * i] = radius * Math.cos(angle) + noise * random.normal();
    x[2 * i + 1] = radius * Math.sin(angle) + noise * random.normal();
    labels[i] = circle;
  }
  return { x, labels, dim: 2, numClasses: 2 };
}

const distributions = {
  moons: {
    sample: sampleMoons,
    defaultNoise: 0.1,
    classNames: ['upper moon', 'lower moon'],
    description: '2-D points, two moons centred at the origin, range about [-1.5, 1.5] x [-0.9, 0.9]',
  },
  'swiss-roll': {
    sample: sampleSwissRoll,
    defaultNoise: 0.1,
    description: '2-D points on a spiral of outer radius about 2',
  },
  '8gaussians': {
    sample: sampleEightGaussians,
    defaultNoise: 0.1,
    classNames: Array.from({ length: 8 }, (_, k) => `cluster at ${45 * k} degrees`),
    description: '2-D points, eight Gaussian clusters on a circle of radius 2',
  },
  checkerboard: {
    sample: sampleCheckerboard,
    defaultNoise: null,
    description: '2-D points uniform on the eight filled squares of a 4x4 checkerboard on [-2, 2]^2',
  },
  pinwheel: {
    sample: samplePinwheel,
    defaultNoise: 0.1,
    classNames: Array.from({ length: PINWHEEL_ARMS }, (_, k) => `arm ${k}`),
    description: '2-D points on five curved arms, radius mostly below 3',
  },
  circles: {
    sample: sampleCircles,
    defaultNoise: 0.05,
    classNames: ['outer circle', 'inner circle'],
    description: '2-D points on two concentric circles of radius 2 and 1',
  },
} satisfies Record<string, ToyDistribution>;

export type Toy2dName = keyof typeof distributions;

/** Names of the 2-D toy distributions. */
export const TOY2D_NAMES = Object.keys(distributions) as Toy2dName[];

/** Draws `count` points of the named 2-D toy distribution. */
export function sampleToy2d(
  name: string,
  count: number,
  random: Random,
  options: ToyOptions = {},
): ToySample {
  const distribution = toyDistribution(name);
  checkCount(name, count);
  return distribution.sample(count, random, noiseFor(name, distribution, options.noise));
}

/** A fixed dataset of `size` points of the named distribution, drawn once from `random`. */
export function toy2dDataset(
  name: string,
  options: { size: number; random: Random; noise?: number },
): TensorDataset {
  const distribution = toyDistribution(name);
  const sample = sampleToy2d(name, options.size, options.random, { noise: options.noise });
  return new TensorDataset({
    name,
    shape: [2],
    data: sample.x,
    labels: sample.labels,
    numClasses: sample.numClasses,
    classNames: sample.labels ? distribution.classNames : undefined,
    description: distribution.description,
  });
}

function toyDistribution(name: string): ToyDistribution {
  if (!Object.hasOwn(distributions, name)) throw unknownChoice('toy distribution', name, TOY2D_NAMES);
  return distributions[name as Toy2dName];
}

function noiseFor(name: string, distribution: ToyDistribution, noise: number | undefined): number {
  if (distribution.defaultNoise === null) {
    if (noise !== undefined) throw new UsageError(`toy distribution '${name}' has no noise level to set`);
    return 0;
  }
  if (noise === undefined) return distribution.defaultNoise;
  if (!Number.isFinite(noise) || noise < 0) {
    throw new ConfigError(`noise of toy distribution '${name}' must be a finite number ≥ 0, got ${noise}`);
  }
  return noise;
}

function checkCount(name: string, count: number): void {
  if (!Number.isInteger(count) || count < 1) {
    throw new ConfigError(`number of '${name}' points must be a positive integer, got ${count}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// General Gaussian mixture

/** A Gaussian mixture with isotropic or diagonal components, in any dimension D. */
export interface GaussianMixtureSpec {
  /** Mixing weights, positive; normalised here. */
  weights: readonly number[];
  /** Component means, K arrays of D numbers. */
  means: readonly (readonly number[])[];
  /** Component standard deviations: one number (isotropic) or D numbers (diagonal) per component. */
  stds: readonly (number | readonly number[])[];
}

/** The mixture as flat arrays: cumulative weights [K], means [K, D], stds [K, D]. */
interface MixtureTables {
  dim: number;
  cumulative: Float64Array;
  means: Float64Array;
  stds: Float64Array;
}

/**
 * Draws `count` points of the mixture: component k ~ Categorical(weights) (inverse CDF of one uniform),
 * then x = μ_k + σ_k ⊙ n with n ~ N(0, I). Labels are the component indices.
 */
export function sampleGaussianMixture(count: number, random: Random, spec: GaussianMixtureSpec): ToySample {
  checkCount('gaussian-mixture', count);
  const tables = mixtureTables(spec);
  const { dim } = tables;
  const x = new Float32Array(count * dim);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const k = pickComponent(tables.cumulative, random.uniform());
    for (let d = 0; d < dim; d++) {
      x[i * dim + d] = tables.means[k * dim + d] + tables.stds[k * dim + d] * random.normal();
    }
    labels[i] = k;
  }
  return { x, labels, dim, numClasses: spec.weights.length };
}

function pickComponent(cumulative: Float64Array, u: number): number {
  for (let k = 0; k < cumulative.length - 1; k++) if (u < cumulative[k]) return k;
  return cumulative.length - 1;
}

/** Validates a mixture spec, naming the bad field. */
function mixtureTables(spec: GaussianMixtureSpec): MixtureTables {
  const count = spec.weights.length;
  if (count === 0) throw new ConfigError('Gaussian mixture needs at least one component');
  if (spec.means.length !== count || spec.stds.length !== count) {
    throw new ConfigError(
      `Gaussian mixture has ${count} weights, ${spec.means.length} means and ${spec.stds.length} stds`,
      { hint: 'give one mean and one std per weight' },
    );
  }
  if (!spec.weights.every((w) => Number.isFinite(w) && w > 0)) {
    throw new ConfigError(`Gaussian mixture weights must be positive and finite, got [${spec.weights}]`);
  }
  const dim = spec.means[0].length;
  if (dim === 0) throw new ConfigError('Gaussian mixture means must have at least one coordinate');
  const total = spec.weights.reduce((sum, w) => sum + w, 0);
  const tables: MixtureTables = {
    dim,
    cumulative: new Float64Array(count),
    means: new Float64Array(count * dim),
    stds: new Float64Array(count * dim),
  };
  let running = 0;
  for (let k = 0; k < count; k++) {
    running += spec.weights[k] / total;
    tables.cumulative[k] = running;
    const mean = spec.means[k];
    if (mean.length !== dim || !mean.every(Number.isFinite)) {
      throw new ConfigError(`Gaussian mixture mean ${k} must hold ${dim} finite numbers`);
    }
    const std = spec.stds[k];
    const perCoordinate = typeof std === 'number' ? new Array<number>(dim).fill(std) : std;
    if (perCoordinate.length !== dim || !perCoordinate.every((s) => Number.isFinite(s) && s >= 0)) {
      throw new ConfigError(`Gaussian mixture std ${k} must be one number ≥ 0 or ${dim} numbers ≥ 0`, {
        hint: 'stds are σ, not σ²',
      });
    }
    tables.means.set(mean, k * dim);
    tables.stds.set(perCoordinate, k * dim);
  }
  return tables;
}

const mixtureOptions = z
  .object({
    weights: z.array(z.number()),
    means: z.array(z.array(z.number())),
    stds: z.array(z.union([z.number(), z.array(z.number())])),
    size: z.number().int().positive().default(10_000),
    seed: z.number().int().default(0),
  })
  .strict();

/** The `gaussian-mixture` dataset of the registry: options { weights, means, stds, size?, seed? }. */
export function gaussianMixtureDataset(options: unknown): TensorDataset {
  const { size, seed, ...spec } = parseOptions('gaussian-mixture', mixtureOptions, options);
  const sample = sampleGaussianMixture(size, new Random(seed), spec);
  return new TensorDataset({
    name: 'gaussian-mixture',
    shape: [sample.dim],
    data: sample.x,
    labels: sample.labels,
    numClasses: sample.numClasses,
    classNames: spec.weights.map((_, k) => `component ${k}`),
    description: `${sample.dim}-D points from a ${spec.weights.length}-component Gaussian mixture`,
  });
}
