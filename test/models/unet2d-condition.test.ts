// UNet2DConditionModel: parity with a pure-PyTorch re-implementation of diffusers' code on two tiny
// configs (test/fixtures/unet2d-condition-tiny/, written by scripts/unet2d-condition-fixture.py, weights
// stored as float16), ControlNet residuals, runtime agreement, finite-difference gradients, weight-file
// checks and config validation.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HostTensor, Tensor } from '../../src/engine/index.js';
import { OrtNodeRuntime, ReferenceRuntime, mean, mul, valueAndGrad } from '../../src/engine/index.js';
import type { SafetensorsFile } from '../../src/io/safetensors.js';
import { readSafetensorsFile } from '../../src/io/safetensors.js';
import { loadPipeline, savePipeline } from '../../src/models/pipeline-folder.js';
import { buildNetwork } from '../../src/models/registry.js';
import type { Params, ParamTensors } from '../../src/models/types.js';
import { UNet2DConditionModel } from '../../src/models/unet2d-condition.js';
import { loadWeights, saveWeights } from '../../src/models/weights.js';
import { countParams } from '../../src/nn/params.js';
import { schedulerConfig } from '../../src/diffusion/scheduler-config.js';
import { ConfigError, FormatError, ShapeError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const fixtures = fileURLToPath(new URL('../fixtures/unet2d-condition-tiny/', import.meta.url));
const f32 = (shape: number[]) => ({ shape, dtype: 'float32' as const });

interface Case {
  net: UNet2DConditionModel;
  params: Params;
  io: SafetensorsFile;
}

function loadCase(name: 'a' | 'b' | 'c'): Case {
  const dir = join(fixtures, name);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as unknown;
  const net = new UNet2DConditionModel(config);
  return {
    net,
    params: loadWeights(join(dir, 'diffusion_pytorch_model.safetensors'), net.paramTypes()),
    io: readSafetensorsFile(join(dir, 'io.safetensors')),
  };
}

function floats(file: SafetensorsFile, name: string): Float32Array {
  const tensor = file.tensors.get(name);
  assert.ok(tensor, `fixture tensor '${name}' missing`);
  return tensor.data as Float32Array;
}

/** max |a − b| / max |b|. */
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

interface Feeds {
  sample: Float32Array;
  timestep: Float32Array;
  context: Float32Array;
  labels?: BigInt64Array;
  classEmbeds?: Float32Array;
  control?: { down: Float32Array[]; mid: Float32Array };
}

function fixtureFeeds(c: Case, control = false): Feeds {
  const labels = c.io.tensors.get('class_labels')?.data as BigInt64Array | undefined;
  const classEmbeds = c.io.tensors.get('class_embeds')?.data as Float32Array | undefined;
  const downNames = [...c.io.tensors.keys()].filter((n) => n.startsWith('control_down.'));
  return {
    sample: floats(c.io, 'sample'),
    timestep: floats(c.io, 'timesteps'),
    context: floats(c.io, 'encoder_hidden_states'),
    ...(labels ? { labels } : {}),
    ...(classEmbeds ? { classEmbeds } : {}),
    ...(control
      ? {
          control: {
            down: downNames.map((_, i) => floats(c.io, `control_down.${i}`)),
            mid: floats(c.io, 'control_mid'),
          },
        }
      : {}),
  };
}

/** The network's output for host feeds on one runtime (batch 2, 8×8, 5 context tokens). */
async function forward(
  c: Case,
  feeds: Feeds,
  runtime: 'ort' | 'reference' = 'ort',
  params: Params = c.params,
): Promise<Float32Array> {
  const { net } = c;
  const controlShapes = feeds.control
    ? { down: fixtureControlShapes(c), mid: c.io.tensors.get('control_mid')!.shape }
    : null;
  const types = {
    params: net.paramTypes(),
    sample: f32([2, ...net.sampleShape]),
    timestep: f32([2]),
    context: f32([2, feeds.context.length / 2 / net.crossAttentionDim, net.crossAttentionDim]),
    ...(feeds.labels ? { labels: { shape: [2], dtype: 'int64' as const } } : {}),
    ...(feeds.classEmbeds ? { classEmbeds: f32([2, feeds.classEmbeds.length / 2]) } : {}),
    ...(controlShapes
      ? { control: { down: controlShapes.down.map((s) => f32(s)), mid: f32(controlShapes.mid) } }
      : {}),
  };
  const fn = (x: {
    params: ParamTensors;
    sample: Tensor;
    timestep: Tensor;
    context: Tensor;
    labels?: Tensor;
    classEmbeds?: Tensor;
    control?: { down: Tensor[]; mid: Tensor };
  }) =>
    net.apply(x.params, {
      sample: x.sample,
      timestep: x.timestep,
      encoderHiddenStates: x.context,
      ...(x.labels ? { classLabels: x.labels } : {}),
      ...(x.classEmbeds ? { classEmbeds: x.classEmbeds } : {}),
      ...(x.control ? { controlResiduals: x.control } : {}),
    });
  const compiled = (runtime === 'ort' ? new OrtNodeRuntime() : new ReferenceRuntime()).compile(
    fn as never,
    types as never,
  );
  try {
    const out = (await compiled.run({ params, ...feeds } as never)) as unknown as HostTensor;
    return out.data as Float32Array;
  } finally {
    await compiled.dispose();
  }
}

function fixtureControlShapes(c: Case): number[][] {
  return [...c.io.tensors.keys()]
    .filter((n) => n.startsWith('control_down.'))
    .map((_, i) => c.io.tensors.get(`control_down.${i}`)!.shape);
}

describe('UNet2DConditionModel vs a PyTorch re-implementation of diffusers (tiny configs)', () => {
  it('case a (conv projections, class embedding): forward matches within 1e-4', async (t) => {
    const c = loadCase('a');
    assert.equal(countParams(c.net.paramTypes()), 51_460);
    const err = relativeError(await forward(c, fixtureFeeds(c)), floats(c.io, 'output'));
    t.diagnostic(`relative error ${err.toExponential(2)}`);
    assert.ok(err < 1e-4, `relative error ${err}`);
  });

  it('case a with ControlNet residuals on the skips and the mid block matches within 1e-4', async () => {
    const c = loadCase('a');
    const out = await forward(c, fixtureFeeds(c, true));
    assert.ok(relativeError(out, floats(c.io, 'output_control')) < 1e-4);
    assert.ok(relativeError(out, floats(c.io, 'output')) > 1e-2, 'residuals change the output');
  });

  it('case b (linear projections, per-block lists, 2 transformer layers, only_cross_attention): matches within 1e-4', async (t) => {
    const c = loadCase('b');
    assert.equal(countParams(c.net.paramTypes()), 33_364);
    const err = relativeError(await forward(c, fixtureFeeds(c)), floats(c.io, 'output'));
    t.diagnostic(`relative error ${err.toExponential(2)}`);
    assert.ok(err < 1e-4, `relative error ${err}`);
  });

  it("case c (class_embed_type 'projection': a float vector through an MLP into the time embedding): matches within 1e-4", async (t) => {
    const c = loadCase('c');
    assert.equal(countParams(c.net.paramTypes()), 52_499);
    assert.equal(c.net.classEmbedsWidth, 6);
    const feeds = fixtureFeeds(c);
    const out = await forward(c, feeds);
    const err = relativeError(out, floats(c.io, 'output'));
    t.diagnostic(`relative error ${err.toExponential(2)}`);
    assert.ok(err < 1e-4, `relative error ${err}`);
    const swapped = await forward(c, { ...feeds, classEmbeds: feeds.classEmbeds!.map((v) => -v) });
    assert.ok(relativeError(swapped, out) > 1e-2, 'the class vector moves the output');
  });

  it("class_embed_type 'identity' adds the vector as is: a zero vector equals no class embedding", async () => {
    const c = loadCase('c');
    const { class_embed_type: _t, projection_class_embeddings_input_dim: _d, ...plain } = c.net.config;
    const bare: Case = { ...c, net: new UNet2DConditionModel({ ...plain }) };
    const identity: Case = { ...c, net: new UNet2DConditionModel({ ...plain, class_embed_type: 'identity' }) };
    const params = Object.fromEntries(Object.entries(c.params).filter(([name]) => !name.startsWith('class_embedding.')));
    assert.equal(identity.net.classEmbedsWidth, 32);
    assert.equal(bare.net.classEmbedsWidth, null);
    const { classEmbeds: _v, ...feeds } = fixtureFeeds(c);
    const expected = await forward(bare, feeds, 'ort', params);
    const zero = await forward(identity, { ...feeds, classEmbeds: new Float32Array(64) }, 'ort', params);
    assert.ok(relativeError(zero, expected) < 1e-6);
    const one = await forward(identity, { ...feeds, classEmbeds: new Float32Array(64).fill(0.5) }, 'ort', params);
    assert.ok(relativeError(one, expected) > 1e-2);
  });

  it('onnxruntime and the reference runtime agree', async () => {
    const c = loadCase('b');
    const feeds = fixtureFeeds(c);
    const err = relativeError(await forward(c, feeds, 'reference'), await forward(c, feeds, 'ort'));
    assert.ok(err < 1e-5, `relative error ${err}`);
  });

  it('the encoder hidden states matter', async () => {
    const c = loadCase('a');
    const feeds = fixtureFeeds(c);
    const base = await forward(c, feeds);
    const other = await forward(c, { ...feeds, context: feeds.context.map((v) => -v) });
    assert.ok(relativeError(other, base) > 1e-2, `changed context moved the output by ${relativeError(other, base)}`);
  });
});

describe('UNet2DConditionModel gradients', () => {
  it('match central finite differences along random directions', async (t) => {
    const net = new UNet2DConditionModel({
      sample_size: 4,
      block_out_channels: [8, 8],
      layers_per_block: 1,
      cross_attention_dim: 4,
      attention_head_dim: 2,
      norm_num_groups: 2,
      down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'],
      up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'],
    });
    const random = new Random(11);
    const params = net.init(random);
    const sample = random.normals(2 * 4 * 4 * 4);
    const context = random.normals(2 * 3 * 4);
    const weights = random.normals(2 * 4 * 4 * 4);
    const types = {
      params: net.paramTypes(),
      sample: f32([2, 4, 4, 4]),
      timestep: f32([2]),
      context: f32([2, 3, 4]),
      weights: f32([2, 4, 4, 4]),
    };
    // L = mean(w ⊙ ε_θ(x, t, c)): a fixed random projection of the output.
    const lossFn = (x: { params: ParamTensors; sample: Tensor; timestep: Tensor; context: Tensor; weights: Tensor }) =>
      (p: ParamTensors, c: Tensor) =>
        mean(mul(net.apply(p, { sample: x.sample, timestep: x.timestep, encoderHiddenStates: c }), x.weights));
    const gradFn = (x: Parameters<typeof lossFn>[0]) =>
      valueAndGrad((inputs: { p: ParamTensors; c: Tensor }) => lossFn(x)(inputs.p, inputs.c))({ p: x.params, c: x.context });
    const lossOnly = (x: Parameters<typeof lossFn>[0]) => lossFn(x)(x.params, x.context);
    const ort = new OrtNodeRuntime();
    const gradCompiled = ort.compile(gradFn as never, types as never);
    const lossCompiled = ort.compile(lossOnly as never, types as never);
    const feeds = { sample, timestep: Float32Array.of(20, 600), weights };
    type GradOut = { value: HostTensor; grad: { p: Record<string, HostTensor>; c: HostTensor } };
    const { grad } = (await gradCompiled.run({ params, context, ...feeds } as never)) as unknown as GradOut;
    const loss = async (p: Params, c: Float32Array) =>
      ((await lossCompiled.run({ params: p, context: c, ...feeds } as never)) as unknown as HostTensor).data[0] as number;
    try {
      for (const seed of [1, 2, 3]) {
        const dirRandom = new Random(100 + seed);
        const direction: Record<string, Float32Array> = {};
        for (const name of Object.keys(params)) direction[name] = dirRandom.normals(params[name].data.length);
        const dContext = dirRandom.normals(context.length);
        // A unit direction over all parameters and the context, so the step is small for every entry.
        const norm = Math.sqrt(
          [...Object.values(direction), dContext].reduce((t, d) => t + d.reduce((a, v) => a + v * v, 0), 0),
        );
        for (const d of [...Object.values(direction), dContext]) d.forEach((v, i) => (d[i] = v / norm));
        const h = 1e-2;
        const shifted = (sign: number): Params =>
          Object.fromEntries(
            Object.entries(params).map(([name, t]) => [
              name,
              { ...t, data: (t.data as Float32Array).map((v, i) => v + sign * h * direction[name][i]) },
            ]),
          );
        const ctx = (sign: number) => context.map((v, i) => v + sign * h * dContext[i]);
        const numeric = ((await loss(shifted(1), ctx(1))) - (await loss(shifted(-1), ctx(-1)))) / (2 * h);
        let analytic = 0;
        for (const name of Object.keys(params)) {
          const g = grad.p[name].data as Float32Array;
          for (let i = 0; i < g.length; i++) analytic += g[i] * direction[name][i];
        }
        (grad.c.data as Float32Array).forEach((g, i) => (analytic += g * dContext[i]));
        t.diagnostic(`direction ${seed}: finite difference ${numeric.toExponential(4)}, gradient ${analytic.toExponential(4)}`);
        assert.ok(
          Math.abs(numeric - analytic) < 2e-3 * Math.abs(analytic) + 1e-6,
          `direction ${seed}: finite difference ${numeric}, gradient ${analytic}`,
        );
      }
    } finally {
      await gradCompiled.dispose();
      await lossCompiled.dispose();
    }
  });
});

describe('UNet2DConditionModel weights files', () => {
  const dir = () => mkdtempSync(join(tmpdir(), 'unet-cond-'));

  it('a weights file with one missing, extra or mis-shaped tensor fails naming it', () => {
    const { net, params } = loadCase('a');
    const temp = dir();
    try {
      const path = join(temp, 'w.safetensors');
      const name = 'down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight';
      const { [name]: dropped, ...missing } = params;
      assert.deepEqual(dropped.shape, [8, 8]);
      saveWeights(path, missing);
      assert.throws(() => loadWeights(path, net.paramTypes()), (e: unknown) => e instanceof FormatError && e.message.includes(`'${name}' [8, 8] is missing`));
      saveWeights(path, { ...params, 'mid_block.attentions.0.extra.weight': dropped });
      assert.throws(() => loadWeights(path, net.paramTypes()), (e: unknown) => e instanceof FormatError && /1 unexpected tensor\(s\): mid_block\.attentions\.0\.extra\.weight/.test(e.message));
      saveWeights(path, { ...params, [name]: { data: new Float32Array(16), shape: [2, 8], dtype: 'float32' } });
      assert.throws(() => loadWeights(path, net.paramTypes()), (e: unknown) => e instanceof FormatError && e.message.includes(`'${name}' has shape [2, 8], expected [8, 8]`));
      saveWeights(path, params);
      const again = loadWeights(path, net.paramTypes());
      assert.deepEqual(again[name].data, params[name].data);
    } finally {
      rmSync(temp, { recursive: true, force: true });
    }
  });

  it('saves and loads as a diffusers pipeline folder (library "diffusers")', () => {
    const { net, params } = loadCase('a');
    const temp = dir();
    try {
      const scheduler = schedulerConfig('DDPMScheduler', { numTrainTimesteps: 1000, betaSchedule: 'scaled_linear' });
      savePipeline(join(temp, 'p'), { network: net, params, scheduler });
      const index = JSON.parse(readFileSync(join(temp, 'p', 'model_index.json'), 'utf8')) as Record<string, unknown>;
      assert.deepEqual(index.unet, ['diffusers', 'UNet2DConditionModel']);
      const loaded = loadPipeline(join(temp, 'p'));
      assert.equal(loaded.network.className, 'UNet2DConditionModel');
      const { _diffusers_version: _, ...config } = loaded.network.config as Record<string, unknown>;
      assert.deepEqual(config, net.config);
    } finally {
      rmSync(temp, { recursive: true, force: true });
    }
  });
});

describe('UNet2DConditionModel config', () => {
  const sd15 = {
    _class_name: 'UNet2DConditionModel',
    act_fn: 'silu',
    attention_head_dim: 8,
    block_out_channels: [320, 640, 1280, 1280],
    center_input_sample: false,
    cross_attention_dim: 768,
    down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
    downsample_padding: 1,
    flip_sin_to_cos: true,
    freq_shift: 0,
    in_channels: 4,
    layers_per_block: 2,
    mid_block_scale_factor: 1,
    norm_eps: 1e-5,
    norm_num_groups: 32,
    out_channels: 4,
    sample_size: 64,
    up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
  };

  it("builds Stable Diffusion 1.5's U-Net: 859,520,964 parameters in 686 tensors, 8 heads of 40 at the top", () => {
    const net = buildNetwork(sd15) as UNet2DConditionModel;
    const types = net.paramTypes();
    assert.equal(countParams(types), 859_520_964);
    assert.equal(Object.keys(types).length, 686);
    assert.deepEqual(types['down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight'].shape, [320, 768]);
    assert.deepEqual(types['down_blocks.0.attentions.0.proj_in.weight'].shape, [320, 320, 1, 1]);
    assert.deepEqual(types['up_blocks.3.attentions.2.transformer_blocks.0.ff.net.0.proj.weight'].shape, [2560, 320]);
    assert.deepEqual(net.sampleShape, [4, 64, 64]);
  });

  it('refuses SDXL-only and unknown features by name', () => {
    const refused = (config: Record<string, unknown>, pattern: RegExp) =>
      assert.throws(() => new UNet2DConditionModel({ ...sd15, ...config }), (e: unknown) => e instanceof ConfigError && pattern.test(e.message));
    refused({ addition_embed_type: 'text_time' }, /addition_embed_type "text_time" is not supported/);
    refused({ encoder_hid_dim: 1024 }, /encoder_hid_dim 1024 is not supported/);
    refused({ class_embed_type: 'timestep' }, /class_embed_type/);
    refused({ time_embedding_type: 'fourier' }, /time_embedding_type "fourier" is not supported/);
    refused({ mid_block_type: 'UNetMidBlock2DSimpleCrossAttn' }, /mid_block_type 'UNetMidBlock2DSimpleCrossAttn' is not supported/);
    refused({ down_block_types: ['SimpleCrossAttnDownBlock2D', 'DownBlock2D', 'DownBlock2D', 'DownBlock2D'] }, /down_block_types\[0\]/);
    refused({ attention_head_dim: [8, 8] }, /attention_head_dim has 2 entries for 4 blocks/);
    refused({ attention_head_dim: 7 }, /do not split into 7 attention heads/);
    refused({ layers_per_block: 0 }, /layers_per_block/);
    refused({ class_embed_type: 'projection' }, /'projection' needs projection_class_embeddings_input_dim/);
  });

  it("needs the class vector of a 'projection' network, naming its shape", async () => {
    const c = loadCase('c');
    const { classEmbeds, ...feeds } = fixtureFeeds(c);
    await assert.rejects(
      forward(c, feeds),
      (e: unknown) => e instanceof ShapeError && /needs classEmbeds \[2, 6\], got nothing/.test(e.message),
    );
    await assert.rejects(
      forward(c, { ...feeds, classEmbeds: classEmbeds!.subarray(0, 10) }),
      (e: unknown) => e instanceof ShapeError && /needs classEmbeds \[2, 6\], got \[2, 5\]/.test(e.message),
    );
  });

  it('needs encoder hidden states of the right width, naming the fix', async () => {
    const { net, params } = loadCase('b');
    const run = (contextShape: number[] | null) => async () => {
      const types = {
        params: net.paramTypes(),
        sample: f32([2, 4, 8, 8]),
        timestep: f32([2]),
        ...(contextShape ? { context: f32(contextShape) } : {}),
      };
      const fn = (x: { params: ParamTensors; sample: Tensor; timestep: Tensor; context?: Tensor }) =>
        net.apply(x.params, {
          sample: x.sample,
          timestep: x.timestep,
          ...(x.context ? { encoderHiddenStates: x.context } : {}),
        });
      const feeds = {
        params,
        sample: new Float32Array(2 * 4 * 8 * 8),
        timestep: new Float32Array(2),
        ...(contextShape ? { context: new Float32Array(contextShape.reduce((a, b) => a * b, 1)) } : {}),
      };
      return new ReferenceRuntime().compile(fn as never, types as never).run(feeds as never);
    };
    await assert.rejects(run(null), (e: unknown) => e instanceof ShapeError && /encoder hidden states are required/.test(e.message));
    await assert.rejects(run([2, 5, 6]), (e: unknown) => e instanceof ShapeError && /must be \[2, tokens, 8\], got \[2, 5, 6\]/.test(e.message));
  });
});
