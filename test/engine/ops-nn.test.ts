// Neural-network ops (conv, pooling, upsampling, softmax, norms, attention): reference kernels against
// hand-computed values and brute-force formulas, the ONNX lowering against the reference interpreter,
// and every VJP against central finite differences.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NDArray, Shape } from '../../src/engine/graph.js';
import { Graph, Tensor } from '../../src/engine/graph.js';
import { ndarray } from '../../src/engine/ndarray.js';
import { interpret } from '../../src/engine/runtime/interpret.js';
import { ShapeError, UsageError } from '../../src/util/errors.js';
import type { ConvOptions } from '../../src/engine/ops/conv.js';
import {
  conv1d,
  conv2d,
  convTranspose1d,
  convTranspose2d,
  convFilterGrad,
  convTranspose,
  geometryFromOptions,
} from '../../src/engine/ops/conv.js';
import { avgPool1d, avgPool2d } from '../../src/engine/ops/pool.js';
import { upsample } from '../../src/engine/ops/resize.js';
import { logSoftmax, softmax } from '../../src/engine/ops/softmax.js';
import { groupNorm, groupNormOp, layerNorm, layerNormOp } from '../../src/engine/ops/norm.js';
import { attention, attentionOp } from '../../src/engine/ops/attention.js';
import { backward } from '../../src/engine/autodiff.js';
import { OrtNodeRuntime } from '../../src/engine/runtime/ort-node.js';
import { OrtWebRuntime } from '../../src/engine/runtime/ort-web.js';
import type { Runtime } from '../../src/engine/runtime/types.js';
import { checkOpOnnx, checkVjp, randomArray } from './check.js';

// ---------------------------------------------------------------------------------------------------
// Helpers

/** Evaluates `build` on the reference interpreter with the given input values. */
function evaluate(
  values: Record<string, NDArray>,
  build: (inputs: Record<string, Tensor>) => Tensor,
): NDArray {
  const graph = new Graph();
  const inputs = Object.fromEntries(
    Object.entries(values).map(([name, v]) => [name, graph.input(name, { shape: v.shape, dtype: v.dtype })]),
  );
  return interpret([build(inputs)], values)[0];
}

