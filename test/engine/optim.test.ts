// Optimizers as graphs: AdamW against a hand-written float64 torch.optim.AdamW over several steps and
// against PyTorch's own first AdamW step on the reference U-Net; SGD with momentum and Nesterov;
// global-norm clipping; the EMA update; option validation.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Tensor } from '../../src/engine/graph.js';
import {
  adamw,
  applyGradients,
  clipByGlobalNorm,
  emaUpdate,
  hostZeros,
  sgd,
} from '../../src/engine/optim.js';
import type { Optimizer } from '../../src/engine/optim.js';
import type { TensorTree } from '../../src/engine/trace.js';
import { OrtNodeRuntime } from '../../src/engine/runtime/ort-node.js';
import { ReferenceRuntime } from '../../src/engine/runtime/reference.js';
import type { HostTensor, Runtime } from '../../src/engine/runtime/types.js';
import { readSafetensorsFile } from '../../src/io/safetensors.js';
import { Random } from '../../src/util/random.js';
import { ConfigError } from '../../src/util/errors.js';
import { relativeError } from './check.js';

const f32 = (shape: number[]) => ({ shape, dtype: 'float32' as const });
const scalar = f32([]);
const reference = (name: string) =>
  new URL(`../../../shared/reference/unet_small/${name}`, import.meta.url).pathname;

/** torch.optim.AdamW's update (torch/optim/adamw.py, single-tensor path), in float64. */
function torchAdamW(
  p: Float64Array,
  g: Float64Array,
  m: Float64Array,
  v: Float64Array,
  t: number,
  lr: number,
  b1: number,
  b2: number,
  eps: number,
  wd: number,
) {
  const bc1 = 1 - b1 ** t;
  const bc2 = 1 - b2 ** t;
  for (let i = 0; i < p.length; i++) {
    p[i] *= 1 - lr * wd;
    m[i] = b1 * m[i] + (1 - b1) * g[i];
    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
    const denom = Math.sqrt(v[i]) / Math.sqrt(bc2) + eps;
    p[i] -= (lr / bc1) * (m[i] / denom);
  }
}

/** One compiled optimizer update: { params, grads, opt, step, lr } → { params, opt }. */
function updater(runtime: Runtime, optimizer: Optimizer, shapes: Record<string, number[]>) {
  const params = Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, f32(s)]));
  return runtime.compile(
    ({
      params,
      grads,
      opt,
      step,
      lr,
    }: {
      params: TensorTree;
      grads: TensorTree;
      opt: TensorTree;
      step: Tensor;
      lr: Tensor;
    }) => {
      const out = optimizer.update({ params, grads, state: opt, step, lr });
      return { params: out.params, opt: out.state };
    },
    { params, grads: params, opt: optimizer.stateTypes(params), step: scalar, lr: scalar },
  );
}

describe('AdamW', () => {
  const shapes = { a: [3, 4], b: [5] };
  const rng = new Random(1);
  const normals = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
  const config = { beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.1 };
  const lr = 0.01;

  for (const runtime of [new ReferenceRuntime(), new OrtNodeRuntime()]) {
    it(`matches torch.optim.AdamW over 3 steps (${runtime.name})`, async () => {
      const step = updater(runtime, adamw(config), shapes);
      let params: Record<string, Float32Array> = { a: normals(12), b: normals(5) };
      let opt = hostZeros(adamw().stateTypes({ a: f32(shapes.a), b: f32(shapes.b) })) as never;
      const want = Object.fromEntries(
        Object.entries(params).map(([k, v]) => [
          k,
          { p: Float64Array.from(v), m: new Float64Array(v.length), v: new Float64Array(v.length) },
        ]),
      );
      for (let t = 1; t <= 3; t++) {
        const grads = { a: normals(12), b: normals(5) };
        const out = (await step.run({ params, grads, opt, step: t, lr })) as {
          params: Record<string, HostTensor>;
          opt: never;
        };
        for (const k of Object.keys(want))
          torchAdamW(
            want[k].p,
            Float64Array.from(grads[k as 'a']),
            want[k].m,
            want[k].v,
            t,
            lr,
            config.beta1,
            config.beta2,
            config.eps,
            config.weightDecay,
          );
        params = Object.fromEntries(Object.entries(out.params).map(([k, v]) => [k, v.data as Float32Array]));
        opt = out.opt;
        for (const k of Object.keys(want)) {
          const error = relativeError(params[k], want[k].p);
          assert.ok(error < 2e-7, `step ${t} param ${k}: relative error ${error}`);
        }
      }
      await step.dispose();
    });
  }

  it("reproduces PyTorch's first AdamW step on the reference U-Net (lr 1e-3, wd 0.01)", async () => {
    const weights = readSafetensorsFile(reference('diffusion_pytorch_model.safetensors')).tensors;
    const grads = readSafetensorsFile(reference('grad.safetensors')).tensors;
    const names = [
      'conv_in.weight',
      'conv_in.bias',
      'conv_out.weight',
      'conv_out.bias',
      'time_embedding.linear_1.weight',
    ];
    const shapes = Object.fromEntries(names.map((n) => [n, weights.get(n)!.shape]));
    const step = updater(
      new OrtNodeRuntime(),
      adamw({ beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 }),
      shapes,
    );
    const params = Object.fromEntries(names.map((n) => [n, weights.get(n)!.data as Float32Array]));
    const g = Object.fromEntries(names.map((n) => [n, grads.get(`grad/${n}`)!.data as Float32Array]));
    const opt = hostZeros(adamw().stateTypes(Object.fromEntries(names.map((n) => [n, f32(shapes[n])]))));
    const out = (await step.run({ params, grads: g, opt, step: 1, lr: 1e-3 })) as {
      params: Record<string, HostTensor>;
    };
    for (const n of names) {
      const expected = grads.get(`adamw_step1/${n}`)!.data as Float32Array;
      const error = relativeError(out.params[n].data as Float32Array, Float64Array.from(expected));
      assert.ok(error < 1e-6, `${n}: relative error ${error}`);
    }
    await step.dispose();
  });
});

