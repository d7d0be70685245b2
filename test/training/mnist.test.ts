// A short class-conditional MNIST run with a tiny UNet2DModel: the ε-prediction loss must fall from the
// untrained level (≈1: the network's output is unrelated to the unit-variance noise) to below 0.2
// within 60 updates. This checks the whole image path — dataset, noising, the compiled UNet train step,
// AdamW — on real data; sample quality is measured by the long run recorded in bench/RESULTS.md.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { resolveDataset } from '../../src/data/dataset.js';
import { UNet2DModel } from '../../src/models/unet2d.js';
import { parseTrainConfig } from '../../src/training/config.js';
import { train } from '../../src/training/trainer.js';

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

it('MNIST: a tiny class-conditional UNet’s loss falls below 0.2 in 60 steps', async () => {
  const dataset = await resolveDataset('mnist', {});
  const network = new UNet2DModel({
    sample_size: 28,
    in_channels: 1,
    out_channels: 1,
    block_out_channels: [16, 32],
    down_block_types: ['DownBlock2D', 'DownBlock2D'],
    up_block_types: ['UpBlock2D', 'UpBlock2D'],
    layers_per_block: 1,
    norm_num_groups: 8,
    add_attention: false,
    num_class_embeds: 11,
  });
  const config = parseTrainConfig({
    data: 'mnist',
    model: { className: 'UNet2DModel', config: network.config },
    classConditional: true,
    steps: 60,
    batchSize: 16,
    lr: 2e-3,
    warmupSteps: 5,
    emaDecay: 0.99,
    seed: 0,
  });
  const result = await train({ config, network, dataset });
  const first = mean(result.losses.slice(0, 5));
  const last = mean(result.losses.slice(-10));
  console.log(
    `MNIST tiny UNet: loss ${first.toFixed(3)} → ${last.toFixed(3)} in ${result.losses.length} steps`,
  );
  assert.ok(first > 0.6, `initial loss ${first}`);
  assert.ok(last < 0.2, `loss after 60 steps ${last}`);
});