function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance = 1e-12,
  what = 'values',
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const scale = Math.max(1, Math.abs(expected[i]));
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tolerance * scale,
      `${what}[${i}]: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  Array.from(a).reduce((s, v, i) => s + v * b[i], 0);

// ---------------------------------------------------------------------------------------------------
// Brute-force formulas, written from PyTorch's definitions independently of the kernels

/** PyTorch conv2d by its defining sum; padding as [top, bottom, left, right]. */
function naiveConv2d(
  x: NDArray,
  w: NDArray,
  b: NDArray | null,
  s: [number, number],
  p: [number, number, number, number],
  d: [number, number],
  groups: number,
): { shape: number[]; data: number[] } {
  const [N, C, H, W] = x.shape;
  const [M, Cg, KH, KW] = w.shape;
  const OH = Math.floor((H + p[0] + p[1] - d[0] * (KH - 1) - 1) / s[0]) + 1;
  const OW = Math.floor((W + p[2] + p[3] - d[1] * (KW - 1) - 1) / s[1]) + 1;
  const Mg = M / groups;
  const data: number[] = [];
  for (let n = 0; n < N; n++)
    for (let m = 0; m < M; m++)
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++) {
          let acc = b ? b.data[m] : 0;
          const g = Math.floor(m / Mg);
          for (let c = 0; c < Cg; c++)
            for (let kh = 0; kh < KH; kh++)
              for (let kw = 0; kw < KW; kw++) {
                const ih = oh * s[0] + kh * d[0] - p[0];
                const iw = ow * s[1] + kw * d[1] - p[2];
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                acc +=
                  x.data[((n * C + g * Cg + c) * H + ih) * W + iw] *
                  w.data[((m * Cg + c) * KH + kh) * KW + kw];
              }
          data.push(acc);
        }
  return { shape: [N, M, OH, OW], data };
}

/** PyTorch's bilinear upsampling (align_corners=False) by its per-pixel definition. */
function naiveBilinear(x: NDArray, f: number): number[] {
  const [N, C, H, W] = x.shape;
  const source = (i: number, size: number) => {
    const real = Math.max(0, (i + 0.5) / f - 0.5);
    const i0 = Math.floor(real);
    const i1 = i0 < size - 1 ? i0 + 1 : i0;
    return { i0, i1, l1: real - i0, l0: 1 - (real - i0) };
  };
  const out: number[] = [];
  for (let nc = 0; nc < N * C; nc++)
    for (let i = 0; i < H * f; i++)
      for (let j = 0; j < W * f; j++) {
        const h = source(i, H);
        const w = source(j, W);
        const at = (a: number, b: number) => x.data[(nc * H + a) * W + b];
        out.push(
          h.l0 * (w.l0 * at(h.i0, w.i0) + w.l1 * at(h.i0, w.i1)) +
            h.l1 * (w.l0 * at(h.i1, w.i0) + w.l1 * at(h.i1, w.i1)),
        );
      }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Reference kernels

describe('conv reference kernel', () => {
  it('gives known values for a 3×3 image and a 2×2 kernel', () => {
    const x = ndarray([1, 1, 3, 3], 'float32', [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const w = ndarray([1, 1, 2, 2], 'float32', [1, 0, 0, -1]);
    const b = ndarray([1], 'float32', [10]);
    // y[i, j] = x[i, j] − x[i+1, j+1] + 10 = 6 everywhere.
    assert.deepEqual([...evaluate({ x, w, b }, (t) => conv2d(t.x, t.w, t.b)).data], [6, 6, 6, 6]);
    // padding 1, stride 2: windows at rows/cols −1 and 1.
    const y = evaluate({ x, w }, (t) => conv2d(t.x, t.w, null, { padding: 1, stride: 2 }));
    assert.deepEqual(y.shape, [1, 1, 2, 2]);
    assert.deepEqual([...y.data], [-1, -3, -7, -9 + 5]);
  });

  const cases: { name: string; x: Shape; w: Shape; bias: boolean; options: ConvOptions }[] = [
    { name: '3×3, padding 1', x: [2, 3, 5, 5], w: [4, 3, 3, 3], bias: true, options: { padding: 1 } },
    {
      name: 'stride 2, odd size',
      x: [1, 2, 7, 6],
      w: [3, 2, 3, 3],
      bias: true,
      options: { stride: 2, padding: 1 },
    },
    {
      name: 'asymmetric padding',
      x: [1, 2, 4, 5],
      w: [2, 2, 3, 2],
      bias: false,
      options: { padding: { begin: [0, 2], end: [1, 0] } },
    },
    {
      name: 'dilation 2',
      x: [1, 2, 7, 7],
      w: [2, 2, 3, 3],
      bias: true,
      options: { dilation: 2, padding: 2 },
    },
    {
      name: 'groups 2',
      x: [2, 4, 5, 4],
      w: [6, 2, 3, 3],
      bias: true,
      options: { groups: 2, padding: [1, 0] },
    },
    {
      name: 'depthwise, stride (2, 1)',
      x: [1, 3, 6, 5],
      w: [3, 1, 2, 3],
      bias: false,
      options: { groups: 3, stride: [2, 1] },
    },
  ];
  for (const c of cases) {
    it(`matches the defining sum: ${c.name}`, () => {
      const x = randomArray(c.x, 1);
      const w = randomArray(c.w, 2);
      const b = c.bias ? randomArray([c.w[0]], 3) : null;
      const g = geometryFromOptions('conv2d', 2, c.options);
      const expected = naiveConv2d(
        x,
        w,
        b,
        [g.strides[0], g.strides[1]],
        [g.pads[0], g.pads[2], g.pads[1], g.pads[3]],
        [g.dilations[0], g.dilations[1]],
        g.groups,
      );
      const values: Record<string, NDArray> = b ? { x, w, b } : { x, w };
      const y = evaluate(values, (t) => conv2d(t.x, t.w, t.b ?? null, c.options));
      assert.deepEqual(y.shape, expected.shape);
      assertClose(y.data, expected.data);
    });
  }

  it('conv1d is conv2d over a height-1 image', () => {
    const x = randomArray([2, 4, 9], 4);
    const w = randomArray([6, 2, 3], 5);
    const options = { stride: 2, padding: { begin: [2], end: [1] }, dilation: 2, groups: 2 };
    const y1 = evaluate({ x, w }, (t) => conv1d(t.x, t.w, null, options));
    const x2 = { ...x, shape: [2, 4, 1, 9] };
    const w2 = { ...w, shape: [6, 2, 1, 3] };
    const y2 = evaluate({ x: x2, w: w2 }, (t) =>
      conv2d(t.x, t.w, null, {
        stride: [1, 2],
        padding: { begin: [0, 2], end: [0, 1] },
        dilation: [1, 2],
        groups: 2,
      }),
    );
    assert.deepEqual(y1.shape, [2, 6, 4]);
    assertClose(y1.data, y2.data);
  });

  it('transposed and filter-gradient kernels are the adjoints of conv (<conv(x, w), y> = <x, Cᵀy> = <w, F(x, y)>)', () => {
    const options: ConvOptions = {
      stride: [2, 1],
      padding: { begin: [1, 0], end: [0, 2] },
      dilation: [1, 2],
      groups: 2,
    };
    const geometry = geometryFromOptions('conv2d', 2, options);
    const x = randomArray([2, 4, 6, 5], 6);
    const w = randomArray([4, 2, 3, 2], 7);
    const yShape = evaluate({ x, w }, (t) => conv2d(t.x, t.w, null, options)).shape;
    const y = randomArray(yShape, 8);
    const convXW = evaluate({ x, w }, (t) => conv2d(t.x, t.w, null, options));
    const cT = evaluate({ y, w }, (t) => convTranspose(t.y, t.w, { ...geometry, outputSize: [6, 5] }));
    const fg = evaluate({ x, y }, (t) => convFilterGrad(t.x, t.y, { ...geometry, kernelSize: [3, 2] }));
    const lhs = dot(convXW.data, y.data);
    assertClose([dot(x.data, cT.data), dot(w.data, fg.data)], [lhs, lhs], 1e-12);
  });

  it('convTranspose2d gives known values and PyTorch output sizes', () => {
    // Stride 2, kernel 2×2 of ones: every input pixel becomes a 2×2 block.
    const x = ndarray([1, 1, 2, 2], 'float32', [1, 2, 3, 4]);
    const w = ndarray([1, 1, 2, 2], 'float32', [1, 1, 1, 1]);
    const y = evaluate({ x, w }, (t) => convTranspose2d(t.x, t.w, null, { stride: 2 }));
    assert.deepEqual([...y.data], [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    // PyTorch: (in − 1)·s − 2p + d(k − 1) + output_padding + 1 = 6·2 − 2 + 2 + 1 + 1 = 14.
    const x2 = randomArray([1, 3, 7, 5], 9);
    const w2 = randomArray([3, 2, 3, 3], 10);
    const y2 = evaluate({ x: x2, w: w2 }, (t) =>
      convTranspose2d(t.x, t.w, null, { stride: 2, padding: 1, outputPadding: 1 }),
    );
    assert.deepEqual(y2.shape, [1, 2, 14, 10]);
    const y1 = evaluate({ x: randomArray([1, 2, 5], 11), w: randomArray([2, 3, 4], 12) }, (t) =>
      convTranspose1d(t.x, t.w, null, { stride: 3 }),
    );
    assert.deepEqual(y1.shape, [1, 3, 16]);
  });
});

describe('avgPool reference kernel', () => {
  it('averages 2×2 blocks and counts padding as PyTorch does', () => {
    const x = ndarray([1, 1, 2, 4], 'float32', [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual([...evaluate({ x }, (t) => avgPool2d(t.x, 2)).data], [3.5, 5.5]);
    // kernel 3, stride 1, padding 1 on a 1-D signal [1, 2, 3]: edges see one zero.
    const s = ndarray([1, 1, 3], 'float32', [1, 2, 3]);
    assertClose(evaluate({ s }, (t) => avgPool1d(t.s, 3, { stride: 1, padding: 1 })).data, [1, 2, 5 / 3]);
    assertClose(
      evaluate({ s }, (t) => avgPool1d(t.s, 3, { stride: 1, padding: 1, countIncludePad: false })).data,
      [1.5, 2, 2.5],
    );
  });

  it('matches a brute-force window mean with stride, padding and odd sizes', () => {
    const x = randomArray([2, 3, 7, 6], 13);
    const y = evaluate({ x }, (t) => avgPool2d(t.x, [3, 2], { stride: [2, 3], padding: [1, 1] }));
    const [OH, OW] = [Math.floor((7 + 2 - 3) / 2) + 1, Math.floor((6 + 2 - 2) / 3) + 1];
    assert.deepEqual(y.shape, [2, 3, OH, OW]);
    const expected: number[] = [];
    for (let nc = 0; nc < 6; nc++)
      for (let i = 0; i < OH; i++)
        for (let j = 0; j < OW; j++) {
          let total = 0;
          for (let a = 0; a < 3; a++)
            for (let b = 0; b < 2; b++) {
              const [h, w] = [i * 2 + a - 1, j * 3 + b - 1];
              if (h >= 0 && h < 7 && w >= 0 && w < 6) total += x.data[(nc * 7 + h) * 6 + w];
            }
          expected.push(total / 6);
        }
    assertClose(y.data, expected);
  });
});

describe('upsample reference kernel', () => {
  it('nearest repeats each pixel in an f×f block', () => {
    const x = ndarray([1, 1, 2, 2], 'float32', [1, 2, 3, 4]);
    const y = evaluate({ x }, (t) => upsample(t.x, [2, 3]));
    assert.deepEqual([...y.data], [1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4]);
  });

  it('bilinear ×2 gives the values of F.interpolate(align_corners=False)', () => {
    const x = ndarray([1, 1, 2, 2], 'float32', [1, 2, 3, 4]);
    const y = evaluate({ x }, (t) => upsample(t.x, 2, 'linear'));
    // torch.nn.functional.interpolate(tensor([[[[1., 2.], [3., 4.]]]]), scale_factor=2, mode='bilinear')
    const torch = [1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4];
    assertClose(y.data, torch);
  });

  for (const f of [2, 3, 4]) {
    it(`bilinear ×${f} matches PyTorch's per-pixel definition on odd sizes`, () => {
      const x = randomArray([2, 2, 3, 5], 14 + f);
      assertClose(evaluate({ x }, (t) => upsample(t.x, f, 'linear')).data, naiveBilinear(x, f));
    });
  }

  it('linear on a 1-D signal equals bilinear on a height-1 image', () => {
    const x = randomArray([1, 2, 5], 20);
    const y1 = evaluate({ x }, (t) => upsample(t.x, 3, 'linear'));
    assertClose(
      y1.data,
      naiveBilinear({ ...x, shape: [1, 2, 1, 5] }, 3).filter((_, i) => Math.floor(i / 15) % 3 === 0),
    );
  });
});

