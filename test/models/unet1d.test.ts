// UNet1DModel: config validation (divisibility of the length, group count), UNet2DModel-style parameter
// names, output shapes through onnxruntime, class conditioning, a clear error for odd lengths, and
// gradients that reach every parameter and match finite differences on a tiny network.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Tensor } from '../../src/engine/index.js';
import { interpret, mul, ndarray, OrtNodeRuntime, sum, trace, valueAndGrad } from '../../src/engine/index.js';
import { UNet1DModel, unet1dConfig } from '../../src/models/unet1d.js';
import { ConfigError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';
import { checkVjp, randomArray } from '../engine/check.js';

const f32 = (shape: number[]) => ({ shape, dtype: 'float32' as const });
const i64 = (shape: number[]) => ({ shape, dtype: 'int64' as const });
const tiny = { block_out_channels: [4, 8], norm_num_groups: 2, sample_size: 8 };

describe('UNet1DModel config', () => {
  it('has small defaults and validates at the boundary', () => {
    const config = unet1dConfig();
    assert.equal(config._class_name, 'UNet1DModel');
    assert.deepEqual(config.block_out_channels, [32, 64, 64]);
    assert.throws(
      () => unet1dConfig({ sample_size: 30 }),
      (e: Error) => e instanceof ConfigError && /divisible by 4/.test(e.message),
    );
    assert.throws(
      () => unet1dConfig({ block_out_channels: [6, 12], norm_num_groups: 4 }),
      /does not divide block width 6/,
    );
    assert.throws(() => unet1dConfig({ layers_per_block: 0 }), /layers_per_block/);
  });
});

describe('UNet1DModel parameters', () => {
  it('follow UNet2DModel names with length-3 convolutions', () => {
    const types = new UNet1DModel({
      ...tiny,
      in_channels: 2,
      out_channels: 3,
      num_class_embeds: 4,
    }).paramTypes();
    assert.deepEqual(types['conv_in.weight'].shape, [4, 2, 3]);
    assert.deepEqual(types['time_embedding.linear_1.weight'].shape, [16, 4]);
    assert.deepEqual(types['class_embedding.weight'].shape, [4, 16]);
    assert.deepEqual(types['down_blocks.0.resnets.0.conv1.weight'].shape, [4, 4, 3]);
    assert.deepEqual(types['down_blocks.0.downsamplers.0.conv.weight'].shape, [4, 4, 3]);
    assert.deepEqual(types['down_blocks.1.resnets.0.conv_shortcut.weight'].shape, [8, 4, 1]);
    assert.deepEqual(types['mid_block.resnets.1.time_emb_proj.weight'].shape, [8, 16]);
    // Up level 0 (width 8): resnet 0 sees 8 + 8 skip channels, resnet 1 sees 8 + 4 (the downsampler's).
    assert.deepEqual(types['up_blocks.0.resnets.0.conv1.weight'].shape, [8, 16, 3]);
    assert.deepEqual(types['up_blocks.0.resnets.1.conv1.weight'].shape, [8, 12, 3]);
    assert.deepEqual(types['up_blocks.0.upsamplers.0.conv.weight'].shape, [8, 8, 3]);
    assert.deepEqual(types['up_blocks.1.resnets.0.conv1.weight'].shape, [4, 12, 3]);
    assert.ok(!('up_blocks.1.upsamplers.0.conv.weight' in types));
    assert.deepEqual(types['conv_out.weight'].shape, [3, 4, 3]);
    assert.deepEqual(types['conv_norm_out.weight'].shape, [4]);
  });

  it('initialises deterministically (GroupNorm ones/zeros)', () => {
    const net = new UNet1DModel(tiny);
    const a = net.init(new Random(3));
    const b = net.init(new Random(3));
    for (const name of Object.keys(a)) assert.deepEqual(a[name].data, b[name].data, name);
    assert.ok((a['conv_norm_out.weight'].data as Float32Array).every((v) => v === 1));
    assert.ok((a['mid_block.resnets.0.norm2.bias'].data as Float32Array).every((v) => v === 0));
  });
});

describe('UNet1DModel forward', () => {
  it('maps [batch, C, L] to [batch, C_out, L] for the config length and other multiples of 2', async () => {
    const net = new UNet1DModel({ ...tiny, out_channels: 2, num_class_embeds: 3 });
    const params = net.init(new Random(0));
    const compiled = new OrtNodeRuntime().compile(
      (x: { params: Record<string, Tensor>; sample: Tensor; timestep: Tensor; classLabels: Tensor }) =>
        net.apply(x.params, x),
      { params: net.paramTypes(), sample: f32([2, 1, 8]), timestep: f32([2]), classLabels: i64([2]) },
    );
    try {
      const rng = new Random(1);
      const sample = Float32Array.from({ length: 16 }, () => rng.normal());
      const twice = Float32Array.from([...sample.slice(0, 8), ...sample.slice(0, 8)]);
      const run = async (x: Float32Array, labels: bigint[], length = 8) =>
        (await compiled.run({
          params,
          sample: { data: x, shape: [2, 1, length], dtype: 'float32' },
          timestep: Float32Array.from([5, 5]),
          classLabels: BigInt64Array.from(labels),
        } as never)) as unknown as { data: Float32Array; shape: number[] };
      const out = await run(sample, [0n, 1n]);
      assert.deepEqual(out.shape, [2, 2, 8]);
      assert.ok(out.data.every(Number.isFinite));
      const sameInput = await run(twice, [0n, 2n]);
      const diff = sameInput.data
        .slice(0, 16)
        .reduce((s, v, i) => s + Math.abs(v - sameInput.data[16 + i]), 0);
      assert.ok(diff > 1e-3, `class labels change the output (L1 difference ${diff})`);
      const longer = await run(new Float32Array(2 * 12), [0n, 0n], 12);
      assert.deepEqual(longer.shape, [2, 2, 12]);
    } finally {
      await compiled.dispose();
    }
  });

  it('rejects a signal length the downsamplings cannot halve, naming the fix', () => {
    const net = new UNet1DModel({ block_out_channels: [4, 8, 8], norm_num_groups: 2, sample_size: 8 });
    assert.throws(
      () =>
        trace(
          (x) => net.apply(x.params as Record<string, Tensor>, x as { sample: Tensor; timestep: Tensor }),
          {
            params: net.paramTypes(),
            sample: f32([1, 1, 10]),
            timestep: f32([1]),
          },
        ),
      (e: Error) =>
        e instanceof ConfigError &&
        /signal length 10 is not divisible by 4/.test(e.message) &&
        /pad or crop/.test(e.hint ?? ''),
    );
  });
});

describe('UNet1DModel gradients', () => {
  it('reach every parameter and match finite differences on a tiny network', async () => {
    // One group: with one channel per group a GroupNorm would cancel the preceding conv bias exactly.
    const net = new UNet1DModel({ block_out_channels: [2, 4], norm_num_groups: 1, sample_size: 4 });
    const init = net.init(new Random(9));
    const given: Record<string, ReturnType<typeof ndarray>> = {};
    for (const [name, p] of Object.entries(init))
      given[`p.${name}`] = ndarray(p.shape, 'float32', Array.from(p.data as Float32Array));
    given.sample = randomArray([2, 1, 4], 2);
    given.timestep = ndarray([2], 'float32', [10, 700]);
    const worst = await checkVjp(
      (x) => {
        const params = Object.fromEntries(Object.keys(init).map((k) => [k, x[`p.${k}`]]));
        return net.apply(params, { sample: x.sample, timestep: x.timestep });
      },
      given,
      1e-5,
      { maxElementwise: 8 },
    );
    assert.ok(worst < 1e-5);
    // Every parameter gets a nonzero gradient of Σ output² (no block is disconnected).
    const traced = trace(
      (x) =>
        valueAndGrad((p: Record<string, Tensor>) => {
          const out = net.apply(p, { sample: x.sample as Tensor, timestep: x.timestep as Tensor });
          return sum(mul(out, out));
        })(x.params as Record<string, Tensor>),
      { params: net.paramTypes(), sample: f32([2, 1, 4]), timestep: f32([2]) },
    );
    const names = Object.keys(init);
    const grads = (traced.outputs as unknown as { grad: Record<string, Tensor> }).grad;
    const feeds = Object.fromEntries([
      ...names.map((k) => [`params.${k}`, given[`p.${k}`]]),
      ['sample', given.sample],
      ['timestep', given.timestep],
    ]);
    const values = interpret(
      names.map((k) => grads[k]),
      feeds,
    );
    names.forEach((name, i) => {
      const norm = values[i].data.reduce((s, v) => s + v * v, 0);
      assert.ok(norm > 0, `gradient of ${name} is zero`);
    });
  });
});
