// UNet3DModel (factorised space–time U-Net): config validation, parameter names, output shape, the
// temporal layers' mixing of frames (and its absence in the per-frame ablation), and gradients that
// match finite differences on a tiny network.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Tensor } from '../../src/engine/index.js';
import { interpret, ndarray, trace } from '../../src/engine/index.js';
import { UNet3DModel, unet3dConfig } from '../../src/models/unet3d.js';
import type { Params } from '../../src/models/types.js';
import { buildNetwork } from '../../src/models/registry.js';
import { ConfigError, ShapeError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';
import { checkVjp, randomArray } from '../engine/check.js';

const f32 = (shape: number[]) => ({ shape, dtype: 'float32' as const });
const tiny = { block_out_channels: [4, 8], norm_num_groups: 2, sample_size: 4, num_frames: 3 };

/** The network's output for one input (host arrays), through the reference interpreter. */
function forward(net: UNet3DModel, params: Params, sample: Float32Array) {
  const [c, f, h, w] = net.sampleShape;
  const traced = trace(
    (x) => net.apply(x.params as Record<string, Tensor>, { sample: x.sample as Tensor, timestep: x.timestep as Tensor }),
    { params: net.paramTypes(), sample: f32([1, c, f, h, w]), timestep: f32([1]) },
  );
  const feeds: Record<string, ReturnType<typeof ndarray>> = {
    sample: ndarray([1, c, f, h, w], 'float32', Array.from(sample)),
    timestep: ndarray([1], 'float32', [300]),
  };
  for (const [name, p] of Object.entries(params))
    feeds[`params.${name}`] = ndarray([...p.shape], 'float32', Array.from(p.data as Float32Array));
  return interpret([traced.outputs as unknown as Tensor], feeds)[0];
}

/** Largest |a − b| over frame `frame` of two [1, 1, F, H, W] outputs. */
function frameChange(a: { data: ArrayLike<number> }, b: { data: ArrayLike<number> }, frame: number, pixels: number) {
  let worst = 0;
  for (let i = frame * pixels; i < (frame + 1) * pixels; i++) worst = Math.max(worst, Math.abs(a.data[i] - b.data[i]));
  return worst;
}

describe('UNet3DModel config and parameters', () => {
  it('validates at the boundary and is built by the registry', () => {
    assert.deepEqual(unet3dConfig().block_out_channels, [32, 64, 64]);
    assert.throws(() => unet3dConfig({ sample_size: 30 }), (e: Error) => e instanceof ConfigError && /divisible by 4/.test(e.message));
    assert.throws(() => unet3dConfig({ temporal_kernel_size: 2 }), /must be odd/);
    const net = buildNetwork({ _class_name: 'UNet3DModel', ...tiny });
    assert.deepEqual(net.sampleShape, [1, 3, 4, 4]);
  });

  it('has per-frame 2-D convs and temporal 1-D convs after each resnet', () => {
    const types = new UNet3DModel(tiny).paramTypes();
    assert.deepEqual(types['conv_in.weight'].shape, [4, 1, 3, 3]);
    assert.deepEqual(types['down_blocks.0.resnets.0.conv1.weight'].shape, [4, 4, 3, 3]);
    assert.deepEqual(types['down_blocks.0.temp_convs.0.conv.weight'].shape, [4, 4, 3]);
    assert.deepEqual(types['mid_block.temp_convs.0.conv.weight'].shape, [8, 8, 3]);
    assert.deepEqual(types['up_blocks.1.temp_convs.1.conv.weight'].shape, [4, 4, 3]);
    const perFrame = new UNet3DModel({ ...tiny, temporal_layers: false }).paramTypes();
    assert.ok(!Object.keys(perFrame).some((k) => k.includes('temp_convs')));
  });
});

describe('UNet3DModel forward', () => {
  const pixels = 16;
  const base = Float32Array.from(randomArray([1, 1, 3, 4, 4], 5).data as ArrayLike<number>);
  const changed = Float32Array.from(base);
  for (let i = 0; i < pixels; i++) changed[i] += 1; // frame 0 only

  it('mixes frames: changing frame 0 changes frame 1 and 2 of the output', () => {
    const net = new UNet3DModel(tiny);
    const params = net.init(new Random(1));
    const a = forward(net, params, base);
    const b = forward(net, params, changed);
    assert.deepEqual(a.shape, [1, 1, 3, 4, 4]);
    assert.ok(frameChange(a, b, 1, pixels) > 1e-3, `frame 1 moved by ${frameChange(a, b, 1, pixels)}`);
    assert.ok(frameChange(a, b, 2, pixels) > 1e-4, 'two temporal layers reach two frames away');
  });

  it('without temporal layers each frame is denoised alone', () => {
    const net = new UNet3DModel({ ...tiny, temporal_layers: false });
    const params = net.init(new Random(1));
    const a = forward(net, params, base);
    const b = forward(net, params, changed);
    assert.ok(frameChange(a, b, 0, pixels) > 1e-3);
    assert.equal(frameChange(a, b, 1, pixels), 0);
    assert.equal(frameChange(a, b, 2, pixels), 0);
  });

  it('rejects a sample of the wrong frame count, naming the expected shape', () => {
    const net = new UNet3DModel(tiny);
    assert.throws(
      () =>
        trace((x) => net.apply(x.params as Record<string, Tensor>, x as { sample: Tensor; timestep: Tensor }), {
          params: net.paramTypes(),
          sample: f32([1, 1, 4, 4, 4]),
          timestep: f32([1]),
        }),
      (e: Error) => e instanceof ShapeError && /\[batch, 1, 3, 4, 4\]/.test(e.message),
    );
  });
});

describe('UNet3DModel gradients', () => {
  it('match finite differences on a tiny network', async () => {
    const net = new UNet3DModel({ block_out_channels: [2, 4], norm_num_groups: 1, sample_size: 2, num_frames: 2 });
    const init = net.init(new Random(9));
    const given: Record<string, ReturnType<typeof ndarray>> = {};
    for (const [name, p] of Object.entries(init))
      given[`p.${name}`] = ndarray([...p.shape], 'float32', Array.from(p.data as Float32Array));
    given.sample = randomArray([1, 1, 2, 2, 2], 2);
    given.timestep = ndarray([1], 'float32', [400]);
    const worst = await checkVjp(
      (x) => {
        const params = Object.fromEntries(Object.keys(init).map((k) => [k, x[`p.${k}`]]));
        return net.apply(params, { sample: x.sample, timestep: x.timestep });
      },
      given,
      1e-5,
      { maxElementwise: 8 },
    );
    assert.ok(worst < 1e-5, `worst relative error ${worst}`);
  });
});