describe('softmax reference kernel', () => {
  it('is stable for large logits and sums to one along the axis', () => {
    const x = ndarray([2, 3], 'float32', [1000, 1001, 1002, -5, 0, 5]);
    const y = evaluate({ x }, (t) => softmax(t.x));
    const e = [Math.exp(-2), Math.exp(-1), 1];
    const z = e[0] + e[1] + e[2];
    assertClose(
      y.data.slice(0, 3),
      e.map((v) => v / z),
    );
    const ls = evaluate({ x }, (t) => logSoftmax(t.x));
    assertClose(
      ls.data.slice(0, 3),
      e.map((v) => Math.log(v / z)),
    );
    const col = evaluate({ x }, (t) => softmax(t.x, 0));
    assertClose([col.data[0] + col.data[3], col.data[1] + col.data[4]], [1, 1]);
    assert.ok(col.data[3] === 0 || col.data[3] < 1e-300);
  });
});

describe('norm reference kernels', () => {
  it('groupNorm matches torch.nn.GroupNorm by its definition', () => {
    const x = randomArray([2, 6, 3, 2], 21);
    const weight = randomArray([6], 22);
    const bias = randomArray([6], 23);
    const y = evaluate({ x, weight, bias }, (t) =>
      groupNorm(t.x, 3, { weight: t.weight, bias: t.bias, eps: 1e-3 }),
    );
    const expected = new Array<number>(72);
    for (let n = 0; n < 2; n++)
      for (let g = 0; g < 3; g++) {
        const idx = Array.from({ length: 12 }, (_, i) => n * 36 + g * 12 + i);
        const mu = idx.reduce((s, i) => s + x.data[i], 0) / 12;
        const variance = idx.reduce((s, i) => s + (x.data[i] - mu) ** 2, 0) / 12;
        for (const i of idx) {
          const c = Math.floor(i / 6) % 6;
          expected[i] = ((x.data[i] - mu) / Math.sqrt(variance + 1e-3)) * weight.data[c] + bias.data[c];
        }
      }
    assertClose(y.data, expected);
  });

  it('layerNorm matches torch.nn.LayerNorm over the trailing axes', () => {
    const x = randomArray([3, 2, 4], 24);
    const weight = randomArray([2, 4], 25);
    const bias = randomArray([2, 4], 26);
    const y = evaluate({ x, weight, bias }, (t) =>
      layerNorm(t.x, { normalizedRank: 2, weight: t.weight, bias: t.bias }),
    );
    const expected: number[] = [];
    for (let r = 0; r < 3; r++) {
      const row = Array.from(x.data.slice(r * 8, r * 8 + 8));
      const mu = row.reduce((a, b) => a + b) / 8;
      const variance = row.reduce((a, b) => a + (b - mu) ** 2, 0) / 8;
      row.forEach((v, i) =>
        expected.push(((v - mu) / Math.sqrt(variance + 1e-5)) * weight.data[i] + bias.data[i]),
      );
    }
    assertClose(y.data, expected);
  });
});

