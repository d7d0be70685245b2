// ControlNetModel on a small class-conditional UNet2DModel: diffusers-style names; the encoder copied
// from the base; at initialisation the base output with the ControlNet's residuals is bit-identical to
// the base output alone (zero projections); a mid residual of c per channel moves the output exactly as
// adding c to the last mid resnet's conv2 bias does; residuals scale linearly with `scale`; wrong counts
// and shapes are ShapeErrors; a pipeline folder with controlnet/ round-trips.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OrtNodeRuntime, type HostTensor, type Tensor, type TypeTree } from '../../src/engine/index.js';
import { ControlNetModel } from '../../src/models/controlnet.js';
import { loadControlNet, saveControlPipeline } from '../../src/models/controlnet-folder.js';
import { loadPipeline } from '../../src/models/pipeline-folder.js';
import type { ControlResiduals, Params, ParamTensors } from '../../src/models/types.js';
import { UNet2DModel } from '../../src/models/unet2d.js';
import { schedulerConfig } from '../../src/diffusion/scheduler-config.js';
import { ConfigError, ShapeError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const baseConfig = {
  sample_size: 8,
  in_channels: 1,
  out_channels: 1,
  block_out_channels: [8, 16],
  down_block_types: ['DownBlock2D', 'AttnDownBlock2D'],
  up_block_types: ['AttnUpBlock2D', 'UpBlock2D'],
  layers_per_block: 1,
  norm_num_groups: 4,
  attention_head_dim: 8,
  num_class_embeds: 3,
};
const B = 2;
const runtime = new OrtNodeRuntime();
const base = new UNet2DModel(baseConfig);
const baseParams = base.init(new Random(1));
const { model, params } = ControlNetModel.fromUNet(base, baseParams, new Random(2));
const random = new Random(3);
const host = (shape: number[], data?: Float32Array): HostTensor => ({
  data: data ?? random.normals(shape.reduce((a, b) => a * b, 1)),
  shape,
  dtype: 'float32',
});
const inputs = {
  sample: host([B, 1, 8, 8]),
  timestep: { data: Float32Array.from([10, 700]), shape: [B], dtype: 'float32' as const },
  classLabels: { data: BigInt64Array.from([0n, 2n]), shape: [B], dtype: 'int64' as const },
  condition: host([B, 1, 8, 8], Float32Array.from({ length: B * 64 }, (_, i) => (i % 5 === 0 ? 1 : 0))),
};
const f32 = (shape: number[]) => ({ shape, dtype: 'float32' as const });
const inputTypes = {
  sample: f32([B, 1, 8, 8]),
  timestep: f32([B]),
  classLabels: { shape: [B], dtype: 'int64' as const },
  condition: f32([B, 1, 8, 8]),
};
type In = { base: ParamTensors; control: ParamTensors; sample: Tensor; timestep: Tensor; classLabels: Tensor; condition: Tensor };
const denoiserInputs = (i: In) => ({ sample: i.sample, timestep: i.timestep, classLabels: i.classLabels });

/** Base output without residuals, and with the ControlNet's residuals at `scale`. */
async function outputs(baseWeights: Params, controlWeights: Params, scale = 1): Promise<{ plain: Float32Array; controlled: Float32Array }> {
  const fn = (i: In) => ({
    plain: base.apply(i.base, denoiserInputs(i)),
    controlled: base.apply(i.base, {
      ...denoiserInputs(i),
      controlResiduals: model.apply(i.control, denoiserInputs(i), i.condition, scale),
    }),
  });
  const types = { base: base.paramTypes() as TypeTree, control: model.paramTypes() as TypeTree, ...inputTypes };
  const compiled = runtime.compile(fn as never, types as never);
  const out = (await compiled.run({ base: baseWeights, control: controlWeights, ...inputs } as never)) as unknown as Record<string, HostTensor>;
  await compiled.dispose();
  return { plain: out.plain.data as Float32Array, controlled: out.controlled.data as Float32Array };
}

/** The ControlNet's residuals, flattened in order (down..., mid). */
async function residualValues(controlWeights: Params, scale: number): Promise<Float32Array[]> {
  const fn = (i: In) => {
    const r: ControlResiduals = model.apply(i.control, denoiserInputs(i), i.condition, scale);
    return [...r.down, r.mid];
  };
  const types = { control: model.paramTypes() as TypeTree, ...inputTypes };
  const compiled = runtime.compile(fn as never, types as never);
  const out = (await compiled.run({ control: controlWeights, ...inputs } as never)) as unknown as HostTensor[];
  await compiled.dispose();
  return out.map((t) => t.data as Float32Array);
}

/** Params with every ControlNet projection drawn from N(0, 0.1²), so residuals are non-zero. */
function withLiveProjections(from: Params): Params {
  const r = new Random(9);
  const out = { ...from };
  for (const name of Object.keys(from)) {
    if (/^controlnet_(down_blocks|mid_block|cond_embedding\.conv_out)/.test(name)) {
      out[name] = { ...from[name], data: r.normals(from[name].data.length).map((v) => 0.1 * v) };
    }
  }
  return out;
}

describe('ControlNetModel', () => {
  it("uses diffusers' names and copies the base encoder", () => {
    const names = Object.keys(model.paramTypes());
    for (const name of [
      'controlnet_cond_embedding.conv_in.weight',
      'controlnet_cond_embedding.conv_out.weight',
      'conv_in.weight',
      'time_embedding.linear_1.weight',
      'class_embedding.weight',
      'down_blocks.1.attentions.0.to_q.weight',
      'mid_block.resnets.1.conv2.weight',
      'controlnet_mid_block.weight',
    ])
      assert.ok(names.includes(name), name);
    // conv_in's output + one resnet and one downsampler at level 0 + one resnet at level 1.
    assert.deepEqual(
      names.filter((n) => /^controlnet_down_blocks\.\d+\.weight$/.test(n)).length,
      4,
    );
    assert.ok(!names.some((n) => n.startsWith('up_blocks') || n.startsWith('conv_out')));
    for (const name of model.encoderParamNames()) assert.deepEqual(params[name].data, baseParams[name].data, name);
    for (const name of names.filter((n) => /^controlnet_(down_blocks|mid_block)|conv_out/.test(n)))
      assert.ok(params[name].data.every((v) => v === 0), `${name} starts at zero`);
    assert.deepEqual(model.conditionShape, [1, 8, 8]);
  });

  it('at initialisation leaves the base output bit-identical', async () => {
    const { plain, controlled } = await outputs(baseParams, params);
    assert.ok(plain.some((v) => v !== 0));
    assert.deepEqual(controlled, plain);
  });

  it('a mid residual of c per channel moves the output as a conv2 bias shift of c does', async () => {
    const c = 0.25;
    const shifted = { ...params };
    shifted['controlnet_mid_block.bias'] = { ...params['controlnet_mid_block.bias'], data: new Float32Array(16).fill(c) };
    const { plain, controlled } = await outputs(baseParams, shifted);
    const bias = baseParams['mid_block.resnets.1.conv2.bias'];
    const biased = { ...baseParams, 'mid_block.resnets.1.conv2.bias': { ...bias, data: (bias.data as Float32Array).map((v) => v + c) } };
    const expected = (await outputs(biased, params)).plain;
    let changed = 0;
    for (let i = 0; i < plain.length; i++) {
      assert.ok(Math.abs(controlled[i] - expected[i]) < 1e-4, `element ${i}: ${controlled[i]} vs ${expected[i]}`);
      changed = Math.max(changed, Math.abs(controlled[i] - plain[i]));
    }
    assert.ok(changed > 1e-3, `the residual changed the output by ${changed}`);
  });

  it('residuals scale linearly with the conditioning scale, and a live ControlNet changes the output', async () => {
    const live = withLiveProjections(params);
    const one = await residualValues(live, 1);
    const half = await residualValues(live, 0.5);
    assert.equal(one.length, 5);
    one.forEach((r, k) => {
      assert.ok(r.some((v) => v !== 0), `residual ${k} is non-zero`);
      r.forEach((v, i) => assert.ok(Math.abs(half[k][i] - 0.5 * v) <= 1e-6 * (1 + Math.abs(v))));
    });
    const { plain, controlled } = await outputs(baseParams, live);
    assert.ok(controlled.some((v, i) => Math.abs(v - plain[i]) > 1e-3));
    const off = await outputs(baseParams, live, 0);
    assert.deepEqual(off.controlled, off.plain);
  });

  it('wrong residual counts, residual shapes and condition shapes are ShapeErrors', () => {
    const trace = (fn: (i: In) => Tensor, extra: Record<string, unknown> = {}) =>
      runtime.compile(fn as never, { base: base.paramTypes(), control: model.paramTypes(), ...inputTypes, ...extra } as never).outputTypes;
    assert.throws(
      () =>
        trace((i) => {
          const r = model.apply(i.control, denoiserInputs(i), i.condition);
          return base.apply(i.base, { ...denoiserInputs(i), controlResiduals: { down: r.down.slice(1), mid: r.mid } });
        }),
      (e: unknown) => e instanceof ShapeError && /3 control residuals for 4 skip/.test(e.message),
    );
    assert.throws(
      () =>
        trace((i) => {
          const r = model.apply(i.control, denoiserInputs(i), i.condition);
          return base.apply(i.base, { ...denoiserInputs(i), controlResiduals: { down: r.down, mid: r.down[0] } });
        }),
      (e: unknown) => e instanceof ShapeError && /residual mid has shape \[2, 8, 8, 8\]/.test(e.message),
    );
    assert.throws(
      () => trace((i) => model.apply(i.control, denoiserInputs(i), i.condition).mid, { condition: f32([B, 1, 4, 4]) }),
      (e: unknown) => e instanceof ShapeError && /condition must be \[2, 1, 8, 8\]/.test(e.message),
    );
  });

  it('a wider conditioning embedding takes a larger condition; bad configs are ConfigErrors', () => {
    const wide = new ControlNetModel({ ...baseConfig, conditioning_channels: 3, conditioning_embedding_out_channels: [4, 8] });
    assert.deepEqual(wide.conditionShape, [3, 16, 16]);
    assert.ok('controlnet_cond_embedding.blocks.1.weight' in wide.paramTypes());
    assert.throws(() => new ControlNetModel({ ...baseConfig, conditioning_channels: 0 }), ConfigError);
    assert.throws(() => new ControlNetModel({ ...baseConfig, mid_block_type: null }), ConfigError);
  });
});

describe('pipeline folder with a ControlNet', () => {
  const dir = mkdtempSync(join(tmpdir(), 'controlnet-folder-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips the ControlNet, its condition kind and the base', () => {
    const out = join(dir, 'pipe');
    const live = withLiveProjections(params);
    saveControlPipeline(
      out,
      { network: base, params: baseParams, scheduler: schedulerConfig('DDPMScheduler', {}) },
      { model, params: live, condition: 'edges' },
    );
    const index = JSON.parse(readFileSync(join(out, 'model_index.json'), 'utf8'));
    assert.deepEqual(index.controlnet, ['diffusion_ts', 'ControlNetModel']);
    assert.equal(index.controlnet_condition, 'edges');
    const config = JSON.parse(readFileSync(join(out, 'controlnet', 'config.json'), 'utf8'));
    assert.equal(config._class_name, 'ControlNetModel');
    assert.equal(config.conditioning_channels, 1);
    assert.deepEqual(config.conditioning_embedding_out_channels, [16]);
    assert.deepEqual(config.block_out_channels, [8, 16]);
    const loaded = loadControlNet(out)!;
    assert.equal(loaded.condition, 'edges');
    assert.deepEqual({ ...loaded.model.config, _diffusers_version: '' }, { ...model.config, _diffusers_version: '' });
    for (const name of Object.keys(live)) assert.deepEqual(loaded.params[name].data, live[name].data, name);
    const pipeline = loadPipeline(out);
    assert.deepEqual(pipeline.params['conv_in.weight'].data, baseParams['conv_in.weight'].data);
  });

  it('a plain pipeline folder has no ControlNet', () => {
    const out = join(dir, 'plain');
    saveControlPipeline(out, { network: base, params: baseParams, scheduler: schedulerConfig('DDPMScheduler', {}) }, { model, params, condition: 'edges' });
    rmSync(join(out, 'controlnet'), { recursive: true });
    const index = JSON.parse(readFileSync(join(out, 'model_index.json'), 'utf8'));
    assert.ok(index.controlnet);
    assert.throws(() => loadControlNet(out), /no ControlNet file/);
  });
});
