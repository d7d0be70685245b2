// ControlNet training against a frozen base (a small class-conditional UNet2DModel on 8×8 squares with
// their Canny edges): the base weights never change and are not part of the trained state; the zero
// projections and, through them, the encoder copy move; the same seed gives the same losses; a dataset
// without conditioning images is refused.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TensorDataset } from '../../src/data/dataset.js';
import { edgeConditionedDataset } from '../../src/data/edges.js';
import { schedulerConfig } from '../../src/diffusion/scheduler-config.js';
import { ControlNetModel } from '../../src/models/controlnet.js';
import type { Params } from '../../src/models/types.js';
import { UNet2DModel } from '../../src/models/unet2d.js';
import { baseObjective, trainControlNet, type ControlTrainOptions } from '../../src/training/control.js';
import { ConfigError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const base = new UNet2DModel({
  sample_size: 8,
  in_channels: 1,
  out_channels: 1,
  block_out_channels: [8, 16],
  down_block_types: ['DownBlock2D', 'AttnDownBlock2D'],
  up_block_types: ['AttnUpBlock2D', 'UpBlock2D'],
  layers_per_block: 1,
  norm_num_groups: 4,
  num_class_embeds: 3,
});
const baseParams = base.init(new Random(1));
const copy = (p: Params): Params =>
  Object.fromEntries(Object.entries(p).map(([k, v]) => [k, { ...v, data: v.data.slice() }])) as Params;
const frozenCopy = copy(baseParams);

/** Eight 8×8 images: a square of side 2..5 at a seeded place, ink +1 on −1; label = side mod 2. */
function squares(): TensorDataset {
  const random = new Random(5);
  const data = new Float32Array(8 * 64).fill(-1);
  const labels = new Int32Array(8);
  for (let n = 0; n < 8; n++) {
    const side = 2 + (n % 4);
    const y0 = random.int(8 - side);
    const x0 = random.int(8 - side);
    for (let y = y0; y < y0 + side; y++) for (let x = x0; x < x0 + side; x++) data[n * 64 + y * 8 + x] = 1;
    labels[n] = side % 2;
  }
  return new TensorDataset({
    name: 'squares',
    shape: [1, 8, 8],
    data,
    labels,
    numClasses: 2,
    description: 'squares',
  });
}

function options(overrides: Partial<ControlTrainOptions> = {}): ControlTrainOptions {
  const { model, params } = ControlNetModel.fromUNet(base, baseParams, new Random(2));
  return {
    base: { network: base, params: baseParams, schedulerConfig: schedulerConfig('DDPMScheduler', {}) },
    controlnet: model,
    initialParams: params,
    dataset: edgeConditionedDataset(squares()),
    steps: 3,
    batchSize: 4,
    lr: 1e-2,
    seed: 7,
    ...overrides,
  };
}

describe('trainControlNet', () => {
  it('updates only the ControlNet: the base weights are unchanged and not in the trained state', async () => {
    const opts = options();
    const initial = copy(opts.initialParams);
    const first = await trainControlNet(opts);
    assert.equal(first.steps, 3);
    assert.ok(first.losses.every((l) => Number.isFinite(l) && l > 0));
    for (const [name, value] of Object.entries(frozenCopy))
      assert.deepEqual(baseParams[name].data, value.data, name);
    assert.deepEqual(Object.keys(first.params).sort(), Object.keys(opts.controlnet.paramTypes()).sort());
    // Step 1 moves the zero projections; from step 2 the gradient reaches the encoder copy through them.
    assert.ok(first.params['controlnet_mid_block.weight'].data.some((v) => v !== 0));
    assert.ok(first.params['controlnet_cond_embedding.conv_out.weight'].data.some((v) => v !== 0));
    const name = 'down_blocks.0.resnets.0.conv1.weight';
    assert.notDeepEqual(first.params[name].data, initial[name].data);
    assert.deepEqual(initial[name].data, baseParams[name].data);
    const again = await trainControlNet(options());
    assert.deepEqual(again.losses, first.losses);
  });

  it('refuses a dataset without conditioning images and a base without a DDPM schedule', async () => {
    await assert.rejects(
      trainControlNet(options({ dataset: squares() })),
      (e: unknown) => e instanceof ConfigError && /no conditioning images/.test(e.message),
    );
    assert.throws(() => baseObjective(schedulerConfig('CMStochasticIterativeScheduler', {})), ConfigError);
    await assert.rejects(trainControlNet(options({ steps: 0 })), ConfigError);
  });
});