describe('attention reference kernel', () => {
  it('matches softmax(QKᵀ/√d + mask)V with a causal flag', () => {
    const [B, H, S, D] = [1, 2, 3, 4];
    const q = randomArray([B, H, S, D], 27);
    const k = randomArray([B, H, S, D], 28);
    const v = randomArray([B, H, S, 2], 29);
    const mask = randomArray([S, S], 30);
    const y = evaluate({ q, k, v, mask }, (t) => attention(t.q, t.k, t.v, { mask: t.mask, causal: true }));
    const expected: number[] = [];
    for (let h = 0; h < H; h++)
      for (let i = 0; i < S; i++) {
        const scores = Array.from({ length: i + 1 }, (_, j) => {
          let s = 0;
          for (let d = 0; d < D; d++) s += q.data[(h * S + i) * D + d] * k.data[(h * S + j) * D + d];
          return s / Math.sqrt(D) + mask.data[i * S + j];
        });
        const e = scores.map(Math.exp);
        const z = e.reduce((a, b) => a + b);
        for (let d = 0; d < 2; d++)
          expected.push(e.reduce((acc, p, j) => acc + (p / z) * v.data[(h * S + j) * 2 + d], 0));
      }
    assertClose(y.data, expected);
  });
});

describe('nn shape errors', () => {
  const graph = new Graph();
  const x = graph.input('x', { shape: [2, 4, 8, 8], dtype: 'float32' });
  const throwsShape = (f: () => unknown, ...parts: string[]) =>
    assert.throws(f, (e: unknown) => e instanceof ShapeError && parts.every((p) => e.message.includes(p)));

  it('name the op and the shapes', () => {
    const w = graph.input('w', { shape: [3, 3, 3, 3], dtype: 'float32' });
    throwsShape(() => conv2d(x, w), "op 'conv'", '[2, 4, 8, 8]', '[3, 3, 3, 3]');
    const big = graph.input('big', { shape: [3, 4, 9, 9], dtype: 'float32' });
    throwsShape(() => conv2d(x, big), "op 'conv'", 'does not fit');
    throwsShape(() => conv1d(x, w), "op 'conv1d'", '[2, 4, 8, 8]');
    throwsShape(() => groupNorm(x, 3), "op 'groupNorm'", '4 channels', '[2, 4, 8, 8]');
    const q = graph.input('q', { shape: [2, 1, 5, 8], dtype: 'float32' });
    const k = graph.input('k', { shape: [2, 1, 6, 4], dtype: 'float32' });
    throwsShape(() => attention(q, k, k), "op 'attention'", '[2, 1, 5, 8]', '[2, 1, 6, 4]');
    throwsShape(() => upsample(q.graph.input('v', { shape: [5], dtype: 'float32' })), "op 'upsample'", '[5]');
  });

  it('reject bad options with a usage error', () => {
    const w = graph.input('w2', { shape: [4, 4, 3, 3], dtype: 'float32' });
    assert.throws(() => conv2d(x, w, null, { stride: 0 }), UsageError);
    assert.throws(() => avgPool2d(x, 2, { padding: 2 }), UsageError);
    assert.throws(() => upsample(x, 1.5), UsageError);
  });
});

