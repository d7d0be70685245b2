// SuperResolutionUNet2DModel: config validation, shapes, the conditioning's plumbing into the inner U-Net,
// noise-conditioning augmentation at the stated level (statistics), and the float resampling it uses.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReferenceRuntime } from '../../src/engine/index.js';
import { areaDownsample, upsample } from '../../src/io/tensor-resize.js';
import { buildNetwork } from '../../src/models/registry.js';
import { SuperResolutionUNet2DModel } from '../../src/models/super-resolution.js';
import { ConfigError, ShapeError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const tiny = { sample_size: 8, low_res_size: 4, block_out_channels: [8], down_block_types: ['DownBlock2D'], up_block_types: ['UpBlock2D'], norm_num_groups: 4 };

const meanStd = (xs: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < xs.length; i++) m += xs[i] / xs.length;
  let v = 0;
  for (let i = 0; i < xs.length; i++) v += (xs[i] - m) ** 2 / xs.length;
  return { mean: m, std: Math.sqrt(v) };
};

describe('SuperResolutionUNet2DModel', () => {
  it('is built from its config by the registry, with 2C + 1 input channels inside', () => {
    const net = buildNetwork({ _class_name: 'SuperResolutionUNet2DModel', ...tiny, in_channels: 3, out_channels: 3 });
    assert.ok(net instanceof SuperResolutionUNet2DModel);
    assert.deepEqual(net.sampleShape, [3, 8, 8]);
    assert.deepEqual(net.conditioningInput?.shape, [4, 8, 8]);
    assert.deepEqual(net.paramTypes()['conv_in.weight'].shape, [8, 7, 3, 3]);
    assert.equal(net.factor, 2);
  });

  it('refuses a low_res_size that does not divide sample_size, and mismatched channels', () => {
    assert.throws(() => new SuperResolutionUNet2DModel({ ...tiny, low_res_size: 3 }), ConfigError);
    assert.throws(() => new SuperResolutionUNet2DModel({ ...tiny, low_res_size: 8 }), ConfigError);
    assert.throws(() => new SuperResolutionUNet2DModel({ ...tiny, out_channels: 2 }), ConfigError);
  });

  it('feeds the conditioning to the U-Net: output changes with it and is the shape of the sample', async () => {
    const net = new SuperResolutionUNet2DModel(tiny);
    const params = net.init(new Random(1));
    const runtime = new ReferenceRuntime();
    const fn = (i: { params: never; sample: never; timestep: never; conditioning: never }) => net.apply(i.params, i);
    const compiled = runtime.compile(fn as never, {
      params: net.paramTypes(),
      sample: { shape: [2, 1, 8, 8], dtype: 'float32' },
      timestep: { shape: [2], dtype: 'float32' },
      conditioning: { shape: [2, 2, 8, 8], dtype: 'float32' },
    } as never);
    const random = new Random(2);
    const sample = { data: random.normals(128), shape: [2, 1, 8, 8], dtype: 'float32' };
    const timestep = { data: new Float32Array([10, 500]), shape: [2], dtype: 'float32' };
    const cond = (fill: number) => ({ data: new Float32Array(256).fill(fill), shape: [2, 2, 8, 8], dtype: 'float32' });
    const a = (await compiled.run({ params, sample, timestep, conditioning: cond(0) } as never)) as unknown as { data: Float32Array; shape: number[] };
    const b = (await compiled.run({ params, sample, timestep, conditioning: cond(0.5) } as never)) as unknown as { data: Float32Array };
    assert.deepEqual([...a.shape], [2, 1, 8, 8]);
    const diff = a.data.reduce((s, v, i) => s + Math.abs(v - b.data[i]), 0);
    assert.ok(diff > 1e-3, `conditioning had no effect (${diff})`);
  });

  it('rejects a conditioning of the wrong shape', () => {
    const net = new SuperResolutionUNet2DModel(tiny);
    const runtime = new ReferenceRuntime();
    const fn = (i: { params: never; sample: never; timestep: never; conditioning: never }) => net.apply(i.params, i);
    assert.throws(
      () =>
        runtime.compile(fn as never, {
          params: net.paramTypes(),
          sample: { shape: [2, 1, 8, 8], dtype: 'float32' },
          timestep: { shape: [2], dtype: 'float32' },
          conditioning: { shape: [2, 1, 8, 8], dtype: 'float32' },
        } as never),
      ShapeError,
    );
  });

  it('augments the condition at the stated level: z = √(1 − s²)·u + s·ε, level channel = s', () => {
    const net = new SuperResolutionUNet2DModel({ ...tiny, sample_size: 64, low_res_size: 32 });
    const n = 8;
    const low = new Float32Array(n * 32 * 32).fill(0.6);
    const s = 0.3;
    const cond = net.conditioningFor(low, n, s, new Random(3));
    const values: number[] = [];
    for (let b = 0; b < n; b++) {
      values.push(...cond.subarray(b * 2 * 4096, b * 2 * 4096 + 4096));
      const level = cond.subarray(b * 2 * 4096 + 4096, (b + 1) * 2 * 4096);
      assert.ok(level.every((v) => Math.abs(v - s) < 1e-7));
    }
    const { mean, std } = meanStd(values);
    // 32,768 draws: mean within ~6 standard errors (0.3/181 each) of √(1 − 0.09)·0.6 = 0.5724.
    assert.ok(Math.abs(mean - Math.sqrt(1 - s * s) * 0.6) < 0.01, `mean ${mean}`);
    assert.ok(Math.abs(std - s) < 0.01, `std ${std}`);
    const clean = net.conditioningFor(low, n, 0, new Random(3));
    assert.ok(clean.subarray(0, 4096).every((v) => Math.abs(v - 0.6) < 1e-6));
  });

  it('training draws levels uniformly in [0, max_aug_level] from pooled clean images', () => {
    const net = new SuperResolutionUNet2DModel({ ...tiny, max_aug_level: 0.4 });
    const n = 2000;
    const clean = new Float32Array(n * 64).fill(-1);
    const cond = net.conditioningInput.fromClean(clean, n, new Random(4));
    const levels = Array.from({ length: n }, (_, b) => cond[b * 128 + 64]);
    assert.ok(levels.every((v) => v >= 0 && v <= 0.4));
    const { mean, std } = meanStd(levels);
    assert.ok(Math.abs(mean - 0.2) < 0.01, `mean level ${mean}`);
    assert.ok(Math.abs(std - 0.4 / Math.sqrt(12)) < 0.01, `level std ${std}`);
    assert.throws(() => net.conditioningInput.fromClean(clean.subarray(1), n, new Random(4)), ShapeError);
  });
});

