// UNet2DModel parity with diffusers: the reference folder holds a small UNet2DModel's config and
// weights, an input, its output (and every block's intermediate output), and the training-mode
// gradients of mean((output − target)²) for most parameters, all written by diffusers with PyTorch.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Tensor } from '../../src/engine/index.js';
import type { TensorTree } from '../../src/engine/index.js';
import {
  OrtNodeRuntime,
  adamw,
  hostZeros,
  mse,
  trainStep,
  trainStepTypes,
  valueAndGrad,
} from '../../src/engine/index.js';
import type { SafetensorsFile } from '../../src/io/safetensors.js';
import { readSafetensorsFile } from '../../src/io/safetensors.js';
import { UNet2DModel } from '../../src/models/unet2d.js';
import { buildNetwork } from '../../src/models/registry.js';
import { loadWeights, paramsFromSafetensors, saveWeights, weightsToBytes } from '../../src/models/weights.js';
import type { ParamTensors, Params } from '../../src/models/types.js';
import { countParams } from '../../src/nn/params.js';
import { modernAttentionName } from '../../src/nn/attention.js';
import { ConfigError, FormatError, NotFoundError, ShapeError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const folder = fileURLToPath(new URL('../../../shared/reference/unet_small/', import.meta.url));
const config = JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8')) as Record<string, unknown>;
const io = readSafetensorsFile(join(folder, 'io.safetensors'));
const f32 = (shape: number[]) => ({ shape, dtype: 'float32' as const });

function floats(file: SafetensorsFile, name: string): Float32Array {
  const tensor = file.tensors.get(name);
  assert.ok(tensor, `reference tensor '${name}' missing`);
  return tensor.data instanceof Float32Array
    ? tensor.data
    : Float32Array.from(tensor.data as ArrayLike<number | bigint>, Number);
}

/** max |a − b| / max |b|: the error relative to the reference's scale. */
function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  assert.equal(actual.length, expected.length);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    err = Math.max(err, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return err / scale;
}

function loadReference(): { net: UNet2DModel; params: Params } {
  const net = new UNet2DModel(config);
  return { net, params: loadWeights(join(folder, 'diffusion_pytorch_model.safetensors'), net.paramTypes()) };
}

describe('UNet2DModel vs diffusers (unet_small)', () => {
  it('has 702,499 parameters in 144 tensors', () => {
    const types = new UNet2DModel(config).paramTypes();
    assert.equal(countParams(types), 702_499);
    assert.equal(Object.keys(types).length, 144);
  });

  it('forward output matches within 1e-4 relative', async (t) => {
    const { net, params } = loadReference();
    const fn = (inputs: { params: ParamTensors; sample: Tensor; timestep: Tensor }) =>
      net.apply(inputs.params, { sample: inputs.sample, timestep: inputs.timestep });
    const compiled = new OrtNodeRuntime().compile(
      fn as never,
      {
        params: net.paramTypes(),
        sample: f32([2, 3, 16, 16]),
        timestep: f32([2]),
      } as never,
    );
    const out = (await compiled.run({
      params,
      sample: floats(io, 'sample'),
      timestep: floats(io, 'timesteps'),
    } as never)) as { data: Float32Array };
    await compiled.dispose();
    const err = relativeError(out.data, floats(io, 'output'));
    t.diagnostic(`output relative error ${err.toExponential(2)}`);
    assert.ok(err < 1e-4, `relative error ${err}`);
  });

  it('training gradients of the MSE loss match within 1e-4 relative', async (t) => {
    const { net, params } = loadReference();
    const grads = readSafetensorsFile(join(folder, 'grad.safetensors'));
    const target = floats(grads, 'target');
    const lossAndGrad = (inputs: {
      params: ParamTensors;
      sample: Tensor;
      timestep: Tensor;
      target: Tensor;
    }) =>
      valueAndGrad((p: ParamTensors) =>
        mse(net.apply(p, { sample: inputs.sample, timestep: inputs.timestep }), inputs.target),
      )(inputs.params);
    const compiled = new OrtNodeRuntime().compile(
      lossAndGrad as never,
      {
        params: net.paramTypes(),
        sample: f32([2, 3, 16, 16]),
        timestep: f32([2]),
        target: f32([2, 3, 16, 16]),
      } as never,
    );
    const out = (await compiled.run({
      params,
      sample: floats(io, 'sample'),
      timestep: floats(io, 'timesteps'),
      target,
    } as never)) as unknown as {
      value: { data: Float32Array };
      grad: Record<string, { data: Float32Array }>;
    };
    await compiled.dispose();
    assert.ok(Math.abs(out.value.data[0] - floats(grads, 'loss')[0]) < 1e-5, `loss ${out.value.data[0]}`);
    const names = [...grads.tensors.keys()].filter((n) => n.startsWith('grad/')).map((n) => n.slice(5));
    assert.ok(names.length > 100, `${names.length} gradients stored`);
    let worst = { name: '', err: 0 };
    for (const name of names.filter((n) => !n.endsWith('to_k.bias'))) {
      const err = relativeError(out.grad[name].data, floats(grads, `grad/${name}`));
      if (err > worst.err) worst = { name, err };
    }
    t.diagnostic(
      `${names.length} gradients, worst relative error ${worst.err.toExponential(2)} (${worst.name})`,
    );
    assert.ok(worst.err < 1e-4, `gradient of '${worst.name}': relative error ${worst.err}`);
    // A key bias shifts every score of a query equally, which softmax ignores: its exact gradient is 0
    // and both sides hold only rounding noise, so compare it on the scale of the whole gradient.
    for (const name of names.filter((n) => n.endsWith('to_k.bias'))) {
      const diff = out.grad[name].data.reduce(
        (m, v, i) => Math.max(m, Math.abs(v - floats(grads, `grad/${name}`)[i])),
        0,
      );
      assert.ok(diff < 1e-6, `${name}: ${diff}`);
    }
  });

  it('one compiled AdamW train step matches torch.optim.AdamW', async () => {
    const { net, params } = loadReference();
    const grads = readSafetensorsFile(join(folder, 'grad.safetensors'));
    const optimizer = adamw({ beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 });
    const types = net.paramTypes();
    const batchTypes = { sample: f32([2, 3, 16, 16]), timestep: f32([2]), target: f32([2, 3, 16, 16]) };
    const step = trainStep({
      loss: (p: TensorTree, batch: { sample: Tensor; timestep: Tensor; target: Tensor }) =>
        mse(net.apply(p as ParamTensors, batch), batch.target),
      optimizer,
    });
    const compiled = new OrtNodeRuntime().compile(
      step as never,
      trainStepTypes(types, batchTypes, optimizer, false) as never,
    );
    const batch = {
      sample: floats(io, 'sample'),
      timestep: floats(io, 'timesteps'),
      target: floats(grads, 'target'),
    };
    const out = (await compiled.run({
      params,
      opt: hostZeros(optimizer.stateTypes(types)),
      batch,
      step: 1,
      lr: 1e-3,
    } as never)) as unknown as { params: Record<string, { data: Float32Array }> };
    await compiled.dispose();
    const names = [...grads.tensors.keys()]
      .filter((n) => n.startsWith('adamw_step1/'))
      .map((n) => n.slice(12));
    assert.ok(names.length >= 5);
    for (const name of names) {
      const err = relativeError(out.params[name].data, floats(grads, `adamw_step1/${name}`));
      assert.ok(err < 1e-4, `${name}: relative error ${err}`);
    }
  });
});

describe('UNet2DModel init and config', () => {
  it('initialises with PyTorch default schemes', () => {
    const net = new UNet2DModel(config);
    const params = net.init(new Random(1));
    const stats = (name: string) => {
      const d = params[name].data as Float32Array;
      const m = d.reduce((a, b) => a + b, 0) / d.length;
      const sd = Math.sqrt(d.reduce((a, b) => a + (b - m) ** 2, 0) / d.length);
      const bound = d.reduce((a, b) => Math.max(a, Math.abs(b)), 0);
      return { m, sd, bound };
    };
    // conv1 of the second level: 64 in × 3 × 3, U(±1/√576): std = bound/√3.
    const conv = stats('down_blocks.1.resnets.0.conv2.weight');
    const convBound = 1 / Math.sqrt(64 * 9);
    assert.ok(conv.bound <= convBound && conv.bound > 0.99 * convBound, `bound ${conv.bound}`);
    assert.ok(Math.abs(conv.sd / (convBound / Math.sqrt(3)) - 1) < 0.02, `std ${conv.sd}`);
    const lin = stats('time_embedding.linear_2.weight');
    assert.ok(Math.abs(lin.sd / (1 / Math.sqrt(128) / Math.sqrt(3)) - 1) < 0.02, `linear std ${lin.sd}`);
    const bias = stats('conv_in.bias');
    assert.ok(bias.bound <= 1 / Math.sqrt(27), `conv_in bias bound ${bias.bound}`);
    assert.deepEqual([...(params['conv_norm_out.weight'].data as Float32Array)], new Array(32).fill(1));
    assert.deepEqual(
      [...(params['mid_block.attentions.0.group_norm.bias'].data as Float32Array)],
      new Array(64).fill(0),
    );
    // Same seed, same weights.
    assert.deepEqual(net.init(new Random(1))['conv_out.weight'].data, params['conv_out.weight'].data);
  });

  it('embeddings initialise N(0, 1)', () => {
    const net = new UNet2DModel({ ...config, num_class_embeds: 10 });
    const d = net.init(new Random(2))['class_embedding.weight'].data as Float32Array;
    assert.equal(d.length, 10 * 128);
    const sd = Math.sqrt(d.reduce((a, b) => a + b * b, 0) / d.length);
    assert.ok(Math.abs(sd - 1) < 0.06, `std ${sd}`);
    assert.equal(net.numClassEmbeds, 10);
  });

  it("matches the DDPM CIFAR-10 network's 35,746,307 parameters (google/ddpm-cifar10-32)", () => {
    // Ho et al. (2020) report 35.7M parameters; diffusers' conversion of their checkpoint has this config.
    const cifar = new UNet2DModel({
      sample_size: 32,
      block_out_channels: [128, 256, 256, 256],
      down_block_types: ['DownBlock2D', 'AttnDownBlock2D', 'DownBlock2D', 'DownBlock2D'],
      up_block_types: ['UpBlock2D', 'UpBlock2D', 'AttnUpBlock2D', 'UpBlock2D'],
      attention_head_dim: null,
      downsample_padding: 0,
      flip_sin_to_cos: false,
      freq_shift: 1,
      norm_eps: 1e-6,
    });
    assert.equal(countParams(cifar.paramTypes()), 35_746_307);
  });

  it('builds and runs the other options: scale_shift, Fourier and learned time, resnet resampling, classes', async () => {
    const variant = {
      ...config,
      sample_size: 8,
      down_block_types: ['AttnDownBlock2D', 'AttnDownBlock2D'],
      resnet_time_scale_shift: 'scale_shift',
      time_embedding_type: 'fourier',
      downsample_type: 'resnet',
      upsample_type: 'resnet',
      num_class_embeds: 4,
      center_input_sample: true,
    };
    const net = new UNet2DModel(variant);
    const types = net.paramTypes();
    assert.deepEqual(types['time_proj.weight'].shape, [32]);
    assert.deepEqual(types['time_embedding.linear_1.weight'].shape, [128, 64]);
    assert.deepEqual(types['down_blocks.1.resnets.0.time_emb_proj.weight'].shape, [128, 128]);
    assert.ok(
      'down_blocks.0.downsamplers.0.conv1.weight' in types,
      'a resnet downsampler of the attention level',
    );
    assert.ok('up_blocks.0.upsamplers.0.conv1.weight' in types, 'a resnet upsampler of the attention level');
    // diffusers gives the mid-block attention no group norm under 'scale_shift'.
    assert.ok(!('mid_block.attentions.0.group_norm.weight' in types));
    assert.ok('down_blocks.1.attentions.0.group_norm.weight' in types);
    const fn = (x: { params: ParamTensors; sample: Tensor; timestep: Tensor; labels: Tensor }) =>
      net.apply(x.params, { sample: x.sample, timestep: x.timestep, classLabels: x.labels });
    const compiled = new OrtNodeRuntime().compile(
      fn as never,
      {
        params: types,
        sample: f32([2, 3, 8, 8]),
        timestep: f32([2]),
        labels: { shape: [2], dtype: 'int64' },
      } as never,
    );
    const params = net.init(new Random(4));
    const sample = new Random(5).normals(2 * 3 * 64);
    const run = async (labels: bigint[]) =>
      (
        (await compiled.run({
          params,
          sample,
          timestep: new Float32Array([0.5, 0.5]),
          labels: BigInt64Array.from(labels),
        } as never)) as unknown as { data: Float32Array }
      ).data;
    const a = await run([0n, 1n]);
    const b = await run([0n, 2n]);
    await compiled.dispose();
    assert.ok(a.every(Number.isFinite));
    // Batch item 0 has the same label in both runs, item 1 does not.
    assert.deepEqual(a.slice(0, 192), b.slice(0, 192));
    assert.ok(a.slice(192).some((v, i) => Math.abs(v - b[192 + i]) > 1e-6));
    const learned = new UNet2DModel({
      ...config,
      time_embedding_type: 'learned',
      num_train_timesteps: 50,
      add_attention: false,
    });
    assert.deepEqual(learned.paramTypes()['time_proj.weight'].shape, [50, 32]);
    assert.ok(!Object.keys(learned.paramTypes()).some((n) => n.startsWith('mid_block.attentions')));
  });

  it('rejects an unknown block type naming it and the supported ones', () => {
    assert.throws(
      () => new UNet2DModel({ ...config, down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D'] }),
      (e: unknown) =>
        e instanceof ConfigError &&
        /CrossAttnDownBlock2D/.test(e.message) &&
        /AttnDownBlock2D/.test(e.hint ?? '') &&
        /down_block_types\[1\]/.test(e.message),
    );
    assert.throws(() => new UNet2DModel({ ...config, block_out_channels: [32] }), ConfigError);
    assert.throws(() => buildNetwork({ ...config, _class_name: 'UNetSpatioTemporalConditionModel' }), NotFoundError);
    assert.ok(buildNetwork(config) instanceof UNet2DModel);
  });

  it('names the block where a sample size breaks the skip connections', () => {
    const net = new UNet2DModel(config);
    const fn = (inputs: { params: ParamTensors; sample: Tensor; timestep: Tensor }) =>
      net.apply(inputs.params, { sample: inputs.sample, timestep: inputs.timestep });
    assert.throws(
      () =>
        new OrtNodeRuntime().compile(
          fn as never,
          {
            params: net.paramTypes(),
            sample: f32([1, 3, 15, 15]),
            timestep: f32([1]),
          } as never,
        ).outputTypes,
      (e: unknown) => e instanceof ShapeError && /up_blocks\.1: skip connection/.test(e.message),
    );
  });
});

describe('diffusers weights', () => {
  it('save → load round trip is bit-exact', () => {
    const net = new UNet2DModel(config);
    const params = net.init(new Random(7));
    const dir = mkdtempSync(join(tmpdir(), 'unet-weights-'));
    try {
      const path = join(dir, 'diffusion_pytorch_model.safetensors');
      saveWeights(path, params);
      const loaded = loadWeights(path, net.paramTypes());
      assert.deepEqual(Object.keys(loaded).sort(), Object.keys(params).sort());
      for (const name of Object.keys(params)) {
        assert.deepEqual(
          new Uint32Array((loaded[name].data as Float32Array).buffer.slice(0)).length,
          params[name].data.length,
        );
        assert.ok(
          Buffer.from(
            (loaded[name].data as Float32Array).buffer,
            (loaded[name].data as Float32Array).byteOffset,
            loaded[name].data.byteLength,
          ).equals(
            Buffer.from(
              (params[name].data as Float32Array).buffer,
              (params[name].data as Float32Array).byteOffset,
              params[name].data.byteLength,
            ),
          ),
          name,
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a missing or mis-shaped tensor by name and maps legacy attention names', () => {
    const net = new UNet2DModel(config);
    const types = net.paramTypes();
    const params = net.init(new Random(3));
    const file = readSafetensorsFile(join(folder, 'diffusion_pytorch_model.safetensors'));
    const without = new Map(file.tensors);
    without.delete('conv_out.bias');
    assert.throws(
      () => paramsFromSafetensors({ tensors: without, metadata: {} }, types),
      (e: unknown) =>
        e instanceof FormatError && /conv_out\.bias/.test(e.message) && /missing/.test(e.message),
    );
    const misshaped = new Map(file.tensors);
    misshaped.set('conv_in.bias', { dtype: 'F32', shape: [16], data: new Float32Array(16) });
    assert.throws(
      () => paramsFromSafetensors({ tensors: misshaped, metadata: {} }, types),
      (e: unknown) => e instanceof FormatError && /conv_in\.bias/.test(e.message) && /\[16\]/.test(e.message),
    );
    const legacy = new Map(file.tensors);
    for (const [from, to] of [
      ['query', 'to_q'],
      ['proj_attn', 'to_out.0'],
    ]) {
      for (const kind of ['weight', 'bias']) {
        const tensor = legacy.get(`mid_block.attentions.0.${to}.${kind}`);
        assert.ok(tensor);
        legacy.delete(`mid_block.attentions.0.${to}.${kind}`);
        legacy.set(`mid_block.attentions.0.${from}.${kind}`, tensor);
      }
    }
    const loaded = paramsFromSafetensors({ tensors: legacy, metadata: {} }, types);
    assert.equal(
      loaded['mid_block.attentions.0.to_out.0.weight'].data,
      file.tensors.get('mid_block.attentions.0.to_out.0.weight')?.data,
    );
    assert.equal(
      modernAttentionName('up_blocks.0.attentions.1.key.bias'),
      'up_blocks.0.attentions.1.to_k.bias',
    );
    assert.ok(weightsToBytes(params).length > 4 * countParams(types));
  });
});