// ---------------------------------------------------------------------------------------------------
// ONNX lowering vs reference, and VJP vs finite differences (with the gradient graph's own lowering)

interface OpCase {
  readonly name: string;
  readonly inputs: Record<string, Shape>;
  readonly fn: (t: Record<string, Tensor>) => Tensor | Tensor[];
}

function arrays(shapes: Record<string, Shape>, seed: number): Record<string, NDArray> {
  return Object.fromEntries(
    Object.entries(shapes).map(([name, shape], i) => [name, randomArray(shape, seed + i)]),
  );
}

/** Runs both checks on every case: onnxruntime vs reference (≤ 1e-5) and VJP vs finite differences (≤ 1e-6). */
function checkCases(title: string, cases: readonly OpCase[]): void {
  describe(title, () => {
    cases.forEach((c, i) => {
      it(`${c.name}: ONNX matches the reference`, async () => {
        await checkOpOnnx(c.fn, arrays(c.inputs, 100 * i));
      });
      it(`${c.name}: VJP matches finite differences`, async () => {
        await checkVjp(c.fn, arrays(c.inputs, 100 * i + 50), 1e-6, { onnxTol: 1e-5 });
      });
    });
  });
}

const geometry2d = (options: ConvOptions) => geometryFromOptions('conv2d', 2, options);