describe('SGD', () => {
  for (const nesterov of [false, true]) {
    it(`momentum 0.9, weight decay 0.1${nesterov ? ', Nesterov' : ''}: two steps by formula`, async () => {
      const step = updater(new ReferenceRuntime(), sgd({ momentum: 0.9, weightDecay: 0.1, nesterov }), {
        w: [2],
      });
      let params = { w: Float32Array.of(1, -2) };
      let opt = hostZeros(sgd({ momentum: 0.9 }).stateTypes({ w: f32([2]) })) as never;
      const p = [1, -2];
      const buf = [0, 0];
      for (let t = 1; t <= 2; t++) {
        const g = [0.5 * t, -1];
        const out = (await step.run({
          params,
          grads: { w: Float32Array.from(g) },
          opt,
          step: t,
          lr: 0.1,
        })) as { params: { w: HostTensor }; opt: never };
        for (let i = 0; i < 2; i++) {
          const gi = g[i] + 0.1 * p[i];
          buf[i] = 0.9 * buf[i] + gi;
          p[i] -= 0.1 * (nesterov ? gi + 0.9 * buf[i] : buf[i]);
        }
        params = { w: Float32Array.from(out.params.w.data as Float32Array) };
        opt = out.opt;
        assert.ok(relativeError(params.w, p) < 1e-7);
      }
    });
  }
  it('without momentum has no state', () => {
    assert.deepEqual(sgd().stateTypes({ w: f32([2]) }), {});
  });
});

describe('clipping and EMA', () => {
  it('clip_grad_norm_ scales by maxNorm / (norm + 1e-6) only above the limit', async () => {
    const clip = new ReferenceRuntime().compile(
      ({ g, limit }: { g: { a: Tensor; b: Tensor }; limit: Tensor }) => {
        void limit;
        const big = clipByGlobalNorm(g, 1);
        const small = clipByGlobalNorm(g, 100);
        return { big: big.grads, norm: big.norm, small: small.grads };
      },
      { g: { a: f32([2]), b: f32([1]) }, limit: scalar },
    );
    const out = (await clip.run({
      g: { a: Float32Array.of(3, 0), b: Float32Array.of(4) },
      limit: 0,
    })) as never as {
      big: { a: HostTensor; b: HostTensor };
      norm: HostTensor;
      small: { a: HostTensor };
    };
    assert.ok(Math.abs((out.norm.data[0] as number) - 5) < 1e-6);
    const scale = 1 / (5 + 1e-6);
    assert.ok(relativeError(out.big.a.data as Float32Array, [3 * scale, 0]) < 1e-7);
    assert.ok(relativeError(out.big.b.data as Float32Array, [4 * scale]) < 1e-7);
    assert.deepEqual([...(out.small.a.data as Float32Array)], [3, 0]);
  });
  it('EMA follows diffusers: ema − (1 − decay)(ema − p)', async () => {
    const ema = new ReferenceRuntime().compile(
      ({ e, p }: { e: Tensor; p: Tensor }) => emaUpdate({ w: e }, { w: p }, 0.99),
      { e: f32([2]), p: f32([2]) },
    );
    const out = (await ema.run({ e: Float32Array.of(1, 2), p: Float32Array.of(3, -2) })) as { w: HostTensor };
    assert.ok(relativeError(out.w.data as Float32Array, [1 - 0.01 * (1 - 3), 2 - 0.01 * (2 + 2)]) < 1e-7);
  });
  it('EMA warm-up uses decay min(d, n / (n + 9)) at update n, as diffusers EMAModel', async () => {
    const update = new ReferenceRuntime().compile(
      applyGradients({ optimizer: sgd(), emaDecay: 0.99, emaWarmup: true }) as never,
      {
        params: { w: f32([2]) },
        opt: {},
        ema: { w: f32([2]) },
        grads: { w: f32([2]) },
        step: scalar,
        lr: scalar,
      },
    );
    for (const [n, decay] of [
      [1, 0.1],
      [11, 0.55],
      [5000, 0.99],
    ]) {
      const out = (await update.run({
        params: { w: Float32Array.of(3, -2) },
        opt: {},
        ema: { w: Float32Array.of(1, 2) },
        grads: { w: Float32Array.of(0, 0) },
        step: n,
        lr: 0.1,
      } as never)) as { ema: { w: HostTensor } };
      const expected = [1 - (1 - decay) * (1 - 3), 2 - (1 - decay) * (2 + 2)];
      assert.ok(relativeError(out.ema.w.data as Float32Array, expected) < 1e-6, `update ${n}`);
    }
  });
  it('bad options are config errors that name the option', () => {
    assert.throws(
      () => adamw({ beta1: 1 }),
      (e: unknown) => e instanceof ConfigError && /beta1/.test(e.message),
    );
    assert.throws(() => sgd({ momentum: -0.1 }), /momentum/);
    assert.throws(() => sgd({ nesterov: true }), /nesterov needs momentum/);
  });
});
