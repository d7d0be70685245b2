/**
 * Optimizers and the whole train step as graph functions over parameter trees, so that forward, loss,
 * backward, gradient clipping, the optimizer update and the EMA update are ONE traced graph and one
 * `run`: inputs `{ params, opt, ema, batch, step, lr }` → outputs `{ loss, gradNorm, params, opt, ema }`.
 * AdamW follows torch.optim.AdamW exactly (decoupled weight decay, bias correction); SGD follows
 * torch.optim.SGD (momentum, dampening 0, optional Nesterov); clipping follows
 * torch.nn.utils.clip_grad_norm_; the EMA update follows diffusers' EMAModel.
 *
 * This module must not hold host-side training loops (checkpoints, logging, LR schedules live in training/).
 */
import type { Shape, Tensor, TensorType } from './graph.js';
import { shapeSize } from './graph.js';
import { valueAndGrad } from './autodiff.js';
import { constant } from './ops/constant.js';
import { add, div, minimum, mul, pow, sqrt, sub } from './ops/elementwise.js';
import { sum } from './ops/reduce.js';
import type { TensorTree, Tree, TypeTree } from './trace.js';
import { flattenTree, isTensor, isTensorType, mapTree } from './trace.js';
import type { HostTensor } from './runtime/types.js';
import { ConfigError } from '../util/errors.js';

/** An optimizer as pure graph functions: the state is a tree of tensors, updated functionally. */
export interface Optimizer {
  readonly name: string;
  /** Types of the state tree for parameters of these types. */
  stateTypes(params: TypeTree): TypeTree;
  /** One update; `step` is this update's 1-based count (a float32 scalar), `lr` the learning rate. */
  update(args: { params: TensorTree; grads: TensorTree; state: TensorTree; step: Tensor; lr: Tensor }): {
    params: TensorTree;
    state: TensorTree;
  };
}

const leaves = (tree: TensorTree): Tensor[] => flattenTree(tree, isTensor).map(([, t]) => t);
const float32Like = (types: TypeTree): TypeTree =>
  mapTree(types, isTensorType, (t) => ({ shape: [...t.shape], dtype: 'float32' as const }));

/** Rebuilds `template`'s structure from a list of leaves in flatten order. */
function rebuild(template: TensorTree, values: readonly Tensor[]): TensorTree {
  let i = 0;
  return mapTree(template, isTensor, () => values[i++]);
}

function checkRange(name: string, value: number, lo: number, hi: number, closedHi = false): void {
  const ok = Number.isFinite(value) && value >= lo && (closedHi ? value <= hi : value < hi);
  if (!ok)
    throw new ConfigError(`optimizer option ${name} = ${value} is out of range`, {
      hint: `use ${lo} ≤ ${name} ${closedHi ? '≤' : '<'} ${hi}`,
    });
}

export interface AdamWConfig {
  /** Decay of the first-moment average (β₁). */
  readonly beta1?: number;
  /** Decay of the second-moment average (β₂). */
  readonly beta2?: number;
  /** Added to √v̂ in the denominator. */
  readonly eps?: number;
  /** Decoupled weight decay λ: p ← p − lr·λ·p before the Adam step. */
  readonly weightDecay?: number;
}

/**
 * AdamW (Loshchilov & Hutter 2019) exactly as torch.optim.AdamW: p ← p(1 − lr·λ); m ← β₁m + (1−β₁)g;
 * v ← β₂v + (1−β₂)g²; p ← p − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε).
 */
export function adamw(config: AdamWConfig = {}): Optimizer {
  const { beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.01 } = config;
  checkRange('beta1', beta1, 0, 1);
  checkRange('beta2', beta2, 0, 1);
  checkRange('eps', eps, 0, Infinity);
  checkRange('weightDecay', weightDecay, 0, Infinity);
  return {
    name: 'adamw',
    stateTypes: (params) => ({ m: float32Like(params), v: float32Like(params) }),
    update: ({ params, grads, state, step, lr }) => {
      const { m: ms, v: vs } = state as { m: TensorTree; v: TensorTree };
      const g = leaves(grads);
      const [m0, v0] = [leaves(ms), leaves(vs)];
      const stepSize = div(lr, sub(1, pow(constant(step.graph, beta1), step)));
      const bias2Sqrt = sqrt(sub(1, pow(constant(step.graph, beta2), step)));
      const decay = sub(1, mul(lr, weightDecay));
      const out = leaves(params).map((p, i) => {
        const m = add(mul(m0[i], beta1), mul(g[i], 1 - beta1));
        const v = add(mul(v0[i], beta2), mul(mul(g[i], g[i]), 1 - beta2));
        const denom = add(div(sqrt(v), bias2Sqrt), eps);
        const decayed = weightDecay === 0 ? p : mul(p, decay);
        return { p: sub(decayed, mul(stepSize, div(m, denom))), m, v };
      });
      return {
        params: rebuild(
          params,
          out.map((o) => o.p),
        ),
        state: {
          m: rebuild(
            ms,
            out.map((o) => o.m),
          ),
          v: rebuild(
            vs,
            out.map((o) => o.v),
          ),
        },
      };
    },
  };
}