checkCases('conv', [
  {
    name: '3×3 padding 1 with bias',
    inputs: { x: [2, 3, 5, 5], w: [4, 3, 3, 3], b: [4] },
    fn: (t) => conv2d(t.x, t.w, t.b, { padding: 1 }),
  },
  {
    name: 'stride 2, odd size',
    inputs: { x: [2, 2, 7, 6], w: [3, 2, 3, 3], b: [3] },
    fn: (t) => conv2d(t.x, t.w, t.b, { stride: 2, padding: 1 }),
  },
  {
    name: 'asymmetric padding, dilation 2',
    inputs: { x: [1, 2, 6, 7], w: [2, 2, 3, 2] },
    fn: (t) => conv2d(t.x, t.w, null, { dilation: 2, padding: { begin: [2, 0], end: [0, 3] } }),
  },
  {
    name: 'groups 2, stride (2, 3)',
    inputs: { x: [2, 4, 7, 8], w: [6, 2, 3, 3], b: [6] },
    fn: (t) => conv2d(t.x, t.w, t.b, { groups: 2, stride: [2, 3], padding: 1 }),
  },
  {
    name: 'depthwise 1×1',
    inputs: { x: [2, 3, 4, 5], w: [3, 1, 1, 1] },
    fn: (t) => conv2d(t.x, t.w, null, { groups: 3 }),
  },
  {
    name: 'conv1d stride 2 dilation 2 groups 2',
    inputs: { x: [2, 4, 11], w: [2, 2, 3], b: [2] },
    fn: (t) => conv1d(t.x, t.w, t.b, { stride: 2, dilation: 2, groups: 2, padding: 1 }),
  },
]);

checkCases('convTranspose (input gradient) and convFilterGrad (filter gradient) as ops', [
  {
    name: 'convTranspose, unit stride, groups 2 (flipped Conv lowering)',
    inputs: { y: [2, 4, 5, 4], w: [4, 3, 3, 2], b: [6] },
    fn: (t) =>
      convTranspose(
        t.y,
        t.w,
        { ...geometry2d({ groups: 2, padding: { begin: [1, 0], end: [1, 1] } }), outputSize: [5, 4] },
        t.b,
      ),
  },
  {
    name: 'convTranspose, padding wider than the kernel (ConvTranspose lowering)',
    inputs: { y: [1, 2, 8, 3], w: [2, 2, 3, 1] },
    fn: (t) => convTranspose(t.y, t.w, { ...geometry2d({ padding: [3, 1] }), outputSize: [4, 1] }),
  },
  {
    name: 'convTranspose, stride 2 with an unreached last row',
    inputs: { y: [2, 4, 3, 3], w: [4, 1, 3, 3] },
    fn: (t) =>
      convTranspose(t.y, t.w, { ...geometry2d({ stride: 2, padding: 1, groups: 2 }), outputSize: [6, 5] }),
  },
  {
    name: 'convTranspose2d (PyTorch semantics)',
    inputs: { x: [1, 3, 3, 2], w: [3, 2, 3, 3], b: [2] },
    fn: (t) => convTranspose2d(t.x, t.w, t.b, { stride: 2, padding: 1, outputPadding: 1 }),
  },
  {
    name: 'convFilterGrad, stride (2, 1), dilation 2, groups 2',
    inputs: { x: [2, 4, 7, 6], gy: [2, 6, 4, 6] },
    fn: (t) =>
      convFilterGrad(t.x, t.gy, {
        ...geometry2d({ stride: [2, 1], dilation: 2, groups: 2, padding: 1 }),
        kernelSize: [2, 2],
      }),
  },
  {
    name: 'convFilterGrad, 1-D asymmetric padding',
    inputs: { x: [3, 2, 9], gy: [3, 4, 5] },
    fn: (t) =>
      convFilterGrad(t.x, t.gy, {
        ...geometryFromOptions('conv1d', 1, { stride: 2, padding: { begin: [2], end: [0] } }),
        kernelSize: [3],
      }),
  },
]);

checkCases('avgPool', [
  { name: '2×2 tiling windows', inputs: { x: [2, 3, 4, 6] }, fn: (t) => avgPool2d(t.x, 2) },
  {
    name: 'tiling windows that stop short (5 → 2)',
    inputs: { x: [1, 2, 5, 7] },
    fn: (t) => avgPool2d(t.x, [2, 3]),
  },
  {
    name: '3×3 stride 2 padding 1',
    inputs: { x: [2, 2, 7, 6] },
    fn: (t) => avgPool2d(t.x, 3, { stride: 2, padding: 1 }),
  },
  {
    name: 'padding excluded from the divisor',
    inputs: { x: [1, 3, 6, 5] },
    fn: (t) => avgPool2d(t.x, [3, 2], { stride: [1, 2], padding: [1, 1], countIncludePad: false }),
  },
  { name: '1-D kernel 3 stride 2', inputs: { x: [2, 3, 10] }, fn: (t) => avgPool1d(t.x, 3, { stride: 2 }) },
]);