describe('tensor resampling', () => {
  const shape = { batch: 1, channels: 1, height: 4, width: 4 };
  it('area pooling averages each block', () => {
    const x = Float32Array.from({ length: 16 }, (_, i) => i);
    assert.deepEqual([...areaDownsample(x, shape, 2)], [2.5, 4.5, 10.5, 12.5]);
    assert.throws(() => areaDownsample(x, shape, 3), ShapeError);
  });
  it('bilinear and bicubic keep constants and match PyTorch on a ramp', () => {
    const constant = new Float32Array(16).fill(0.25);
    for (const filter of ['bilinear', 'bicubic'] as const)
      assert.ok(upsample(constant, shape, 8, 8, filter).every((v) => Math.abs(v - 0.25) < 1e-6));
    const ramp = new Float32Array([0, 1, 2, 3]);
    const row = { batch: 1, channels: 1, height: 1, width: 4 };
    // torch.nn.functional.interpolate(ramp[None,None,None], size=(1, 8), mode=…, align_corners=False)
    const bilinear = [...upsample(ramp, row, 1, 8, 'bilinear')];
    assert.deepEqual(bilinear.map((v) => +v.toFixed(4)), [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3]);
    const bicubic = [...upsample(ramp, row, 1, 8, 'bicubic')];
    // Keys' weights at a = −0.75: W(0.25) = 0.87891, W(0.75) = 0.26172, W(1.25) = −0.10547,
    // W(1.75) = −0.03516 (a = −0.75 bends lines; only a = −0.5 keeps them). At x = 1.25 the taps are
    // [0, 1, 2, 3]: 0.87891 + 2·0.26172 − 3·0.03516 = 1.29688; at x₀ = −0.25 they read [0, 0, 0, 1]
    // (indices clamped, PyTorch's upsample_bicubic2d), giving W(1.25).
    assert.deepEqual(bicubic.slice(3, 5).map((v) => +v.toFixed(4)), [1.2969, 1.7031]);
    assert.ok(Math.abs(bicubic[0] + 0.10547) < 1e-4, `${bicubic[0]}`);
    assert.ok(Math.abs(bicubic[7] - 3.10547) < 1e-4, `${bicubic[7]}`);
  });
});

describe('mnist-7 / mnist-14 (cascade stage data)', () => {
  it('pools the 28×28 digits by block means, keeping labels', async () => {
    const { mnistLowResDataset } = await import('../../src/data/mnist-lowres.js');
    const { mnistDataset } = await import('../../src/data/mnist.js');
    const full = mnistDataset({ split: 'test' });
    const low = mnistLowResDataset(7, { split: 'test' });
    assert.deepEqual(low.shape, [1, 7, 7]);
    assert.equal(low.size, full.size);
    assert.deepEqual(low.labels, full.labels);
    let sum = 0;
    for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) sum += full.pixels[(12 + y) * 28 + 12 + x];
    assert.equal(low.pixels[3 * 7 + 3], Math.round(sum / 16));
    assert.throws(() => mnistLowResDataset(14, { imageSize: 28 }), /imageSize/);
  });
});