export interface SgdConfig {
  /** Momentum μ (0: plain SGD, no state). */
  readonly momentum?: number;
  /** L2 penalty added to the gradient (coupled, as torch.optim.SGD). */
  readonly weightDecay?: number;
  readonly nesterov?: boolean;
}

/** SGD as torch.optim.SGD (dampening 0): g ← g + λp; b ← μb + g; p ← p − lr·(nesterov ? g + μb : b). */
export function sgd(config: SgdConfig = {}): Optimizer {
  const { momentum = 0, weightDecay = 0, nesterov = false } = config;
  checkRange('momentum', momentum, 0, 1);
  checkRange('weightDecay', weightDecay, 0, Infinity);
  if (nesterov && momentum === 0) throw new ConfigError('SGD: nesterov needs momentum > 0');
  return {
    name: 'sgd',
    stateTypes: (params): TypeTree => (momentum > 0 ? { momentum: float32Like(params) } : {}),
    update: ({ params, grads, state, lr }) => {
      const g = leaves(grads);
      const buffers = momentum > 0 ? leaves((state as { momentum: TensorTree }).momentum) : [];
      const out = leaves(params).map((p, i) => {
        const gi = weightDecay === 0 ? g[i] : add(g[i], mul(p, weightDecay));
        if (momentum === 0) return { p: sub(p, mul(lr, gi)), b: null };
        const b = add(mul(buffers[i], momentum), gi);
        const direction = nesterov ? add(gi, mul(b, momentum)) : b;
        return { p: sub(p, mul(lr, direction)), b };
      });
      const newState: TensorTree =
        momentum > 0
          ? {
              momentum: rebuild(
                (state as { momentum: TensorTree }).momentum,
                out.map((o) => o.b!),
              ),
            }
          : {};
      return {
        params: rebuild(
          params,
          out.map((o) => o.p),
        ),
        state: newState,
      };
    },
  };
}

/** The global L2 norm of all gradients: √Σ‖g‖². */
export function globalNorm(grads: TensorTree): Tensor {
  const squares = leaves(grads).map((g) => sum(mul(g, g)));
  return sqrt(squares.reduce((a, b) => add(a, b)));
}

/** clip_grad_norm_: scales all gradients by min(1, maxNorm / (‖g‖ + 1e-6)); returns them and the norm. */
export function clipByGlobalNorm(grads: TensorTree, maxNorm: number): { grads: TensorTree; norm: Tensor } {
  checkRange('maxNorm', maxNorm, Number.MIN_VALUE, Infinity);
  const norm = globalNorm(grads);
  const scale = minimum(div(maxNorm, add(norm, 1e-6)), 1);
  return { grads: mapTree(grads, isTensor, (g) => mul(g, scale)), norm };
}

/** EMA as diffusers' EMAModel.step: ema ← ema − (1 − decay)(ema − p). */
export function emaUpdate(ema: TensorTree, params: TensorTree, decay: number | Tensor): TensorTree {
  const p = leaves(params);
  const oneMinus = typeof decay === 'number' ? 1 - decay : sub(1, decay);
  let i = 0;
  return mapTree(ema, isTensor, (e) => {
    const pi = p[i++];
    return sub(e, mul(sub(e, pi), oneMinus));
  });
}

export interface TrainStepConfig<B> {
  /** The scalar loss of the parameters on one batch. */
  readonly loss: (params: TensorTree, batch: B) => Tensor;
  readonly optimizer: Optimizer;
  /** Global-norm gradient clipping; none when absent. */
  readonly clipNorm?: number;
  /** EMA decay; when set the step takes and returns `ema`, a tree like `params`. */
  readonly emaDecay?: number;
  /** EMA warm-up as in `ApplyGradientsConfig`. */
  readonly emaWarmup?: boolean;
}