checkCases('upsample', [
  { name: 'nearest ×2', inputs: { x: [2, 3, 3, 4] }, fn: (t) => upsample(t.x, 2) },
  { name: 'nearest ×(3, 2)', inputs: { x: [1, 2, 3, 5] }, fn: (t) => upsample(t.x, [3, 2]) },
  { name: 'nearest 1-D ×2', inputs: { x: [2, 3, 7] }, fn: (t) => upsample(t.x, 2) },
  {
    name: 'bilinear ×2 (MatMul lowering)',
    inputs: { x: [2, 2, 3, 5] },
    fn: (t) => upsample(t.x, 2, 'linear'),
  },
  { name: 'bilinear ×(3, 4)', inputs: { x: [1, 2, 4, 3] }, fn: (t) => upsample(t.x, [3, 4], 'linear') },
  {
    name: 'bilinear ×2 on a tall image (Resize lowering)',
    inputs: { x: [1, 1, 50, 2] },
    fn: (t) => upsample(t.x, 2, 'linear'),
  },
  { name: 'linear 1-D ×3', inputs: { x: [2, 2, 5] }, fn: (t) => upsample(t.x, 3, 'linear') },
]);

checkCases('softmax', [
  { name: 'softmax, last axis', inputs: { x: [3, 5] }, fn: (t) => softmax(t.x) },
  { name: 'softmax, middle axis', inputs: { x: [2, 4, 3] }, fn: (t) => softmax(t.x, 1) },
  { name: 'logSoftmax, first axis', inputs: { x: [4, 3] }, fn: (t) => logSoftmax(t.x, 0) },
  { name: 'logSoftmax, last axis', inputs: { x: [2, 3, 6] }, fn: (t) => logSoftmax(t.x) },
]);

checkCases('norms', [
  {
    name: 'groupNorm with affine, all three outputs',
    inputs: { x: [2, 6, 3, 2], w: [6], b: [6] },
    fn: (t) => t.x.graph.apply(groupNormOp, [t.x, t.w, t.b], { groups: 3, eps: 1e-5 }),
  },
  {
    name: 'groupNorm without affine, 1-D, eps 0.1',
    inputs: { x: [3, 4, 5] },
    fn: (t) => groupNorm(t.x, 2, { eps: 0.1 }),
  },
  {
    name: 'groupNorm, one channel per group',
    inputs: { x: [2, 4, 3, 3], w: [4], b: [4] },
    fn: (t) => groupNorm(t.x, 4, { weight: t.w, bias: t.b }),
  },
  {
    name: 'layerNorm over two axes, all three outputs',
    inputs: { x: [3, 2, 4], w: [2, 4], b: [2, 4] },
    fn: (t) => t.x.graph.apply(layerNormOp, [t.x, t.w, t.b], { axis: 1, eps: 1e-5 }),
  },
  { name: 'layerNorm, last axis, no affine', inputs: { x: [2, 3, 5] }, fn: (t) => layerNorm(t.x) },
  {
    name: 'layerNorm with affine',
    inputs: { x: [4, 6], w: [6], b: [6] },
    fn: (t) => layerNorm(t.x, { weight: t.w, bias: t.b, eps: 1e-6 }),
  },
]);

checkCases('attention', [
  {
    name: 'self-attention [batch, heads, seq, dim]',
    inputs: { q: [2, 2, 4, 3], k: [2, 2, 4, 3], v: [2, 2, 4, 3] },
    fn: (t) => attention(t.q, t.k, t.v),
  },
  {
    name: 'cross-attention with a broadcast mask',
    inputs: { q: [1, 2, 3, 4], k: [1, 2, 5, 4], v: [1, 2, 5, 2], m: [1, 1, 3, 5] },
    fn: (t) => attention(t.q, t.k, t.v, { mask: t.m, scale: 0.7 }),
  },
  {
    name: 'causal',
    inputs: { q: [2, 1, 5, 3], k: [2, 1, 5, 3], v: [2, 1, 5, 4] },
    fn: (t) => attention(t.q, t.k, t.v, { causal: true }),
  },
  {
    name: 'both outputs (probabilities too), mask and causal',
    inputs: { q: [1, 2, 4, 2], k: [1, 2, 4, 2], v: [1, 2, 4, 3], m: [4, 4] },
    fn: (t) => t.q.graph.apply(attentionOp, [t.q, t.k, t.v, t.m], { scale: 0.5, causal: true }),
  },
]);

describe('second-order gradients (the VJPs are differentiable)', () => {
  /** The input cotangent of `f` at x for cotangent ct: a function whose own VJP is second order. */
  const pullback = (f: (x: Tensor) => Tensor) => (t: Record<string, Tensor>) => {
    const y = f(t.x);
    return backward([y], [t.ct], [t.x])[0]!;
  };
  const cases: {
    name: string;
    x: Shape;
    ct: Shape;
    f: (x: Tensor, t: Record<string, Tensor>) => Tensor;
    extra?: Record<string, Shape>;
  }[] = [
    {
      name: 'conv',
      x: [1, 2, 5, 4],
      ct: [1, 3, 3, 2],
      f: (x, t) => conv2d(x, t.w, null, { stride: 2, padding: 1 }),
      extra: { w: [3, 2, 3, 3] },
    },
    {
      name: 'groupNorm',
      x: [2, 4, 3],
      ct: [2, 4, 3],
      f: (x, t) => groupNorm(x, 2, { weight: t.w, bias: t.b }),
      extra: { w: [4], b: [4] },
    },
    { name: 'layerNorm', x: [3, 4], ct: [3, 4], f: (x) => layerNorm(x) },
    { name: 'softmax', x: [2, 5], ct: [2, 5], f: (x) => softmax(x) },
    {
      name: 'attention',
      x: [1, 1, 3, 2],
      ct: [1, 1, 3, 2],
      f: (x, t) => attention(x, t.k, x, { mask: t.m }),
      extra: { k: [1, 1, 3, 2], m: [3, 3] },
    },
    { name: 'bilinear upsample', x: [1, 1, 2, 3], ct: [1, 1, 4, 6], f: (x) => upsample(x, 2, 'linear') },
    {
      name: 'avgPool',
      x: [1, 1, 5, 4],
      ct: [1, 1, 3, 2],
      f: (x) => avgPool2d(x, 3, { stride: 2, padding: 1 }),
    },
  ];
  for (const c of cases) {
    it(`${c.name}: the pullback's VJP matches finite differences`, async () => {
      const inputs = arrays({ x: c.x, ct: c.ct, ...c.extra }, 900);
      const fn = (t: Record<string, Tensor>) => pullback((x) => c.f(x, t))(t);
      await checkVjp(fn, inputs, 1e-6, { onnxTol: 1e-5 });
    });
  }
});

const everyOp: OpCase[] = [
  {
    name: 'conv',
    inputs: { x: [1, 4, 5, 6], w: [2, 2, 3, 3], b: [2] },
    fn: (t) => conv2d(t.x, t.w, t.b, { groups: 2, stride: 2, padding: 1 }),
  },
  {
    name: 'conv gradients',
    inputs: { x: [1, 2, 5, 6], w: [3, 2, 3, 3], g: [1, 3, 5, 6] },
    fn: (t) => backward([conv2d(t.x, t.w, null, { padding: 1 })], [t.g], [t.x, t.w]) as Tensor[],
  },
  { name: 'avgPool', inputs: { x: [1, 2, 5, 5] }, fn: (t) => avgPool2d(t.x, 3, { stride: 2, padding: 1 }) },
  {
    name: 'upsample (both linear lowerings)',
    inputs: { x: [1, 2, 3, 4], tall: [1, 1, 50, 2] },
    fn: (t) => [upsample(t.x, 2), upsample(t.x, 3, 'linear'), upsample(t.tall, 2, 'linear')],
  },
  { name: 'softmax', inputs: { x: [2, 5] }, fn: (t) => [softmax(t.x), logSoftmax(t.x)] },
  {
    name: 'norms',
    inputs: { x: [2, 4, 3], w: [4], b: [4] },
    fn: (t) => [groupNorm(t.x, 2, { weight: t.w, bias: t.b }), layerNorm(t.x)],
  },
  {
    name: 'attention',
    inputs: { q: [1, 2, 3, 4], k: [1, 2, 3, 4], v: [1, 2, 3, 4] },
    fn: (t) => attention(t.q, t.k, t.v, { causal: true }),
  },
];

const runtimes: [string, () => Runtime][] = [
  ['onnxruntime-node at the newest supported opset (23)', () => new OrtNodeRuntime({ opset: 23 })],
  ['onnxruntime-web (WebAssembly), as in the browser', () => new OrtWebRuntime()],
];
for (const [title, makeRuntime] of runtimes) {
  describe(`lowerings on ${title}`, () => {
    const runtime = makeRuntime();
    everyOp.forEach((c, i) => {
      it(`${c.name}: ONNX matches the reference`, async () => {
        await checkOpOnnx(c.fn, arrays(c.inputs, 700 + 10 * i), 1e-5, { runtime });
      });
    });
  });
}