export interface TrainStepInputs<B> {
  readonly params: TensorTree;
  readonly opt: TensorTree;
  readonly ema?: TensorTree;
  readonly batch: B;
  /** 1-based number of this update (float32 scalar). */
  readonly step: Tensor;
  readonly lr: Tensor;
}

export interface TrainStepOutputs {
  loss: Tensor;
  /** Global gradient norm before clipping. */
  gradNorm: Tensor;
  params: TensorTree;
  opt: TensorTree;
  ema?: TensorTree;
}

export interface ApplyGradientsConfig {
  readonly optimizer: Optimizer;
  /** Global-norm gradient clipping; none when absent. */
  readonly clipNorm?: number;
  /** EMA decay; when set the update takes and returns `ema`, a tree like `params`. */
  readonly emaDecay?: number;
  /**
   * Warm the EMA up as diffusers' EMAModel does by default: the decay of update n (1-based) is
   * min(emaDecay, n / (n + 9)), so early averages are not dominated by the random initialisation.
   */
  readonly emaWarmup?: boolean;
}

export interface ApplyGradientsInputs {
  readonly params: TensorTree;
  readonly opt: TensorTree;
  readonly ema?: TensorTree;
  readonly grads: TensorTree;
  /** 1-based number of this update (float32 scalar). */
  readonly step: Tensor;
  readonly lr: Tensor;
}

/**
 * The update half of a train step: clip the gradients, apply the optimizer, update the EMA. Used inside
 * `trainStep` and, compiled on its own, after gradients accumulated over several micro-batches.
 */
export function applyGradients(
  config: ApplyGradientsConfig,
): (inputs: ApplyGradientsInputs) => Omit<TrainStepOutputs, 'loss'> {
  if (config.emaDecay !== undefined) checkRange('emaDecay', config.emaDecay, 0, 1, true);
  return ({ params, opt, ema, grads, step, lr }) => {
    const clipped =
      config.clipNorm !== undefined
        ? clipByGlobalNorm(grads, config.clipNorm)
        : { grads, norm: globalNorm(grads) };
    const updated = config.optimizer.update({ params, grads: clipped.grads, state: opt, step, lr });
    const out: Omit<TrainStepOutputs, 'loss'> = {
      gradNorm: clipped.norm,
      params: updated.params,
      opt: updated.state,
    };
    if (config.emaDecay !== undefined) {
      if (!ema) throw new ConfigError('train step: emaDecay is set but no ema tree was given');
      const decay = config.emaWarmup ? minimum(div(step, add(step, 9)), config.emaDecay) : config.emaDecay;
      out.ema = emaUpdate(ema, updated.params, decay);
    }
    return out;
  };
}

/** The whole train step as one function of trees (trace or compile it with `trainStepTypes`). */
export function trainStep<B>(config: TrainStepConfig<B>): (inputs: TrainStepInputs<B>) => TrainStepOutputs {
  const apply = applyGradients(config);
  return ({ params, opt, ema, batch, step, lr }) => {
    const { value, grad } = valueAndGrad((p: TensorTree) => config.loss(p, batch))(params);
    return { loss: value, ...apply({ params, opt, ...(ema ? { ema } : {}), grads: grad, step, lr }) };
  };
}

/** Input types of a train step: `{ params, opt, [ema], batch, step, lr }`. */
export function trainStepTypes(
  params: TypeTree,
  batch: TypeTree,
  optimizer: Optimizer,
  withEma = false,
): { params: TypeTree; opt: TypeTree; ema?: TypeTree; batch: TypeTree; step: TensorType; lr: TensorType } {
  const scalar: TensorType = { shape: [], dtype: 'float32' };
  return {
    params,
    opt: optimizer.stateTypes(params),
    ...(withEma ? { ema: params } : {}),
    batch,
    step: scalar,
    lr: scalar,
  };
}

/** Host zeros for every leaf of a type tree (initial optimizer state). */
export function hostZeros(types: TypeTree): Tree<HostTensor> {
  return mapTree(types, isTensorType, (t) => ({
    data: new Float32Array(shapeSize(t.shape)),
    shape: [...t.shape] as Shape,
    dtype: 'float32' as const,
  }));
}

/** A deep copy of a host tree (an EMA that starts equal to the parameters must not share their buffers). */
export function hostCopy(tree: Tree<HostTensor>): Tree<HostTensor> {
  const isHost = (v: unknown): v is HostTensor =>
    typeof v === 'object' && v !== null && 'data' in v && 'shape' in v;
  return mapTree(tree, isHost, (t) => ({ data: t.data.slice(), shape: [...t.shape], dtype: t.dtype }));
}
